import type { FieldError } from '@risk/domain/shared/errors';
import { DEFAULT_RULE_LIMITS, validateRule, type RuleLimits } from '@risk/domain/rules/rule-validator';

/** Bounds on what the admin API accepts, on top of the rule format itself. */
export interface RulePayloadLimits extends RuleLimits {
  /** Size of one rule document, as compact JSON (UTF-8). */
  readonly maxRuleBytes: number;
  /** Nesting of the JSON document as a whole (objects and arrays), so no input can exhaust the stack. */
  readonly maxJsonDepth: number;
  /** Rules in one rule set. */
  readonly maxRules: number;
}

export const DEFAULT_PAYLOAD_LIMITS: RulePayloadLimits = {
  ...DEFAULT_RULE_LIMITS,
  maxRuleBytes: 64 * 1024,
  maxJsonDepth: 32,
  maxRules: 1000,
};

/**
 * Depth of a parsed JSON value, computed without recursion. Stops counting
 * once `cap` is exceeded: a hostile document need not be walked to its end.
 */
export function jsonDepth(value: unknown, cap = Number.MAX_SAFE_INTEGER): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > max) max = depth;
    if (max > cap) return max;
    for (const child of Array.isArray(node) ? node : Object.values(node as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return max;
}

/** Size bounds first (cheap, and they protect the validator), then the rule format with its paths. */
export function checkRulePayload(
  input: unknown,
  facts: ReadonlySet<string>,
  limits: RulePayloadLimits = DEFAULT_PAYLOAD_LIMITS,
  /** The lists that exist; with it, a condition naming another list is an error. */
  knownLists?: ReadonlySet<string>,
): FieldError[] {
  const depth = jsonDepth(input, limits.maxJsonDepth);
  if (depth > limits.maxJsonDepth) return [{ path: '$', message: `JSON nesting is deeper than the ${limits.maxJsonDepth} levels allowed` }];
  const bytes = Buffer.byteLength(JSON.stringify(input) ?? '', 'utf8');
  if (bytes > limits.maxRuleBytes) return [{ path: '$', message: `rule is ${bytes} bytes, more than the ${limits.maxRuleBytes} allowed` }];
  return validateRule(input, facts, limits, knownLists);
}
