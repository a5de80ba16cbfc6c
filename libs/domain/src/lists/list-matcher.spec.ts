import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { formatIpv6, parseIp, parseIpRange } from './ip-address';
import { parseListEntry, parseListValue } from './list';
import { ListMatcher } from './list-matcher';
import { ListRegistry } from './list-registry';
import { CompiledRuleSet } from '../rules/rule-compiler';
import { validateRule } from '../rules/rule-validator';
import type { RuleDefinition } from '../rules/rule';

const NOW = Date.parse('2026-11-20T10:00:00Z');

function canonical(text: string): string {
  const range = parseIpRange(text);
  return typeof range === 'string' ? `error: ${range}` : range.canonical;
}

describe('IP addresses and ranges', () => {
  it('normalises IPv4, IPv6 (RFC 5952), IPv4-mapped and zoned addresses', () => {
    assert.equal(canonical('203.0.113.7'), '203.0.113.7');
    assert.equal(canonical('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(canonical('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(canonical('::'), '::');
    assert.equal(canonical('::1'), '::1');
    assert.equal(canonical('1::'), '1::');
    assert.equal(canonical('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(canonical('::FFFF:cb00:7107'), '203.0.113.7');
    assert.equal(canonical('fe80::1%eth0'), 'fe80::1');
    assert.equal(canonical('::1.2.3.4'), '::102:304');
    assert.equal(canonical('10.0.0.0/8'), '10.0.0.0/8');
    assert.equal(canonical('0.0.0.0/0'), '0.0.0.0/0');
    assert.equal(canonical('2001:db8::/32'), '2001:db8::/32');
    assert.equal(canonical('::ffff:10.0.0.0/104'), '10.0.0.0/8');
    assert.equal(canonical('203.0.113.7/32'), '203.0.113.7');
  });

  it('refuses what is not an address, with a reason', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '1..2.3',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      ':1::',
      '1:::2',
      '12345::',
      'g::1',
      '1.2.3.4/33',
      '2001:db8::/129',
      '10.0.0.1/8',
      '10.0.0.0/08',
      '10.0.0.0/',
      '::ffff:10.0.0.0/8',
      'fe80::1%',
      'x'.repeat(10_000),
      '1.2.3.4\u0000',
    ]) {
      assert.match(canonical(bad), /^error: /, JSON.stringify(bad.slice(0, 40)));
    }
  });

  it('formats the longest zero run, the first of equal ones', () => {
    const words = new Uint32Array(4);
    assert.equal(parseIp('1:0:0:2:0:0:0:3', words), 6);
    assert.equal(formatIpv6(words), '1:0:0:2::3');
    assert.equal(parseIp('1:0:0:2:3:0:0:4', words), 6);
    assert.equal(formatIpv6(words), '1::2:3:0:0:4');
    assert.equal(parseIp('1:2:3:4:5:6:7:0', words), 6);
    assert.equal(formatIpv6(words), '1:2:3:4:5:6:7:0');
  });
});

describe('list entries', () => {
  it('accepts a bare value or {value, expires_at, note} and names each bad field', () => {
    const ok = parseListEntry('ip', { value: '2001:DB8::1', expires_at: '2026-12-01T00:00:00+01:00', note: 'chargeback' }, '[0]');
    assert.ok(!Array.isArray(ok));
    assert.deepEqual(ok.entry, { value: '2001:db8::1', expires_at: '2026-11-30T23:00:00.000Z', note: 'chargeback' });
    assert.deepEqual(parseListEntry('string', 'd-1', 'line 3'), {
      entry: { value: 'd-1', expires_at: null, note: null },
      expiresAtMs: Infinity,
      range: undefined,
    });
    const bad = parseListEntry('ip', { value: '1.2.3', expires_at: 'tomorrow', note: 5, extra: 1 }, 'line 7');
    assert.ok(Array.isArray(bad));
    assert.deepEqual(
      bad.map((e) => e.path),
      ['line 7.extra', 'line 7.value', 'line 7.expires_at', 'line 7.note'],
    );
    assert.deepEqual(parseListEntry('string', 42, '[2]'), [
      { path: '[2]', message: 'must be a value or an object {value, expires_at, note}, not number' },
    ]);
  });

  it('bounds strings and refuses hostile text', () => {
    assert.equal(typeof parseListValue('string', 'a'.repeat(512)), 'object');
    assert.equal(typeof parseListValue('string', 'a'.repeat(513)), 'string');
    assert.equal(typeof parseListValue('string', ''), 'string');
    assert.equal(typeof parseListValue('string', 'a\nb'), 'string');
    assert.equal(typeof parseListValue('string', '\ud83d'), 'string');
    assert.equal(typeof parseListValue('string', '__proto__'), 'object');
    assert.equal(typeof parseListValue('string', 7), 'string');
  });
});

describe('list matcher', () => {
  const ips = new ListMatcher('ips', 'ip', 1);
  ips.put('203.0.113.7', Infinity);
  ips.put('198.51.100.0/24', Infinity);
  ips.put('10.1.0.0/16', NOW + 1);
  ips.put('2001:db8::/32', Infinity);
  ips.put('2001:db8:1::5', NOW);
  ips.put('fe80::1', Infinity);

  it('matches exact addresses and CIDR boundaries, IPv4 and IPv6', () => {
    const cases: Array<[string, boolean]> = [
      ['203.0.113.7', true],
      ['203.0.113.6', false],
      ['198.51.100.0', true],
      ['198.51.100.255', true],
      ['198.51.99.255', false],
      ['198.51.101.0', false],
      ['::ffff:198.51.100.9', true],
      ['::ffff:cb00:7107', true],
      ['2001:db8::', true],
      ['2001:0DB8:ffff:ffff:ffff:ffff:ffff:ffff', true],
      ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', false],
      ['2001:db9::', false],
      ['fe80::1', true],
      ['fe80::1%eth0', true],
      ['fe80::2', false],
      ['not an ip', false],
    ];
    for (const [address, expected] of cases) assert.equal(ips.contains(address, NOW), expected, address);
    assert.equal(ips.contains(3405803783, NOW), false, 'a number is never an address');
  });

  it('stops matching an entry once it expires, without a rebuild', () => {
    assert.equal(ips.contains('10.1.255.255', NOW), true);
    assert.equal(ips.contains('10.1.255.255', NOW + 1), false);
    // 2001:db8:1::5 expired at NOW, but it also lies in 2001:db8::/32, which does not expire.
    assert.equal(ips.contains('2001:db8:1::5', NOW + 1), true);
  });

  it('removes addresses and ranges, and re-dates an entry put again', () => {
    const m = new ListMatcher('m', 'ip', 1);
    m.put('10.0.0.0/8', Infinity);
    m.put('10.2.0.0/16', Infinity);
    m.put('10.2.3.4', Infinity);
    assert.equal(m.size, 3);
    assert.equal(m.remove('10.0.0.0/8'), true);
    assert.equal(m.remove('10.0.0.0/8'), false);
    assert.equal(m.contains('10.3.0.0', NOW), false);
    assert.equal(m.contains('10.2.9.9', NOW), true);
    m.put('10.2.0.0/16', NOW - 1);
    assert.equal(m.contains('10.2.9.9', NOW), false);
    assert.equal(m.contains('10.2.3.4', NOW), true);
    assert.equal(m.size, 2);
  });

  it('matches strings exactly (case-sensitive) and nothing but strings', () => {
    const s = ListMatcher.of('devices', 'string', 3, [
      { value: 'd-1', expires_at: null, note: null },
      { value: 'gmail.com', expires_at: '2026-11-20T10:00:00.000Z', note: null },
    ]);
    assert.equal(s.contains('d-1', NOW), true);
    assert.equal(s.contains('D-1', NOW), false);
    assert.equal(s.contains('gmail.com', NOW - 1), true);
    assert.equal(s.contains('gmail.com', NOW), false);
    assert.equal(s.contains(1, NOW), false);
    assert.equal(s.version, 3);
  });
});

describe('rules on lists', () => {
  const rule = (operator: string, value: unknown): RuleDefinition => ({
    id: 'r',
    name: 'r',
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions: { all: [{ fact: 'ip_address', operator, value }] },
    event: { type: 'risk', params: { risk_level: 'HIGH', score: 90, reason: 'listed' } },
  });
  const facts = new Set(['ip_address', 'device_id']);

  it('refuses a missing list at its path, and a value that is not a list name', () => {
    assert.deepEqual(validateRule(rule('inList', 'blocked_ips'), facts, undefined, new Set(['blocked_ips'])), []);
    assert.deepEqual(
      validateRule(rule('inList', 'nope'), facts, undefined, new Set(['blocked_ips'])).map((e) => e.path),
      ['conditions.all[0].value'],
    );
    assert.deepEqual(
      validateRule(rule('notInList', ['a']), facts).map((e) => e.path),
      ['conditions.all[0].value'],
    );
  });

  it('follows a list reload without recompiling, and treats a missing list as false for both operators', () => {
    const registry = new ListRegistry(() => NOW);
    const blocked = new CompiledRuleSet({ version: 1, rules: [rule('inList', 'blocked')] }, [], undefined, registry);
    const allowed = new CompiledRuleSet({ version: 1, rules: [rule('notInList', 'blocked')] }, [], undefined, registry);
    const event = { ip_address: '203.0.113.7' };
    assert.equal(blocked.evaluate({}, event).active.length, 0);
    assert.equal(allowed.evaluate({}, event).active.length, 0, 'notInList on a missing list is false');
    registry.install(ListMatcher.of('blocked', 'ip', 1, [{ value: '203.0.113.0/24', expires_at: null, note: null }]));
    const fired = blocked.evaluate({}, event).active;
    assert.equal(fired.length, 1);
    assert.deepEqual(fired[0].explanation, [
      { path: 'conditions.all[0]', fact: 'ip_address', operator: 'inList', value: 'blocked', fact_value: '203.0.113.7', result: true },
    ]);
    assert.equal(allowed.evaluate({}, event).active.length, 0);
    assert.equal(allowed.evaluate({}, { ip_address: '198.51.100.1' }).active.length, 1);
    assert.equal(allowed.evaluate({}, {}).active.length, 0, 'absent fact: false');
    registry.uninstall('blocked');
    assert.equal(blocked.evaluate({}, event).active.length, 0);
  });
});
