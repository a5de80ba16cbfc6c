import type { FieldError } from '../shared/errors';
import { LIST_OPERATORS, type RuleCondition, type RuleDefinition } from '../rules/rule';

const ON_LISTS: ReadonlySet<string> = new Set(LIST_OPERATORS);

/** Each `inList` / `notInList` condition of a rule: the list it names and the path of its `value`. */
export function listReferences(rule: RuleDefinition): { list: string; path: string }[] {
  const found: { list: string; path: string }[] = [];
  const stack: Array<[RuleCondition, string]> = [[rule.conditions, 'conditions']];
  while (stack.length > 0) {
    const [condition, path] = stack.pop()!;
    if ('all' in condition) condition.all.forEach((c, i) => stack.push([c, `${path}.all[${i}]`]));
    else if ('any' in condition) condition.any.forEach((c, i) => stack.push([c, `${path}.any[${i}]`]));
    else if ('not' in condition) stack.push([condition.not, `${path}.not`]);
    else if (ON_LISTS.has(condition.operator)) found.push({ list: condition.value as string, path: `${path}.value` });
  }
  return found.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** A 400's errors for every condition of `rule` naming a list that does not exist. */
export function missingListErrors(rule: RuleDefinition, lists: ReadonlySet<string>): FieldError[] {
  return listReferences(rule)
    .filter((ref) => !lists.has(ref.list))
    .map((ref) => ({ path: ref.path, message: `unknown list ${JSON.stringify(ref.list)}; create it first (POST /lists)` }));
}

/** The ids of the rules (enabled or not) that name `list`. */
export function rulesUsing(rules: readonly RuleDefinition[], list: string): string[] {
  return rules.filter((rule) => listReferences(rule).some((ref) => ref.list === list)).map((rule) => rule.id);
}
