import { BlockList, isIP } from 'node:net';
import { Engine, Operator } from 'json-rules-engine';
import { BUILT_IN_OPERATORS } from '@risk/domain';

/** A named list as the reference sees it: canonical values (as stored) with their expiry in epoch ms (+Infinity: none). */
export interface ReferenceList {
  readonly kind: 'ip' | 'string';
  readonly entries: readonly { readonly value: string; readonly expiresAtMs: number }[];
}

/**
 * json-rules-engine as the reference for the compiled rules. SPEC §4 says a
 * condition on an absent fact is false, where json-rules-engine (with
 * allowUndefinedFacts) would apply the operator to `undefined`; so each
 * built-in operator is re-registered with that single change, keeping its
 * own callback and fact-value validator.
 *
 * `inList` / `notInList` (docs/lists.md) are registered as custom operators
 * over `lists`, judged at `now`, with an implementation of their own: string
 * lists by a linear scan, IP lists by Node's `net.BlockList` (which also
 * matches IPv4-mapped IPv6 addresses against IPv4 entries), so the property
 * test checks the engine's parser, tries and maps against independent code.
 */
export function referenceRulesEngine(lists: Readonly<Record<string, ReferenceList>> = {}, now: number = Date.now()): Engine {
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
  const contains = referenceContains(lists, now);
  // A missing list makes both operators false, like an absent fact.
  engine.addOperator(
    new Operator(
      'inList',
      (a: unknown, name: unknown) => lists[name as string] !== undefined && contains(name as string, a),
      (v) => v !== undefined,
    ),
  );
  engine.addOperator(
    new Operator(
      'notInList',
      (a: unknown, name: unknown) => lists[name as string] !== undefined && !contains(name as string, a),
      (v) => v !== undefined,
    ),
  );
  return engine;
}

function referenceContains(lists: Readonly<Record<string, ReferenceList>>, now: number): (name: string, value: unknown) => boolean {
  const blocks = new Map<string, BlockList>();
  for (const [name, list] of Object.entries(lists)) {
    if (list.kind !== 'ip') continue;
    const block = new BlockList();
    for (const entry of list.entries) {
      if (!(entry.expiresAtMs > now)) continue;
      const [address, prefix] = entry.value.split('/');
      const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) block.addAddress(address, type);
      else block.addSubnet(address, Number(prefix), type);
    }
    blocks.set(name, block);
  }
  return (name, value) => {
    if (typeof value !== 'string') return false;
    const list = lists[name];
    if (list.kind === 'string') return list.entries.some((e) => e.value === value && e.expiresAtMs > now);
    const family = isIP(value);
    if (family === 0) return false;
    return blocks.get(name)!.check(value, family === 4 ? 'ipv4' : 'ipv6');
  };
}
