import type { ConditionExplanation, FiredRule, RiskLevel } from '../verdicts/verdict';
import { EVENT_FACTS } from '../events/risk-event';
import { NO_DECLARED_VALUES, type DeclaredField } from '../events/declared-fields';
import type { RuleCondition, RuleDefinition, RuleSet } from './rule';
import { NO_LISTS, type ListRegistry } from '../lists/list-registry';
import type { FeatureDefinition } from '../features/feature-definition';

const DEFAULT_EVENT_FACTS: ReadonlySet<string> = new Set(EVENT_FACTS);
const NONE_DECLARED: ReadonlySet<string> = new Set();
const NO_FIELDS: readonly DeclaredField[] = [];

/** Fact values by name; `undefined` means the fact is absent. */
export type Facts = Readonly<Record<string, unknown>>;
type Predicate = (facts: Facts) => boolean;

/**
 * json-rules-engine's fact-value validator for the numeric operators,
 * kept literally (with a fast path for numbers) so that the compiled
 * evaluator agrees with the reference on odd inputs such as "12abc".
 */
function isNumeric(value: unknown): boolean {
  if (typeof value === 'number') return value === value;
  return Number.parseFloat(value as string).toString() !== 'NaN';
}

/**
 * One leaf → one closure. Matches json-rules-engine's built-in operators,
 * under SPEC §4's rule that a condition on an absent fact is false.
 */
function compileLeaf(fact: string, operator: string, value: unknown, lists: ListRegistry = NO_LISTS): Predicate {
  const v = value as never;
  switch (operator) {
    case 'inList': {
      const list = lists.handle(value as string);
      return (f) => list.has(f[fact]);
    }
    case 'notInList': {
      const list = lists.handle(value as string);
      return (f) => list.lacks(f[fact]);
    }
    case 'equal':
      return (f) => {
        const a = f[fact];
        return a !== undefined && a === v;
      };
    case 'notEqual':
      return (f) => {
        const a = f[fact];
        return a !== undefined && a !== v;
      };
    case 'lessThan':
      return (f) => {
        const a = f[fact];
        return a !== undefined && isNumeric(a) && (a as never) < v;
      };
    case 'lessThanInclusive':
      return (f) => {
        const a = f[fact];
        return a !== undefined && isNumeric(a) && (a as never) <= v;
      };
    case 'greaterThan':
      return (f) => {
        const a = f[fact];
        return a !== undefined && isNumeric(a) && (a as never) > v;
      };
    case 'greaterThanInclusive':
      return (f) => {
        const a = f[fact];
        return a !== undefined && isNumeric(a) && (a as never) >= v;
      };
    case 'in': {
      const list = value as readonly unknown[];
      return (f) => {
        const a = f[fact];
        return a !== undefined && list.indexOf(a) > -1;
      };
    }
    case 'notIn': {
      const list = value as readonly unknown[];
      return (f) => {
        const a = f[fact];
        return a !== undefined && list.indexOf(a) === -1;
      };
    }
    case 'contains':
      return (f) => {
        const a = f[fact];
        return Array.isArray(a) && a.indexOf(v) > -1;
      };
    case 'doesNotContain':
      return (f) => {
        const a = f[fact];
        return Array.isArray(a) && a.indexOf(v) === -1;
      };
    default:
      throw new Error(`unknown operator "${operator}"`);
  }
}

export function compileCondition(condition: RuleCondition, lists: ListRegistry = NO_LISTS): Predicate {
  if ('all' in condition) {
    const parts = condition.all.map((c) => compileCondition(c, lists));
    if (parts.length === 1) return parts[0];
    if (parts.length === 2) {
      const [a, b] = parts as [Predicate, Predicate];
      return (f) => a(f) && b(f);
    }
    return (f) => {
      for (let i = 0; i < parts.length; i++) if (!parts[i](f)) return false;
      return true;
    };
  }
  if ('any' in condition) {
    const parts = condition.any.map((c) => compileCondition(c, lists));
    if (parts.length === 1) return parts[0];
    return (f) => {
      for (let i = 0; i < parts.length; i++) if (parts[i](f)) return true;
      return false;
    };
  }
  if ('not' in condition) {
    const inner = compileCondition(condition.not, lists);
    return (f) => !inner(f);
  }
  return compileLeaf(condition.fact, condition.operator, condition.value, lists);
}

/**
 * The hot-path form of a condition: generated once per rule version into one
 * plain function, so each fact is a constant-name property read
 * (monomorphic, no per-event facts object) and each operator is inlined.
 * Semantics are those of `compileCondition` (checked by the property test
 * against json-rules-engine). Facts in `eventFacts` are read from the event,
 * those in `declaredFacts` from the event's declared `fields` (docs/fields.md),
 * all others from the feature values. Condition values are never spliced into
 * the source: they are passed in as constants.
 */
export function generateCondition(
  condition: RuleCondition,
  eventFacts: ReadonlySet<string>,
  declaredFacts: ReadonlySet<string> = NONE_DECLARED,
  lists: ListRegistry = NO_LISTS,
): (features: Facts, event: Facts) => boolean {
  const constants: unknown[] = [];
  let readsDeclared = false;
  const source = (fact: string): string => {
    if (eventFacts.has(fact)) return 'e';
    if (!declaredFacts.has(fact)) return 'f';
    readsDeclared = true;
    return 'd';
  };
  const generate = (c: RuleCondition): string => {
    if ('all' in c) return c.all.length === 0 ? 'true' : `(${c.all.map(generate).join(' && ')})`;
    if ('any' in c) return c.any.length === 0 ? 'false' : `(${c.any.map(generate).join(' || ')})`;
    if ('not' in c) return `!${generate(c.not)}`;
    const read = `${source(c.fact)}[${JSON.stringify(c.fact)}]`;
    const v = `c[${constants.push(c.value) - 1}]`;
    const numeric = (op: string): string =>
      `((a = ${read}) !== undefined && (typeof a === 'number' ? a === a : isNumeric(a)) && a ${op} ${v})`;
    switch (c.operator) {
      case 'equal':
        return `((a = ${read}) !== undefined && a === ${v})`;
      case 'notEqual':
        return `((a = ${read}) !== undefined && a !== ${v})`;
      case 'lessThan':
        return numeric('<');
      case 'lessThanInclusive':
        return numeric('<=');
      case 'greaterThan':
        return numeric('>');
      case 'greaterThanInclusive':
        return numeric('>=');
      case 'in':
        return `((a = ${read}) !== undefined && ${v}.indexOf(a) > -1)`;
      case 'notIn':
        return `((a = ${read}) !== undefined && ${v}.indexOf(a) === -1)`;
      case 'contains':
        return `(Array.isArray(a = ${read}) && a.indexOf(${v}) > -1)`;
      case 'doesNotContain':
        return `(Array.isArray(a = ${read}) && a.indexOf(${v}) === -1)`;
      // The list's handle is the constant: a list reload swaps its matcher, not this code (docs/lists.md).
      case 'inList':
        return `c[${constants.push(lists.handle(c.value as string)) - 1}].has(${read})`;
      case 'notInList':
        return `c[${constants.push(lists.handle(c.value as string)) - 1}].lacks(${read})`;
      default:
        throw new Error(`unknown operator "${c.operator}"`);
    }
  };
  const body = generate(condition);
  // Only a rule that names a declared field reads the event's `fields` (absent on an event decoded without declarations).
  const declared = readsDeclared ? 'const d = e.fields === undefined ? none : e.fields; ' : '';
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from validated rules; values passed as constants
  const factory = new Function(
    'c',
    'isNumeric',
    'none',
    `'use strict'; return function matches(f, e) { let a; ${declared}return ${body}; };`,
  ) as (c: unknown[], numeric: (value: unknown) => boolean, none: Facts) => (features: Facts, event: Facts) => boolean;
  return factory(constants, isNumeric, NO_DECLARED_VALUES);
}

/** Where a fact is read: the event's SPEC §1 fields, its declared fields, or the feature values. */
type FactSource = 'event' | 'declared' | 'features';

/** A leaf condition prepared once, so explaining a fired rule allocates only its result. */
interface ExplainedLeaf {
  readonly path: string;
  readonly fact: string;
  readonly operator: string;
  readonly value: unknown;
  readonly from: FactSource;
  readonly test: Predicate;
}

interface CompiledRule {
  readonly definition: RuleDefinition;
  readonly matches: (features: Facts, event: Facts) => boolean;
  readonly leaves: readonly ExplainedLeaf[];
  readonly riskLevel: RiskLevel;
  readonly score: number;
  readonly reason: string;
}

export interface RuleResults {
  readonly active: FiredRule[];
  readonly shadow: FiredRule[];
}

/**
 * A rule set compiled once into plain functions. Disabled rules are left
 * out; the rest are kept sorted by id so fired lists come out sorted
 * (SPEC §5) without a sort per event. `fields` are the declared event fields
 * (docs/fields.md): the pipeline decodes with them, and rules naming one read
 * it from the event's `fields`.
 */
export class CompiledRuleSet {
  private readonly active: readonly CompiledRule[];
  private readonly shadow: readonly CompiledRule[];

  constructor(
    readonly ruleSet: RuleSet,
    readonly fields: readonly DeclaredField[] = NO_FIELDS,
    /**
     * The features this version decides with (its pinned set): the pipeline
     * hands them to the feature store with the batch. Undefined: whatever the
     * store was opened with (replay, tests).
     */
    readonly features?: readonly FeatureDefinition[],
    /** The named lists `inList` / `notInList` conditions look values up in (docs/lists.md). */
    readonly lists: ListRegistry = NO_LISTS,
  ) {
    const eventFacts = DEFAULT_EVENT_FACTS;
    const declaredFacts: ReadonlySet<string> = fields.length === 0 ? NONE_DECLARED : new Set(fields.map((f) => f.name));
    const compiled = ruleSet.rules
      .filter((rule) => rule.enabled)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((definition) => ({
        definition,
        matches: generateCondition(definition.conditions, eventFacts, declaredFacts, lists),
        leaves: leavesOf(definition.conditions, 'conditions', eventFacts, declaredFacts, [], lists),
        riskLevel: definition.event.params.risk_level,
        score: definition.event.params.score,
        reason: definition.event.params.reason,
      }));
    this.active = compiled.filter((rule) => rule.definition.mode === 'active');
    this.shadow = compiled.filter((rule) => rule.definition.mode === 'shadow');
  }

  get version(): number {
    return this.ruleSet.version;
  }

  /** Event fields (SPEC §1 and declared) are read from `event`, every other fact from `features`. */
  evaluate(features: Facts, event: Facts): RuleResults {
    return { active: this.fire(this.active, features, event), shadow: this.fire(this.shadow, features, event) };
  }

  private fire(rules: readonly CompiledRule[], features: Facts, event: Facts): FiredRule[] {
    let fired: FiredRule[] | undefined;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (rule.matches(features, event)) {
        (fired ??= []).push({
          id: rule.definition.id,
          risk_level: rule.riskLevel,
          score: rule.score,
          reason: rule.reason,
          explanation: rule.leaves.map((leaf) => explainLeaf(leaf, features, event)),
        });
      }
    }
    return fired ?? NONE;
  }
}

const NONE: FiredRule[] = [];

/** Only run for rules that fired, so it may allocate freely. */
function leavesOf(
  condition: RuleCondition,
  path: string,
  eventFacts: ReadonlySet<string>,
  declaredFacts: ReadonlySet<string>,
  into: ExplainedLeaf[],
  lists: ListRegistry = NO_LISTS,
): ExplainedLeaf[] {
  if ('all' in condition) condition.all.forEach((c, i) => leavesOf(c, `${path}.all[${i}]`, eventFacts, declaredFacts, into, lists));
  else if ('any' in condition) condition.any.forEach((c, i) => leavesOf(c, `${path}.any[${i}]`, eventFacts, declaredFacts, into, lists));
  else if ('not' in condition) leavesOf(condition.not, `${path}.not`, eventFacts, declaredFacts, into, lists);
  else {
    const { fact, operator, value } = condition;
    const from: FactSource = eventFacts.has(fact) ? 'event' : declaredFacts.has(fact) ? 'declared' : 'features';
    into.push({ path, fact, operator, value, from, test: compileLeaf(fact, operator, value, lists) });
  }
  return into;
}

/** Only run for rules that fired: every leaf, the fact value seen and whether it held. */
function explainLeaf(leaf: ExplainedLeaf, features: Facts, event: Facts): ConditionExplanation {
  const facts =
    leaf.from === 'event' ? event : leaf.from === 'features' ? features : ((event.fields as Facts | undefined) ?? NO_DECLARED_VALUES);
  const factValue = facts[leaf.fact];
  return {
    path: leaf.path,
    fact: leaf.fact,
    operator: leaf.operator,
    value: leaf.value,
    fact_value: factValue === undefined ? null : factValue,
    result: leaf.test(facts),
  };
}
