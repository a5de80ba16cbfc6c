import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { validateRule } from './rule-validator';

const facts = new Set(['distinct_devices_1h', 'login_count_1h', 'event_type']);
const rule = {
  id: 'r-1',
  name: 'rule',
  enabled: true,
  mode: 'active',
  priority: 1,
  conditions: { all: [{ fact: 'login_count_1h', operator: 'greaterThan', value: 5 }] },
  event: { type: 'risk', params: { risk_level: 'HIGH', score: 80, reason: 'why' } },
};

describe('validateRule (SPEC §4)', () => {
  it('accepts a valid rule', () => {
    assert.deepEqual(validateRule(rule, facts), []);
  });

  it('refuses the id of another route under /rules (GET /rules/stats)', () => {
    assert.deepEqual(validateRule({ ...rule, id: 'stats' }, facts), [
      { path: 'id', message: '"stats" is reserved: GET /rules/stats answers the rule statistics' },
    ]);
    assert.deepEqual(validateRule({ ...rule, id: 'stats-1' }, facts), []);
  });

  it('names the path of an unknown fact and an unknown operator', () => {
    const errors = validateRule(
      {
        ...rule,
        conditions: {
          all: [
            { fact: 'login_count_1h', operator: 'greaterThan', value: 5 },
            { any: [{ fact: 'distinct_device_1h', operator: 'greaterThan', value: 1 }] },
            { not: { fact: 'event_type', operator: 'startsWith', value: 'log' } },
          ],
        },
      },
      facts,
    );
    assert.deepEqual(errors, [
      { path: 'conditions.all[1].any[0].fact', message: 'unknown fact "distinct_device_1h"' },
      {
        path: 'conditions.all[2].not.operator',
        message:
          'unknown operator "startsWith"; use one of equal, notEqual, lessThan, lessThanInclusive, greaterThan, greaterThanInclusive, in, notIn, contains, doesNotContain, inList, notInList',
      },
    ]);
  });

  it('checks risk level, score, mode and the event type', () => {
    const errors = validateRule(
      { ...rule, mode: 'test', event: { type: 'alert', params: { risk_level: 'CRITICAL', score: 101, reason: 'x' } } },
      facts,
    );
    assert.deepEqual(
      errors.map((e) => e.path),
      ['mode', 'event.type', 'event.params.risk_level', 'event.params.score'],
    );
  });

  it('bounds nesting depth and condition count', () => {
    let deep: Record<string, unknown> = { fact: 'login_count_1h', operator: 'equal', value: 1 };
    for (let i = 0; i < 10; i++) deep = { not: deep };
    assert.match(validateRule({ ...rule, conditions: { all: [deep] } }, facts)[0].message, /deeper than/);
    const many = Array.from({ length: 150 }, () => ({ fact: 'login_count_1h', operator: 'equal', value: 1 }));
    assert.ok(validateRule({ ...rule, conditions: { any: many } }, facts).some((e) => /more than the 100 allowed/.test(e.message)));
  });

  it('requires arrays for in / notIn and refuses fact references and paths', () => {
    const errors = validateRule(
      {
        ...rule,
        conditions: {
          all: [
            { fact: 'event_type', operator: 'in', value: 'login' },
            { fact: 'login_count_1h', operator: 'equal', value: { fact: 'distinct_devices_1h' } },
            { fact: 'login_count_1h', operator: 'equal', value: 1, path: '$.x' },
          ],
        },
      },
      facts,
    );
    assert.deepEqual(
      errors.map((e) => e.path),
      ['conditions.all[0].value', 'conditions.all[1].value', 'conditions.all[2].path'],
    );
  });
});
