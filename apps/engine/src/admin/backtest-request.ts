import { InvalidInputError, LabelCollector, type BacktestLabels, type FieldError } from '@risk/domain';
import { parseVersion } from './version-param';

/** A stored sample's name: `DATA_DIR/samples/<name>.ndjson` (no path separators, so no way out of the folder). */
const SAMPLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Labels one request may carry (the admin body is at most 1 MiB anyway). */
export const MAX_REQUEST_LABELS = 20_000;

/** The candidate: a stored version, or a draft rule set (its rules, validated as the admin API validates them). */
export type CandidateRequest = { readonly version: number } | { readonly rules: readonly unknown[] };

/** What `POST /backtests` was asked, checked: every problem is a 400 naming its field. */
export interface BacktestRequest {
  readonly baseline: number;
  readonly candidate: CandidateRequest;
  /** A stored sample (JSON body); undefined when the events are the uploaded NDJSON body. */
  readonly sample: string | undefined;
  readonly labels: BacktestLabels | undefined;
}

/**
 * A JSON body: `{"baseline": 3, "candidate": 4 | {"rules": [...]}, "sample": "name", "labels"?: [...]}`.
 * An NDJSON upload: `?baseline=3&candidate=4` (the events are the body).
 */
export function parseBacktestRequest(body: unknown, query: Record<string, unknown>, upload: boolean): BacktestRequest {
  const errors: FieldError[] = [];
  const source: Record<string, unknown> = upload ? query : isObject(body) ? body : {};
  if (!upload && !isObject(body)) errors.push({ path: '$', message: 'must be a JSON object (or send the events as application/x-ndjson)' });
  const allowed = upload ? ['baseline', 'candidate'] : ['baseline', 'candidate', 'sample', 'labels'];
  for (const key of Object.keys(source))
    if (!allowed.includes(key)) errors.push({ path: key, message: `unknown property; expected ${allowed.join(', ')}` });

  const baseline = version(source.baseline, 'baseline', errors);
  let candidate: CandidateRequest | undefined;
  const given = source.candidate;
  if (isObject(given) && !upload) {
    const keys = Object.keys(given).filter((k) => k !== 'rules');
    if (keys.length > 0) errors.push({ path: `candidate.${keys[0]}`, message: 'unknown property; a draft candidate is {"rules": [...]}' });
    if (!Array.isArray(given.rules)) errors.push({ path: 'candidate.rules', message: 'must be an array of rule documents' });
    else candidate = { rules: given.rules };
  } else {
    const number = version(given, 'candidate', errors, upload ? 'a rule set version' : 'a rule set version, or {"rules": [...]}');
    if (number !== undefined) candidate = { version: number };
  }

  let sample: string | undefined;
  if (!upload) {
    if (typeof source.sample !== 'string' || !SAMPLE_NAME.test(source.sample))
      errors.push({ path: 'sample', message: 'must name a stored sample (DATA_DIR/samples/<name>.ndjson): letters, digits, _ . -' });
    else sample = source.sample;
  }

  let labels: BacktestLabels | undefined;
  if (source.labels !== undefined) {
    if (!Array.isArray(source.labels)) errors.push({ path: 'labels', message: 'must be an array of {"event_id", "fraud": true|false}' });
    else if (source.labels.length > MAX_REQUEST_LABELS) errors.push({ path: 'labels', message: `at most ${MAX_REQUEST_LABELS} labels` });
    else {
      const collector = new LabelCollector();
      source.labels.forEach((label, i) => errors.push(...collector.add(label, `labels[${i}]`)));
      labels = collector.labels();
    }
  }

  if (errors.length > 0 || baseline === undefined || candidate === undefined) {
    throw new InvalidInputError('INVALID_REQUEST', errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
  }
  return { baseline, candidate, sample, labels };
}

function version(value: unknown, path: string, errors: FieldError[], expected = 'a rule set version'): number | undefined {
  if (value === undefined) {
    errors.push({ path, message: `required: ${expected}` });
    return undefined;
  }
  try {
    return parseVersion(typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value, path);
  } catch {
    errors.push({ path, message: `must be ${expected} (a positive integer in plain decimal)` });
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
