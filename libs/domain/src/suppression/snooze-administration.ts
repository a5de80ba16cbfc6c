import { randomUUID } from 'node:crypto';
import { ConflictError, InvalidInputError, NotFoundError } from '../shared/errors';
import { MAX_ACTIVE_SNOOZES, parseSnoozeRequest, type Snooze, type SnoozeAuditPage, type SnoozeBook } from './snooze';
import type { SnoozeStore } from './snooze-store';

export interface SnoozeAdministrationOptions {
  /** The string event fields a snooze may name (`FactNames.entityKeys`). */
  readonly entityKeys: ReadonlySet<string>;
  /** Whether the active rule set has this rule (a snooze of a rule that does not exist is a typo). */
  readonly ruleExists: (id: string) => boolean;
  /** Wall clock, epoch ms. */
  readonly now?: () => number;
  readonly maxActive?: number;
}

/**
 * The snooze admin API's logic: validation (400 naming each property),
 * writes with their audit entries, and the instance's own `SnoozeBook`
 * refreshed after each write (read-your-writes; other instances follow
 * through the store's notifications and polling).
 */
export class SnoozeAdministration {
  private readonly now: () => number;
  private readonly maxActive: number;

  constructor(
    private readonly store: SnoozeStore,
    private readonly book: SnoozeBook,
    private readonly options: SnoozeAdministrationOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxActive = options.maxActive ?? MAX_ACTIVE_SNOOZES;
  }

  async create(body: unknown, actor: string): Promise<Snooze> {
    const parsed = parseSnoozeRequest(body, this.options.entityKeys, this.options.ruleExists);
    if (!parsed.ok) {
      const message = parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
      throw new InvalidInputError('INVALID_SNOOZE', message, parsed.errors);
    }
    const { key, value, rule_id, durationMs, reason } = parsed.request;
    const now = this.now();
    const snooze: Snooze = {
      id: randomUUID(),
      key,
      value,
      rule_id,
      reason,
      created_by: actor,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + durationMs).toISOString(),
    };
    if (!(await this.store.create(snooze, this.maxActive, now))) {
      throw new ConflictError('TOO_MANY_SNOOZES', `${this.maxActive} snoozes are already active; delete some first`, {
        max_active: this.maxActive,
      });
    }
    await this.refresh();
    return snooze;
  }

  /** The active snoozes, soonest to expire first. */
  async list(): Promise<Snooze[]> {
    const now = this.now();
    return (await this.store.list())
      .filter((s) => Date.parse(s.expires_at) > now)
      .sort((a, b) => (a.expires_at < b.expires_at ? -1 : a.expires_at > b.expires_at ? 1 : a.id < b.id ? -1 : 1));
  }

  /** Ends a snooze now; `reason` (optional, at most 1024 characters) goes into the audit entry. */
  async remove(id: string, actor: string, reason?: string): Promise<Snooze> {
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1024)) {
      throw new InvalidInputError('INVALID_SNOOZE', 'reason: must be a string of at most 1024 characters', [
        { path: 'reason', message: 'must be a string of at most 1024 characters' },
      ]);
    }
    const removed = await this.store.remove(id, actor, new Date(this.now()).toISOString(), reason);
    if (removed === undefined) throw new NotFoundError('snooze', id);
    await this.refresh();
    return removed;
  }

  audit(limit: number, offset: number): Promise<SnoozeAuditPage> {
    return this.store.audit(limit, offset);
  }

  /** Reloads the book from the store (the watcher calls this on each notification and poll). */
  async refresh(): Promise<void> {
    this.book.replace(await this.list());
  }
}
