import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { referenceRulesEngine } from '@test/support/reference-rules-engine';
import { SeededRandom } from '@risk/generator';
import { BUILT_IN_OPERATORS, type RuleCondition, type TopLevelCondition } from './rule';
import { compileCondition, generateCondition, type Facts } from './rule-compiler';

const EVENT_SIDE: ReadonlySet<string> = new Set(['s1', 's2', 'absent2']);
const FACTS = ['n1', 'n2', 'n3', 's1', 's2', 'b1', 'tags', 'absent1', 'absent2', 'mixed'];
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
      const engine = referenceRulesEngine();
      rules.forEach((rule) => engine.addRule({ name: rule.name, conditions: rule.conditions as never, event: { type: rule.name } }));
      const compiled = rules.map((rule) => ({ name: rule.name, matches: compileCondition(rule.conditions) }));
      // The hot path reads event fields from the event and the rest from the features.
      const generated = rules.map((rule) => ({ name: rule.name, matches: generateCondition(rule.conditions, EVENT_SIDE) }));
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
