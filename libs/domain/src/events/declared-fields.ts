import { InvalidInputError, type FieldError } from '../shared/errors';
import { EVENT_FIELDS, type DeclaredValue, type RiskEvent } from './risk-event';
import { backtrackingRisk } from './pattern-safety';
import { describe, textProblem } from './text';

/**
 * Extra top-level event fields declared in `rules/fields.json` (docs/fields.md).
 * Intake validates them like SPEC §1's own fields; rules read them as facts;
 * features may key on them through `eventField`.
 */
export type DeclaredFieldType = 'string' | 'number' | 'boolean';

export interface DeclaredField {
  readonly name: string;
  readonly type: DeclaredFieldType;
  /** string: characters (Unicode code points), as SPEC §1 counts them. */
  readonly minLength: number;
  readonly maxLength: number;
  /**
   * string: tested as written (anchored at the start; end it with $ to match
   * the whole value), proven free of catastrophic backtracking (pattern-safety.ts).
   */
  readonly pattern: RegExp | undefined;
  /** string or number: the only values allowed. */
  readonly enum: readonly (string | number)[] | undefined;
  /** number: inclusive bounds. */
  readonly min: number | undefined;
  readonly max: number | undefined;
  readonly integer: boolean;
}

export const FIELD_TYPES: readonly DeclaredFieldType[] = ['string', 'number', 'boolean'];
/** Default and largest `max_length` of a declared string (SPEC §1's ids allow 128). */
export const DEFAULT_FIELD_MAX_LENGTH = 128;
export const LARGEST_FIELD_MAX_LENGTH = 4096;
export const MAX_DECLARED_FIELDS = 64;

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** SPEC §1's fields, `event_time` included: a declaration cannot redefine them. */
const SPEC_FIELDS: ReadonlySet<string> = new Set([...EVENT_FIELDS, 'event_time']);
const COMMON_KEYS = ['name', 'type', 'description'];
const KEYS_OF: Record<DeclaredFieldType, readonly string[]> = {
  string: [...COMMON_KEYS, 'min_length', 'max_length', 'pattern', 'enum'],
  number: [...COMMON_KEYS, 'min', 'max', 'integer', 'enum'],
  boolean: COMMON_KEYS,
};
const ALL_KEYS: ReadonlySet<string> = new Set(Object.values(KEYS_OF).flat());

/**
 * Validates the JSON of `rules/fields.json` (`{ "fields": [...] }` or a bare
 * array). Every problem is reported with its path, e.g.
 * `fields[2].type: must be one of string, number, boolean`.
 */
export function parseFieldDeclarations(json: unknown): DeclaredField[] {
  const list = Array.isArray(json) ? json : (json as { fields?: unknown } | null)?.fields;
  if (!Array.isArray(list)) {
    throw invalidFields([{ path: 'fields', message: 'must be an array' }]);
  }
  const errors: FieldError[] = [];
  if (list.length > MAX_DECLARED_FIELDS)
    errors.push({ path: 'fields', message: `declares ${list.length} fields, more than the ${MAX_DECLARED_FIELDS} allowed` });
  const seen = new Set<string>();
  const declared: DeclaredField[] = [];
  list.forEach((item: unknown, index) => {
    const at = `fields[${index}]`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      errors.push({ path: at, message: 'must be an object' });
      return;
    }
    const raw = item as Record<string, unknown>;
    const before = errors.length;
    const fail = (key: string, message: string): void => {
      errors.push({ path: `${at}.${key}`, message });
    };

    const name = raw.name;
    if (typeof name !== 'string' || !NAME.test(name)) fail('name', 'must be an identifier matching ^[A-Za-z][A-Za-z0-9_]{0,63}$');
    else if (SPEC_FIELDS.has(name)) fail('name', `"${name}" is a SPEC §1 field and cannot be redeclared`);
    else if (name in Object.prototype) fail('name', `"${name}" is reserved`);
    else if (seen.has(name)) fail('name', `duplicate field "${name}"`);
    if (typeof name === 'string') seen.add(name);

    const type = raw.type as DeclaredFieldType;
    if (!FIELD_TYPES.includes(type)) fail('type', `must be one of ${FIELD_TYPES.join(', ')}`);
    if (raw.description !== undefined && typeof raw.description !== 'string') fail('description', 'must be a string');
    for (const key of Object.keys(raw)) {
      if (!ALL_KEYS.has(key)) fail(key, 'unknown property');
      else if (FIELD_TYPES.includes(type) && !KEYS_OF[type].includes(key)) fail(key, `does not apply to type "${type}"`);
    }

    let minLength = 1;
    let maxLength = DEFAULT_FIELD_MAX_LENGTH;
    let pattern: RegExp | undefined;
    let min: number | undefined;
    let max: number | undefined;
    let integer = false;
    if (type === 'string') {
      if (raw.max_length !== undefined) {
        if (!isWhole(raw.max_length, 1, LARGEST_FIELD_MAX_LENGTH))
          fail('max_length', `must be an integer from 1 to ${LARGEST_FIELD_MAX_LENGTH}`);
        else maxLength = raw.max_length;
      }
      if (raw.min_length !== undefined) {
        if (!isWhole(raw.min_length, 1, LARGEST_FIELD_MAX_LENGTH))
          fail('min_length', `must be an integer from 1 to ${LARGEST_FIELD_MAX_LENGTH}`);
        else if (raw.min_length > maxLength) fail('min_length', `must not exceed max_length (${maxLength})`);
        else minLength = raw.min_length;
      }
      if (raw.pattern !== undefined) {
        if (typeof raw.pattern !== 'string' || raw.pattern.length === 0) fail('pattern', 'must be a non-empty regular expression');
        else {
          try {
            pattern = new RegExp(raw.pattern, 'u');
          } catch (error) {
            fail('pattern', `is not a valid regular expression: ${(error as Error).message}`);
          }
          const risk = pattern === undefined ? undefined : backtrackingRisk(raw.pattern);
          if (risk !== undefined) fail('pattern', `could backtrack without bound on a hostile value: ${risk}`);
        }
      }
    } else if (type === 'number') {
      if (raw.integer !== undefined) {
        if (typeof raw.integer !== 'boolean') fail('integer', 'must be true or false');
        else integer = raw.integer;
      }
      if (raw.min !== undefined) {
        if (!isFiniteNumber(raw.min)) fail('min', 'must be a finite number');
        else min = raw.min;
      }
      if (raw.max !== undefined) {
        if (!isFiniteNumber(raw.max)) fail('max', 'must be a finite number');
        else if (min !== undefined && raw.max < min) fail('max', `must be ≥ min (${min})`);
        else max = raw.max;
      }
    }

    let allowed: (string | number)[] | undefined;
    if (raw.enum !== undefined && (type === 'string' || type === 'number')) {
      const values = raw.enum;
      if (!Array.isArray(values) || values.length === 0) fail('enum', `must be a non-empty array of ${type}s`);
      else {
        const unique = new Set<unknown>();
        values.forEach((value: unknown, i) => {
          const problem = fieldProblem({ name: '', type, minLength, maxLength, pattern, enum: undefined, min, max, integer }, value);
          if (value === '' || value === null) fail(`enum[${i}]`, 'must not be empty');
          else if (problem !== undefined) fail(`enum[${i}]`, problem);
          else if (unique.has(value)) fail(`enum[${i}]`, `duplicate value ${JSON.stringify(value)}`);
          unique.add(value);
        });
        allowed = values as (string | number)[];
      }
    }

    if (errors.length > before) return;
    declared.push({ name: name as string, type, minLength, maxLength, pattern, enum: allowed, min, max, integer });
  });
  if (errors.length > 0) throw invalidFields(errors);
  return declared;
}

/** The load error: its message lists every path too, for a start-up log or a CLI's stderr. */
export function invalidFields(errors: readonly FieldError[]): InvalidInputError {
  return new InvalidInputError(
    'INVALID_FIELDS',
    `invalid field declarations: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    errors,
  );
}

/**
 * Decodes the declared fields of one raw event. A wrong type or a value out
 * of its limits is reported through `fail` with the field's name as its path;
 * null, an empty string or a missing key is absent. Every event decoded with
 * the same declarations gets a `fields` record (the shared empty one when it
 * carries none), so their objects keep one shape.
 */
export function decodeDeclaredFields(
  raw: Record<string, unknown>,
  fields: readonly DeclaredField[],
  fail: (path: string, message: string) => void,
): Readonly<Record<string, DeclaredValue>> {
  let values: Record<string, DeclaredValue> | undefined;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const value = raw[field.name];
    if (value === undefined || value === null || value === '') continue;
    const problem = fieldProblem(field, value);
    if (problem !== undefined) fail(field.name, problem);
    else (values ??= {})[field.name] = value as DeclaredValue;
  }
  return values ?? NO_DECLARED_VALUES;
}

/** The `fields` of an event that carries none of the declared fields. */
export const NO_DECLARED_VALUES: Readonly<Record<string, DeclaredValue>> = Object.freeze({});

/** Why `value` (present, not empty) does not fit `field`, or `undefined` when it does. */
function fieldProblem(field: DeclaredField, value: unknown): string | undefined {
  switch (field.type) {
    case 'string': {
      if (typeof value !== 'string') return `must be a string, got ${describe(value)}`;
      const problem = textProblem(value, field.maxLength, field.minLength);
      if (problem !== undefined) return problem;
      if (field.enum !== undefined && !field.enum.includes(value)) return `must be one of ${field.enum.join(', ')}`;
      if (field.pattern !== undefined && !field.pattern.test(value)) return `must match ${field.pattern.source}`;
      return undefined;
    }
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a finite number, got ${describe(value)}`;
      if (field.integer && !Number.isInteger(value)) return 'must be an integer';
      if (field.min !== undefined && value < field.min) return `must be ≥ ${field.min}`;
      if (field.max !== undefined && value > field.max) return `must be ≤ ${field.max}`;
      if (field.enum !== undefined && !field.enum.includes(value)) return `must be one of ${field.enum.join(', ')}`;
      return undefined;
    default:
      return typeof value === 'boolean' ? undefined : `must be true or false, got ${describe(value)}`;
  }
}

function isWhole(value: unknown, low: number, high: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= low && value <= high;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Reads one field of a decoded event: a SPEC §1 field, or a declared one (`undefined` when absent). */
export type EventFieldReader = (event: RiskEvent) => DeclaredValue | undefined;

/**
 * The reader of field `name`, resolved once (for a feature keyed on a field,
 * resolve it when the definitions are loaded, not per event). Names that are
 * neither SPEC §1 fields nor declared read `undefined` unless the event's
 * `fields` holds them; check names against the declarations first.
 */
export function eventFieldReader(name: string): EventFieldReader {
  switch (name) {
    case 'event_id':
      return (event) => event.event_id;
    case 'user_id':
      return (event) => event.user_id;
    case 'event_type':
      return (event) => event.event_type;
    case 'event_time':
      return (event) => event.event_time;
    case 'ip_address':
      return (event) => event.ip_address;
    case 'device_id':
      return (event) => event.device_id;
    case 'location_city':
      return (event) => event.location_city;
    case 'amount':
      return (event) => event.amount;
    default:
      return (event) => {
        const fields = event.fields;
        return fields !== undefined && Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : undefined;
      };
  }
}

/** One field of a decoded event by name (SPEC §1 or declared); see `eventFieldReader` for the hot path. */
export function eventField(event: RiskEvent, name: string): DeclaredValue | undefined {
  return eventFieldReader(name)(event);
}
