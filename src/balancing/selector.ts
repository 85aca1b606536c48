/**
 * Which instances a filter or a split means. Compiled once per decorator into a predicate, so a
 * list change costs one pass and a pick costs nothing.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';

/**
 * Instances to select: a predicate, or an object whose every given field must hold (an empty
 * object selects every instance).
 *
 * @example { tags: ['gpu'] }                       // has the tag "gpu"
 * @example { version: ['2.0.0', '2.0.1'] }         // runs one of these versions
 * @example { meta: { track: 'canary' } }           // meta.track is "canary"
 * @example (instance) => instance.weight >= 10
 */
export type InstanceSelector =
  | ((instance: ServiceInstance) => boolean)
  | {
      /** Every one of these tags is present. */
      readonly tags?: readonly string[] | undefined;
      /** Every one of these meta keys is present with exactly this value. */
      readonly meta?: Readonly<Record<string, string>> | undefined;
      /** The version is this one, or one of these. */
      readonly version?: string | readonly string[] | undefined;
      /** The zone is this one, or one of these. */
      readonly zone?: string | readonly string[] | undefined;
    };

export type InstancePredicate = (instance: ServiceInstance) => boolean;

const SELECTOR_FIELDS: ReadonlySet<string> = new Set(['tags', 'meta', 'version', 'zone']);

/** A predicate for `selector`; throws `INVALID_ARGUMENT` naming `field` when it is malformed. */
export function compileSelector(selector: InstanceSelector, field: string): InstancePredicate {
  if (typeof selector === 'function') return selector;
  if (typeof selector !== 'object' || selector === null || Array.isArray(selector)) {
    throw new InvalidArgumentError(field, 'a predicate or { tags, meta, version, zone }', selector);
  }
  // A misspelt field would otherwise select every instance without a word.
  const unknown = Object.keys(selector).find((name) => !SELECTOR_FIELDS.has(name));
  if (unknown !== undefined) throw new InvalidArgumentError(field, 'a predicate or { tags, meta, version, zone }', selector, `unknown field ${JSON.stringify(unknown)}`);
  const tags = stringList(selector.tags, `${field}.tags`);
  const versions = stringList(selector.version, `${field}.version`);
  const zones = stringList(selector.zone, `${field}.zone`);
  const meta = metaEntries(selector.meta, `${field}.meta`);
  return (instance) =>
    (tags === undefined || tags.every((tag) => instance.tags.includes(tag))) &&
    (versions === undefined || (instance.version !== undefined && versions.includes(instance.version))) &&
    (zones === undefined || (instance.zone !== undefined && zones.includes(instance.zone))) &&
    (meta === undefined || meta.every(([key, value]) => instance.meta[key] === value));
}

/** Describes a selector for error messages and reasons. */
export function describeSelector(selector: InstanceSelector): string {
  if (typeof selector === 'function') return 'a predicate';
  const parts = Object.entries(selector)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name} ${JSON.stringify(value)}`);
  return parts.length === 0 ? 'every instance' : parts.join(', ');
}

function stringList(value: string | readonly string[] | undefined, field: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) throw new InvalidArgumentError(field, 'a string or an array of strings', value);
  return list;
}

function metaEntries(value: Readonly<Record<string, string>> | undefined, field: string): (readonly [string, string])[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(field, 'an object of string values', value);
  const entries = Object.entries(value);
  if (!entries.every(([, item]) => typeof item === 'string')) throw new InvalidArgumentError(field, 'an object of string values', value);
  return entries;
}
