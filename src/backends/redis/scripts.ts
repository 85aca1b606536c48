/**
 * The Lua scripts behind every operation, one round trip each. Deadlines come from the Redis
 * server's `TIME`, never from a client's clock, so clients with skewed clocks agree on who is
 * alive. Redis 7 replicates script effects rather than script text, which makes reading `TIME`
 * before writing safe on replicas.
 *
 * The service scripts take the service's two keys (one hash slot) and, outside Cluster, the
 * services index as a third key so that the index moves atomically with the service. In Cluster
 * the index lives in another slot; the script then leaves it alone and returns what the caller
 * needs to update it.
 *
 * Every change raises the service's version and publishes it, and nothing else: a message only
 * tells watchers to read the service through LIST, so a message someone else publishes can cause
 * a read but never put an instance in a watcher's list.
 *
 * Data planted by hand is expected: a key of another Redis type costs only itself (a write
 * replaces it, a read treats it as empty), a record over {@link RECORD_MAX_BYTES} is sent back as
 * its size, never as itself, and versions or deadlines out of range are bounded.
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
/** Prefix of the records-hash field that holds an instance's owner proof: `#owner:<id>`. */
export const OWNER_FIELD_PREFIX = '#owner:';
/** Largest stored record the listing returns; a larger one comes back as its size in bytes. */
export const RECORD_MAX_BYTES = 65_536;
/** Bits of the keys a script found holding another Redis type: deadlines, records, services index. */
export const PLANTED_DEADLINES = 1;
export const PLANTED_RECORDS = 2;
export const PLANTED_INDEX = 4;

export interface Script {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

function define(name: string, body: string): Script {
  const lua = `${PRELUDE}\n${body}`;
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const PRELUDE = `
local GRACE = ${KEY_GRACE_MS}
local MAX_TTL = ${TTL_LIMITS.max}
local MAX_RECORD = ${RECORD_MAX_BYTES}
local MAX_VERSION = ${Number.MAX_SAFE_INTEGER}
local VERSION = '${VERSION_FIELD}'
local EPOCH = '${EPOCH_FIELD}'
local OWNER = '${OWNER_FIELD_PREFIX}'
local PLANTED = {${PLANTED_DEADLINES}, ${PLANTED_RECORDS}, ${PLANTED_INDEX}}

-- The server's clock in ms (deadlines) and in µs (versions).
local function clock()
  local t = redis.call('TIME')
  local seconds, micros = tonumber(t[1]), tonumber(t[2])
  return seconds * 1000 + math.floor(micros / 1000), seconds * 1000000 + micros
end

-- Integers print as integers; tostring would switch to exponent notation past 14 digits.
local function int(n)
  return string.format('%d', n)
end

-- A stored deadline bounded by the longest lease: a planted far-future or infinite score
-- counts as now + MAX_TTL, a negative one as 0.
local function bounded(score, now)
  return math.floor(math.max(0, math.min(tonumber(score), now + MAX_TTL)))
end

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
end

-- An epoch as stored ('' without one). A planted long value travels as its size, not itself.
local function epoch_of(stored)
  if not stored then
    return ''
  end
  if #stored > 32 then
    return '#' .. int(#stored)
  end
  return stored
end

local function failed(reply)
  return type(reply) == 'table' and reply.err ~= nil
end

-- bit when a redis.pcall reply failed because its key holds another Redis type (planted by
-- hand); 0 when it did not fail. Any other failure is raised.
local function planted(reply, bit)
  if not failed(reply) then
    return 0
  end
  if string.sub(reply.err, 1, 9) ~= 'WRONGTYPE' then
    error(reply)
  end
  return bit
end

-- Replaces the script's keys that hold another Redis type than ours; returns their bits.
local function replace_planted(types)
  local replaced = 0
  for i = 1, #KEYS do
    local kind = redis.call('TYPE', KEYS[i]).ok
    if kind ~= 'none' and kind ~= types[i] then
      redis.call('DEL', KEYS[i])
      replaced = replaced + PLANTED[i]
    end
  end
  return replaced
end

-- Runs a command on the services index (its key is the command's second item); an index of
-- another Redis type is replaced first. Returns PLANTED_INDEX when it was, else 0.
local function on_index(...)
  local reply = redis.pcall(...)
  if planted(reply, 1) == 0 then
    return 0
  end
  redis.call('DEL', (select(2, ...)))
  redis.call(...)
  return PLANTED[3]
end

-- Who owns an instance and what it wrote, as digests of the owner's secret (the hash holds no
-- secret): 40 hex digits naming the owner of the id, then 40 sealing the record. A record changed
-- by anyone but its owner no longer matches its seal.
local function owner_of(secret, id)
  return redis.sha1hex(secret .. '\\n' .. id)
end

local function proof(secret, id, record)
  return owner_of(secret, id) .. redis.sha1hex(secret .. '\\n' .. redis.sha1hex(id .. '\\n' .. record))
end

-- Whether an owner proof names another owner than secret's.
local function foreign(held, secret, id)
  return held and string.sub(held, 1, 40) ~= owner_of(secret, id)
end

-- Bounded work: at most limit expired members leave per call, with their records and owners.
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
  return #dead
end

-- A service nobody writes to or reads any more leaves nothing behind once its keys expire. They
-- outlive every deadline by at least half the grace and are extended only once they come within
-- that, so most renewals write no expiry (every write also goes to replicas and the AOF). Checks
-- the first checked keys; says whether it extended them.
local function keep(ttl, checked)
  for i = 1, checked do
    if redis.call('PTTL', KEYS[i]) < ttl + GRACE / 2 then
      redis.call('PEXPIRE', KEYS[1], ttl + GRACE)
      redis.call('PEXPIRE', KEYS[2], ttl + GRACE)
      return true
    end
  end
  return false
end

-- Raises the version past its last value and past the server's clock in µs (so it keeps growing
-- after the field was lost with its key) and tells watchers. Nothing but the version travels: a
-- watcher reads the service to learn what changed.
local function changed(channel, now_us)
  local head = redis.call('HMGET', KEYS[2], VERSION, EPOCH)
  local v = math.max((version_of(head[1]) or 0) + 1, now_us)
  if head[2] then
    redis.call('HSET', KEYS[2], VERSION, int(v))
  else
    -- A new hash gets its epoch: a reader that knew another one knows the data was lost.
    redis.call('HSET', KEYS[2], VERSION, int(v), EPOCH, int(now_us))
    -- A change to what was left without a record (planted data) must not create a key for ever.
    if redis.call('PTTL', KEYS[2]) == -1 then
      redis.call('PEXPIRE', KEYS[2], GRACE)
    end
  end
  redis.call('PUBLISH', channel, int(v))
end
`;

/**
 * KEYS: deadlines, records, index (outside Cluster only).
 * ARGV: id, ttlMs, record entry, channel, service, pruneLimit, owner secret.
 * Returns {1, deadline, replaced keys}, or {0, ms left on its lease, replaced keys} when another
 * owner's live instance holds the id (nothing is written then).
 */
export const REGISTER = define(
  'register',
  `
local now, now_us = clock()
local id, ttl, secret = ARGV[1], tonumber(ARGV[2]), ARGV[7]
local replaced = replace_planted({'zset', 'hash', 'zset'})
local score = redis.call('ZSCORE', KEYS[1], id)
if score and tonumber(score) > now and foreign(redis.call('HGET', KEYS[2], OWNER .. id), secret, id) then
  return {0, bounded(score, now) - now, replaced}
end
local deadline = now + ttl
prune(now, tonumber(ARGV[6]))
redis.call('HSET', KEYS[2], id, ARGV[3], OWNER .. id, proof(secret, id, ARGV[3]))
redis.call('ZADD', KEYS[1], deadline, id)
keep(ttl, 2)
if KEYS[3] then
  replaced = replaced + on_index('ZADD', KEYS[3], 'GT', deadline, ARGV[5])
end
changed(ARGV[4], now_us)
return {1, deadline, replaced}
`,
);

/**
 * KEYS: deadlines, records, index (outside Cluster only).
 * ARGV: id, status, channel, service, pruneLimit, owner secret.
 * Returns {1, deadline, replaced keys} when renewed; {0, 0, planted keys} when the instance is not
 * a live, intact instance of this owner (expired, flushed, never registered, another owner's, or
 * its record changed by someone else).
 */
export const RENEW = define(
  'renew',
  `
local now, now_us = clock()
local id, secret = ARGV[1], ARGV[6]
local score = redis.pcall('ZSCORE', KEYS[1], id)
local fields = redis.pcall('HMGET', KEYS[2], id, OWNER .. id)
local broken = planted(score, PLANTED[1]) + planted(fields, PLANTED[2])
if broken > 0 then
  return {0, 0, broken}
end
local record, held = fields[1], fields[2]
local live = score and tonumber(score) > now
local ttl, status
if live and record and held == proof(secret, id, record) then
  ttl, status = string.match(record, '^(%d+) (%a+) %d+ ')
end
if not ttl then
  -- Another owner's live instance is left alone. Whatever else is left of this one cannot be
  -- renewed: it goes, so a fresh registration starts clean.
  if live and foreign(held, secret, id) then
    return {0, 0, 0}
  end
  local removed = prune(now, tonumber(ARGV[5])) + redis.call('ZREM', KEYS[1], id) + redis.call('HDEL', KEYS[2], id, OWNER .. id)
  if removed > 0 then
    changed(ARGV[3], now_us)
  end
  return {0, 0, 0}
end
local deadline = now + tonumber(ttl)
redis.call('ZADD', KEYS[1], deadline, id)
-- The record exists, so both keys do, with expiries set together: one tells for both. Pruning only
-- reclaims memory, so renewals leave it to the other scripts but when they extend the keys.
local pruned = 0
if keep(tonumber(ttl), 1) then
  pruned = prune(now, tonumber(ARGV[5]))
end
local replaced = 0
if KEYS[3] then
  replaced = on_index('ZADD', KEYS[3], 'GT', deadline, ARGV[4])
end
if status ~= ARGV[2] then
  local instance = string.match(record, '^%d+ %a+ %d+ (.*)$')
  local updated = ttl .. ' ' .. ARGV[2] .. ' ' .. int(now) .. ' ' .. instance
  redis.call('HSET', KEYS[2], id, updated, OWNER .. id, proof(secret, id, updated))
  changed(ARGV[3], now_us)
elseif pruned > 0 then
  changed(ARGV[3], now_us)
end
return {1, deadline, replaced}
`,
);

/**
 * KEYS: deadlines, records, index (outside Cluster only).
 * ARGV: id, channel, service, pruneLimit, owner secret.
 * Returns {removed fields, deadline of the removed instance or 0, latest remaining deadline or 0,
 * planted or replaced keys}. Removed is -1 when another owner's live instance holds the id: nothing
 * is removed, and the second item is the ms left on its lease.
 */
export const DEREGISTER = define(
  'deregister',
  `
local now, now_us = clock()
local id = ARGV[1]
local score = redis.pcall('ZSCORE', KEYS[1], id)
local held = redis.pcall('HGET', KEYS[2], OWNER .. id)
local broken = planted(score, PLANTED[1]) + planted(held, PLANTED[2])
if broken > 0 then
  -- No instance of ours lives in a key of another type: there is nothing to remove.
  return {0, 0, 0, broken}
end
if score and tonumber(score) > now and foreign(held, ARGV[5], id) then
  return {-1, bounded(score, now) - now, 0, 0}
end
local pruned = prune(now, tonumber(ARGV[4]))
local removed = redis.call('ZREM', KEYS[1], id) + redis.call('HDEL', KEYS[2], id, OWNER .. id)
local top = redis.call('ZRANGE', KEYS[1], '+inf', '(' .. int(now), 'BYSCORE', 'REV', 'LIMIT', 0, 1, 'WITHSCORES')
local remaining = 0
if top[2] then
  remaining = bounded(top[2], now)
end
local replaced = 0
if KEYS[3] then
  if remaining > 0 then
    replaced = on_index('ZADD', KEYS[3], remaining, ARGV[3])
  else
    replaced = on_index('ZREM', KEYS[3], ARGV[3])
  end
end
if removed + pruned > 0 then
  changed(ARGV[2], now_us)
end
local removed_deadline = 0
if score then
  removed_deadline = bounded(score, now)
end
return {removed, removed_deadline, remaining, replaced}
`,
);

/**
 * Cluster only, on the services index after a registration or renewal: raises the service's
 * entry to the deadline (`ZADD GT`). KEYS: index. ARGV: deadline, service.
 * Returns the replaced keys (an index of another type is replaced).
 */
export const RAISE_INDEX = define(
  'raise-index',
  `
return on_index('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
`,
);

/**
 * Cluster only, on the services index after a deregistration. Lowers the service's entry to
 * what the service script saw remain, unless a registration raised it meanwhile.
 * KEYS: index. ARGV: service, removed deadline, remaining deadline (0: none).
 * Returns the planted keys (an index of another type is replaced; it held no entry to lower).
 */
export const INDEX_AFTER_DEREGISTER = define(
  'index-after-deregister',
  `
local current = redis.pcall('ZSCORE', KEYS[1], ARGV[1])
if planted(current, 1) > 0 then
  redis.call('DEL', KEYS[1])
  return PLANTED[3]
end
if current and tonumber(current) <= tonumber(ARGV[2]) then
  if tonumber(ARGV[3]) > 0 then
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  else
    redis.call('ZREM', KEYS[1], ARGV[1])
  end
end
return 0
`,
);

/**
 * KEYS: deadlines, records. ARGV: channel, pruneLimit.
 * Returns {version, server now, epoch or '', planted keys, then id, record, deadline of each live
 * id}: a missing record as nil, a record over RECORD_MAX_BYTES as its size in bytes, deadlines as
 * stored (score strings). With a planted key, only the four header items. When some member expired
 * it prunes, raises the version and publishes too.
 */
export const LIST = define(
  'list',
  `
local now, now_us = clock()
local members = redis.pcall('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local head = redis.pcall('HMGET', KEYS[2], VERSION, EPOCH)
local broken = planted(members, PLANTED[1]) + planted(head, PLANTED[2])
if broken > 0 then
  return {now_us, now, '', broken}
end
if #members > 0 and tonumber(members[2]) <= now then
  prune(now, tonumber(ARGV[2]))
  changed(ARGV[1], now_us)
  members = redis.call('ZRANGE', KEYS[1], '(' .. int(now), '+inf', 'BYSCORE', 'WITHSCORES')
  head = redis.call('HMGET', KEYS[2], VERSION, EPOCH)
end
-- Without a stored version the keys were lost or never written: the clock is past any version.
local listing = {version_of(head[1]) or now_us, now, epoch_of(head[2]), 0}
-- unpack is bounded by the Lua C stack, so large services are read in chunks.
local count = #members / 2
for first = 1, count, 500 do
  local ids = {}
  for i = first, math.min(first + 499, count) do
    ids[#ids + 1] = members[2 * i - 1]
  end
  local records = redis.call('HMGET', KEYS[2], unpack(ids))
  for i = 1, #ids do
    local record = records[i]
    if record and #record > MAX_RECORD then
      record = #record
    end
    listing[#listing + 1] = ids[i]
    listing[#listing + 1] = record
    listing[#listing + 1] = members[2 * (first + i - 1)]
  end
end
return listing
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
  `
local now = clock()
local dead = redis.pcall('ZRANGE', KEYS[1], '-inf', int(now), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[1]))
if planted(dead, 1) > 0 then
  return {PLANTED[3]}
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
