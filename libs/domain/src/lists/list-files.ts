import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError, type FieldError } from '../shared/errors';
import { listNameProblem, type ListEntry, type ListKind } from './list';
import { ListMatcher } from './list-matcher';
import { ListRegistry } from './list-registry';
import { missingListErrors } from './list-references';
import type { RuleDefinition } from '../rules/rule';
import { isCsvHeader, parseUploadLine, type UploadFormat } from './list-upload';

/** Lists shipped with the rules: `rules/lists/<name>.<ip|string>.<csv|ndjson>`. */
export const LISTS_DIR = 'lists';
const LIST_FILE = /^(.+)\.(ip|string)\.(csv|ndjson)$/;

/** A list read from the rules directory. */
export interface ListFile {
  readonly name: string;
  readonly kind: ListKind;
  readonly entries: readonly ListEntry[];
}

/**
 * Every list file under `<rulesDir>/lists/` (none when the folder is
 * absent), in name order. Any bad line fails the whole load, naming the file,
 * line and field, as for rule files.
 */
export function loadListFiles(rulesDir: string): ListFile[] {
  const dir = join(rulesDir, LISTS_DIR);
  if (!existsSync(dir)) return [];
  const errors: FieldError[] = [];
  const lists: ListFile[] = [];
  for (const file of readdirSync(dir).sort()) {
    const match = LIST_FILE.exec(file);
    if (match === null) {
      errors.push({ path: `${LISTS_DIR}/${file}`, message: 'expected <name>.<ip|string>.<csv|ndjson>' });
      continue;
    }
    const [, name, kind, format] = match;
    const nameProblem = listNameProblem(name);
    if (nameProblem !== undefined) {
      errors.push({ path: `${LISTS_DIR}/${file}`, message: `list name ${nameProblem}` });
      continue;
    }
    const entries: ListEntry[] = [];
    const lines = readFileSync(join(dir, file), 'utf8').split('\n');
    lines.forEach((text, i) => {
      if (i === 0 && format === 'csv' && isCsvHeader(text)) return;
      const parsed = parseUploadLine(kind as ListKind, format as UploadFormat, { line: i + 1, text });
      if (Array.isArray(parsed)) for (const e of parsed) errors.push({ path: `${LISTS_DIR}/${file}: ${e.path}`, message: e.message });
      else if (parsed !== undefined) entries.push(parsed);
    });
    lists.push({ name, kind: kind as ListKind, entries });
  }
  if (errors.length > 0) {
    throw new InvalidInputError(
      'INVALID_LISTS',
      `invalid lists in ${dir}: ${errors
        .slice(0, 10)
        .map((e) => `${e.path}: ${e.message}`)
        .join('; ')}`,
      errors,
    );
  }
  return lists;
}

/** Installs list files into a registry (replay): each at version 1. */
export function installListFiles(registry: ListRegistry, lists: readonly ListFile[]): void {
  for (const list of lists) registry.install(ListMatcher.of(list.name, list.kind, 1, list.entries));
}

/**
 * The lists of a rules directory as a registry for a replay (or backtest):
 * every `inList` / `notInList` condition of `rules` must name one of them
 * (else an error naming the rule and path), and expiry is judged at `clock`.
 */
export function loadRulesDirLists(rulesDir: string, rules: readonly RuleDefinition[], clock: () => number): ListRegistry {
  const lists = loadListFiles(rulesDir);
  const names = new Set(lists.map((l) => l.name));
  const errors = rules.flatMap((rule) =>
    missingListErrors(rule, names).map((e) => ({ path: `${rule.id}: ${e.path}`, message: e.message })),
  );
  if (errors.length > 0) {
    throw new InvalidInputError(
      'INVALID_RULES',
      `rules name lists missing from ${join(rulesDir, LISTS_DIR)}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      errors,
    );
  }
  const registry = new ListRegistry(clock);
  installListFiles(registry, lists);
  return registry;
}
