import type { ConditionExplanation, FiredRule, RiskLevel } from '../verdicts/verdict';
import type { RuleCondition, RuleDefinition, RuleSet } from './rule';

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
function compileLeaf(fact: string, operator: string, value: unknown): Predicate {
  const v = value as never;
  switch (operator) {
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

export function compileCondition(condition: RuleCondition): Predicate {
  if ('all' in condition) {
    const parts = condition.all.map(compileCondition);
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
    const parts = condition.any.map(compileCondition);
    if (parts.length === 1) return parts[0];
    return (f) => {
      for (let i = 0; i < parts.length; i++) if (parts[i](f)) return true;
      return false;
    };
  }
  if ('not' in condition) {
    const inner = compileCondition(condition.not);
    return (f) => !inner(f);
  }
  return compileLeaf(condition.fact, condition.operator, condition.value);
}

interface CompiledRule {
  readonly definition: RuleDefinition;
  readonly matches: Predicate;
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
 * (SPEC §5) without a sort per event.
 */
export class CompiledRuleSet {
  private readonly active: readonly CompiledRule[];
  private readonly shadow: readonly CompiledRule[];

  constructor(readonly ruleSet: RuleSet) {
    const compiled = ruleSet.rules
      .filter((rule) => rule.enabled)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((definition) => ({
        definition,
        matches: compileCondition(definition.conditions),
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

  evaluate(facts: Facts): RuleResults {
    return { active: fire(this.active, facts), shadow: fire(this.shadow, facts) };
  }
}

const NONE: FiredRule[] = [];

function fire(rules: readonly CompiledRule[], facts: Facts): FiredRule[] {
  let fired: FiredRule[] | undefined;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (rule.matches(facts)) {
      (fired ??= []).push({
        id: rule.definition.id,
        risk_level: rule.riskLevel,
        score: rule.score,
        reason: rule.reason,
        explanation: explain(rule.definition.conditions, 'conditions', facts, []),
      });
    }
  }
  return fired ?? NONE;
}

/** Only run for rules that fired, so it may allocate freely. */
function explain(condition: RuleCondition, path: string, facts: Facts, into: ConditionExplanation[]): ConditionExplanation[] {
  if ('all' in condition) condition.all.forEach((c, i) => explain(c, `${path}.all[${i}]`, facts, into));
  else if ('any' in condition) condition.any.forEach((c, i) => explain(c, `${path}.any[${i}]`, facts, into));
  else if ('not' in condition) explain(condition.not, `${path}.not`, facts, into);
  else {
    const factValue = facts[condition.fact];
    into.push({
      path,
      fact: condition.fact,
      operator: condition.operator,
      value: condition.value,
      fact_value: factValue === undefined ? null : factValue,
      result: compileLeaf(condition.fact, condition.operator, condition.value)(facts),
    });
  }
  return into;
}
