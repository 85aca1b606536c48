/**
 * The Lua scripts behind every operation, one round trip each. Deadlines come from the Redis
 * server's `TIME`, never from a client's clock, so clients with skewed clocks agree on who is
 * alive. Redis 7 replicates script effects rather than script text, which makes reading `TIME`
 * before writing safe on replicas.
 *
 * The service scripts take the service's three keys (one hash slot) and, outside Cluster, the
 * services index and the expiry index as fourth and fifth keys, so that both move atomically with
 * the service. In Cluster those live in another slot; the scripts then leave them alone and
 * return what the caller needs to update them ({@link NAMESPACE_AFTER_WRITE}).
 *
 * Every change raises the service's version, records the version in the change log against each
 * instance it touched, and publishes the version, nothing else: a message only tells watchers to
 * read, and a watcher that knows version V reads only the instances logged after V
 * ({@link READ}). A message someone else publishes can cause a read but never put an instance in
 * a watcher's list.
 *
 * Redis says nothing when a deadline passes, so every write keeps the expiry index exact (service
 * → its earliest deadline) and one backend of the namespace, the sweeper, holds a lease and sweeps
 * the services whose earliest deadline passed ({@link SWEEP_CHECK}, {@link SWEEP_SERVICE}).
 * Watchers themselves never read on a timer.
 *
 * Data planted by hand is expected: a key of another Redis type costs only itself (a write
 * replaces it, a read treats it as empty, keys rollcall derives are replaced), a record over
 * {@link RECORD_MAX_BYTES} is sent back as its size, never as itself, and versions or deadlines out
 * of range are bounded.
 *
 * Each script carries only the helpers it calls: every helper is a closure Lua builds on each run.
 */
import { createHash } from 'node:crypto';
import { TTL_LIMITS } from '../../core/instance.js';

/** How long a service's keys outlive its latest lease deadline (at least half of it, at most all). */
export const KEY_GRACE_MS = 60_000;
/**
 * Field of the records hash holding the service's version. Instance ids start with a letter or a
 * digit, so no instance can take a field starting with `#`.
 */
export const VERSION_FIELD = '#version';
/**
 * Field of the records hash set once, when the hash is created (or first changed by this
 * version of rollcall): the server's clock in µs then. Another value, or none, where a reader saw
 * one means the hash was lost and created again.
 */
export const EPOCH_FIELD = '#epoch';
/** Field of the records hash: the oldest version from which the change log is complete. */
export const LOG_FROM_FIELD = '#logfrom';
/** Prefix of the records-hash field that holds an instance's owner digest: `#owner:<id>`. */
export const OWNER_FIELD_PREFIX = '#owner:';
/** Largest stored record the listing returns; a larger one comes back as its size in bytes. */
export const RECORD_MAX_BYTES = 65_536;
/** How long (µs of the server's clock) the change log keeps an entry; a reader further behind reads everything. */
export const LOG_KEEP_US = 600_000_000;
/** Most changed instances a read returns as a delta; past it, the whole service is cheaper. */
export const MAX_DELTA = 1_000;
/** How far past now plus its TTL a lease deadline may lie (a server taking over after a failover may run behind). */
export const CLOCK_SLACK_MS = 60_000;
/** Bits of the keys a script found holding another Redis type. */
export const PLANTED_DEADLINES = 1;
export const PLANTED_RECORDS = 2;
export const PLANTED_INDEX = 4;
export const PLANTED_LOG = 8;
export const PLANTED_EXPIRIES = 16;
/** Bits of the namespace keys {@link SWEEP_CHECK} found holding another Redis type (and replaced). */
export const PLANTED_SWEEPER = 1;
export const PLANTED_SWEEPERS = 2;
export const PLANTED_EXPIRY_INDEX = 4;
/** The fifth item of a {@link READ} reply: the whole service, or the instances changed since the version the reader knew. */
export const READ_FULL = 0;
export const READ_DELTA = 1;

export interface Script {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

const CONSTANTS = `
local GRACE = ${KEY_GRACE_MS}
local MAX_TTL = ${TTL_LIMITS.max}
local MAX_RECORD = ${RECORD_MAX_BYTES}
local MAX_VERSION = ${Number.MAX_SAFE_INTEGER}
local LOG_KEEP = ${LOG_KEEP_US}
local MAX_DELTA = ${MAX_DELTA}
local SLACK = ${CLOCK_SLACK_MS}
local VERSION = '${VERSION_FIELD}'
local EPOCH = '${EPOCH_FIELD}'
local LOGFROM = '${LOG_FROM_FIELD}'
local OWNER = '${OWNER_FIELD_PREFIX}'
local P_DEADLINES, P_RECORDS, P_INDEX, P_LOG, P_EXPIRIES = ${PLANTED_DEADLINES}, ${PLANTED_RECORDS}, ${PLANTED_INDEX}, ${PLANTED_LOG}, ${PLANTED_EXPIRIES}
`;

/** Helpers, in an order where each only calls the ones before it. */
const HELPERS = {
  clock: `
-- The server's clock in ms (deadlines) and in µs (versions).
local function clock()
  local t = redis.call('TIME')
  local seconds, micros = tonumber(t[1]), tonumber(t[2])
  return seconds * 1000 + math.floor(micros / 1000), seconds * 1000000 + micros
end`,
  int: `
-- Integers print as integers; tostring would switch to exponent notation past 14 digits.
local function int(n)
  return string.format('%d', n)
end`,
  bounded: `
-- A stored deadline bounded by the longest lease: a planted far-future or infinite score
-- counts as now + MAX_TTL, a negative one as 0.
local function bounded(score, now)
  return math.floor(math.max(0, math.min(tonumber(score), now + MAX_TTL)))
end`,
  version_of: `
-- A stored version, or nil when absent or not one rollcall writes (planted, or out of the
-- range a client reads exactly).
local function version_of(stored)
  if type(stored) ~= 'string' or #stored > 16 or not string.match(stored, '^%d+$') then
    return nil
  end
  local v = tonumber(stored)
  if v > MAX_VERSION then
    return nil
  end
  return v
end`,
  epoch_of: `
-- An epoch as stored ('' without one). A planted long value travels as its size, not itself.
local function epoch_of(stored)
  if not stored then
    return ''
  end
  if #stored > 32 then
    return '#' .. string.format('%d', #stored)
  end
  return stored
end`,
  planted: `
-- bit when a redis.pcall reply failed because its key holds another Redis type (planted by
-- hand); 0 when it did not fail. Any other failure is raised.
local function planted(reply, bit)
  if type(reply) ~= 'table' or reply.err == nil then
    return 0
  end
  if string.sub(reply.err, 1, 9) ~= 'WRONGTYPE' then
    error(reply)
  end
  return bit
end`,
  on_key: `
-- Runs a command on a key rollcall derives (its key is the command's second item): a key of
-- another Redis type is replaced and the command run again. Returns bit when it was, and the reply.
local function on_key(bit, ...)
  local reply = redis.pcall(...)
  if planted(reply, bit) == 0 then
    return 0, reply
  end
  redis.call('DEL', (select(2, ...)))
  return bit, redis.call(...)
end`,
  owner_of: `
-- Who owns an instance, as a digest of the owner's secret (the hash holds no secret).
local function owner_of(secret, id)
  return redis.sha1hex(secret .. '\\n' .. id)
end`,
  prune: `
-- Bounded work: at most limit expired members leave per call, with their records and owners.
-- Returns their ids.
local function prune(now, limit)
  local dead = redis.call('ZRANGE', KEYS[1], '-inf', int(now), 'BYSCORE', 'LIMIT', 0, limit)
  if #dead > 0 then
    redis.call('ZREM', KEYS[1], unpack(dead))
    local fields = {}
    for i = 1, #dead do
      fields[2 * i - 1] = dead[i]
      fields[2 * i] = OWNER .. dead[i]
    end
    redis.call('HDEL', KEYS[2], unpack(fields))
  end
  return dead
end`,
  keep: `
-- A service nobody writes to or reads any more leaves nothing behind once its keys expire. They
-- outlive every deadline by at least half the grace and are extended only once they come within
-- that, so most renewals write no expiry (every write also goes to replicas and the AOF). Checks
-- the first checked keys; says whether it extended them.
local function keep(ttl, checked)
  for i = 1, checked do
    if redis.call('PTTL', KEYS[i]) < ttl + GRACE / 2 then
      for k = 1, 3 do
        redis.call('PEXPIRE', KEYS[k], ttl + GRACE)
      end
      return true
    end
  end
  return false
end`,
  changed: `
-- Raises the version past its last value and past the server's clock in µs (so it keeps growing
-- after the field was lost with its key), logs it against each id changed, trims log entries
-- older than LOG_KEEP, and tells watchers. Nothing but the version travels: a watcher reads the
-- changes. Returns P_LOG when the log held another Redis type (replaced).
local function changed(channel, now_us, ids)
  local head = redis.call('HMGET', KEYS[2], VERSION, EPOCH)
  local v = math.max((version_of(head[1]) or 0) + 1, now_us)
  local sv = int(v)
  local bits = 0
  if head[2] then
    redis.call('HSET', KEYS[2], VERSION, sv)
  else
    -- A new hash gets its epoch: a reader that knew another one knows the data was lost.
    redis.call('HSET', KEYS[2], VERSION, sv, EPOCH, int(now_us))
    -- A change to what was left without a record (planted data) must not create a key for ever.
    if redis.call('PTTL', KEYS[2]) == -1 then
      redis.call('PEXPIRE', KEYS[2], GRACE)
    end
  end
  local kind = redis.call('TYPE', KEYS[3]).ok
  if kind ~= 'zset' then
    -- No log (or a planted one) holds what changed before: readers of earlier versions read everything.
    if kind ~= 'none' then
      redis.call('DEL', KEYS[3])
      bits = P_LOG
    end
    redis.call('HSET', KEYS[2], LOGFROM, sv)
  end
  for first = 1, #ids, 500 do
    local entries, n = {}, 0
    for i = first, math.min(first + 499, #ids) do
      entries[n + 1] = sv
      entries[n + 2] = ids[i]
      n = n + 2
    end
    redis.call('ZADD', KEYS[3], unpack(entries))
  end
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  local cut = now_us - LOG_KEEP
  if oldest[2] and tonumber(oldest[2]) < cut then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. int(cut))
    if cut > (version_of(redis.call('HGET', KEYS[2], LOGFROM)) or 0) then
      redis.call('HSET', KEYS[2], LOGFROM, int(cut))
    end
  end
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[3], ttl)
  end
  redis.call('PUBLISH', channel, sv)
  return bits
end`,
  earliest: `
-- The service's earliest lease deadline, bounded; nil without instances.
local function earliest(now)
  local e = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if e[2] then
    return bounded(e[2], now)
  end
  return nil
end`,
  set_expiry: `
-- Outside Cluster: sets the service's entry in the expiry index (KEYS[5]) to e, its earliest
-- deadline, or removes it. When channel is given and the entry moved earlier to become the
-- namespace's earliest, tells the sweeper. Returns P_EXPIRIES when the index was replaced.
local function set_expiry(service, e, channel)
  if not e then
    return (on_key(P_EXPIRIES, 'ZREM', KEYS[5], service))
  end
  local bits, old = on_key(P_EXPIRIES, 'ZSCORE', KEYS[5], service)
  redis.call('ZADD', KEYS[5], e, service)
  if channel and (not old or e < tonumber(old)) and redis.call('ZRANGE', KEYS[5], 0, 0)[1] == service then
    redis.call('PUBLISH', channel, '')
  end
  return bits
end`,
} as const;

type Helper = keyof typeof HELPERS;
const ORDER = Object.keys(HELPERS) as Helper[];

function define(name: string, helpers: readonly Helper[], body: string): Script {
  const used = ORDER.filter((helper) => helpers.includes(helper));
  const lua = [CONSTANTS, ...used.map((helper) => HELPERS[helper]), body].join('\n');
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * KEYS: deadlines, records, log, and outside Cluster the services index and the expiry index.
 * ARGV: id, ttlMs, record entry, channel, service, pruneLimit, namespace channel, owner secret.
 * Returns {1, deadline, replaced keys, earliest deadline of the service}, or {0, ms left on its
 * lease, replaced keys, 0} when another owner's live instance holds the id (nothing is written).
 */
export const REGISTER = define(
  'register',
  ['clock', 'int', 'bounded', 'version_of', 'planted', 'on_key', 'owner_of', 'prune', 'keep', 'changed', 'earliest', 'set_expiry'],
  `
local now, now_us = clock()
local id, ttl, secret, service = ARGV[1], tonumber(ARGV[2]), ARGV[8], ARGV[5]
local replaced = 0
local types, bits = {'zset', 'hash', 'zset', 'zset', 'zset'}, {P_DEADLINES, P_RECORDS, P_LOG, P_INDEX, P_EXPIRIES}
for i = 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'none' and kind ~= types[i] then
    redis.call('DEL', KEYS[i])
    replaced = replaced + bits[i]
  end
end
local score = redis.call('ZSCORE', KEYS[1], id)
if score and tonumber(score) > now then
  local held = redis.call('HGET', KEYS[2], OWNER .. id)
  if held and string.sub(held, 1, 40) ~= owner_of(secret, id) then
    return {0, bounded(score, now) - now, replaced, 0}
  end
end
local deadline = now + ttl
local ids = prune(now, tonumber(ARGV[6]))
redis.call('HSET', KEYS[2], id, ARGV[3], OWNER .. id, owner_of(secret, id))
redis.call('ZADD', KEYS[1], deadline, id)
keep(ttl, 2)
if KEYS[4] then
  redis.call('ZADD', KEYS[4], 'GT', deadline, service)
end
ids[#ids + 1] = id
replaced = replaced + changed(ARGV[4], now_us, ids)
local e = earliest(now)
if KEYS[5] then
  replaced = replaced + set_expiry(service, e, ARGV[7])
end
return {1, deadline, replaced, e or 0}
`,
);

/**
 * KEYS: deadlines, records, log, and outside Cluster the services index and the expiry index.
 * ARGV: id, status, channel, service, pruneLimit, the record this owner last wrote, namespace
 * channel, owner secret.
 * Returns {1, deadline, replaced keys, the new record's updatedAt when the status changed else 0,
 * the service's earliest deadline when it may have moved else 0, the instance's former deadline
 * when it was the earliest else 0}. Returns {0, 0, planted keys, 0, 0, 0} when the instance is not
 * a live, intact instance of this owner (expired, flushed, never registered, another owner's, or
 * its record changed by someone else).
 */
export const RENEW = define(
  'renew',
  ['clock', 'int', 'bounded', 'version_of', 'planted', 'on_key', 'owner_of', 'prune', 'keep', 'changed', 'earliest', 'set_expiry'],
  `
local now, now_us = clock()
local id, service = ARGV[1], ARGV[4]
local fields = redis.pcall('HMGET', KEYS[2], id, OWNER .. id)
-- The two earliest members: whether this one is the earliest (then its deadline is the first
-- score) and what the earliest becomes once it moves.
local first = redis.pcall('ZRANGE', KEYS[1], 0, 1, 'WITHSCORES')
local broken = planted(first, P_DEADLINES) + planted(fields, P_RECORDS)
if broken > 0 then
  return {0, 0, broken, 0, 0, 0}
end
local was_first = first[1] == id
local score
if was_first then
  score = first[2]
else
  score = redis.call('ZSCORE', KEYS[1], id)
end
local record, held = fields[1], fields[2]
local live = score and tonumber(score) > now
local me = held and owner_of(ARGV[8], id)
local ttl, status
if live and record and record == ARGV[6] and held and string.sub(held, 1, 40) == me then
  ttl, status = string.match(record, '^(%d+) (%a+) %d+ ')
end
if not ttl then
  -- Another owner's live instance is left alone. Whatever else is left of this one cannot be
  -- renewed: it goes, so a fresh registration starts clean.
  if live and held and string.sub(held, 1, 40) ~= me then
    return {0, 0, 0, 0, 0, 0}
  end
  local ids = prune(now, tonumber(ARGV[5]))
  if redis.call('ZREM', KEYS[1], id) + redis.call('HDEL', KEYS[2], id, OWNER .. id) > 0 then
    ids[#ids + 1] = id
  end
  local bits = 0
  if #ids > 0 then
    bits = changed(ARGV[3], now_us, ids)
    if KEYS[5] then
      bits = bits + set_expiry(service, earliest(now))
    end
  end
  return {0, 0, bits, 0, 0, 0}
end
local deadline = now + tonumber(ttl)
redis.call('ZADD', KEYS[1], deadline, id)
local bits = 0
if KEYS[4] then
  bits = on_key(P_INDEX, 'ZADD', KEYS[4], 'GT', deadline, service)
end
-- The record exists, so all keys do, with expiries set together: one tells for all. Pruning only
-- reclaims memory, so renewals leave it to the other scripts but when they extend the keys.
local ids = {}
if keep(tonumber(ttl), 1) then
  ids = prune(now, tonumber(ARGV[5]))
end
local updated = 0
if status ~= ARGV[2] then
  local prefix = string.match(record, '^%d+ %a+ %d+ ')
  redis.call('HSET', KEYS[2], id, ttl .. ' ' .. ARGV[2] .. ' ' .. int(now) .. ' ' .. string.sub(record, #prefix + 1))
  updated = now
  ids[#ids + 1] = id
end
if #ids > 0 then
  bits = bits + changed(ARGV[3], now_us, ids)
end
-- Only a renewal of the earliest instance (or a prune) moves the service's earliest deadline:
-- with every instance on the same heartbeat, most renewals are of the earliest one.
local after, former = nil, 0
if #ids > 0 then
  after = earliest(now)
elseif was_first then
  after = deadline
  if first[4] and tonumber(first[4]) < deadline then
    after = bounded(first[4], now)
  end
end
if was_first then
  former = bounded(score, now)
end
if after and KEYS[5] then
  if #ids > 0 then
    bits = bits + set_expiry(service, after, ARGV[7])
  else
    local b, added = on_key(P_EXPIRIES, 'ZADD', KEYS[5], after, service)
    bits = bits + b
    -- An entry that was missing (lost by hand) may be the namespace's earliest now.
    if added == 1 and redis.call('ZRANGE', KEYS[5], 0, 0)[1] == service then
      redis.call('PUBLISH', ARGV[7], '')
    end
  end
end
return {1, deadline, bits, updated, after or 0, former}
`,
);

/**
 * KEYS: deadlines, records, log, and outside Cluster the services index and the expiry index.
 * ARGV: id, channel, service, pruneLimit, owner secret.
 * Returns {removed fields, deadline of the removed instance or 0, latest remaining deadline or 0,
 * planted or replaced keys, the service's earliest deadline before or 0, after or 0}. Removed is
 * -1 when another owner's live instance holds the id: nothing is removed, and the second item is
 * the ms left on its lease.
 */
export const DEREGISTER = define(
  'deregister',
  ['clock', 'int', 'bounded', 'version_of', 'planted', 'on_key', 'owner_of', 'prune', 'changed', 'earliest', 'set_expiry'],
  `
local now, now_us = clock()
local id, service = ARGV[1], ARGV[3]
local score = redis.pcall('ZSCORE', KEYS[1], id)
local held = redis.pcall('HGET', KEYS[2], OWNER .. id)
local broken = planted(score, P_DEADLINES) + planted(held, P_RECORDS)
if broken > 0 then
  -- No instance of ours lives in a key of another type: there is nothing to remove.
  return {0, 0, 0, broken, 0, 0}
end
if score and tonumber(score) > now and held and string.sub(held, 1, 40) ~= owner_of(ARGV[5], id) then
  return {-1, bounded(score, now) - now, 0, 0, 0, 0}
end
local before = earliest(now)
local ids = prune(now, tonumber(ARGV[4]))
local removed = redis.call('ZREM', KEYS[1], id) + redis.call('HDEL', KEYS[2], id, OWNER .. id)
if removed > 0 then
  ids[#ids + 1] = id
end
local top = redis.call('ZRANGE', KEYS[1], '+inf', '(' .. int(now), 'BYSCORE', 'REV', 'LIMIT', 0, 1, 'WITHSCORES')
local remaining = 0
if top[2] then
  remaining = bounded(top[2], now)
end
local bits = 0
if KEYS[4] then
  if remaining > 0 then
    bits = on_key(P_INDEX, 'ZADD', KEYS[4], remaining, service)
  else
    bits = on_key(P_INDEX, 'ZREM', KEYS[4], service)
  end
end
local after = before
if #ids > 0 then
  bits = bits + changed(ARGV[2], now_us, ids)
  after = earliest(now)
  if KEYS[5] then
    bits = bits + set_expiry(service, after)
  end
end
local removed_deadline = 0
if score then
  removed_deadline = bounded(score, now)
end
return {removed, removed_deadline, remaining, bits, before or 0, after or 0}
`,
);

/**
 * Cluster only, on the namespace's slot after a service script: keeps the services index and the
 * expiry index in step with the service. Writes on other clients may land in between, so an
 * expiry entry is lowered at once but raised (or removed) only if it still holds what the
 * service script saw before its change; an entry left too early only costs the sweeper one look.
 * KEYS: services index, expiry index.
 * ARGV: service, index step ('raise', 'deregister' or 'none'), deadline (raise) or removed
 * deadline (deregister), remaining deadline (deregister; 0: none), expiry step ('set' or 'none'),
 * the service's earliest deadline before (0: unknown), after (0: no instance left), namespace channel.
 * Returns the replaced keys.
 */
export const NAMESPACE_AFTER_WRITE = define(
  'namespace-after-write',
  ['planted', 'on_key'],
  `
local service = ARGV[1]
local bits = 0
if ARGV[2] == 'raise' then
  bits = on_key(P_INDEX, 'ZADD', KEYS[1], 'GT', ARGV[3], service)
elseif ARGV[2] == 'deregister' then
  local b, current = on_key(P_INDEX, 'ZSCORE', KEYS[1], service)
  bits = b
  if current and tonumber(current) <= tonumber(ARGV[3]) then
    if tonumber(ARGV[4]) > 0 then
      redis.call('ZADD', KEYS[1], ARGV[4], service)
    else
      redis.call('ZREM', KEYS[1], service)
    end
  end
end
if ARGV[5] == 'set' then
  local b, current = on_key(P_EXPIRIES, 'ZSCORE', KEYS[2], service)
  bits = bits + b
  local before, after = tonumber(ARGV[6]), tonumber(ARGV[7])
  current = current and tonumber(current)
  if after > 0 then
    if not current or after < current then
      redis.call('ZADD', KEYS[2], after, service)
      if redis.call('ZRANGE', KEYS[2], 0, 0)[1] == service then
        redis.call('PUBLISH', ARGV[8], '')
      end
    elseif current == before then
      redis.call('ZADD', KEYS[2], after, service)
    end
  elseif current and current == before then
    redis.call('ZREM', KEYS[2], service)
  end
end
return bits
`,
);

/**
 * Reads a service: the whole of it, or only what changed since a version the reader knows.
 * KEYS: deadlines, records, log, and outside Cluster the services index and the expiry index.
 * ARGV: channel, pruneLimit, service, known epoch ('' for the whole service), known version.
 * Returns {version, server now, epoch or '', planted keys, READ_FULL or READ_DELTA, latest
 * deadline or ''}, then rows of three. READ_FULL: id, record, deadline of each live instance.
 * READ_DELTA (when the epoch is the one known and the log covers every change since the known
 * version): id, record or nil, deadline or nil of each instance changed since; the latest deadline
 * is given, when its record's TTL allows it. A record over RECORD_MAX_BYTES travels as its size.
 * With a planted deadlines or records key, only the header of an empty service. When some member
 * expired it prunes, raises the version and publishes first.
 */
export const READ = define(
  'read',
  ['clock', 'int', 'bounded', 'version_of', 'epoch_of', 'planted', 'on_key', 'prune', 'changed', 'earliest', 'set_expiry'],
  `
local now, now_us = clock()
local first = redis.pcall('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local head = redis.pcall('HMGET', KEYS[2], VERSION, EPOCH, LOGFROM)
local broken = planted(first, P_DEADLINES) + planted(head, P_RECORDS)
if broken > 0 then
  return {now_us, now, '', broken, ${READ_FULL}, ''}
end
local bits = 0
if first[2] and tonumber(first[2]) <= now then
  local dead = prune(now, tonumber(ARGV[2]))
  if #dead > 0 then
    bits = changed(ARGV[1], now_us, dead)
    if KEYS[5] then
      bits = bits + set_expiry(ARGV[3], earliest(now))
    end
    head = redis.call('HMGET', KEYS[2], VERSION, EPOCH, LOGFROM)
  end
end
-- Without a stored version the keys were lost or never written: the clock is past any version.
local version = version_of(head[1]) or now_us
local epoch = epoch_of(head[2])
local reply = {version, now, epoch, bits, ${READ_FULL}, ''}
local n = 6
-- unpack is bounded by the Lua C stack, so many ids are read in chunks.
local function rows(ids, deadlines)
  for first = 1, #ids, 500 do
    local chunk = {}
    for i = first, math.min(first + 499, #ids) do
      chunk[#chunk + 1] = ids[i]
    end
    local records = redis.call('HMGET', KEYS[2], unpack(chunk))
    local scores = deadlines or redis.call('ZMSCORE', KEYS[1], unpack(chunk))
    for i = 1, #chunk do
      local record = records[i]
      if record and #record > MAX_RECORD then
        record = #record
      end
      reply[n + 1] = chunk[i]
      reply[n + 2] = record
      if deadlines then
        reply[n + 3] = deadlines[first + i - 1]
      else
        reply[n + 3] = scores[i]
      end
      n = n + 3
    end
  end
end
local known = tonumber(ARGV[5])
if ARGV[4] ~= '' and ARGV[4] == epoch and known and known <= version and known >= (version_of(head[3]) or 0) then
  local ids = {}
  if known < version then
    ids = redis.pcall('ZRANGE', KEYS[3], '(' .. int(known), '+inf', 'BYSCORE', 'LIMIT', 0, MAX_DELTA + 1)
    -- A planted log holds nothing to go by (the next change replaces it): read everything.
    if ids.err then
      ids = nil
    end
  end
  -- A version raised with nothing logged (the log lost by hand) or too many changes: read everything.
  if ids and (known == version or #ids > 0) and #ids <= MAX_DELTA then
    reply[5] = ${READ_DELTA}
    local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
    if last[2] then
      local record = redis.call('HGET', KEYS[2], last[1])
      local ttl = record and string.match(record, '^(%d+) ')
      local deadline = tonumber(last[2])
      if ttl and deadline > now and deadline <= now + tonumber(ttl) + SLACK then
        reply[6] = last[2]
      end
    end
    rows(ids, nil)
    return reply
  end
end
local members = redis.call('ZRANGE', KEYS[1], '(' .. int(now), '+inf', 'BYSCORE', 'WITHSCORES')
local ids, deadlines = {}, {}
for i = 1, #members / 2 do
  ids[i] = members[2 * i - 1]
  deadlines[i] = members[2 * i]
end
rows(ids, deadlines)
return reply
`,
);

/**
 * The sweeper's step for one service whose earliest deadline passed: prunes what expired (at most
 * pruneLimit), then sets the expiry index to the service's new earliest deadline.
 * KEYS: deadlines, records, log, and outside Cluster the services index and the expiry index.
 * ARGV: channel, pruneLimit, service.
 * Returns {instances pruned, earliest deadline before or 0, after or 0, planted or replaced keys}.
 */
export const SWEEP_SERVICE = define(
  'sweep-service',
  ['clock', 'int', 'bounded', 'version_of', 'planted', 'on_key', 'prune', 'changed', 'earliest', 'set_expiry'],
  `
local now, now_us = clock()
local first = redis.pcall('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local broken = planted(first, P_DEADLINES) + planted(redis.pcall('HEXISTS', KEYS[2], VERSION), P_RECORDS)
if broken > 0 then
  -- Nothing of ours lives in a key of another type: nothing to sweep, ever.
  if KEYS[5] then
    broken = broken + set_expiry(ARGV[3], nil)
  end
  return {0, 0, 0, broken}
end
local before = first[2] and bounded(first[2], now)
local dead = {}
local bits = 0
if before and before <= now then
  dead = prune(now, tonumber(ARGV[2]))
  if #dead > 0 then
    bits = changed(ARGV[1], now_us, dead)
  end
end
local after = earliest(now)
if KEYS[5] then
  bits = bits + set_expiry(ARGV[3], after)
end
return {#dead, before or 0, after or 0, bits}
`,
);

/**
 * Run by every backend that watches, now and then; the sweeper's lease. Counts the backends that
 * take part (each entry lapses unless renewed), takes the lease when nobody holds it (or renews
 * it for its holder), and tells the holder the namespace's earliest deadline and the services due.
 * Names in the expiry index that are not service names are removed.
 * KEYS: sweeper lease, participants, expiry index. ARGV: token, leaseMs, most services due to return.
 * Returns {1 when the caller holds the lease else 0, participants, server now (ms), earliest
 * deadline or '', replaced keys, names removed, then service, deadline of each service due}.
 */
export const SWEEP_CHECK = define(
  'sweep-check',
  ['clock', 'int'],
  `
local now = clock()
local replaced = 0
local types = {'string', 'zset', 'zset'}
for i = 1, 3 do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'none' and kind ~= types[i] then
    redis.call('DEL', KEYS[i])
    replaced = replaced + 2 ^ (i - 1)
  end
end
local token, lease = ARGV[1], tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now))
local count = redis.call('ZCARD', KEYS[2])
if not redis.call('ZSCORE', KEYS[2], token) then
  count = count + 1
end
-- The caller's next look comes within 1.5 leases per participant: its entry outlives that.
redis.call('ZADD', KEYS[2], now + math.min(3 * lease * count, MAX_TTL), token)
local holder = redis.call('GET', KEYS[1])
local mine = 0
if not holder or holder == token then
  redis.call('SET', KEYS[1], token, 'PX', lease)
  mine = 1
end
local reply = {mine, count, now, '', replaced, 0}
if mine == 1 then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if first[2] then
    reply[4] = first[2]
  end
  local due = redis.call('ZRANGE', KEYS[3], '-inf', int(now), 'BYSCORE', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
  local n = 6
  for i = 1, #due, 2 do
    local name = due[i]
    if #name <= 128 and string.match(name, '^[%w][%w%._%-]*$') then
      reply[n + 1] = name
      reply[n + 2] = due[i + 1]
      n = n + 2
    else
      redis.call('ZREM', KEYS[3], name)
      reply[6] = reply[6] + 1
    end
  end
end
return reply
`,
);

/**
 * A backend that stops watching leaves: its participant entry goes, and if it held the lease it
 * gives it up and tells the others, who look at once.
 * KEYS: sweeper lease, participants. ARGV: token, namespace channel. Returns 1 when it held the lease.
 */
export const SWEEP_RELEASE = define(
  'sweep-release',
  [],
  `
redis.pcall('ZREM', KEYS[2], ARGV[1])
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'free')
  return 1
end
return 0
`,
);

/**
 * KEYS: index. ARGV: pruneLimit.
 * Returns {planted keys, then the names of services with a live deadline}, after dropping at most
 * pruneLimit dead ones. An index of another Redis type lists nothing (and is left to writes to
 * replace).
 */
export const SERVICES = define(
  'services',
  ['clock', 'int', 'planted'],
  `
local now = clock()
local dead = redis.pcall('ZRANGE', KEYS[1], '-inf', int(now), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[1]))
if planted(dead, 1) > 0 then
  return {P_INDEX}
end
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
end
local names = redis.call('ZRANGE', KEYS[1], '(' .. int(now), '+inf', 'BYSCORE')
table.insert(names, 1, 0)
return names
`,
);

/** What {@link runScript} needs of an ioredis client (standalone, Sentinel or Cluster). */
export interface ScriptClient {
  evalsha(sha: string, numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  eval(lua: string, numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
}

/**
 * Runs a script by its SHA1, sending the text only when the server does not have it cached yet
 * (after a restart or failover): one round trip in the steady state, without adding commands to
 * a client the user owns (as `defineCommand` would).
 */
export function runScript(client: ScriptClient, script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  return client.evalsha(script.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return client.eval(script.lua, keys.length, ...keys, ...args);
  });
}
