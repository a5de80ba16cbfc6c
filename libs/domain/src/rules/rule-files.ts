import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_FACTS } from '../events/risk-event';
import { parseFeatureDefinitions, type FeatureDefinition } from '../features/feature-definition';
import { InvalidInputError, type FieldError } from '../shared/errors';
import type { RuleDefinition } from './rule';
import { validateRule } from './rule-validator';

export const FEATURES_FILE = 'features.json';

/** Facts a rule may name: every feature plus the event fields (SPEC §4). */
export function knownFacts(features: readonly FeatureDefinition[]): ReadonlySet<string> {
  return new Set<string>([...features.map((f) => f.name), ...EVENT_FACTS]);
}

export function loadFeatureFile(dir: string): FeatureDefinition[] {
  return parseFeatureDefinitions(readJson(join(dir, FEATURES_FILE), FEATURES_FILE));
}

/**
 * Loads every `*.json` in `dir` except `features.json`; each holds one rule
 * or an array of rules. Files are read in name order so the result is
 * deterministic. Any invalid rule fails the whole load, naming file and path.
 */
export function loadRuleFiles(dir: string, facts: ReadonlySet<string>): RuleDefinition[] {
  const errors: FieldError[] = [];
  const rules: RuleDefinition[] = [];
  const ids = new Set<string>();
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.json') && name !== FEATURES_FILE)
    .sort();
  for (const file of files) {
    const json = readJson(join(dir, file), file);
    const list: unknown[] = Array.isArray(json) ? json : [json];
    list.forEach((rule, index) => {
      const at = Array.isArray(json) ? `${file}[${index}]` : file;
      const ruleErrors = validateRule(rule, facts);
      for (const e of ruleErrors) errors.push({ path: `${at}: ${e.path}`, message: e.message });
      if (ruleErrors.length > 0) return;
      const valid = rule as RuleDefinition;
      if (ids.has(valid.id)) errors.push({ path: `${at}: id`, message: `duplicate rule id "${valid.id}"` });
      ids.add(valid.id);
      rules.push(valid);
    });
  }
  if (errors.length > 0) {
    throw new InvalidInputError(
      'INVALID_RULES',
      `invalid rules in ${dir}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      errors,
    );
  }
  return rules;
}

function readJson(path: string, label: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidInputError('RULES_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`, [
      { path: label, message: 'cannot be read' },
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidInputError('INVALID_JSON', `${path} is not valid JSON: ${(error as Error).message}`, [
      { path: label, message: 'is not valid JSON' },
    ]);
  }
}
