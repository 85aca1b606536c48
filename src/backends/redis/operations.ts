/**
 * Each registry operation as the script call it is: the keys and arguments built, the reply read,
 * data of the wrong Redis type reported. Input is validated and calls are bounded by the backend
 * before they get here. In Cluster the namespace's indexes live in another slot than a service's
 * keys, so a write there is followed by a second script that keeps them in step.
 */
import { randomBytes } from 'node:crypto';
import { MalformedRecordError } from '../../core/errors.js';
import type { InstanceRef, InstanceStatus, ServiceInstance } from '../../core/instance.js';
import type { MalformedRecords } from '../malformed-records.js';
import type { RenewResult } from '../backend.js';
import { InstanceOwnedError } from './errors.js';
import { namespaceKeys, serviceKeys, servicesIndexKey, type NamespaceKeys, type ServiceKeys } from './keys.js';
import type { RedisClient } from './options.js';
import { RecordCache, parseChange, parseListing, parseServices, recordOf, type KnownVersion, type Listing, type MalformedHandler } from './records.js';
import { integer, integers, parseSweepCheck, unexpected, UNEXPECTED_REPLY } from './replies.js';
import type { ResetDetector } from './resets.js';
import {
  DEREGISTER,
  NAMESPACE_AFTER_WRITE,
  PLANTED_DEADLINES,
  PLANTED_EXPIRIES,
  PLANTED_EXPIRY_INDEX,
  PLANTED_INDEX,
  PLANTED_LOG,
  PLANTED_RECORDS,
  PLANTED_SWEEPER,
  PLANTED_SWEEPERS,
  READ,
  REGISTER,
  RENEW,
  SERVICES,
  SWEEP_CHECK,
  SWEEP_RELEASE,
  SWEEP_SERVICE,
  runScript,
} from './scripts.js';
import { DUE_LIMIT, SWEEP_LEASE_MS, type SweepCheck } from './sweeper.js';

/** Services whose keys are remembered; the memory starts over beyond it. */
const CACHED_SERVICES = 1_000;

export interface RedisOperationsOptions {
  readonly client: RedisClient;
  readonly namespace: string;
  readonly pruneLimit: number;
  /**
   * Proves ownership of the instances these operations register: the scripts store digests of it
   * with each instance and refuse writes to a live instance from anyone who cannot present it.
   */
  readonly ownerSecret: string;
  readonly malformedRecords: MalformedRecords;
  readonly resets: ResetDetector;
  /** The run-id checks of (re)connections in flight, which a listing waits for. */
  readonly serverChecks: () => Promise<unknown> | undefined;
}

/** What the scripts of one service need, built once. */
interface ServiceContext {
  readonly keys: ServiceKeys;
  /** KEYS of every service script: deadlines, records, log, and outside Cluster the services and expiry indexes. */
  readonly scriptKeys: readonly string[];
}

/** What this backend object wrote for an instance it owns: a renewal proves it is still there. */
interface Owned {
  readonly ttlMs: number;
  readonly json: string;
  record: string;
}

export class RedisOperations {
  readonly #client: RedisClient;
  readonly #namespace: string;
  readonly #isCluster: boolean;
  readonly #pruneLimit: number;
  readonly #ownerSecret: string;
  readonly #indexKey: string;
  readonly #namespaceKeys: NamespaceKeys;
  /** Names this backend among the namespace's sweepers (not a secret: it only takes part in a lease). */
  readonly #sweeperToken = randomBytes(12).toString('base64url');
  /** Records of the instances this object registered, by `<service> <id>`. */
  readonly #owned = new Map<string, Owned>();
  readonly #services = new Map<string, ServiceContext>();
  readonly #records = new RecordCache();
  readonly #malformedRecords: MalformedRecords;
  readonly #resets: ResetDetector;
  readonly #serverChecks: () => Promise<unknown> | undefined;
  readonly #onMalformed: MalformedHandler = (error, key, id) => this.#malformed(error, key, id);

  constructor(options: RedisOperationsOptions) {
    this.#client = options.client;
    this.#namespace = options.namespace;
    this.#isCluster = options.client.isCluster;
    this.#pruneLimit = options.pruneLimit;
    this.#ownerSecret = options.ownerSecret;
    this.#malformedRecords = options.malformedRecords;
    this.#resets = options.resets;
    this.#serverChecks = options.serverChecks;
    this.#indexKey = servicesIndexKey(options.namespace);
    this.#namespaceKeys = namespaceKeys(options.namespace);
  }

  /** The namespace's pub/sub channel: the earliest deadline moved earlier, or the sweeper left. */
  get namespaceChannel(): string {
    return this.#namespaceKeys.channel;
  }

  /** The service's pub/sub channel, told the new version of every change. */
  channel(service: string): string {
    return this.#service(service).keys.channel;
  }

  /** Writes `instance` (stored as `record`, `json` being its JSON) with a lease, as this object's. */
  async register(instance: ServiceInstance, ttlMs: number, json: string, record: string): Promise<void> {
    const { keys, scriptKeys } = this.#service(instance.service);
    const reply = await runScript(this.#client, REGISTER, scriptKeys, [
      instance.id,
      ttlMs,
      record,
      keys.channel,
      instance.service,
      this.#pruneLimit,
      this.#namespaceKeys.channel,
      this.#ownerSecret,
    ]);
    const [written, deadlineOrLeft, replaced, earliest] = integers(reply, 4);
    this.#planted(replaced, keys, true);
    if (written !== 1) throw new InstanceOwnedError('register', instance.service, instance.id, deadlineOrLeft);
    this.#owned.set(ownedKey(instance.service, instance.id), { ttlMs, json, record });
    if (this.#isCluster) await this.#afterWrite(instance.service, ['raise', deadlineOrLeft, 0], earliest > 0 ? [0, earliest] : undefined);
  }

  /** Extends the lease, if the instance is this object's as it wrote it, and records the status. */
  async renew(ref: InstanceRef, status: InstanceStatus): Promise<RenewResult> {
    const { keys, scriptKeys } = this.#service(ref.service);
    const mine = this.#owned.get(ownedKey(ref.service, ref.id));
    const reply = await runScript(this.#client, RENEW, scriptKeys, [
      ref.id,
      status,
      keys.channel,
      ref.service,
      this.#pruneLimit,
      mine?.record ?? '',
      this.#namespaceKeys.channel,
      this.#ownerSecret,
    ]);
    const [renewed, deadline, planted, updatedAt, earliest, former] = integers(reply, 6);
    this.#planted(planted, keys, renewed === 1);
    if (renewed !== 1) return 'lost';
    if (mine !== undefined && updatedAt > 0) mine.record = recordOf(mine.ttlMs, status, updatedAt, mine.json);
    if (this.#isCluster) await this.#afterWrite(ref.service, ['raise', deadline, 0], earliest > 0 || former > 0 ? [former, earliest] : undefined);
    return 'renewed';
  }

  /** Removes the instance unless it is another owner's live one. */
  async deregister(ref: InstanceRef): Promise<void> {
    const { keys, scriptKeys } = this.#service(ref.service);
    const reply = await runScript(this.#client, DEREGISTER, scriptKeys, [ref.id, keys.channel, ref.service, this.#pruneLimit, this.#ownerSecret]);
    const [removed, removedDeadline, remaining, planted, before, after] = integers(reply, 6);
    this.#planted(planted, keys, false);
    if (removed < 0) throw new InstanceOwnedError('deregister', ref.service, ref.id, removedDeadline);
    this.#owned.delete(ownedKey(ref.service, ref.id));
    if (this.#isCluster && removed > 0) {
      await this.#afterWrite(ref.service, removedDeadline > 0 ? ['deregister', removedDeadline, remaining] : ['none', 0, 0], [before, after]);
    }
  }

  /** Reads the service: only what changed since `known` when the change log can tell, else all of it. */
  async list(service: string, known: KnownVersion | undefined): Promise<Listing> {
    const { keys, scriptKeys } = this.#service(service);
    const ticket = this.#resets.beforeRead(service);
    const reply = await runScript(this.#client, READ, scriptKeys, [keys.channel, this.#pruneLimit, service, known?.epoch ?? '', known?.version ?? 0]);
    // A reconnection's run-id check decides first whether what was read follows a restart.
    const checks = this.#serverChecks();
    if (checks !== undefined) await checks;
    const listing = parseListing(reply, service, keys, this.#onMalformed, this.#records);
    this.#planted(listing.plantedKeys, keys, false);
    this.#resets.afterRead(service, ticket, listing);
    return listing;
  }

  /** Names of services with a live instance, sorted. */
  async services(): Promise<string[]> {
    const reply = await runScript(this.#client, SERVICES, [this.#indexKey], [this.#pruneLimit]);
    const { names, plantedIndex } = parseServices(reply, this.#indexKey, this.#onMalformed);
    if (plantedIndex) this.#planted(PLANTED_INDEX, undefined, false);
    return names;
  }

  /** The version a message of the service's channel names; undefined (and reported) for one that names none. */
  change(service: string, message: string): number | undefined {
    const { keys } = this.#service(service);
    try {
      return parseChange(message, keys);
    } catch (error) {
      if (!(error instanceof MalformedRecordError)) throw error;
      this.#malformed(error, keys.channel, '');
      return undefined;
    }
  }

  /** Looks at the namespace's sweeper lease, taking or renewing it when free or held. */
  async sweepCheck(): Promise<SweepCheck> {
    const { sweeper, sweepers, expiries } = this.#namespaceKeys;
    const reply = await runScript(this.#client, SWEEP_CHECK, [sweeper, sweepers, expiries], [this.#sweeperToken, SWEEP_LEASE_MS, DUE_LIMIT]);
    const { check, replacedKeys, badNames } = parseSweepCheck(reply);
    for (const [bit, key, expected] of [
      [PLANTED_SWEEPER, sweeper, 'a string'],
      [PLANTED_SWEEPERS, sweepers, 'a sorted set'],
      [PLANTED_EXPIRY_INDEX, expiries, 'a sorted set'],
    ] as const) {
      if ((replacedKeys & bit) !== 0) this.#reportType(key, `held another Redis type than ${expected}; replaced`);
    }
    if (badNames > 0) {
      this.#malformed(new MalformedRecordError(`${expiries} member`, `${badNames} name(s) that are not service names; removed`), expiries, '');
    }
    return check;
  }

  /** Prunes what expired in `service`, whose expiry entry held `deadline`, and updates that entry. */
  async sweepService(service: string, deadline: number): Promise<void> {
    const { keys, scriptKeys } = this.#service(service);
    const reply = await runScript(this.#client, SWEEP_SERVICE, scriptKeys, [keys.channel, this.#pruneLimit, service]);
    const [, before, after, planted] = integers(reply, 4);
    this.#planted(planted, keys, false);
    // In Cluster the expiry entry is set here; `deadline` is what it held when the sweep was decided.
    if (this.#isCluster) await this.#afterWrite(service, ['none', 0, 0], [before === 0 ? deadline : before, after]);
  }

  /** Leaves the namespace's sweepers, giving the lease up if held. */
  async sweepRelease(): Promise<void> {
    const { sweeper, sweepers, channel } = this.#namespaceKeys;
    await runScript(this.#client, SWEEP_RELEASE, [sweeper, sweepers], [this.#sweeperToken, channel]);
  }

  /**
   * Cluster only: keeps the namespace's indexes in step after a write. `index`: what the services
   * index needs ('raise' to a deadline, or 'deregister' with the removed and remaining deadlines);
   * `expiry`: the service's earliest deadline before and after the write, when it may have moved.
   */
  async #afterWrite(service: string, index: ['raise' | 'deregister' | 'none', number, number], expiry: [number, number] | undefined): Promise<void> {
    const [step, deadline, remaining] = index;
    const args = [service, step, deadline, remaining, expiry === undefined ? 'none' : 'set', expiry?.[0] ?? 0, expiry?.[1] ?? 0, this.#namespaceKeys.channel];
    const replaced = await runScript(this.#client, NAMESPACE_AFTER_WRITE, [this.#indexKey, this.#namespaceKeys.expiries], args);
    this.#planted(integer(replaced) ?? unexpected(UNEXPECTED_REPLY), undefined, true);
  }

  // Keys are built once per service: every call of a heartbeat or a resolve needs the same ones.
  #service(service: string): ServiceContext {
    let context = this.#services.get(service);
    if (context === undefined) {
      const keys = serviceKeys(this.#namespace, service);
      const own = [keys.deadlines, keys.records, keys.log];
      // Outside Cluster the indexes move in the same script; in Cluster they live in another slot.
      context = { keys, scriptKeys: this.#isCluster ? own : [...own, this.#indexKey, this.#namespaceKeys.expiries] };
      if (this.#services.size >= CACHED_SERVICES) this.#services.clear();
      this.#services.set(service, context);
    }
    return context;
  }

  #malformed(error: MalformedRecordError, key: string, id: string): void {
    this.#malformedRecords.report(`${key}\u0000${id}`, { key, id, problem: error.message }, 'skipping a malformed registry record');
  }

  /**
   * Counts (and logs once per key) the keys a script found holding another Redis type. A service's
   * deadlines and records are replaced by a registration (`replaced`) and otherwise read as empty;
   * the keys rollcall derives (log, services and expiry indexes) are always replaced.
   */
  #planted(bits: number, keys: ServiceKeys | undefined, replaced: boolean): void {
    if (bits === 0) return;
    const planted: [number, string | undefined, string, boolean][] = [
      [PLANTED_DEADLINES, keys?.deadlines, 'a sorted set', replaced],
      [PLANTED_RECORDS, keys?.records, 'a hash', replaced],
      [PLANTED_INDEX, this.#indexKey, 'a sorted set', true],
      [PLANTED_LOG, keys?.log, 'a sorted set', true],
      [PLANTED_EXPIRIES, this.#namespaceKeys.expiries, 'a sorted set', true],
    ];
    for (const [bit, key, expected, gone] of planted) {
      if ((bits & bit) === 0 || key === undefined) continue;
      this.#reportType(key, gone ? `held another Redis type than ${expected}; replaced` : `holds another Redis type than ${expected}; read as empty`);
    }
  }

  #reportType(key: string, problem: string): void {
    this.#malformedRecords.report(`${key}\u0000#type`, { key, problem }, 'a registry key holds another Redis type');
  }
}

/** Key of the record of an instance this object owns. */
function ownedKey(service: string, id: string): string {
  return `${service} ${id}`;
}
