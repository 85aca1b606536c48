/**
 * How the Redis backend reads the numbers in script replies: one integer reader for every reply
 * (numbers, and the digit strings a `stringNumbers` client or a stored value brings), scores that
 * may be anything a hand could plant, and the sweep check's reply.
 */
import { describe, expect, it } from 'vitest';
import { UNEXPECTED_REPLY, integer, integers, parseSweepCheck, score } from '../../../src/backends/redis/replies.js';

describe('integer', () => {
  it('reads numbers and decimal digit strings, negative ones too', () => {
    expect(integer(42)).toBe(42);
    expect(integer('42')).toBe(42);
    expect(integer('-7')).toBe(-7);
    expect(integer('0')).toBe(0);
    expect(integer('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('reads nothing else: fractions, exponents, padding, signs, unsafe or overlong values, other types', () => {
    for (const value of ['1.5', '1e3', ' 1', '1 ', '+1', '0x10', '', '12345678901234567', '9007199254740993', 1.5, Number.NaN, Infinity, 2 ** 53, null, undefined, [], {}]) {
      expect(integer(value), JSON.stringify(value) ?? 'undefined').toBeUndefined();
    }
  });
});

describe('integers', () => {
  it('reads a reply of exactly that many integers', () => {
    expect(integers([1, '2', 3, '-4'], 4)).toEqual([1, 2, 3, -4]);
  });

  it('refuses any other shape as an unexpected reply', () => {
    for (const reply of [[1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, 'x'], 'OK', null]) {
      expect(() => integers(reply, 4)).toThrow(UNEXPECTED_REPLY);
    }
  });
});

describe('score', () => {
  it('reads scores as Redis formats them, fractions and exponents included', () => {
    expect(score('1700000000000')).toBe(1_700_000_000_000);
    expect(score('1.7e+12')).toBe(1_700_000_000_000);
    expect(score(12.5)).toBe(12.5);
    expect(score(null)).toBeNaN();
    expect(score('inf')).toBeNaN();
  });
});

describe('parseSweepCheck', () => {
  it('reads the lease, the next expiry and the services due, counting due now what has no numeric deadline', () => {
    const reply = [1, '3', '1000', '1200', '4', '2', 'orders', '990', 'billing', 'planted', 'bad name', '995'];
    expect(parseSweepCheck(reply)).toEqual({
      check: {
        held: true,
        participants: 3,
        serverNow: 1000,
        nextExpiry: 1200,
        due: [
          { service: 'orders', deadline: 990 },
          { service: 'billing', deadline: 1000 },
        ],
      },
      replacedKeys: 4,
      badNames: 2,
    });
  });

  it('has no next expiry when the index is empty', () => {
    expect(parseSweepCheck([0, 1, 1000, '', 0, 0]).check).toEqual({ held: false, participants: 1, serverNow: 1000, nextExpiry: undefined, due: [] });
  });

  it('refuses replies no script returns', () => {
    for (const reply of [[1, 1, 1000, ''], [1, 1, 1000, '', 0, 0, 'orders'], [1, 'x', 1000, '', 0, 0], 'OK']) {
      expect(() => parseSweepCheck(reply)).toThrow(/unexpected reply/);
    }
  });
});
