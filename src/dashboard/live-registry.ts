/**
 * The registry as the dashboard shows it, kept current: every service the registry lists, each
 * followed through the backend's watch (so a status change reaches the page within moments), the
 * list of services read again every `refreshMs` (the contract has no watch of it), the answer a
 * resolver gives for each service (so degraded services show), and a short history of changes.
 * Read-only: it never writes to the registry.
 */
import type { RegistryBackend, Unsubscribe } from '../backends/backend.js';
import { ServiceUnavailableError, messageOf } from '../core/errors.js';
import { instanceOrigin, type InstanceStatus, type ServiceInstance } from '../core/instance.js';
import { describeRegistry, healthOf, type ServiceHealth, type StatusCounts } from '../inspection/describe.js';
import { createResolver, type Resolver } from '../resolution/resolver.js';
import { describeFields, diffInstances, type InstanceChange } from '../cli/changes.js';
import { followService } from '../cli/follow.js';
import { countStatuses } from '../cli/format.js';
import type { Env } from '../cli/io.js';

export interface LiveRegistryOptions {
  readonly backend: RegistryBackend;
  /** Last heartbeat of each instance of a service (epoch ms), where the registry records it. */
  readonly heartbeats?: ((service: string) => Promise<ReadonlyMap<string, number>>) | undefined;
  /** Which registry this is, as the page names it: `redis at redis://host:6379`. */
  readonly label: string;
  /** Deadline of each registry read, in milliseconds. */
  readonly timeoutMs: number;
  /** Variables of the resolver's environment tier; `false` leaves the tier out. */
  readonly env: Env | false;
  /** How often the list of services, the heartbeats and the resolver's answers are read again. @default 2000 */
  readonly refreshMs?: number | undefined;
  /** Changes kept in the history, newest first. @default 100 */
  readonly historySize?: number | undefined;
}

/** How the resolver answers for a service: `registry`, `stale` cache, `env`ironment, or `none`. */
export interface ResolverView {
  readonly tier: 'registry' | 'stale' | 'env' | 'none';
  /** Instances it may pick. */
  readonly eligible: number;
  /** Why it is not answering from the registry, when it is not. */
  readonly reason?: string | undefined;
  /** Since when it is not (epoch ms). */
  readonly since?: number | undefined;
}

export interface InstanceView extends ServiceInstance {
  /** When it last renewed its lease (epoch ms), where the registry records it. */
  readonly lastHeartbeatAt: number | null;
}

export interface ServiceView {
  readonly service: string;
  readonly health: ServiceHealth;
  readonly counts: StatusCounts;
  readonly instances: readonly InstanceView[];
  readonly resolver: ResolverView | undefined;
  /** Why its instances cannot be read right now. */
  readonly error?: string | undefined;
}

export type HistoryKind = 'added' | 'removed' | 'changed' | 'appeared' | 'gone' | 'lost' | 'back' | 'degraded' | 'recovered';

export interface HistoryEntry {
  readonly at: number;
  readonly kind: HistoryKind;
  readonly service?: string | undefined;
  readonly text: string;
  /** The status an instance entered, for colour. */
  readonly status?: InstanceStatus | undefined;
}

/** Everything the page shows. */
export interface DashboardView {
  readonly backend: string;
  readonly registry: string;
  /** Whether the registry answered the last read. */
  readonly reachable: boolean;
  /** Why it did not. */
  readonly error?: string | undefined;
  readonly updatedAt: number;
  readonly services: readonly ServiceView[];
  readonly history: readonly HistoryEntry[];
}

interface Tracked {
  instances: readonly ServiceInstance[];
  heartbeats: ReadonlyMap<string, number>;
  resolver: ResolverView | undefined;
  error: string | undefined;
  stop: Unsubscribe;
}

/** Changes arriving within this window are sent to the page together. */
const COALESCE_MS = 40;

export class LiveRegistry {
  readonly #options: LiveRegistryOptions;
  readonly #refreshMs: number;
  readonly #historySize: number;
  readonly #resolver: Resolver;
  readonly #services = new Map<string, Tracked>();
  /** The resolver's last word on why it answers a service from stale cache or the environment. */
  readonly #reasons = new Map<string, string>();
  readonly #listeners = new Set<() => void>();
  /** Services whose resolver answer must be read again before the next update. */
  readonly #stale = new Set<string>();
  #history: HistoryEntry[] = [];
  #reachable = true;
  #error: string | undefined;
  #updatedAt = Date.now();
  #refreshTimer: NodeJS.Timeout | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: LiveRegistryOptions) {
    this.#options = options;
    this.#refreshMs = options.refreshMs ?? 2_000;
    this.#historySize = options.historySize ?? 100;
    this.#resolver = createResolver({ backend: options.backend, envFallback: options.env === false ? false : { env: options.env }, registryTimeoutMs: options.timeoutMs });
    // Only for the reason: transitions are read from the answers themselves (see #readResolver).
    this.#resolver.on('degraded', ({ service, reason }) => this.#reasons.set(service, reason));
  }

  /** Reads the whole registry once, then follows it until {@link close}. */
  async start(): Promise<void> {
    try {
      const registry = await describeRegistry(this.#options.backend, { timeoutMs: this.#options.timeoutMs });
      for (const { service, instances, error } of registry.services) this.#track(service, instances, error?.message);
    } catch (error) {
      this.#lost(messageOf(error));
    }
    await this.#readDetails([...this.#services.keys()]);
    this.#scheduleRefresh();
  }

  view(): DashboardView {
    const services = [...this.#services.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([service, tracked]): ServiceView => {
        const counts = countStatuses(tracked.instances);
        const unread = tracked.error !== undefined && tracked.instances.length === 0;
        return {
          service,
          health: unread ? 'unknown' : healthOf(counts, tracked.instances.length),
          counts,
          instances: tracked.instances.map((instance) => ({ ...instance, lastHeartbeatAt: tracked.heartbeats.get(instance.id) ?? null })),
          resolver: tracked.resolver,
          ...(tracked.error === undefined ? {} : { error: tracked.error }),
        };
      });
    return {
      backend: this.#options.backend.kind,
      registry: this.#options.label,
      reachable: this.#reachable,
      ...(this.#error === undefined ? {} : { error: this.#error }),
      updatedAt: this.#updatedAt,
      services,
      history: this.#history,
    };
  }

  /** Calls `listener` after every change (changes close together are reported once). */
  onUpdate(listener: () => void): Unsubscribe {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Stops every watch and timer. Leaves the backend open: its creator closes it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#flushTimer);
    for (const tracked of this.#services.values()) tracked.stop();
    this.#listeners.clear();
    await this.#resolver.close();
  }

  #track(service: string, instances: readonly ServiceInstance[], error: string | undefined): void {
    const tracked: Tracked = { instances: sorted(instances), heartbeats: new Map(), resolver: undefined, error, stop: () => {} };
    this.#services.set(service, tracked);
    tracked.stop = followService(this.#options.backend, service, {
      onChange: (list) => {
        if (this.#closed || this.#services.get(service) !== tracked) return;
        for (const change of diffInstances(tracked.instances, list)) this.#record(historyOf(service, change));
        tracked.instances = sorted(list);
        tracked.error = undefined;
        this.#back();
        this.#changed(service);
      },
      onError: (failure) => {
        if (this.#closed || this.#services.get(service) !== tracked) return;
        tracked.error = messageOf(failure);
        this.#lost(tracked.error);
        this.#changed(service);
      },
    });
  }

  /** Reads the list of services again: follows new ones, forgets those gone and empty. */
  async #refresh(): Promise<void> {
    let names: string[];
    try {
      names = await this.#options.backend.services();
    } catch (error) {
      this.#lost(messageOf(error));
      this.#changed();
      return;
    }
    if (this.#closed) return;
    this.#back();
    const listed = new Set(names);
    for (const name of names) {
      if (this.#services.has(name)) continue;
      this.#record({ kind: 'appeared', service: name, text: `${name} appeared` });
      this.#track(name, [], undefined);
    }
    for (const [name, tracked] of this.#services) {
      if (listed.has(name) || tracked.instances.length > 0) continue;
      tracked.stop();
      this.#services.delete(name);
      this.#reasons.delete(name);
      this.#record({ kind: 'gone', service: name, text: `${name} is no longer listed` });
    }
    await this.#readDetails([...this.#services.keys()]);
  }

  /** Heartbeats and the resolver's answer of each of `services`, then one update. */
  async #readDetails(services: readonly string[]): Promise<void> {
    for (const service of services) {
      const tracked = this.#services.get(service);
      if (tracked === undefined || this.#closed) continue;
      if (this.#options.heartbeats !== undefined && tracked.instances.length > 0) tracked.heartbeats = await this.#options.heartbeats(service);
      await this.#readResolver(service, tracked);
    }
    this.#changed();
  }

  /**
   * Reads the resolver's answer for `service`; a change of tier goes to the history. Tiers are
   * compared between reads rather than taken from the resolver's events, which also fire while a
   * service is retried from a fallback.
   */
  async #readResolver(service: string, tracked: Tracked): Promise<void> {
    const previous = tracked.resolver;
    let next: Omit<ResolverView, 'since'>;
    try {
      await this.#resolver.resolveAll(service);
      const status = this.#resolver.status(service);
      const tier = status === undefined || status.source === 'cache' ? 'registry' : status.source;
      next = { tier, eligible: status?.instances.length ?? 0, ...(tier === 'registry' ? {} : { reason: this.#reasons.get(service) }) };
    } catch (error) {
      const reason = error instanceof ServiceUnavailableError ? error.attempts.map((a) => `${a.tier}: ${a.reason}`).join('; ') : messageOf(error);
      next = { tier: 'none', eligible: 0, reason };
    }
    const changed = previous !== undefined && previous.tier !== next.tier;
    tracked.resolver = next.tier === 'registry' ? next : { ...next, since: previous?.tier === next.tier ? previous.since : Date.now() };
    if (!changed) return;
    if (next.tier === 'registry') this.#record({ kind: 'recovered', service, text: `resolver answers ${service} from the registry again` });
    else if (next.tier === 'none') this.#record({ kind: 'degraded', service, text: `resolver has no instance of ${service}: ${next.reason ?? ''}` });
    else this.#record({ kind: 'degraded', service, text: `resolver answers ${service} from ${next.tier === 'env' ? 'the environment' : 'stale cache'}: ${next.reason ?? ''}` });
  }

  #scheduleRefresh(): void {
    if (this.#closed) return;
    this.#refreshTimer = setTimeout(() => {
      void this.#refresh().finally(() => this.#scheduleRefresh());
    }, this.#refreshMs);
    this.#refreshTimer.unref();
  }

  /** Something changed (in `service`, whose resolver answer is then read again): update soon. */
  #changed(service?: string): void {
    if (service !== undefined) this.#stale.add(service);
    if (this.#closed || this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => void this.#flush(), COALESCE_MS);
    this.#flushTimer.unref();
  }

  async #flush(): Promise<void> {
    this.#flushTimer = undefined;
    // Read after every subscriber of the watch got the change, the resolver's own watch included.
    const services = [...this.#stale];
    this.#stale.clear();
    for (const service of services) {
      const tracked = this.#services.get(service);
      if (tracked !== undefined && !this.#closed) await this.#readResolver(service, tracked);
    }
    if (this.#closed) return;
    this.#updatedAt = Date.now();
    for (const listener of [...this.#listeners]) listener();
  }

  #lost(message: string): void {
    if (this.#reachable) this.#record({ kind: 'lost', text: `lost the registry: ${message}` });
    this.#reachable = false;
    this.#error = message;
  }

  #back(): void {
    if (!this.#reachable) this.#record({ kind: 'back', text: 'the registry answers again' });
    this.#reachable = true;
    this.#error = undefined;
  }

  #record(entry: Omit<HistoryEntry, 'at'>): void {
    this.#history = [{ at: Date.now(), ...entry }, ...this.#history].slice(0, this.#historySize);
    this.#changed();
  }
}

function historyOf(service: string, change: InstanceChange): Omit<HistoryEntry, 'at'> {
  const { instance } = change;
  switch (change.type) {
    case 'added':
      return { kind: 'added', service, status: instance.status, text: `${service}/${instance.id} registered at ${instanceOrigin(instance)} (${instance.status})` };
    case 'removed':
      return { kind: 'removed', service, text: `${service}/${instance.id} deregistered or expired` };
    case 'changed':
      return { kind: 'changed', service, status: instance.status, text: `${service}/${instance.id}: ${describeFields(change)}` };
  }
}

function sorted(instances: readonly ServiceInstance[]): readonly ServiceInstance[] {
  return [...instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
