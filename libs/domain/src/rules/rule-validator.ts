import type { FieldError } from '../shared/errors';
import { RISK_LEVELS } from '../verdicts/verdict';
import { LIST_OPERATORS, RULE_OPERATORS } from './rule';
import { listNameProblem } from '../lists/list';
import { entityKeysOf, validateCooldown } from '../suppression/rule-cooldown';

export interface RuleLimits {
  /** Nesting depth of all/any/not, the top level being 1. */
  readonly maxDepth: number;
  readonly maxConditions: number;
}

export const DEFAULT_RULE_LIMITS: RuleLimits = { maxDepth: 8, maxConditions: 100 };

const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** Ids a rule cannot take: `GET /rules/<id>` is another route (docs/investigation.md). */
const RESERVED_RULE_IDS: ReadonlySet<string> = new Set(['stats']);
const RULE_KEYS = new Set(['id', 'name', 'description', 'enabled', 'mode', 'priority', 'conditions', 'event', 'cooldown']);
const LEAF_KEYS = new Set(['fact', 'operator', 'value', 'name', 'priority']);
const OPERATORS: ReadonlySet<string> = new Set(RULE_OPERATORS);
const ON_LISTS: ReadonlySet<string> = new Set(LIST_OPERATORS);

/**
 * Checks a rule document against SPEC §4. Each error names the offending
 * path, e.g. `conditions.all[1].fact: unknown fact "distinct_device_1h"`.
 * Returns an empty array when the rule is valid. With `knownLists`, an
 * `inList` / `notInList` condition naming any other list is an error too
 * (docs/lists.md); without, list names are only checked for their form.
 */
export function validateRule(
  rule: unknown,
  knownFacts: ReadonlySet<string>,
  limits: RuleLimits = DEFAULT_RULE_LIMITS,
  knownLists?: ReadonlySet<string>,
): FieldError[] {
  const errors: FieldError[] = [];
  const fail = (path: string, message: string): void => {
    errors.push({ path, message });
  };
  if (rule === null || typeof rule !== 'object' || Array.isArray(rule)) {
    fail('$', 'a rule must be a JSON object');
    return errors;
  }
  const r = rule as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!RULE_KEYS.has(key)) fail(key, 'unknown property');
  if (typeof r.id !== 'string' || !RULE_ID.test(r.id))
    fail('id', 'must be 1–128 characters of letters, digits, _ . : - starting with a letter or digit');
  else if (RESERVED_RULE_IDS.has(r.id)) fail('id', `"${r.id}" is reserved: GET /rules/${r.id} answers the rule statistics`);
  if (typeof r.name !== 'string' || r.name.length === 0 || r.name.length > 256) fail('name', 'must be a string of 1–256 characters');
  if (r.description !== undefined && (typeof r.description !== 'string' || r.description.length > 2048))
    fail('description', 'must be a string of at most 2048 characters');
  if (typeof r.enabled !== 'boolean') fail('enabled', 'must be true or false');
  if (r.mode !== 'active' && r.mode !== 'shadow') fail('mode', 'must be "active" or "shadow"');
  if (!Number.isInteger(r.priority) || (r.priority as number) < 1) fail('priority', 'must be an integer ≥ 1');

  const counter = { conditions: 0 };
  const c = r.conditions;
  if (c === null || typeof c !== 'object' || Array.isArray(c) || !('all' in c || 'any' in c || 'not' in c)) {
    fail('conditions', 'must be an object with "all", "any" or "not" at the top level');
  } else {
    validateCondition(c, 'conditions', 1, knownFacts, limits, counter, fail, knownLists);
  }
  if (counter.conditions > limits.maxConditions) {
    fail('conditions', `has ${counter.conditions} conditions, more than the ${limits.maxConditions} allowed`);
  }

  const e = r.event as Record<string, unknown> | undefined;
  if (e === null || typeof e !== 'object' || Array.isArray(e)) fail('event', 'must be an object with type "risk" and params');
  else {
    for (const key of Object.keys(e)) if (key !== 'type' && key !== 'params') fail(`event.${key}`, 'unknown property');
    if (e.type !== 'risk') fail('event.type', 'must be "risk"');
    const p = e.params as Record<string, unknown> | undefined;
    if (p === null || typeof p !== 'object' || Array.isArray(p))
      fail('event.params', 'must be an object with risk_level, score and reason');
    else {
      for (const key of Object.keys(p))
        if (!['risk_level', 'score', 'reason'].includes(key)) fail(`event.params.${key}`, 'unknown property');
      if (!RISK_LEVELS.includes(p.risk_level as never)) fail('event.params.risk_level', 'must be one of LOW, MEDIUM, HIGH');
      if (!Number.isInteger(p.score) || (p.score as number) < 0 || (p.score as number) > 100)
        fail('event.params.score', 'must be an integer from 0 to 100');
      if (typeof p.reason !== 'string' || p.reason.length > 1024)
        fail('event.params.reason', 'must be a string of at most 1024 characters');
    }
  }
  if (r.cooldown !== undefined) validateCooldown(r.cooldown, entityKeysOf(knownFacts), fail);
  return errors;
}

function validateCondition(
  c: Record<string, unknown>,
  path: string,
  depth: number,
  knownFacts: ReadonlySet<string>,
  limits: RuleLimits,
  counter: { conditions: number },
  fail: (path: string, message: string) => void,
  knownLists: ReadonlySet<string> | undefined,
): void {
  counter.conditions++;
  if (counter.conditions > limits.maxConditions) return;
  const nested = ['all', 'any', 'not'].filter((k) => k in c);
  if (nested.length > 0) {
    if (depth > limits.maxDepth) {
      fail(path, `nesting is deeper than the ${limits.maxDepth} levels allowed`);
      return;
    }
    if (nested.length > 1 || 'fact' in c) {
      fail(path, 'must hold exactly one of "all", "any", "not" or a "fact" condition');
      return;
    }
    for (const key of Object.keys(c)) {
      if (key !== nested[0] && key !== 'name' && key !== 'priority') fail(`${path}.${key}`, 'unknown property');
    }
    const kind = nested[0];
    const inner = c[kind];
    if (kind === 'not') {
      if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) fail(`${path}.not`, 'must be a condition object');
      else validateCondition(inner as Record<string, unknown>, `${path}.not`, depth + 1, knownFacts, limits, counter, fail, knownLists);
      return;
    }
    if (!Array.isArray(inner) || inner.length === 0) {
      fail(`${path}.${kind}`, 'must be a non-empty array of conditions');
      return;
    }
    inner.forEach((child: unknown, i) => {
      const at = `${path}.${kind}[${i}]`;
      if (child === null || typeof child !== 'object' || Array.isArray(child)) fail(at, 'must be a condition object');
      else validateCondition(child as Record<string, unknown>, at, depth + 1, knownFacts, limits, counter, fail, knownLists);
    });
    return;
  }
  if ('condition' in c) {
    fail(`${path}.condition`, 'shared condition references are not supported');
    return;
  }
  for (const key of Object.keys(c)) {
    if (key === 'path' || key === 'params') fail(`${path}.${key}`, 'is not supported: facts are scalar values');
    else if (!LEAF_KEYS.has(key)) fail(`${path}.${key}`, 'unknown property');
  }
  if (typeof c.fact !== 'string') fail(`${path}.fact`, 'must be a fact name');
  else if (!knownFacts.has(c.fact)) fail(`${path}.fact`, `unknown fact "${c.fact}"`);
  if (typeof c.operator !== 'string' || !OPERATORS.has(c.operator)) {
    fail(`${path}.operator`, `unknown operator ${JSON.stringify(c.operator)}; use one of ${RULE_OPERATORS.join(', ')}`);
  }
  if (!('value' in c)) fail(`${path}.value`, 'is required');
  else if (typeof c.operator === 'string' && ON_LISTS.has(c.operator)) {
    const problem = listNameProblem(c.value);
    if (problem !== undefined) fail(`${path}.value`, `must name a list for "${c.operator}": ${problem}`);
    else if (knownLists !== undefined && !knownLists.has(c.value as string))
      fail(`${path}.value`, `unknown list ${JSON.stringify(c.value)}; create it first (POST /lists)`);
  } else {
    const v = c.value;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      fail(`${path}.value`, 'must be a JSON scalar or array (fact references are not supported)');
    else if ((c.operator === 'in' || c.operator === 'notIn') && !Array.isArray(v))
      fail(`${path}.value`, `must be an array for "${c.operator}"`);
  }
}
