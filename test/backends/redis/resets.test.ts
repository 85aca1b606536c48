/**
 * ResetDetector's rules on synthetic listings: what shows a loss (epoch vanished or changed while
 * listed instances were live, version back within an epoch, run id changed) and what does not
 * (expiry, keys expiring after every deadline, reads answering out of order, first reads).
 */
import { describe, expect, it } from 'vitest';
import type { RegistryReset } from '../../../src/backends/backend.js';
import type { FullListing, Listing } from '../../../src/backends/redis/records.js';
import { ResetDetector } from '../../../src/backends/redis/resets.js';
import { KEY_GRACE_MS, PLANTED_LOG } from '../../../src/backends/redis/scripts.js';

const NOW = 1_700_000_000_000;

function listing(overrides: Partial<FullListing> = {}): Listing {
  return {
    kind: 'full',
    version: 10,
    serverNow: NOW,
    epoch: 'e1',
    plantedKeys: 0,
    latestDeadline: NOW + 30_000,
    instances: [],
    ...overrides,
  };
}

function delta(overrides: Partial<Listing> = {}): Listing {
  return { kind: 'delta', version: 10, serverNow: NOW, epoch: 'e1', plantedKeys: 0, latestDeadline: NOW + 30_000, changes: new Map(), ...overrides } as Listing;
}

function detector(): { resets: RegistryReset[]; detector: ResetDetector; read(service: string, answer: Listing): void } {
  const resets: RegistryReset[] = [];
  const created = new ResetDetector((error) => {
    throw error;
  });
  created.onReset((reset) => resets.push(reset));
  return {
    resets,
    detector: created,
    read: (service, answer) => created.afterRead(service, created.beforeRead(service), answer),
  };
}

describe('ResetDetector', () => {
  it('reports a service whose keys vanished or were created anew while its instances were live', () => {
    const d = detector();
    d.read('orders', listing());
    d.read('orders', listing({ epoch: '', latestDeadline: undefined, serverNow: NOW + 5_000 }));
    expect(d.resets).toEqual([{ service: 'orders', reason: text('vanished') }]);
    // Nothing was listed any more: instances coming back under a new epoch are not another loss.
    d.read('orders', listing({ epoch: 'e2', serverNow: NOW + 6_000 }));
    expect(d.resets).toHaveLength(1);

    d.read('payments', listing());
    d.read('payments', listing({ epoch: 'e3', serverNow: NOW + 1_000 }));
    expect(d.resets.at(-1)).toEqual({ service: 'payments', reason: text('created anew') });
    expect(d.detector.detected).toBe(2);
  });

  it('reports nothing when the keys may have expired: past every listed deadline by half the grace', () => {
    const d = detector();
    d.read('orders', listing());
    d.read('orders', listing({ epoch: '', serverNow: NOW + 30_000 + KEY_GRACE_MS / 2 }));
    d.read('payments', listing({ latestDeadline: undefined }));
    d.read('payments', listing({ epoch: 'e2' }));
    expect(d.resets).toEqual([]);
  });

  it('reports a version that went back within one epoch, and nothing for versions that grow', () => {
    const d = detector();
    d.read('orders', listing({ version: 10 }));
    d.read('orders', listing({ version: 12 }));
    d.read('orders', listing({ version: 12 }));
    expect(d.resets).toEqual([]);
    d.read('orders', listing({ version: 11 }));
    expect(d.resets).toEqual([{ service: 'orders', reason: text('version went back') }]);
  });

  it('compares a read with what was known when it was sent, so reads answering out of order are no loss', () => {
    const d = detector();
    d.read('orders', listing({ version: 10 }));
    const older = d.detector.beforeRead('orders');
    const newer = d.detector.beforeRead('orders');
    d.detector.afterRead('orders', newer, listing({ version: 20 }));
    d.detector.afterRead('orders', older, listing({ version: 15 }));
    // The later read is what is remembered.
    d.read('orders', listing({ version: 19 }));
    expect(d.resets.map((reset) => reset.reason)).toEqual([text('version went back')]);
  });

  it('reports nothing for hashes without an epoch (written before epochs) nor on a first read', () => {
    const d = detector();
    d.read('orders', listing({ epoch: '' }));
    d.read('orders', listing({ epoch: 'e1' }));
    d.read('payments', listing({ epoch: '', version: 1 }));
    expect(d.resets).toEqual([]);
  });

  it('names a key replaced by one of another Redis type', () => {
    const d = detector();
    d.read('orders', listing());
    d.read('orders', listing({ epoch: '', plantedKeys: 2, latestDeadline: undefined }));
    expect(d.resets).toEqual([{ service: 'orders', reason: text('another Redis type') }]);
    // A planted change log (replaced by the script) is not what lost the instances.
    d.read('payments', listing());
    d.read('payments', listing({ epoch: '', plantedKeys: PLANTED_LOG, latestDeadline: undefined }));
    expect(d.resets.at(-1)).toEqual({ service: 'payments', reason: text('vanished') });
  });

  it('keeps the latest deadline seen across delta reads that name none, so a later loss is still told', () => {
    const d = detector();
    d.read('orders', listing({ latestDeadline: NOW + 30_000 }));
    // Heartbeats moved the deadlines on; a delta read names the latest one when it can.
    d.read('orders', delta({ version: 11, serverNow: NOW + 60_000, latestDeadline: NOW + 90_000 }));
    d.read('orders', delta({ version: 12, serverNow: NOW + 80_000, latestDeadline: undefined }));
    d.read('orders', listing({ version: 13, epoch: '', latestDeadline: undefined, serverNow: NOW + 100_000 }));
    expect(d.resets).toEqual([{ service: 'orders', reason: text('vanished') }]);
    // A version that goes back in a delta read is a loss too.
    d.read('payments', delta({ version: 20 }));
    d.read('payments', delta({ version: 19 }));
    expect(d.resets.at(-1)).toEqual({ service: 'payments', reason: text('version went back') });
  });

  it('reports a changed run id as a reset of the namespace, once, and not the same loss again per service', () => {
    const d = detector();
    d.detector.serverSeen('server', 'run-a', 'the Redis server');
    d.read('orders', listing());
    d.detector.serverSeen('server', 'run-a', 'the Redis server');
    expect(d.resets).toEqual([]);
    const inFlight = d.detector.beforeRead('orders');
    d.detector.serverSeen('server', 'run-b', 'the Redis server');
    expect(d.resets).toEqual([{ reason: text('run id changed') }]);
    // A read sent before and answered after, or the first one after: the namespace reset covered them.
    d.detector.afterRead('orders', inFlight, listing({ epoch: '', latestDeadline: undefined }));
    d.read('orders', listing({ epoch: 'e9' }));
    expect(d.resets).toHaveLength(1);
    // Cluster nodes are told apart by address.
    d.detector.serverSeen('10.0.0.1:7000', 'x', 'Cluster node 10.0.0.1:7000');
    d.detector.serverSeen('10.0.0.2:7000', 'y', 'Cluster node 10.0.0.2:7000');
    expect(d.resets).toHaveLength(1);
  });

  it('tells every listener, whatever one of them throws, and stops telling one that unsubscribed', () => {
    const thrown: unknown[] = [];
    const detectorWithErrors = new ResetDetector((error) => thrown.push(error));
    const heard: string[] = [];
    detectorWithErrors.onReset(() => {
      throw new Error('listener bug');
    });
    const stop = detectorWithErrors.onReset(() => heard.push('second'));
    detectorWithErrors.onReset(() => heard.push('third'));
    detectorWithErrors.serverSeen('server', 'a', 'the Redis server');
    detectorWithErrors.serverSeen('server', 'b', 'the Redis server');
    stop();
    stop();
    detectorWithErrors.serverSeen('server', 'c', 'the Redis server');
    expect(heard).toEqual(['second', 'third', 'third']);
    expect(thrown).toHaveLength(2);
    expect(() => detectorWithErrors.onReset('listener' as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'listener' }));
  });

  it('remembers a bounded number of services, the most recently read', () => {
    const d = detector();
    for (let n = 0; n < 10_001; n++) d.read(`s${n}`, listing());
    // The first service read was forgotten: its loss cannot be told (never a false one).
    d.read('s0', listing({ epoch: 'e2' }));
    d.read('s10000', listing({ epoch: 'e2' }));
    expect(d.resets.map((reset) => reset.service)).toEqual(['s10000']);
  });
});

/** An asymmetric matcher for a string containing `pattern` (or matching it), typed for strict lint. */
function text(pattern: string | RegExp): unknown {
  return typeof pattern === 'string' ? expect.stringContaining(pattern) : expect.stringMatching(pattern);
}
