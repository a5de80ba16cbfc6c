import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { referenceRulesEngine } from '@test/support/reference-rules-engine';
import { SeededRandom } from '@risk/generator';
import { BUILT_IN_OPERATORS, type RuleCondition, type TopLevelCondition } from './rule';
import { compileCondition, generateCondition, type Facts } from './rule-compiler';
import { ListMatcher } from '../lists/list-matcher';
import { ListRegistry } from '../lists/list-registry';

const NOW = Date.parse('2026-11-20T10:00:00Z');
const HOUR = 3_600_000;
/** Lists for the list operators: some entries expired at NOW, IPv4 and IPv6, addresses and ranges. */
const LISTS: Record<string, { kind: 'ip' | 'string'; entries: { value: string; expiresAtMs: number }[] }> = {
  ips: {
    kind: 'ip',
    entries: [
      { value: '203.0.113.7', expiresAtMs: Infinity },
      { value: '198.51.100.0/24', expiresAtMs: Infinity },
      { value: '10.0.0.0/8', expiresAtMs: NOW - HOUR },
      { value: '10.1.0.0/16', expiresAtMs: NOW + HOUR },
      { value: '2001:db8::/32', expiresAtMs: Infinity },
      { value: '2001:db8:1::5', expiresAtMs: NOW - 1 },
      { value: 'fe80::1', expiresAtMs: Infinity },
    ],
  },
  names: {
    kind: 'string',
    entries: [
      { value: 'Paris', expiresAtMs: Infinity },
      { value: 'login', expiresAtMs: NOW + 1 },
      { value: '12abc', expiresAtMs: NOW },
    ],
  },
};
const IPS = [
  '203.0.113.7',
  '203.0.113.8',
  '198.51.100.255',
  '198.51.101.0',
  '10.0.0.1',
  '10.1.2.3',
  '::ffff:203.0.113.7',
  '::ffff:cb00:7108',
  '2001:db8::1',
  '2001:DB8:FFFF::',
  '2001:db9::',
  '2001:db8:1::5',
  'fe80::1',
  'FE80:0:0:0:0:0:0:1',
  'not-an-ip',
];
const LIST_NAMES = ['ips', 'names', 'missing_list'];

function registryOf(lists: typeof LISTS): ListRegistry {
  const registry = new ListRegistry(() => NOW);
  for (const [name, list] of Object.entries(lists)) {
    const matcher = new ListMatcher(name, list.kind, 1);
    for (const entry of list.entries) matcher.put(entry.value, entry.expiresAtMs);
    registry.install(matcher);
  }
  return registry;
}

const EVENT_SIDE: ReadonlySet<string> = new Set(['s1', 's2', 'absent2']);
const FACTS = ['n1', 'n2', 'n3', 's1', 's2', 'b1', 'tags', 'absent1', 'absent2', 'mixed', 'ip1'];
const STRINGS = ['login', 'payment', 'Paris', 'Lyon', '', '12abc', '3'];

function randomScalar(random: SeededRandom): unknown {
  switch (random.int(0, 6)) {
    case 0:
      return random.int(-2, 8);
    case 1:
      return random.int(0, 40) / 4;
    case 2:
      return random.pick(STRINGS);
    case 3:
      return random.chance(0.5);
    case 4:
      return null;
    default:
      return random.int(0, 5);
  }
}

function randomValue(random: SeededRandom, operator: string): unknown {
  if (operator === 'in' || operator === 'notIn') return Array.from({ length: random.int(0, 4) }, () => randomScalar(random));
  return randomScalar(random);
}

function randomCondition(random: SeededRandom, depth: number): RuleCondition {
  const roll = random.next();
  if (depth < 4 && roll < 0.25) return { all: Array.from({ length: random.int(1, 4) }, () => randomCondition(random, depth + 1)) };
  if (depth < 4 && roll < 0.45) return { any: Array.from({ length: random.int(1, 4) }, () => randomCondition(random, depth + 1)) };
  if (depth < 4 && roll < 0.55) return { not: randomCondition(random, depth + 1) };
  if (roll < 0.7) {
    const fact = random.pick(['ip1', 'ip1', 's1', 's2', 'n1', 'absent1']);
    return { fact, operator: random.pick(['inList', 'notInList']), value: random.pick(LIST_NAMES) };
  }
  const operator = random.pick(BUILT_IN_OPERATORS);
  return { fact: random.pick(FACTS), operator, value: randomValue(random, operator) };
}

function randomTop(random: SeededRandom): TopLevelCondition {
  const kind = random.int(0, 3);
  if (kind === 2) return { not: randomCondition(random, 1) };
  const children = Array.from({ length: random.int(1, 4) }, () => randomCondition(random, 1));
  return kind === 0 ? { all: children } : { any: children };
}

function randomFacts(random: SeededRandom): Record<string, unknown> {
  const facts: Record<string, unknown> = {
    n1: random.int(0, 8),
    n2: random.int(0, 40) / 4,
    n3: random.chance(0.2) ? undefined : random.int(-1, 3),
    s1: random.pick(STRINGS),
    s2: random.chance(0.3) ? undefined : random.pick(STRINGS),
    b1: random.chance(0.5),
    tags: random.chance(0.5) ? ['vip', 3, 'login'] : [],
    mixed: randomScalar(random),
    ip1: random.chance(0.1) ? undefined : random.pick(IPS),
  };
  // absent1 / absent2 are never defined: conditions on them must be false.
  return facts;
}

describe('compiled rules agree with json-rules-engine (property test)', () => {
  it('fires exactly the rules the reference fires, over random rules and facts', async () => {
    const random = new SeededRandom(20261121);
    let fired = 0;
    let checked = 0;
    for (let round = 0; round < 60; round++) {
      const rules = Array.from({ length: 25 }, (_, i) => ({ name: `r${i}`, conditions: randomTop(random) }));
      const engine = referenceRulesEngine(LISTS, NOW);
      rules.forEach((rule) => engine.addRule({ name: rule.name, conditions: rule.conditions as never, event: { type: rule.name } }));
      const registry = registryOf(LISTS);
      const compiled = rules.map((rule) => ({ name: rule.name, matches: compileCondition(rule.conditions, registry) }));
      // The hot path reads event fields from the event and the rest from the features.
      const generated = rules.map((rule) => ({
        name: rule.name,
        matches: generateCondition(rule.conditions, EVENT_SIDE, undefined, registry),
      }));
      for (let f = 0; f < 10; f++) {
        const facts = randomFacts(random);
        const reference = await engine.run(facts);
        const expected = reference.events.map((e) => e.type).sort();
        const actual = compiled
          .filter((r) => r.matches(facts as Facts))
          .map((r) => r.name)
          .sort();
        assert.deepEqual(actual, expected, `facts ${JSON.stringify(facts)}\nrules ${JSON.stringify(rules)}`);
        const event: Record<string, unknown> = {};
        const features: Record<string, unknown> = {};
        for (const [name, value] of Object.entries(facts)) (EVENT_SIDE.has(name) ? event : features)[name] = value;
        const hot = generated
          .filter((r) => r.matches(features, event))
          .map((r) => r.name)
          .sort();
        assert.deepEqual(hot, expected, `generated code, facts ${JSON.stringify(facts)}\nrules ${JSON.stringify(rules)}`);
        fired += actual.length;
        checked += rules.length;
      }
    }
    // The generator must exercise both outcomes, or the agreement proves little.
    assert.ok(fired > checked * 0.1 && fired < checked * 0.9, `fired ${fired} of ${checked}`);
  });

  it('treats a condition on an absent fact as false, and its negation as true', () => {
    const facts: Facts = { present: 1 };
    for (const operator of BUILT_IN_OPERATORS) {
      const value = operator === 'in' || operator === 'notIn' ? [1] : 1;
      assert.equal(compileCondition({ fact: 'missing', operator, value }).call(null, facts), false, operator);
      assert.equal(compileCondition({ not: { fact: 'missing', operator, value } }).call(null, facts), true, `not ${operator}`);
      assert.equal(generateCondition({ fact: 'missing', operator, value }, new Set(['missing'])).call(null, facts, {}), false, operator);
      assert.equal(
        generateCondition({ not: { fact: 'missing', operator, value } }, new Set()).call(null, facts, {}),
        true,
        `not ${operator}`,
      );
    }
  });
});
