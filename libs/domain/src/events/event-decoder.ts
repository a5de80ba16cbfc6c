import { isUtf8 } from 'node:buffer';
import { isIP } from 'node:net';
import type { FieldError } from '../shared/errors';
import { MAX_EVENT_BYTES, type RiskEvent } from './risk-event';
import { parseEventTime } from './event-time';
import { decodeDeclaredFields, type DeclaredField } from './declared-fields';
import { describe, textProblem } from './text';

export type DecodeResult =
  { readonly ok: true; readonly event: RiskEvent } | { readonly ok: false; readonly errors: readonly FieldError[] };

const EVENT_TYPE = /^[a-z][a-z0-9_]{0,31}$/;
const MAX_ID_LENGTH = 128;

/**
 * Decodes one raw event (Kafka value, NDJSON line or already-parsed HTTP
 * item) and validates it against SPEC §1 and the declared `fields`
 * (docs/fields.md), collecting one reason per bad field. Hand-written on
 * purpose: it runs once per event on the hot path.
 */
export function decodeEvent(input: unknown, fields?: readonly DeclaredField[]): DecodeResult {
  let parsed: unknown = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    const size = typeof input === 'string' ? utf8Length(input) : input.length;
    if (size > MAX_EVENT_BYTES) {
      return reject('$', `event is ${size} bytes, more than the ${MAX_EVENT_BYTES} allowed`);
    }
    // Bytes (a Kafka value) are checked strictly: toString('utf8') would turn
    // invalid sequences into U+FFFD, and an id with a replacement character
    // would alias every other id that differs only in its invalid bytes.
    if (typeof input !== 'string' && !isUtf8(input)) return reject('$', 'not valid UTF-8 (events are UTF-8, SPEC §1)');
    try {
      parsed = JSON.parse(typeof input === 'string' ? input : input.toString('utf8'));
    } catch (error) {
      return reject('$', `not valid JSON: ${(error as Error).message}`);
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return reject('$', `expected a JSON object, got ${describe(parsed)}`);
  }
  return validateEventObject(parsed as Record<string, unknown>, fields);
}

export function validateEventObject(raw: Record<string, unknown>, fields?: readonly DeclaredField[]): DecodeResult {
  let errors: FieldError[] | undefined;
  const fail = (path: string, message: string): void => {
    (errors ??= []).push({ path, message });
  };

  const eventId = requiredId(raw.event_id, 'event_id', fail);
  const userId = requiredId(raw.user_id, 'user_id', fail);

  const eventType = raw.event_type;
  if (eventType === undefined || eventType === null) fail('event_type', 'is required');
  else if (typeof eventType !== 'string') fail('event_type', `must be a string, got ${describe(eventType)}`);
  else if (!EVENT_TYPE.test(eventType)) fail('event_type', 'must match ^[a-z][a-z0-9_]{0,31}$');

  let eventTime = NaN;
  const rawTime = raw.event_time;
  if (rawTime === undefined || rawTime === null) fail('event_time', 'is required');
  else {
    eventTime = parseEventTime(rawTime);
    if (Number.isNaN(eventTime)) {
      fail(
        'event_time',
        typeof rawTime === 'number'
          ? 'must be an integer number of epoch milliseconds'
          : typeof rawTime === 'string'
            ? 'must be an ISO-8601 date-time with a zone (Z or ±hh:mm), e.g. 2026-11-20T10:00:00Z'
            : `must be an ISO-8601 string or epoch milliseconds, got ${describe(rawTime)}`,
      );
    }
  }

  let ipAddress = optionalString(raw.ip_address, 'ip_address', fail, Infinity);
  if (ipAddress !== undefined && (ipAddress.includes('%') || isIP(ipAddress) === 0)) {
    fail('ip_address', 'must be a valid IPv4 or IPv6 address');
    ipAddress = undefined;
  }
  const deviceId = optionalString(raw.device_id, 'device_id', fail, MAX_ID_LENGTH);
  const locationCity = optionalString(raw.location_city, 'location_city', fail, MAX_ID_LENGTH);

  let amount: number | undefined;
  const rawAmount = raw.amount;
  if (rawAmount !== undefined && rawAmount !== null && rawAmount !== '') {
    if (typeof rawAmount !== 'number' || !Number.isFinite(rawAmount)) fail('amount', `must be a finite number, got ${describe(rawAmount)}`);
    else if (rawAmount < 0) fail('amount', 'must be ≥ 0');
    else amount = rawAmount;
  }

  // Declared fields after SPEC §1's own, in declaration order. With none
  // declared the event below keeps the shape it has always had (no `fields`).
  if (fields !== undefined && fields.length > 0) {
    const declared = decodeDeclaredFields(raw, fields, fail);
    if (errors !== undefined) return { ok: false, errors };
    return {
      ok: true,
      event: {
        event_id: eventId!,
        user_id: userId!,
        event_type: eventType as string,
        event_time: eventTime,
        ip_address: ipAddress,
        device_id: deviceId,
        location_city: locationCity,
        amount,
        fields: declared,
      },
    };
  }
  if (errors !== undefined) return { ok: false, errors };
  return {
    ok: true,
    event: {
      event_id: eventId!,
      user_id: userId!,
      event_type: eventType as string,
      event_time: eventTime,
      ip_address: ipAddress,
      device_id: deviceId,
      location_city: locationCity,
      amount,
    },
  };
}

function requiredId(value: unknown, path: string, fail: (path: string, message: string) => void): string | undefined {
  if (value === undefined || value === null) fail(path, 'is required');
  else if (typeof value !== 'string') fail(path, `must be a string, got ${describe(value)}`);
  else if (value.length === 0) fail(path, 'must not be empty');
  else {
    const problem = textProblem(value, MAX_ID_LENGTH);
    if (problem === undefined) return value;
    fail(path, problem);
  }
  return undefined;
}

/** SPEC §1: an empty string (or null) counts as absent for the optional fields. */
function optionalString(
  value: unknown,
  path: string,
  fail: (path: string, message: string) => void,
  maxLength: number,
): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') fail(path, `must be a string, got ${describe(value)}`);
  else {
    const problem = textProblem(value, maxLength);
    if (problem === undefined) return value;
    fail(path, problem);
  }
  return undefined;
}

function reject(path: string, message: string): DecodeResult {
  return { ok: false, errors: [{ path, message }] };
}

/** Exact UTF-8 byte length, skipping the count when the string cannot exceed the limit. */
function utf8Length(text: string): number {
  return text.length * 3 <= MAX_EVENT_BYTES ? text.length : Buffer.byteLength(text, 'utf8');
}
