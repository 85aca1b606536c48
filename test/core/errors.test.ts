import { describe, expect, it } from 'vitest';
import {
  ClosedError,
  InvalidArgumentError,
  MalformedRecordError,
  RegistryAuthError,
  RegistryUnavailableError,
  RollcallError,
  ServiceUnavailableError,
  isRollcallError,
} from '../../src/index.js';

describe('errors', () => {
  it('carry a stable code, a message saying what was wrong and what was expected, and a cause', () => {
    const cause = new Error('ECONNREFUSED');
    const cases: Array<[RollcallError, string, string]> = [
      [new InvalidArgumentError('instance.port', 'an integer port from 1 to 65535', 70_000), 'INVALID_ARGUMENT', 'Invalid instance.port: expected an integer port from 1 to 65535, got 70000'],
      [new RegistryUnavailableError('redis', 'register', 'connection refused', { cause }), 'REGISTRY_UNAVAILABLE', 'redis registry: register failed: connection refused'],
      [new RegistryAuthError('consul', 'renew', 'ACL not found'), 'REGISTRY_AUTH', 'consul registry: renew was refused: ACL not found'],
      [new MalformedRecordError('rc:{orders}:i', 'expected a JSON object'), 'MALFORMED_RECORD', 'Malformed registry record at rc:{orders}:i: expected a JSON object'],
      [new ClosedError('Resolver'), 'CLOSED', 'Resolver is closed'],
      [new ServiceUnavailableError('orders', [{ tier: 'registry', reason: 'down' }, { tier: 'env', reason: 'ORDERS_URL is not set' }]), 'SERVICE_UNAVAILABLE', 'No instance of orders is available (registry: down; env: ORDERS_URL is not set)'],
    ];
    for (const [error, code, message] of cases) {
      expect(error.code).toBe(code);
      expect(error.message).toBe(message);
      expect(error).toBeInstanceOf(RollcallError);
      expect(error).toBeInstanceOf(Error);
      expect(isRollcallError(error)).toBe(true);
    }
    expect((cases[1]?.[0] as RegistryUnavailableError).cause).toBe(cause);
    expect(new ClosedError('x').name).toBe('ClosedError');
  });

  it('match instanceof precisely, and across two copies of the package', () => {
    const error = new RegistryAuthError('consul', 'register', 'denied');
    expect(error).toBeInstanceOf(RegistryAuthError);
    expect(error).not.toBeInstanceOf(RegistryUnavailableError);
    expect(new Error('x')).not.toBeInstanceOf(RollcallError);
    expect(isRollcallError(new Error('x'))).toBe(false);
    expect(isRollcallError(null)).toBe(false);

    // What another copy's error looks like: its own classes, the same global brand symbol.
    const foreign = Object.defineProperty(new Error('copy'), Symbol.for('rollcall.error.brands'), {
      value: new Set(['RollcallError', 'ServiceUnavailableError']),
    });
    expect(foreign).toBeInstanceOf(RollcallError);
    expect(foreign).toBeInstanceOf(ServiceUnavailableError);
    expect(foreign).not.toBeInstanceOf(ClosedError);
  });

  it('describe received values without dumping them', () => {
    expect(new InvalidArgumentError('f', 'x', 'y'.repeat(200)).message).toMatch(/got a string of length 200$/);
    expect(new InvalidArgumentError('f', 'x', [1, 2]).message).toMatch(/got an array of length 2$/);
    expect(new InvalidArgumentError('f', 'x', { secret: 'hunter2' }).message).toMatch(/got a value of type object$/);
    expect(new InvalidArgumentError('f', 'x', undefined).message).toMatch(/got undefined$/);
  });
});
