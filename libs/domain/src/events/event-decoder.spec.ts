import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decodeEvent } from './event-decoder';
import { parseEventTime } from './event-time';

const valid = { event_id: 'e-1', user_id: 'u-1', event_type: 'login', event_time: '2026-11-20T10:00:00Z' };

function errorsOf(input: unknown): Record<string, string> {
  const result = decodeEvent(typeof input === 'string' ? input : JSON.stringify(input));
  assert.equal(result.ok, false, 'expected a rejection');
  return Object.fromEntries((result as { errors: readonly { path: string; message: string }[] }).errors.map((e) => [e.path, e.message]));
}

describe('decodeEvent (SPEC §1)', () => {
  it('accepts a minimal event and normalises optional fields', () => {
    const result = decodeEvent(JSON.stringify({ ...valid, ip_address: '', device_id: null, extra: { nested: true } }));
    assert.ok(result.ok);
    assert.deepEqual(result.event, {
      event_id: 'e-1',
      user_id: 'u-1',
      event_type: 'login',
      event_time: Date.UTC(2026, 10, 20, 10),
      ip_address: undefined,
      device_id: undefined,
      location_city: undefined,
      amount: undefined,
    });
  });

  it('accepts epoch milliseconds, offsets, IPv6 and an amount of 0', () => {
    const result = decodeEvent({ ...valid, event_time: 1795168800000, ip_address: '2001:db8::1', amount: 0, location_city: 'Paris' });
    assert.ok(result.ok);
    assert.equal(result.event.event_time, 1795168800000);
    assert.equal(result.event.amount, 0);
    const offset = decodeEvent({ ...valid, event_time: '2026-11-20T12:00:00.5+02:00' });
    assert.ok(offset.ok);
    assert.equal(offset.event.event_time, Date.UTC(2026, 10, 20, 10, 0, 0, 500));
  });

  it('rejects what is not a JSON object', () => {
    assert.match(errorsOf('{"event_id":')['$'], /not valid JSON/);
    assert.match(errorsOf('[1,2]')['$'], /expected a JSON object, got an array/);
    assert.match(errorsOf('42')['$'], /expected a JSON object, got number/);
    assert.match(errorsOf('null')['$'], /expected a JSON object, got null/);
  });

  it('rejects an event larger than 64 KiB', () => {
    const big = JSON.stringify({ ...valid, padding: 'x'.repeat(65 * 1024) });
    assert.match(errorsOf(big)['$'], /more than the 65536 allowed/);
    assert.match(errorsOf(Buffer.from(big))['$'], /more than the 65536 allowed/);
  });

  it('names every missing required field', () => {
    const errors = errorsOf({});
    assert.deepEqual(Object.keys(errors).sort(), ['event_id', 'event_time', 'event_type', 'user_id']);
    for (const message of Object.values(errors)) assert.equal(message, 'is required');
  });

  it('rejects wrong types and bad values, one reason per field', () => {
    const errors = errorsOf({
      event_id: 7,
      user_id: 'u'.repeat(129),
      event_type: 'Login',
      event_time: '2026-11-20 10:00:00',
      ip_address: '300.1.1.1',
      device_id: 12,
      location_city: ['Paris'],
      amount: -1,
    });
    assert.match(errors.event_id, /must be a string, got number/);
    assert.match(errors.user_id, /at most 128/);
    assert.match(errors.event_type, /must match/);
    assert.match(errors.event_time, /with a zone/);
    assert.match(errors.ip_address, /valid IPv4 or IPv6/);
    assert.match(errors.device_id, /must be a string/);
    assert.match(errors.location_city, /must be a string, got an array/);
    assert.match(errors.amount, /≥ 0/);
  });

  it('limits ids and names in characters (code points), not UTF-16 units', () => {
    const emoji = '\u{1F600}'; // one character, two UTF-16 units
    const fits = decodeEvent({
      ...valid,
      event_id: emoji.repeat(128),
      user_id: emoji.repeat(128),
      device_id: emoji.repeat(128),
      location_city: 'é'.repeat(128),
    });
    assert.ok(fits.ok, '128 emoji are 128 characters');
    assert.equal(fits.event.event_id, emoji.repeat(128));
    const errors = errorsOf({
      ...valid,
      event_id: emoji.repeat(129),
      user_id: 'u'.repeat(127) + emoji + emoji,
      device_id: emoji.repeat(129),
    });
    assert.match(errors.event_id, /at most 128 characters/);
    assert.match(errors.user_id, /at most 128 characters/);
    assert.match(errors.device_id, /at most 128 characters/);
  });

  it('rejects a lone surrogate in an id or name: it is not Unicode text and has no UTF-8 form', () => {
    // JSON escapes are the way a lone surrogate reaches the decoder as text.
    const errors = errorsOf(
      '{"event_id":"a\\ud83d","user_id":"\\ude00b","event_type":"login","event_time":"2026-11-20T10:00:00Z","device_id":"d\\ud83dx","location_city":"\\udfff"}',
    );
    assert.match(errors.event_id, /lone surrogate/);
    assert.match(errors.user_id, /lone surrogate/);
    assert.match(errors.device_id, /lone surrogate/);
    assert.match(errors.location_city, /lone surrogate/);
    const pair = decodeEvent('{"event_id":"\\ud83d\\ude00","user_id":"u","event_type":"login","event_time":"2026-11-20T10:00:00Z"}');
    assert.ok(pair.ok, 'an escaped surrogate pair is one character');
    assert.equal(pair.event.event_id, '\u{1F600}');
  });

  it('rejects bytes that are not UTF-8 (a Kafka value) instead of reading them as U+FFFD', () => {
    const good = Buffer.from(JSON.stringify({ ...valid, user_id: 'u-é' }), 'utf8');
    const goodResult = decodeEvent(good);
    assert.ok(goodResult.ok);
    assert.equal(goodResult.event.user_id, 'u-é');
    const bad = Buffer.concat([
      Buffer.from('{"event_id":"e-1","user_id":"u-'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","event_type":"login","event_time":"2026-11-20T10:00:00Z"}'),
    ]);
    const result = decodeEvent(bad);
    assert.equal(result.ok, false);
    assert.deepEqual(result.ok ? [] : result.errors, [{ path: '$', message: 'not valid UTF-8 (events are UTF-8, SPEC §1)' }]);
  });

  it('rejects empty ids, non-finite amounts and non-integer epochs', () => {
    assert.match(errorsOf({ ...valid, event_id: '' }).event_id, /must not be empty/);
    assert.match(errorsOf({ ...valid, amount: 'ten' }).amount, /finite number/);
    assert.match(errorsOf({ ...valid, event_time: 1.5 }).event_time, /integer number of epoch milliseconds/);
    assert.match(errorsOf({ ...valid, event_time: true }).event_time, /got boolean/);
  });

  it('parses only real calendar times with a zone', () => {
    assert.ok(Number.isNaN(parseEventTime('2026-02-30T00:00:00Z')), 'February 30');
    assert.ok(Number.isNaN(parseEventTime('2026-11-20T10:00:00')), 'no zone');
    assert.ok(Number.isNaN(parseEventTime('2026-11-20T24:00:00Z')), 'hour 24');
    assert.equal(parseEventTime('2028-02-29T00:00:00Z'), Date.UTC(2028, 1, 29), 'leap day');
    assert.equal(parseEventTime('2026-11-20T10:00-01:30'), Date.UTC(2026, 10, 20, 11, 30));
  });

  it('reads the toISOString form (its fast path) exactly as the general form', () => {
    assert.equal(parseEventTime('2026-11-20T10:00:00.123Z'), Date.UTC(2026, 10, 20, 10, 0, 0, 123));
    assert.equal(parseEventTime('2028-02-29T23:59:59.999Z'), Date.UTC(2028, 1, 29, 23, 59, 59, 999), 'leap day');
    assert.equal(parseEventTime('0099-12-31T23:59:59.000Z'), parseEventTime('0099-12-31T23:59:59Z'), 'year 99');
    assert.equal(parseEventTime('2026-11-20T10:00:00.120Z'), parseEventTime('2026-11-20T10:00:00.12Z'));
    for (const notATime of [
      '2026-02-29T00:00:00.000Z',
      '1900-02-29T00:00:00.000Z',
      '2026-04-31T00:00:00.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-00-01T00:00:00.000Z',
      '2026-01-00T00:00:00.000Z',
      '2026-01-01T24:00:00.000Z',
      '2026-01-01T00:60:00.000Z',
      '2026-01-01T00:00:60.000Z',
      '2026-01-01T00:00:00.0a0Z',
      '2026-01-01T00:00:00.000z',
      '+026-01-01T00:00:00.000Z',
      '2026-1-01T00:00:00.0000Z',
    ]) {
      assert.ok(Number.isNaN(parseEventTime(notATime)), notATime);
    }
  });

  it('reads years 0000–0099 as themselves, not as 1900–1999 (Date.UTC quirk)', () => {
    const yearOf = (ms: number): number => new Date(ms).getUTCFullYear();
    assert.equal(yearOf(parseEventTime('0050-06-01T00:00:00Z')), 50);
    assert.equal(yearOf(parseEventTime('0099-12-31T23:59:59Z')), 99);
    assert.equal(parseEventTime('0000-01-01T00:00:00Z'), -62_167_219_200_000, 'same instant as the epoch milliseconds of 0000-01-01');
    assert.equal(parseEventTime('0004-02-29T12:00:00Z'), Date.parse('0004-02-29T12:00:00Z'), 'leap day of year 4');
    assert.equal(parseEventTime('0100-01-01T00:00:00+01:00'), Date.parse('0099-12-31T23:00:00Z'), 'offset across the year 100 boundary');
    assert.equal(parseEventTime('9999-12-31T23:59:59.999Z'), Date.parse('9999-12-31T23:59:59.999Z'));
    const decoded = decodeEvent({ ...valid, event_time: '0050-06-01T00:00:00Z' });
    assert.ok(decoded.ok);
    assert.equal(new Date(decoded.event.event_time).toISOString(), '0050-06-01T00:00:00.000Z');
  });
});

describe('formatEventTime', () => {
  it('matches Date#toISOString across days, years and edge values', async () => {
    const { formatEventTime } = await import('./event-time');
    const samples = [
      0,
      1,
      999,
      1000,
      86_399_999,
      86_400_000,
      Date.UTC(2026, 10, 20, 23, 59, 59, 999),
      Date.UTC(2028, 1, 29, 12),
      -1,
      -86_400_001,
      Date.UTC(1969, 11, 31, 23, 59, 59, 1),
    ];
    for (let i = 0; i < 2000; i++) samples.push(Math.floor(Date.UTC(1990, 0, 1) + i * 7_919_113.7));
    for (const ms of samples) assert.equal(formatEventTime(ms), new Date(ms).toISOString(), String(ms));
  });
});
