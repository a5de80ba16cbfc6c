import {
  CooldownStore,
  MAX_STARTS_PER_COOLDOWN,
  judgeClaim,
  type CooldownAnswer,
  type CooldownClaim,
  type CooldownRecord,
} from './cooldown-store';

export interface MemoryCooldownOptions {
  /**
   * How long (event time) a cooldown start is kept after its cooldown ends,
   * for late events (ALLOWED_LATENESS). Default 10 minutes.
   */
  readonly latenessMs?: number;
  /** Most rule+entity cooldowns held at once; past it the least recently started are forgotten first. Default 100,000. */
  readonly maxEntries?: number;
}

interface Held {
  /** Sorted by startedAt. */
  readonly starts: CooldownRecord[];
  /** Event time after which no start here can matter to an event that is not late. */
  keepUntil: number;
}

const SWEEP_EVERY = 1024;
/** Event time a start is kept behind the newest one of its rule and entity, beyond the cooldown and the lateness. */
const START_SLACK_MS = 3_600_000;

/**
 * Cooldowns in process memory: the embedded engine, replay and backtest
 * (deterministic: it depends on the events' times and order only). Bounded:
 * a rule+entity is dropped once the newest event time seen is past its last
 * cooldown's end plus the allowed lateness, and at most `maxEntries` are kept
 * (a forgotten cooldown lets one more alert through, never hides one).
 */
export class MemoryCooldownStore extends CooldownStore {
  private readonly held = new Map<string, Held>();
  private readonly latenessMs: number;
  private readonly maxEntries: number;
  private newestEventTime = Number.NEGATIVE_INFINITY;
  private sinceSweep = 0;

  constructor(options: MemoryCooldownOptions = {}) {
    super();
    this.latenessMs = options.latenessMs ?? 600_000;
    this.maxEntries = options.maxEntries ?? 100_000;
  }

  get size(): number {
    return this.held.size;
  }

  claim(claims: readonly CooldownClaim[]): Promise<CooldownAnswer[]> {
    const answers = claims.map((claim) => {
      if (claim.eventTime > this.newestEventTime) this.newestEventTime = claim.eventTime;
      const key = cooldownKey(claim);
      const held = this.held.get(key);
      const { answer, start } = judgeClaim(held?.starts ?? NO_STARTS, claim);
      if (start) this.start(key, held, claim);
      return answer;
    });
    this.sinceSweep += claims.length;
    if (this.sinceSweep >= SWEEP_EVERY || this.held.size > this.maxEntries) this.sweep();
    return Promise.resolve(answers);
  }

  private start(key: string, held: Held | undefined, claim: CooldownClaim): void {
    const record = { startedAt: claim.eventTime, startedBy: claim.eventId };
    const keepUntil = claim.eventTime + claim.durationMs + this.latenessMs;
    // Re-inserted at the end: Map order is then the order cooldowns last started in.
    this.held.delete(key);
    if (held === undefined) {
      this.held.set(key, { starts: [record], keepUntil });
      return;
    }
    let at = held.starts.length;
    while (at > 0 && held.starts[at - 1].startedAt > record.startedAt) at--;
    held.starts.splice(at, 0, record);
    // Starts far behind the newest can only matter to very late events: dropped, as Redis lets a key expire.
    const horizon = held.starts[held.starts.length - 1].startedAt - claim.durationMs - this.latenessMs - START_SLACK_MS;
    while (held.starts.length > 1 && held.starts[0].startedAt < horizon) held.starts.shift();
    if (held.starts.length > MAX_STARTS_PER_COOLDOWN) held.starts.shift();
    held.keepUntil = Math.max(held.keepUntil, keepUntil);
    this.held.set(key, held);
  }

  private sweep(): void {
    this.sinceSweep = 0;
    for (const [key, held] of this.held) if (held.keepUntil < this.newestEventTime) this.held.delete(key);
    for (const key of this.held.keys()) {
      if (this.held.size <= this.maxEntries) break;
      this.held.delete(key);
    }
  }
}

const NO_STARTS: readonly CooldownRecord[] = [];

/** Unambiguous: a rule id may hold ':', a field name may not (rule ids and field names are validated). */
export function cooldownKey(claim: Pick<CooldownClaim, 'ruleId' | 'field' | 'value'>): string {
  return `${claim.ruleId.length}:${claim.ruleId}:${claim.field}:${claim.value}`;
}
