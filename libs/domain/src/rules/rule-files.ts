import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_FACTS } from '../events/risk-event';
import { invalidFields, parseFieldDeclarations, type DeclaredField } from '../events/declared-fields';
import { parseFeatureDefinitions, type FeatureDefinition } from '../features/feature-definition';
import { InvalidInputError, type FieldError } from '../shared/errors';
import type { RuleDefinition } from './rule';
import { validateRule } from './rule-validator';
import { SPEC_ENTITY_KEYS, type FactNames } from '../suppression/rule-cooldown';

export const FEATURES_FILE = 'features.json';
/** The declared event fields (docs/fields.md); optional. */
export const FIELDS_FILE = 'fields.json';

/** Facts a rule may name: every feature plus the event fields (SPEC §4) and the declared ones (docs/fields.md). */
export function knownFacts(features: readonly FeatureDefinition[], fields: readonly DeclaredField[] = []): FactNames {
  const facts = new Set<string>([...features.map((f) => f.name), ...EVENT_FACTS, ...fields.map((f) => f.name)]);
  // The string event fields a cooldown may be keyed by (docs/suppression.md).
  const entityKeys: ReadonlySet<string> = new Set([...SPEC_ENTITY_KEYS, ...fields.filter((f) => f.type === 'string').map((f) => f.name)]);
  return Object.assign(facts, { entityKeys });
}

/**
 * The declared event fields of `dir` (`fields.json`), or none when the file
 * is absent. A declared name may not be a feature's: a rule's fact would be
 * ambiguous. Errors name each bad entry, e.g. `fields[2].type`.
 */
export function loadFieldFile(dir: string, features: readonly FeatureDefinition[]): DeclaredField[] {
  const path = join(dir, FIELDS_FILE);
  if (!existsSync(path)) return [];
  const fields = parseFieldDeclarations(readJson(path, FIELDS_FILE));
  checkFieldsAgainstFeatures(fields, features);
  return fields;
}

/** Refuses a declared field named like a feature (`fields[i].name`), since rules name both as facts. */
export function checkFieldsAgainstFeatures(fields: readonly DeclaredField[], features: readonly FeatureDefinition[]): void {
  const featureNames = new Set(features.map((f) => f.name));
  const errors: FieldError[] = [];
  fields.forEach((field, index) => {
    if (featureNames.has(field.name))
      errors.push({ path: `fields[${index}].name`, message: `"${field.name}" is the name of a feature in ${FEATURES_FILE}` });
  });
  if (errors.length > 0) throw invalidFields(errors);
}

/** The features of `dir`; they may name the fields declared in its `fields.json` (checked by `loadFieldFile`). */
export function loadFeatureFile(dir: string): FeatureDefinition[] {
  const fieldsPath = join(dir, FIELDS_FILE);
  const declared = existsSync(fieldsPath) ? parseFieldDeclarations(readJson(fieldsPath, FIELDS_FILE)) : [];
  return parseFeatureDefinitions(readJson(join(dir, FEATURES_FILE), FEATURES_FILE), declared);
}

/**
 * Loads every `*.json` in `dir` except `features.json` and `fields.json`; each holds one rule
 * or an array of rules. Files are read in name order so the result is
 * deterministic. Any invalid rule fails the whole load, naming file and path.
 */
export function loadRuleFiles(dir: string, facts: ReadonlySet<string>): RuleDefinition[] {
  const errors: FieldError[] = [];
  const rules: RuleDefinition[] = [];
  const ids = new Set<string>();
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.json') && name !== FEATURES_FILE && name !== FIELDS_FILE)
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
