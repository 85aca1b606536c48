/**
 * Reads the numbers in what the scripts return. Scripts answer integers (counts, versions, flags,
 * deadlines they computed) and sorted-set scores (deadlines as stored, which anyone with write
 * access could have planted). A reply whose shape no script of ours produces is a plain `Error`,
 * which the backend reports as `REGISTRY_UNAVAILABLE`; listings and the services index are read in
 * records.ts.
 */
import { SERVICE_NAME_PATTERN } from '../../core/instance.js';
import type { SweepCheck } from './sweeper.js';

/** Thrown for a reply of the write and sweep scripts that is not what they return. */
export const UNEXPECTED_REPLY = 'unexpected reply from a registry script';

const INTEGER = /^-?\d{1,16}$/;

/**
 * The safe integer in `value`: a number, or its decimal digits (what a client with
 * `stringNumbers: true` answers, and how a script returns a stored number); undefined for anything
 * else.
 */
export function integer(value: unknown): number | undefined {
  const number = typeof value === 'string' && INTEGER.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) ? number : undefined;
}

/** Throws a reply's shape error: for `integer(...) ?? unexpected(problem)`. */
export function unexpected(problem: string): never {
  throw new Error(problem);
}

type Integers<N extends number, T extends number[] = []> = T['length'] extends N ? T : Integers<N, [...T, number]>;

/** A reply of exactly `count` integers. */
export function integers<N extends 4 | 6>(reply: unknown, count: N): Integers<N> {
  if (!Array.isArray(reply) || reply.length !== count) unexpected(UNEXPECTED_REPLY);
  return (reply as unknown[]).map((value) => integer(value) ?? unexpected(UNEXPECTED_REPLY)) as Integers<N>;
}

/** A sorted-set score as a number (`NaN` for anything else); scores need not be integers. */
export function score(value: unknown): number {
  return typeof value === 'string' || typeof value === 'number' ? Number(value) : Number.NaN;
}

/** What one run of the sweep check found, besides the {@link SweepCheck}: bad data it removed. */
export interface SweepCheckReply {
  readonly check: SweepCheck;
  /** Namespace keys that held another Redis type and were replaced (`PLANTED_SWEEPER`... bits). */
  readonly replacedKeys: number;
  /** Names in the expiry index that are not service names (removed by the script). */
  readonly badNames: number;
}

/**
 * Reads `{held, participants, server now, earliest deadline or '', replaced keys, names removed,
 * then service, deadline of each service due}`. A due service whose deadline is not a number
 * counts as due now; one whose name is not a service name is left out.
 */
export function parseSweepCheck(reply: unknown): SweepCheckReply {
  if (!Array.isArray(reply) || reply.length < 6 || reply.length % 2 !== 0) unexpected('unexpected reply from the sweep script');
  const items = reply as unknown[];
  const [held, participants, serverNow, replacedKeys, badNames] = [0, 1, 2, 4, 5].map((i) => integer(items[i]) ?? unexpected(UNEXPECTED_REPLY)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const due: { service: string; deadline: number }[] = [];
  for (let i = 6; i < items.length; i += 2) {
    const service = items[i];
    if (typeof service === 'string' && SERVICE_NAME_PATTERN.test(service)) due.push({ service, deadline: deadlineOf(items[i + 1], serverNow) });
  }
  const first = items[3];
  const nextExpiry = first === '' ? undefined : deadlineOf(first, serverNow);
  return { check: { held: held === 1, participants, serverNow, nextExpiry, due }, replacedKeys, badNames };
}

/** A deadline as the sweep script returns a score: a planted non-number counts as due now. */
function deadlineOf(value: unknown, serverNow: number): number {
  const deadline = score(value);
  return Number.isFinite(deadline) ? deadline : serverNow;
}
