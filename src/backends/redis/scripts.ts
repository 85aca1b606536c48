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
 * Every change raises the service's version and publishes it; when the service is small the
 * message also carries the listing (what LIST returns), so watchers need not read it again.
 */
import { createHash } from 'node:crypto';

/** How long a service's keys outlive its latest lease deadline (at least half of it, at most all). */
export const KEY_GRACE_MS = 60_000;
/**
 * Field of the records hash holding the service's version. Instance ids start with a letter or a
 * digit, so no instance can take it.
 */
export const VERSION_FIELD = '#version';
/** A change message carries the listing of a service with at most this many instances... */
export const CARRIED_MAX_INSTANCES = 64;
/** ...whose entries add up to at most this many bytes; beyond either, it carries the version only. */
export const CARRIED_MAX_BYTES = 32_768;

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
local CARRIED_MAX_INSTANCES = ${CARRIED_MAX_INSTANCES}
local CARRIED_MAX_BYTES = ${CARRIED_MAX_BYTES}
local VERSION = '${VERSION_FIELD}'

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

-- Bounded work: at most limit expired members leave per call, with their records.
local function prune(now, limit)
  local dead = redis.call('ZRANGE', KEYS[1], '-inf', int(now), 'BYSCORE', 'LIMIT', 0, limit)
  if #dead > 0 then
    redis.call('ZREM', KEYS[1], unpack(dead))
    redis.call('HDEL', KEYS[2], unpack(dead))
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

-- The earliest deadline of ids, which come earliest first; -1 without any.
local function earliest(ids)
  if #ids == 0 then
    return -1
  end
  return tonumber(redis.call('ZSCORE', KEYS[1], ids[1]))
end

-- The listing {version (0: for the caller to set), now, next deadline, id, record, ...} of ids (a
-- missing record as false, so the caller can tell what is wrong), the stored version (false:
-- none) and the records' size.
local function read(ids, now, next)
  local listing = {0, now, next}
  if #ids == 0 then
    return listing, redis.call('HGET', KEYS[2], VERSION), 0
  end
  local stored, bytes = false, 0
  -- unpack is bounded by the Lua C stack, so large services are read in chunks.
  for first = 1, #ids, 500 do
    local last = math.min(first + 499, #ids)
    local records = redis.call('HMGET', KEYS[2], VERSION, unpack(ids, first, last))
    stored = stored or records[1]
    for i = 2, last - first + 2 do
      listing[#listing + 1] = ids[first + i - 2]
      listing[#listing + 1] = records[i]
      if records[i] then
        bytes = bytes + #records[i]
      end
    end
  end
  return listing, stored, bytes
end

-- The version only grows: past its last value and past the server's clock in µs, so it keeps
-- growing after the field was lost with its key (expiry, flush, restart).
local function bump(stored, now_us)
  local v = math.max((tonumber(stored) or 0) + 1, now_us)
  redis.call('HSET', KEYS[2], VERSION, int(v))
  -- A change to what was left without a record (planted data) must not create a key for ever.
  if not stored and redis.call('PTTL', KEYS[2]) == -1 then
    redis.call('PEXPIRE', KEYS[2], GRACE)
  end
  return v
end

-- The message for a listing: all of it, one item a line (a missing record as an empty line), when
-- small enough and no id or record holds a line break (only planted data can); else the version
-- alone.
local function message(listing, bytes)
  if #listing > 3 + 2 * CARRIED_MAX_INSTANCES or bytes > CARRIED_MAX_BYTES then
    return int(listing[1])
  end
  local lines = {int(listing[1]), int(listing[2]), int(listing[3])}
  for i = 4, #listing do
    local item = listing[i] or ''
    if string.find(item, '\\n', 1, true) then
      return int(listing[1])
    end
    lines[i] = item
  end
  return table.concat(lines, '\\n')
end

-- Raises the version and tells watchers, with the listing when the service is small.
local function changed(channel, now, now_us)
  local ids = redis.call('ZRANGE', KEYS[1], '(' .. int(now), '+inf', 'BYSCORE', 'LIMIT', 0, CARRIED_MAX_INSTANCES + 1)
  if #ids > CARRIED_MAX_INSTANCES then
    redis.call('PUBLISH', channel, int(bump(redis.call('HGET', KEYS[2], VERSION), now_us)))
    return
  end
  local listing, stored, bytes = read(ids, now, earliest(ids))
  listing[1] = bump(stored, now_us)
  redis.call('PUBLISH', channel, message(listing, bytes))
end
`;

/**
 * KEYS: deadlines, records, index (outside Cluster only).
 * ARGV: id, ttlMs, record entry, channel, service, pruneLimit.
 * Returns the new deadline.
 */
export const REGISTER = define(
  'register',
  `
local now, now_us = clock()
local id, ttl = ARGV[1], tonumber(ARGV[2])
local deadline = now + ttl
prune(now, tonumber(ARGV[6]))
redis.call('HSET', KEYS[2], id, ARGV[3])
redis.call('ZADD', KEYS[1], deadline, id)
keep(ttl, 2)
if KEYS[3] then
  redis.call('ZADD', KEYS[3], 'GT', deadline, ARGV[5])
end
changed(ARGV[4], now, now_us)
return deadline
`,
);

/**
 * KEYS: deadlines, records, index (outside Cluster only).
 * ARGV: id, status, channel, service, pruneLimit.
 * Returns {1, deadline} when renewed, {0, 0} when the instance is unknown or expired.
 */
export const RENEW = define(
  'renew',
  `
local now, now_us = clock()
local id = ARGV[1]
local score = redis.call('ZSCORE', KEYS[1], id)
local record = score and tonumber(score) > now and redis.call('HGET', KEYS[2], id)
local ttl, status
if record then
  ttl, status = string.match(record, '^(%d+) (%a+) %d+ ')
end
if not ttl then
  -- Whatever is left of the instance cannot be renewed; a fresh registration must start clean.
  local removed = prune(now, tonumber(ARGV[5])) + redis.call('ZREM', KEYS[1], id) + redis.call('HDEL', KEYS[2], id)
  if removed > 0 then
    changed(ARGV[3], now, now_us)
  end
  return {0, 0}
end
local deadline = now + tonumber(ttl)
redis.call('ZADD', KEYS[1], deadline, id)
-- The record exists, so both keys do, with expiries set together: one tells for both. Pruning only
-- reclaims memory, so renewals leave it to the other scripts but when they extend the keys.
local pruned = 0
if keep(tonumber(ttl), 1) then
  pruned = prune(now, tonumber(ARGV[5]))
end
if KEYS[3] then
  redis.call('ZADD', KEYS[3], 'GT', deadline, ARGV[4])
end
if status ~= ARGV[2] then
  local instance = string.match(record, '^%d+ %a+ %d+ (.*)$')
  redis.call('HSET', KEYS[2], id, ttl .. ' ' .. ARGV[2] .. ' ' .. int(now) .. ' ' .. instance)
  changed(ARGV[3], now, now_us)
elseif pruned > 0 then
  changed(ARGV[3], now, now_us)
end
return {1, deadline}
`,
);

/**
 * KEYS: deadlines, records, index (outside Cluster only).
 * ARGV: id, channel, service, pruneLimit.
 * Returns {removed fields, deadline of the removed instance or 0, latest remaining deadline or 0}.
 */
export const DEREGISTER = define(
  'deregister',
  `
local now, now_us = clock()
local id = ARGV[1]
local pruned = prune(now, tonumber(ARGV[4]))
-- Only Cluster needs the removed deadline: there the caller updates the index.
local score = not KEYS[3] and redis.call('ZSCORE', KEYS[1], id)
local removed = redis.call('ZREM', KEYS[1], id) + redis.call('HDEL', KEYS[2], id)
local top = redis.call('ZRANGE', KEYS[1], '+inf', '(' .. int(now), 'BYSCORE', 'REV', 'LIMIT', 0, 1, 'WITHSCORES')
local remaining = 0
if top[2] then
  remaining = tonumber(top[2])
end
if KEYS[3] then
  if remaining > 0 then
    redis.call('ZADD', KEYS[3], remaining, ARGV[3])
  else
    redis.call('ZREM', KEYS[3], ARGV[3])
  end
end
if removed + pruned > 0 then
  changed(ARGV[2], now, now_us)
end
return {removed, score and tonumber(score) or 0, remaining}
`,
);

/**
 * Cluster only, on the services index after a deregistration. Lowers the service's entry to
 * what the service script saw remain, unless a registration raised it meanwhile.
 * KEYS: index. ARGV: service, removed deadline, remaining deadline (0: none).
 */
export const INDEX_AFTER_DEREGISTER = define(
  'index-after-deregister',
  `
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
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
 * Returns {version, server now, earliest live deadline or -1, then id and record of each live id}.
 * A missing record comes back as nil, so the caller can tell what is wrong.
 */
export const LIST = define(
  'list',
  `
local now, now_us = clock()
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local next = earliest(ids)
if next == -1 or next > now then
  local listing, stored = read(ids, now, next)
  -- Without a stored version the keys were lost or never written: the clock is past any version.
  listing[1] = tonumber(stored) or now_us
  return listing
end
prune(now, tonumber(ARGV[2]))
ids = redis.call('ZRANGE', KEYS[1], '(' .. int(now), '+inf', 'BYSCORE')
local listing, stored, bytes = read(ids, now, earliest(ids))
listing[1] = bump(stored, now_us)
redis.call('PUBLISH', ARGV[1], message(listing, bytes))
return listing
`,
);

/**
 * KEYS: index. ARGV: pruneLimit.
 * Returns the names of services with a live deadline, after dropping at most pruneLimit dead ones.
 */
export const SERVICES = define(
  'services',
  `
local now = clock()
local dead = redis.call('ZRANGE', KEYS[1], '-inf', int(now), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[1]))
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
end
return redis.call('ZRANGE', KEYS[1], '(' .. int(now), '+inf', 'BYSCORE')
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
