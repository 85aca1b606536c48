/**
 * What changed between two lists of a service's instances: the watch command prints it and the
 * dashboard keeps it as history. Lists are snapshots (the watch contract), so changes are found
 * by comparing them by id.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ServiceInstance } from '../core/instance.js';

/** Fields whose change is worth telling an operator; `updatedAt` moves with them. */
export const WATCHED_FIELDS = ['status', 'host', 'port', 'protocol', 'zone', 'version', 'weight', 'tags', 'meta'] as const;
export type WatchedField = (typeof WATCHED_FIELDS)[number];

export type InstanceChange =
  | { readonly type: 'added'; readonly instance: ServiceInstance }
  | { readonly type: 'removed'; readonly instance: ServiceInstance }
  | { readonly type: 'changed'; readonly instance: ServiceInstance; readonly previous: ServiceInstance; readonly fields: readonly WatchedField[] };

/** Changes from `previous` to `next`, in id order: removals, additions and changes interleaved. */
export function diffInstances(previous: readonly ServiceInstance[], next: readonly ServiceInstance[]): InstanceChange[] {
  const before = new Map(previous.map((instance) => [instance.id, instance]));
  const after = new Map(next.map((instance) => [instance.id, instance]));
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const changes: InstanceChange[] = [];
  for (const id of ids) {
    const old = before.get(id);
    const current = after.get(id);
    if (old === undefined && current !== undefined) changes.push({ type: 'added', instance: current });
    else if (old !== undefined && current === undefined) changes.push({ type: 'removed', instance: old });
    else if (old !== undefined && current !== undefined) {
      const fields = WATCHED_FIELDS.filter((field) => !isDeepStrictEqual(old[field], current[field]));
      if (fields.length > 0) changes.push({ type: 'changed', instance: current, previous: old, fields });
    }
  }
  return changes;
}

/** `status passing → critical, port 3002 → 3003`: a changed instance's fields, old and new. */
export function describeFields(change: Extract<InstanceChange, { type: 'changed' }>): string {
  return change.fields.map((field) => `${field} ${show(change.previous[field])} → ${show(change.instance[field])}`).join(', ');
}

function show(value: unknown): string {
  if (value === undefined) return '-';
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  return JSON.stringify(value);
}
