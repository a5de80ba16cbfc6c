import type { FieldError } from '../shared/errors';

/** Whether each labelled event was fraud (`{"event_id", "fraud": true|false}`), by event id. */
export interface BacktestLabels {
  readonly fraudByEventId: ReadonlyMap<string, boolean>;
  /** Labels whose event id was labelled before (the last one counts). */
  readonly duplicates: number;
}

export const NO_LABELS: BacktestLabels = { fraudByEventId: new Map(), duplicates: 0 };

/**
 * Collects labels one at a time (an NDJSON file's lines, or a request's
 * array), checking each: an object with a non-empty string `event_id` and a
 * boolean `fraud`. A later label of the same event replaces the earlier one
 * (a chargeback can overturn a first review) and is counted as a duplicate.
 */
export class LabelCollector {
  private readonly byId = new Map<string, boolean>();
  private duplicates = 0;

  /** Adds one label; `path` names it in the errors (`line 3`, `labels[2]`). Returns its problems, empty when added. */
  add(label: unknown, path: string): FieldError[] {
    if (label === null || typeof label !== 'object' || Array.isArray(label))
      return [{ path, message: 'must be an object {"event_id": string, "fraud": true|false}' }];
    const { event_id: eventId, fraud } = label as Record<string, unknown>;
    const errors: FieldError[] = [];
    if (typeof eventId !== 'string' || eventId.length === 0 || eventId.length > 128)
      errors.push({ path: `${path}.event_id`, message: 'must be a string of 1 to 128 characters' });
    if (typeof fraud !== 'boolean') errors.push({ path: `${path}.fraud`, message: 'must be true or false' });
    if (errors.length > 0) return errors;
    if (this.byId.has(eventId as string)) this.duplicates++;
    this.byId.set(eventId as string, fraud as boolean);
    return errors;
  }

  /** One NDJSON line (1-based `lineNumber`); blank lines are skipped. */
  addLine(line: string, lineNumber: number): FieldError[] {
    if (line.trim().length === 0) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return [{ path: `line ${lineNumber}`, message: 'is not valid JSON' }];
    }
    return this.add(parsed, `line ${lineNumber}`);
  }

  get size(): number {
    return this.byId.size;
  }

  labels(): BacktestLabels {
    return { fraudByEventId: this.byId, duplicates: this.duplicates };
  }
}
