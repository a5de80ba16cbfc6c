import { gzipSync } from 'node:zlib';
import type { SeededRandom } from '@risk/generator';

/**
 * Generators of hostile input for the fuzz test: every value is built from a
 * SeededRandom, so one seed always gives the same inputs, and a failure names
 * the index that reproduces it. JSON is built as text, so that it can hold
 * what JSON.stringify would refuse or recurse on: 20,000 levels of nesting,
 * 1e400, duplicate keys, `__proto__` keys.
 */

const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ufeff',
  '\ud800',
  '\udfff\ud800',
  '\u202e\u202d',
  '😀'.repeat(129),
  'é'.repeat(200),
  '%s%n%x',
  "'; DROP TABLE verdicts; --",
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'NaN',
  'Infinity',
  '-0',
  '0x1',
  '1e20',
  'null',
  'true',
  '\r\n',
  '\\',
  '"',
];
const ODD_NUMBERS = [
  '1e400',
  '-1e400',
  '1e20',
  '-0',
  '0.1',
  '9007199254740993',
  '5e-324',
  '-1',
  '0',
  '123456789012345678901234567890',
  '1E+2',
];
const ODD_TIMES = [
  '2026-11-20T10:00:00Z',
  '2026-11-20T10:00:00.123456789Z',
  '2026-02-30T10:00:00Z',
  '0000-01-01T00:00:00Z',
  '0099-12-31T23:59:59Z',
  '+275760-09-13T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '2026-11-20',
  '2026-11-20T10:00:00',
  '2026-11-20T10:00:00+25:00',
  '1700000000',
  'yesterday',
  '',
];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'valueOf'];
const EVENT_FIELDS = ['event_id', 'user_id', 'event_type', 'event_time', 'ip_address', 'device_id', 'location_city', 'amount'];

export function oddString(rng: SeededRandom): string {
  switch (rng.int(0, 6)) {
    case 0:
      return 'x'.repeat(rng.chance(0.05) ? 70_000 : rng.pick([127, 128, 129, 256, 1025]));
    case 1:
      return String.fromCharCode(...Array.from({ length: rng.int(1, 40) }, () => rng.int(0, 0xffff)));
    default:
      return rng.pick(ODD_STRINGS);
  }
}

/** A JSON value as text: scalars, odd numbers, strings, arrays and objects with hostile keys. */
export function jsonValue(rng: SeededRandom, depth = 0): string {
  const kind = rng.int(0, depth > 3 ? 5 : 8);
  switch (kind) {
    case 0:
      return rng.pick(ODD_NUMBERS);
    case 1:
      return JSON.stringify(oddString(rng));
    case 2:
      return rng.pick(['true', 'false', 'null']);
    case 3:
      return String(rng.int(-1000, 1000));
    case 4:
      return rng.chance(0.2) ? deepNesting(rng) : nesting(rng.int(2, 40), rng);
    case 5:
      return `[${Array.from({ length: rng.int(0, 4) }, () => jsonValue(rng, depth + 1)).join(',')}]`;
    default:
      return jsonObject(
        Array.from({ length: rng.int(0, 4) }, () => [
          rng.chance(0.4) ? rng.pick(PROTO_KEYS) : oddString(rng).slice(0, 20),
          jsonValue(rng, depth + 1),
        ]),
      );
  }
}

/** Nesting past every limit: 33 (one past the admin bound) to 20,000 levels (past class-transformer's stack). */
export function deepNesting(rng: SeededRandom): string {
  return nesting(rng.pick([33, 34, 100, 5_000, 20_000]), rng);
}

function nesting(levels: number, rng: SeededRandom): string {
  return rng.chance(0.5) ? '['.repeat(levels) + ']'.repeat(levels) : '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
}

function jsonObject(entries: readonly (readonly [string, string])[]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

let eventCounter = 0;

/** A valid event as [key, JSON text] pairs, ready to be mutated. */
function validEventEntries(rng: SeededRandom): [string, string][] {
  eventCounter++;
  return [
    ['event_id', JSON.stringify(`fz-${eventCounter}`)],
    ['user_id', JSON.stringify(`fz-user-${rng.int(0, 5)}`)],
    ['event_type', JSON.stringify(rng.pick(['login', 'payment', 'register', 'login_failed']))],
    ['event_time', JSON.stringify(new Date(Date.now() - rng.int(0, 3_600_000)).toISOString())],
    ['ip_address', JSON.stringify(rng.pick(['203.0.113.7', '::1', '2001:db8::1']))],
    ['device_id', JSON.stringify(`d-${rng.int(0, 3)}`)],
    ['location_city', JSON.stringify(rng.pick(['Paris', 'Lyon', 'Zürich']))],
    ['amount', String(rng.int(0, 5000))],
  ];
}

/** One event as JSON text with 1–3 hostile mutations (it may stay valid now and then, which is fine). */
export function hostileEventText(rng: SeededRandom): string {
  const entries = validEventEntries(rng);
  for (let m = rng.int(1, 4); m > 0; m--) {
    const field = rng.pick(EVENT_FIELDS);
    const index = entries.findIndex(([k]) => k === field);
    switch (rng.int(0, 7)) {
      case 0:
        if (index >= 0) entries.splice(index, 1);
        break;
      case 1:
        if (index >= 0) entries[index] = [field, jsonValue(rng)];
        break;
      case 2:
        entries.push([rng.pick(PROTO_KEYS), jsonValue(rng)]);
        break;
      case 3:
        if (index >= 0) entries[index] = [field, JSON.stringify(field === 'event_time' ? rng.pick(ODD_TIMES) : oddString(rng))];
        break;
      case 4:
        entries.push([field, jsonValue(rng)]);
        break;
      case 5:
        entries.push([oddString(rng).slice(0, 30), deepNesting(rng)]);
        break;
      default:
        if (index >= 0) entries[index] = [field, rng.pick(ODD_NUMBERS)];
    }
  }
  const text = jsonObject(entries);
  switch (rng.int(0, 12)) {
    case 0:
      return `[${text}]`;
    case 1:
      return text.slice(0, rng.int(0, text.length));
    case 2:
      return jsonValue(rng);
    default:
      return text;
  }
}

export function randomBytes(rng: SeededRandom, length: number): Buffer {
  return Buffer.from(Array.from({ length }, () => rng.int(0, 256)));
}

/** Byte-level damage: invalid UTF-8, NULs, lone continuation bytes, overlong encodings. */
export function damageBytes(rng: SeededRandom, body: Buffer): Buffer {
  const bad = rng.pick([[0xff, 0xfe], [0xc0, 0xaf], [0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x00], [0xe2, 0x82]]);
  const at = rng.int(0, body.length + 1);
  return Buffer.concat([body.subarray(0, at), Buffer.from(bad), body.subarray(at)]);
}

export interface HostileRequest {
  readonly description: string;
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

const CONTENT_TYPES = [
  'application/json',
  'application/x-ndjson',
  'text/plain',
  'application/json; charset=utf-8',
  'application/json; charset=foobar',
  'text/plain; charset=utf-16le',
  'application/json; charset=latin1',
  'application/json; charset=',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  '*/*',
  ';;;',
];

/** A POST /events request: a body of hostile lines, then transport-level hostility (bytes, BOMs, encodings, content types). */
export function hostileIngestRequest(rng: SeededRandom): HostileRequest {
  const lines = rng.chance(0.6) ? 1 : rng.chance(0.95) ? rng.pick([2, 3, 10]) : 50;
  const texts = Array.from({ length: lines }, () => hostileEventText(rng));
  let body = Buffer.from(texts.join(rng.chance(0.8) ? '\n' : '\r\n'), 'utf8');
  const notes: string[] = [`${lines} line(s)`];
  const headers: Record<string, string> = { 'content-type': rng.pick(CONTENT_TYPES) };
  switch (rng.int(0, 10)) {
    case 0:
      body = randomBytes(rng, rng.int(0, 2048));
      notes.push('random bytes');
      break;
    case 1:
      body = damageBytes(rng, body);
      notes.push('bad UTF-8');
      break;
    case 2:
      body = Buffer.concat([
        Buffer.from(
          rng.pick([
            [0xef, 0xbb, 0xbf],
            [0xfe, 0xff],
            [0xff, 0xfe],
            [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf],
          ]),
        ),
        body,
      ]);
      notes.push('BOM');
      break;
    case 3: {
      const zipped = gzipSync(body);
      body = rng.chance(0.5) ? zipped.subarray(0, rng.int(0, zipped.length)) : zipped;
      headers['content-encoding'] = rng.pick(['gzip', 'gzip', 'deflate', 'br']);
      notes.push(`gzip as ${headers['content-encoding']}`);
      break;
    }
    case 4:
      headers['content-encoding'] = rng.pick(['snappy', 'gzip, br', 'GZIP', 'identity', 'x-unknown', '']);
      notes.push(`content-encoding ${headers['content-encoding']}`);
      break;
    case 5:
      body = Buffer.from('\n'.repeat(rng.int(0, 100)) + ' \t '.repeat(rng.int(0, 10)));
      notes.push('blank');
      break;
    default:
      break;
  }
  return { description: `${notes.join(', ')}; content-type ${headers['content-type']}`, body, headers };
}

export interface HostileAdminRequest extends HostileRequest {
  readonly method: string;
  readonly path: string;
}

const VERSION_STRINGS = ['0x1', '1e0', '01', '+1', '-1', '0', '1.0', '%20', '9007199254740993', 'abc', '999999', '%00', '__proto__', ''];

/**
 * Makes one property of an object's entries hostile: a random JSON value, removed, an unknown or prototype key
 * added (`unknownKeys` besides PROTO_KEYS), deep nesting, an odd string, or one of `extras`' entries added.
 */
function spoilEntry(
  rng: SeededRandom,
  entries: (readonly [string, string])[],
  unknownKeys: string[],
  ...extras: (() => [string, string])[]
): void {
  const index = rng.int(0, entries.length);
  const choice = rng.int(0, 5 + extras.length);
  if (choice === 0) entries[index] = [entries[index][0], jsonValue(rng)];
  else if (choice === 1) entries.splice(index, 1);
  else if (choice === 2) entries.push([rng.pick(PROTO_KEYS.concat(unknownKeys)), jsonValue(rng)]);
  else if (choice === 3) entries[index] = [entries[index][0], deepNesting(rng)];
  else if (choice < 4 + extras.length) entries.push(extras[choice - 4]());
  else entries[index] = [entries[index][0], JSON.stringify(oddString(rng))];
}

function hostileRuleText(rng: SeededRandom, id: string): string {
  const entries: [string, string][] = [
    ['id', JSON.stringify(id)],
    ['name', JSON.stringify('fuzz rule')],
    ['enabled', 'true'],
    ['mode', JSON.stringify('shadow')],
    ['priority', '1'],
    ['conditions', '{"all":[{"fact":"amount","operator":"greaterThan","value":1000000}]}'],
    ['event', '{"type":"risk","params":{"risk_level":"LOW","score":1,"reason":"fuzz"}}'],
  ];
  // At least one field is made hostile; most such rules are invalid, a few stay valid (and are then written).
  for (let m = rng.int(1, 4); m > 0; m--) {
    spoilEntry(rng, entries, ['base_version', 'colour'], () => ['base_version', rng.pick(ODD_NUMBERS)]);
  }
  return jsonObject(entries);
}

/** The features the shipped rules name, plus one: a feature set `PUT /features` accepts as it is. */
const FUZZ_FEATURES: readonly (readonly [string, string])[][] = [
  [
    ['name', '"distinct_devices_1h"'],
    ['entity', '"user_id"'],
    ['aggregate', '"distinct"'],
    ['field', '"device_id"'],
    ['window', '"1h"'],
  ],
  [
    ['name', '"distinct_cities_1h"'],
    ['entity', '"user_id"'],
    ['aggregate', '"distinct"'],
    ['field', '"location_city"'],
    ['window', '"1h"'],
  ],
  [
    ['name', '"login_count_1h"'],
    ['entity', '"user_id"'],
    ['aggregate', '"count"'],
    ['event_types', '["login"]'],
    ['window', '"1h"'],
  ],
  [
    ['name', '"ip_registrations_10m"'],
    ['entity', '"ip_address"'],
    ['aggregate', '"count"'],
    ['event_types', '["register"]'],
    ['window', '"10m"'],
  ],
  [
    ['name', '"fuzz_ud_count_1h"'],
    ['entity', '["user_id","device_id"]'],
    ['aggregate', '"count"'],
    ['window', '"1h"'],
  ],
];

/** A feature set with one to three hostile properties (or a hostile whole), for PUT /features and its validation. */
function hostileFeaturesText(rng: SeededRandom): string {
  if (rng.chance(0.15)) return rng.chance(0.5) ? jsonValue(rng) : `{"features":${rng.chance(0.5) ? jsonValue(rng) : deepNesting(rng)}}`;
  const features = FUZZ_FEATURES.map((entries) => [...entries]);
  for (let m = rng.int(1, 4); m > 0; m--) {
    spoilEntry(rng, features[rng.int(0, features.length)], ['where', 'description', 'colour']);
  }
  const extra = rng.chance(0.2) ? `,"base_version":${rng.pick(ODD_NUMBERS)}` : '';
  return `{"features":[${features.map((entries) => jsonObject(entries)).join(',')}]${extra}}`;
}

/** A string as a URL path segment; lone surrogates (which encodeURIComponent refuses) go through as raw bytes. */
function pathSegment(text: string): string {
  try {
    return encodeURIComponent(text) || 'x';
  } catch {
    return [...Buffer.from(text, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  }
}

/** A request at one admin route, with a hostile body, path parameter, query or header. */
export function hostileAdminRequest(rng: SeededRandom, existingRuleId: string): HostileAdminRequest {
  const id = rng.chance(0.5) ? existingRuleId : pathSegment(oddString(rng).slice(0, 200));
  const headers: Record<string, string> = { 'content-type': rng.chance(0.9) ? 'application/json' : rng.pick(CONTENT_TYPES) };
  if (rng.chance(0.15)) headers['if-match'] = rng.pick(['"0"', '"1e20"', 'W/"x"', '*', '"99999999999999999999"', '""', 'abc']);
  const json = (text: string): Buffer => {
    const body = Buffer.from(text, 'utf8');
    return rng.chance(0.1) ? damageBytes(rng, body) : body;
  };
  const route = rng.int(0, 15);
  switch (route) {
    case 0:
      return { method: 'POST', path: '/rules', body: json(hostileRuleText(rng, `fz-${rng.int(0, 1e9)}`)), headers, description: 'create' };
    case 1:
      return { method: 'PUT', path: `/rules/${id}`, body: json(hostileRuleText(rng, existingRuleId)), headers, description: 'replace' };
    case 2: {
      const parts = [`"event":${rng.chance(0.5) ? hostileEventText(rng) : jsonValue(rng)}`];
      if (rng.chance(0.5)) parts.push(`"features":${jsonValue(rng)}`);
      if (rng.chance(0.4)) parts.push(`"rule":${hostileRuleText(rng, 'draft')}`);
      if (rng.chance(0.3)) parts.push(`"version":${rng.pick(ODD_NUMBERS)}`);
      return { method: 'POST', path: '/rules/evaluate', body: json(`{${parts.join(',')}}`), headers, description: 'evaluate' };
    }
    case 3:
      return {
        method: 'POST',
        path: '/rules/validate',
        body: json(rng.chance(0.5) ? hostileRuleText(rng, 'v') : jsonValue(rng)),
        headers,
        description: 'validate',
      };
    case 4:
      return { method: 'POST', path: `/rules/${id}/mode`, body: json(`{"mode":${jsonValue(rng)}}`), headers, description: 'mode' };
    case 5:
      return {
        method: 'POST',
        path: `/rulesets/${rng.pick(VERSION_STRINGS)}/activate`,
        body: json('{}'),
        headers,
        description: 'activate',
      };
    case 6:
      return {
        method: 'DELETE',
        path: `/rules/${id}?base_version=${encodeURIComponent(rng.pick(VERSION_STRINGS))}`,
        body: Buffer.alloc(0),
        headers,
        description: 'delete',
      };
    case 7:
      return {
        method: 'POST',
        path: `/rules/${id}/disable`,
        body: json(`{"base_version":${rng.pick(ODD_NUMBERS)}}`),
        headers,
        description: 'disable',
      };
    case 8:
    case 12: {
      // Lists (docs/lists.md): a list of its own (sometimes valid, so its entries routes are reached), hostile uploads and removals.
      const list = rng.chance(0.7) ? 'fz_ips' : pathSegment(oddString(rng).slice(0, 100));
      const choice = rng.int(0, 3);
      if (choice === 0) {
        const body = rng.chance(0.3) ? '{"name":"fz_ips","kind":"ip"}' : `{"name":${jsonValue(rng)},"kind":${jsonValue(rng)}}`;
        return { method: 'POST', path: '/lists', body: json(body), headers, description: 'create list' };
      }
      if (choice === 3)
        return { method: 'DELETE', path: `/lists/${list}/entries`, body: json(jsonValue(rng)), headers, description: 'remove entries' };
      const lines = Array.from({ length: rng.int(1, 20) }, () =>
        rng.pick([oddString(rng), jsonValue(rng), '10.0.0.0/8', '2001:db8::/129', '"1.2.3.4"', '256.1.1.1,x', '"a","b,c"']),
      ).join('\n');
      const type = choice === 1 ? 'application/x-ndjson' : 'text/csv';
      return {
        method: 'POST',
        path: `/lists/${list}/entries`,
        body: rng.chance(0.2) ? randomBytes(rng, rng.int(0, 512)) : json(lines),
        headers: { ...headers, 'content-type': rng.chance(0.9) ? type : rng.pick(CONTENT_TYPES) },
        description: 'upload entries',
      };
    }
    case 13: {
      // Snoozes (docs/suppression.md).
      const body = `{"key":${rng.chance(0.5) ? '"user_id"' : jsonValue(rng)},"value":${jsonValue(rng)},"duration":${rng.chance(0.5) ? '"2h"' : jsonValue(rng)},"reason":${jsonValue(rng)}${rng.chance(0.3) ? `,"rule_id":${jsonValue(rng)}` : ''}}`;
      return { method: 'POST', path: '/snoozes', body: json(body), headers, description: 'snooze' };
    }
    case 14: {
      // Backtests (docs/backtest.md): hostile JSON requests and NDJSON uploads.
      const ndjson = rng.chance(0.5);
      const body = ndjson
        ? Array.from({ length: rng.int(1, 10) }, () => (rng.chance(0.5) ? hostileEventText(rng) : oddString(rng))).join('\n')
        : `{"baseline":${jsonValue(rng)},"candidate":${jsonValue(rng)},"sample":${jsonValue(rng)}}`;
      const query = ndjson ? `?baseline=${pathSegment(oddString(rng).slice(0, 20))}&candidate=${rng.pick(VERSION_STRINGS)}` : '';
      return {
        method: 'POST',
        path: `/backtests${query}`,
        body: json(body),
        headers: { ...headers, 'content-type': ndjson ? 'application/x-ndjson' : headers['content-type'] },
        description: 'backtest',
      };
    }
    case 9: {
      // Investigation reads (docs/investigation.md): hostile entity keys and values, composite or not.
      const key = rng.pick(['user_id', 'ip_address', 'device_id', 'user_id+device_id', pathSegment(oddString(rng).slice(0, 100))]);
      const value = rng.chance(0.3) ? `5:alice%7C${pathSegment(oddString(rng).slice(0, 50))}` : pathSegment(oddString(rng).slice(0, 300));
      return { method: 'GET', path: `/entities/${key}/${value}/features`, body: Buffer.alloc(0), headers, description: 'entity features' };
    }
    case 10: {
      const time = (): string => pathSegment(rng.chance(0.5) ? oddString(rng).slice(0, 60) : new Date(rng.int(-1e15, 1e15)).toISOString());
      const query = [rng.chance(0.7) ? `from=${time()}` : '', rng.chance(0.7) ? `to=${time()}` : ''].filter((q) => q !== '');
      return { method: 'GET', path: `/rules/stats?${query.join('&')}`, body: Buffer.alloc(0), headers, description: 'rule stats' };
    }
    case 11: {
      // Feature definitions versioned with the rules (docs/features.md): a replacement set, or its validation.
      const put = rng.chance(0.5);
      const path = put ? '/features' : '/features/validate';
      return {
        method: put ? 'PUT' : 'POST',
        path,
        body: json(hostileFeaturesText(rng)),
        headers,
        description: put ? 'features' : 'validate features',
      };
    }
    default:
      return {
        method: 'POST',
        path: '/rules',
        body: rng.chance(0.5) ? randomBytes(rng, rng.int(0, 512)) : json(jsonValue(rng)),
        headers,
        description: 'create from garbage',
      };
  }
}
