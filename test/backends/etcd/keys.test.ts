import { describe, expect, it } from 'vitest';
import { KeyLayout, prefixRange } from '../../../src/backends/etcd/keys.js';

const decode = (text: string): string => Buffer.from(text, 'base64').toString('latin1');

describe('etcd key layout', () => {
  const layout = new KeyLayout('prod');

  it('puts instances and the epoch of a service under one prefix that covers no other service', () => {
    expect(layout.instance('orders', 'i-1')).toBe('/rollcall/prod/orders/instances/i-1');
    expect(layout.epoch('orders')).toBe('/rollcall/prod/orders/epoch');
    const range = prefixRange(layout.service('orders'));
    expect(decode(range.key)).toBe('/rollcall/prod/orders/');
    expect(decode(range.range_end)).toBe('/rollcall/prod/orders0');
    // 'orders.api/' sorts after the range end: another service is never included.
    expect('/rollcall/prod/orders.api/instances/x' < decode(range.key) || '/rollcall/prod/orders.api/instances/x' >= decode(range.range_end)).toBe(true);
  });

  it('parses the keys it writes and nothing else', () => {
    expect(layout.parse('/rollcall/prod/orders/instances/i-1')).toEqual({ kind: 'instance', service: 'orders', id: 'i-1' });
    expect(layout.parse('/rollcall/prod/auth_service/epoch')).toEqual({ kind: 'epoch', service: 'auth_service' });
    for (const key of ['/rollcall/prod/orders/instances/', '/rollcall/prod/orders/other', '/rollcall/prod/bad name/epoch', '/rollcall/dev/orders/epoch', '/rollcall/prod/orders/instances/a/b']) {
      expect(layout.parse(key), key).toBeUndefined();
    }
  });

  it('raises the last byte below 0xff of a prefix (UTF-8 bytes, as etcd compares keys)', () => {
    expect(Buffer.from(prefixRange('a').range_end, 'base64').toString()).toBe('b');
    expect([...Buffer.from(prefixRange('\u00ff').range_end, 'base64')]).toEqual([0xc3, 0xc0]);
  });
});
