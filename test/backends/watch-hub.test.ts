import { describe, expect, it, vi } from 'vitest';
import { WatchHub, createInstance, type WatchSink } from '../../src/backends/index.js';

const one = [createInstance({ id: 'a', service: 'orders', host: 'h', port: 1 }, 0)];

describe('WatchHub', () => {
  it('starts one source per service, replays the last list to late subscribers, stops with the last one', async () => {
    const sinks: WatchSink[] = [];
    const stop = vi.fn();
    const hub = new WatchHub((_service, sink) => {
      sinks.push(sink);
      return stop;
    }, () => {});
    const early = vi.fn();
    const unsubscribeEarly = hub.subscribe('orders', { onChange: early });
    sinks[0]?.change(one);
    expect(early).toHaveBeenCalledWith(one);
    const late = vi.fn();
    const unsubscribeLate = hub.subscribe('orders', { onChange: late });
    expect(late).not.toHaveBeenCalled();
    await Promise.resolve();
    expect(late).toHaveBeenCalledWith(one);
    expect(sinks).toHaveLength(1);
    unsubscribeEarly();
    unsubscribeEarly();
    expect(stop).not.toHaveBeenCalled();
    unsubscribeLate();
    expect(stop).toHaveBeenCalledTimes(1);
    expect(hub.activeWatches).toBe(0);
  });

  it('passes errors to subscribers and isolates a throwing subscriber', () => {
    let sink: WatchSink | undefined;
    const listenerErrors: unknown[] = [];
    const hub = new WatchHub((_service, s) => {
      sink = s;
      return () => {};
    }, (error) => listenerErrors.push(error));
    const good = vi.fn();
    const onError = vi.fn();
    hub.subscribe('orders', { onChange: () => { throw new Error('bad subscriber'); } });
    hub.subscribe('orders', { onChange: good, onError });
    sink?.change(one);
    sink?.error(new Error('connection lost'));
    expect(good).toHaveBeenCalledWith(one);
    expect(onError).toHaveBeenCalledWith(new Error('connection lost'));
    expect(listenerErrors).toEqual([new Error('bad subscriber')]);
  });

  it('close() stops every source and silences late deliveries', () => {
    let sink: WatchSink | undefined;
    const stop = vi.fn();
    const hub = new WatchHub((_service, s) => {
      sink = s;
      return stop;
    }, () => {});
    const onChange = vi.fn();
    hub.subscribe('orders', { onChange });
    hub.close();
    sink?.change(one);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(onChange).not.toHaveBeenCalled();
  });
});
