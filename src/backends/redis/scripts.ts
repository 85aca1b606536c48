/**
 * The Lua scripts behind every operation, one round trip each. Deadlines come from the Redis
 * server's `TIME`, never from a client's clock, so clients with skewed clocks agree on who is
 * alive. Redis 7 replicates script effects rather than script text, which makes reading `TIME`
 * before writing safe on replicas.
 *
 * The service scripts take the service's three keys (one hash slot) and, outside Cluster, the
 * services index as a fourth key so that the index moves atomically with the service. In Cluster
 * the index lives in another slot; the script then leaves it alone and returns what the caller
 * needs to update it.
 */
import { createHash } from 'node:crypto';

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
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Integers print as integers; tostring would switch to exponent notation past 14 digits.
local function int(n)
  return string.format('%d', n)
end

-- Bounded work: at most limit expired members leave per call, with their records and leases.
local function prune(now, limit)
  local dead = redis.call('ZRANGE', KEYS[1], '-inf', int(now), 'BYSCORE', 'LIMIT', 0, limit)
  if #dead > 0 then
    redis.call('ZREM', KEYS[1], unpack(dead))
    redis.call('HDEL', KEYS[2], unpack(dead))
    redis.call('HDEL', KEYS[3], unpack(dead))
  end
  return #dead
end

-- A service nobody writes to or reads any more leaves nothing behind once its keys expire.
local function keep(ms)
  for i = 1, 3 do
    local current = redis.call('PTTL', KEYS[i])
    if current == -1 or (current >= 0 and current < ms) then
      redis.call('PEXPIRE', KEYS[i], ms)
    end
  end
end
`;

/**
 * KEYS: deadlines, records, leases[, index].
 * ARGV: id, ttlMs, record JSON, status, updatedAt, channel, service, pruneLimit, keyGraceMs.
 * Returns the new deadline.
 */
export const REGISTER = define(
  'register',
  `
local now = now_ms()
local id, ttl = ARGV[1], tonumber(ARGV[2])
local deadline = now + ttl
prune(now, tonumber(ARGV[8]))
redis.call('HSET', KEYS[2], id, ARGV[3])
redis.call('HSET', KEYS[3], id, ARGV[2] .. ' ' .. ARGV[4] .. ' ' .. ARGV[5])
redis.call('ZADD', KEYS[1], deadline, id)
keep(ttl + tonumber(ARGV[9]))
if KEYS[4] then
  redis.call('ZADD', KEYS[4], 'GT', deadline, ARGV[7])
end
redis.call('PUBLISH', ARGV[6], 'register ' .. id)
return deadline
`,
);

/**
 * KEYS: deadlines, records, leases[, index].
 * ARGV: id, status, channel, service, pruneLimit, keyGraceMs.
 * Returns {1, deadline} when renewed, {0, 0} when the instance is unknown or expired.
 */
export const RENEW = define(
  'renew',
  `
local now = now_ms()
local id = ARGV[1]
local pruned = prune(now, tonumber(ARGV[5]))
local score = redis.call('ZSCORE', KEYS[1], id)
local lease = redis.call('HGET', KEYS[3], id)
local ttl, status
if lease then
  ttl, status = string.match(lease, '^(%d+) (%a+) ')
end
if not score or tonumber(score) <= now or not ttl or redis.call('HEXISTS', KEYS[2], id) == 0 then
  -- Whatever is left of the instance cannot be renewed; a fresh registration must start clean.
  local removed = redis.call('ZREM', KEYS[1], id) + redis.call('HDEL', KEYS[2], id) + redis.call('HDEL', KEYS[3], id)
  if removed + pruned > 0 then
    redis.call('PUBLISH', ARGV[3], 'expire ' .. id)
  end
  return {0, 0}
end
local deadline = now + tonumber(ttl)
redis.call('ZADD', KEYS[1], deadline, id)
keep(tonumber(ttl) + tonumber(ARGV[6]))
if KEYS[4] then
  redis.call('ZADD', KEYS[4], 'GT', deadline, ARGV[4])
end
if status ~= ARGV[2] then
  redis.call('HSET', KEYS[3], id, ttl .. ' ' .. ARGV[2] .. ' ' .. int(now))
  redis.call('PUBLISH', ARGV[3], 'status ' .. id)
elseif pruned > 0 then
  redis.call('PUBLISH', ARGV[3], 'expire')
end
return {1, deadline}
`,
);

/**
 * KEYS: deadlines, records, leases[, index].
 * ARGV: id, channel, service, pruneLimit.
 * Returns {removed fields, deadline of the removed instance or 0, latest remaining deadline or 0}.
 */
export const DEREGISTER = define(
  'deregister',
  `
local now = now_ms()
local id = ARGV[1]
local pruned = prune(now, tonumber(ARGV[4]))
local score = redis.call('ZSCORE', KEYS[1], id)
local removed = redis.call('ZREM', KEYS[1], id) + redis.call('HDEL', KEYS[2], id) + redis.call('HDEL', KEYS[3], id)
local top = redis.call('ZRANGE', KEYS[1], '+inf', '(' .. int(now), 'BYSCORE', 'REV', 'LIMIT', 0, 1, 'WITHSCORES')
local remaining = 0
if top[2] then
  remaining = tonumber(top[2])
end
if KEYS[4] then
  if remaining > 0 then
    redis.call('ZADD', KEYS[4], remaining, ARGV[3])
  else
    redis.call('ZREM', KEYS[4], ARGV[3])
  end
end
if removed > 0 then
  redis.call('PUBLISH', ARGV[2], 'deregister ' .. id)
elseif pruned > 0 then
  redis.call('PUBLISH', ARGV[2], 'expire')
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
 * KEYS: deadlines, records, leases. ARGV: channel, pruneLimit.
 * Returns {server now, earliest live deadline or -1, then id, record, lease for each live id}.
 * A missing record or lease comes back as nil, so the caller can tell what is wrong.
 */
export const LIST = define(
  'list',
  `
local now = now_ms()
if prune(now, tonumber(ARGV[2])) > 0 then
  redis.call('PUBLISH', ARGV[1], 'expire')
end
local live = redis.call('ZRANGE', KEYS[1], '(' .. int(now), '+inf', 'BYSCORE', 'WITHSCORES')
local reply = {now, -1}
if #live == 0 then
  return reply
end
reply[2] = tonumber(live[2])
local ids = {}
for i = 1, #live, 2 do
  ids[#ids + 1] = live[i]
end
-- unpack is bounded by the Lua C stack, so large services are read in chunks.
for first = 1, #ids, 500 do
  local last = math.min(first + 499, #ids)
  local records = redis.call('HMGET', KEYS[2], unpack(ids, first, last))
  local leases = redis.call('HMGET', KEYS[3], unpack(ids, first, last))
  for i = 1, last - first + 1 do
    reply[#reply + 1] = ids[first + i - 1]
    reply[#reply + 1] = records[i]
    reply[#reply + 1] = leases[i]
  end
end
return reply
`,
);

/**
 * KEYS: index. ARGV: pruneLimit.
 * Returns the names of services with a live deadline, after dropping at most pruneLimit dead ones.
 */
export const SERVICES = define(
  'services',
  `
local now = now_ms()
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
export async function runScript(
  client: ScriptClient,
  script: Script,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return client.eval(script.lua, keys.length, ...keys, ...args);
  }
}
