import { Engine, Operator } from 'json-rules-engine';
import { BUILT_IN_OPERATORS } from '@risk/domain';

/**
 * json-rules-engine as the reference for the compiled rules. SPEC §4 says a
 * condition on an absent fact is false, where json-rules-engine (with
 * allowUndefinedFacts) would apply the operator to `undefined`; so each
 * built-in operator is re-registered with that single change, keeping its
 * own callback and fact-value validator.
 */
export function referenceRulesEngine(): Engine {
  const engine = new Engine([], { allowUndefinedFacts: true });
  // The built-in Operator objects keep their callback and validator as plain properties.
  type BuiltIn = { cb(a: unknown, b: unknown): boolean; factValueValidator(value: unknown): boolean };
  const operators = (engine as unknown as { operators: { get(name: string): BuiltIn } }).operators;
  for (const name of BUILT_IN_OPERATORS) {
    const original = operators.get(name);
    engine.removeOperator(name);
    engine.addOperator(
      new Operator(
        name,
        (a: unknown, b: unknown) => original.cb(a, b),
        (value: unknown) => value !== undefined && original.factValueValidator(value),
      ),
    );
  }
  return engine;
}
