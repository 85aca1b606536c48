/**
 * One lookup of a service: its SRV records, then the addresses of their targets, turned into
 * instances. An SRV record becomes one instance per address of its target (host: the address,
 * id: the address and port, `meta.target`: the target's name), its weight the balancer's weight
 * (SRV weight 0, "rarely", becomes 1). Only the lowest priority is listed unless asked otherwise
 * (RFC 2782: higher priorities are backups). The answer is reused for its shortest address TTL,
 * within the configured bounds.
 */
import type { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { MalformedRecordError } from '../../core/errors.js';
import { INSTANCE_LIMITS, createInstance, type ServiceInstance } from '../../core/instance.js';
import { isNoRecords, lookupError } from './errors.js';
import { srvName } from './names.js';
import type { DnsSettings } from './options.js';

/** What a lookup found, and how long it may be reused. */
export interface Lookup {
  readonly instances: readonly ServiceInstance[];
  readonly ttlMs: number;
}

/** The part of node:dns's promise Resolver a lookup uses. */
export type DnsResolver = Pick<dns.Resolver, 'resolveSrv' | 'resolve4' | 'resolve6'>;

interface Address {
  readonly address: string;
  readonly ttlMs: number;
}

export interface LookupContext {
  readonly resolver: DnsResolver;
  readonly settings: DnsSettings;
  /** When each id of the service was first seen (epoch ms): instances keep their `registeredAt` across lookups. */
  readonly firstSeen: Map<string, number>;
  /** Receives each SRV record skipped (a target without addresses). */
  readonly onSkipped: (error: MalformedRecordError) => void;
}

export async function lookupService(service: string, context: LookupContext): Promise<Lookup> {
  const { resolver, settings } = context;
  const name = srvName(settings.template, service);
  let records: Awaited<ReturnType<DnsResolver['resolveSrv']>>;
  try {
    records = await resolver.resolveSrv(name);
  } catch (error) {
    // NXDOMAIN or NODATA: the service has no instance, an answer to reuse like any other.
    if (isNoRecords(error)) return { instances: [], ttlMs: settings.minTtlMs };
    throw lookupError('instances', name, error);
  }
  // A target of "." says the service is decidedly not available at this name (RFC 2782).
  let usable = records.filter((record) => record.name !== '' && record.name !== '.');
  if (settings.priorities === 'lowest' && usable.length > 0) {
    const lowest = Math.min(...usable.map((record) => record.priority));
    usable = usable.filter((record) => record.priority === lowest);
  }
  const targets = [...new Set(usable.map((record) => record.name))];
  const resolved = await Promise.all(targets.map((target) => addressesOf(target, resolver, settings)));
  const addresses = new Map(targets.map((target, index) => [target, resolved[index] as Address[]]));

  const now = Date.now();
  const seen = new Map<string, number>();
  const byId = new Map<string, ServiceInstance>();
  let ttlMs = settings.maxTtlMs;
  for (const record of usable) {
    const found = addresses.get(record.name) ?? [];
    if (found.length === 0) {
      context.onSkipped(new MalformedRecordError(`${name} SRV ${record.name}:${record.port}`, `the target ${record.name} has no ${familyText(settings)} record`));
      continue;
    }
    for (const { address, ttlMs: addressTtl } of found) {
      ttlMs = Math.min(ttlMs, addressTtl);
      const id = isIP(address) === 6 ? `v6-${address}-${record.port}` : `${address}:${record.port}`;
      const firstSeen = context.firstSeen.get(id) ?? now;
      seen.set(id, firstSeen);
      const weight = Math.min(INSTANCE_LIMITS.maxWeight, Math.max(1, record.weight));
      const known = byId.get(id);
      // Two records naming one address and port are one instance: the heavier weight counts.
      if (known !== undefined && known.weight >= weight) continue;
      byId.set(
        id,
        createInstance(
          {
            id,
            service,
            host: address,
            port: record.port,
            protocol: settings.protocol,
            weight,
            meta: { target: record.name, priority: String(record.priority) },
            registeredAt: firstSeen,
            updatedAt: firstSeen,
          },
          now,
        ),
      );
    }
  }
  context.firstSeen.clear();
  for (const [id, at] of seen) context.firstSeen.set(id, at);
  const instances = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { instances, ttlMs: Math.max(settings.minTtlMs, Math.min(settings.maxTtlMs, ttlMs)) };
}

async function addressesOf(target: string, resolver: DnsResolver, settings: DnsSettings): Promise<Address[]> {
  if (isIP(target) !== 0) return [{ address: target, ttlMs: Number.POSITIVE_INFINITY }];
  const families: ('resolve4' | 'resolve6')[] = settings.family === 'ipv4' ? ['resolve4'] : settings.family === 'ipv6' ? ['resolve6'] : ['resolve4', 'resolve6'];
  const found = await Promise.all(
    families.map(async (method) => {
      try {
        return (await resolver[method](target, { ttl: true })).map(({ address, ttl }) => ({ address, ttlMs: ttl * 1_000 }));
      } catch (error) {
        if (isNoRecords(error)) return [];
        // A target that cannot be resolved now fails the whole lookup: a partial list would drop live instances.
        throw lookupError('instances', target, error);
      }
    }),
  );
  return found.flat();
}

function familyText(settings: DnsSettings): string {
  return settings.family === 'ipv4' ? 'A' : settings.family === 'ipv6' ? 'AAAA' : 'A or AAAA';
}
