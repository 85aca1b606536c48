/**
 * MalformedRecords, shared by the Redis and Consul backends: every bad record counted, each
 * logged once and never again, bounded memory, and registry text in log lines only as bounded,
 * escaped excerpts.
 */
import { describe, expect, it } from 'vitest';
import { MalformedRecords, excerpt } from '../../src/backends/malformed-records.js';
import { recordingLogger } from '../helpers/recording-logger.js';

describe('MalformedRecords', () => {
  it('counts every report and logs each record once', () => {
    const logger = recordingLogger();
    const records = new MalformedRecords(logger);
    for (let round = 0; round < 3; round++) {
      records.report('a', { key: 'k', id: 'a' }, 'skipping a malformed registry record');
      records.report('b', { key: 'k', id: 'b' }, 'skipping a malformed registry record');
    }
    expect(records.count).toBe(6);
    expect(logger.at('warn').map((line) => line.fields['id'])).toEqual(['a', 'b']);
  });

  it('stops logging new records past 1,000, says so once, and never logs a record twice', () => {
    const logger = recordingLogger();
    const records = new MalformedRecords(logger);
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n < 1_500; n++) records.report(`record-${n}`, { id: `record-${n}` }, 'bad');
    }
    expect(records.count).toBe(4_500);
    const warnings = logger.at('warn');
    expect(warnings).toHaveLength(1_001);
    expect(new Set(warnings.slice(0, 1_000).map((line) => line.fields['id'])).size).toBe(1_000);
    expect(warnings[1_000]?.msg).toMatch(/more than 1000 distinct malformed registry records/);
  });

  it('remembers long identities by digest: one line each, however long', () => {
    const logger = recordingLogger();
    const records = new MalformedRecords(logger);
    const long = 'x'.repeat(1_000_000);
    records.report(`${long}1`, {}, 'bad');
    records.report(`${long}1`, {}, 'bad');
    records.report(`${long}2`, {}, 'bad');
    expect(logger.at('warn')).toHaveLength(2);
  });

  it('logs registry text as escaped excerpts of at most 300 characters', () => {
    const logger = recordingLogger();
    const records = new MalformedRecords(logger);
    records.report('one', { id: `evil\r\n\u001b[2J${'y'.repeat(10_000)}`, count: 3 }, 'record at \u202eevil');
    const [line] = logger.at('warn');
    expect(line?.msg).toBe('record at \\u202eevil');
    expect(line?.fields['count']).toBe(3);
    const id = String(line?.fields['id']);
    expect(id.startsWith('evil\\r\\n\\u001b[2Jyyy')).toBe(true);
    expect(id.endsWith('… (10010 characters)')).toBe(true);
    expect(id.length).toBeLessThan(330);
  });
});

describe('excerpt', () => {
  it('keeps printable ASCII, escapes the rest, and cuts long text', () => {
    expect(excerpt('orders/i-1: not valid JSON')).toBe('orders/i-1: not valid JSON');
    expect(excerpt('a\\b\tc\u0000d\u00e9\u{1f600}')).toBe('a\\\\b\\tc\\u0000d\\u00e9\\ud83d\\ude00');
    expect(excerpt('z'.repeat(300))).toBe('z'.repeat(300));
    expect(excerpt('z'.repeat(301))).toBe(`${'z'.repeat(300)}… (301 characters)`);
    expect(excerpt('\u0001'.repeat(60))).toBe(`${'\\u0001'.repeat(50)}… (60 characters)`);
  });
});
