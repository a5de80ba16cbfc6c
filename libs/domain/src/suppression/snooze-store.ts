import type { Snooze, SnoozeAuditEntry, SnoozeAuditPage } from './snooze';

/**
 * Where snoozes and their audit trail live: Redis (shared by the fleet) or
 * files under DATA_DIR (embedded). Each write appends its audit entry in the
 * same step and notifies the subscribers.
 */
export abstract class SnoozeStore {
  /** Every stored snooze; expired ones may still be among them. */
  abstract list(): Promise<Snooze[]>;
  /**
   * Stores `snooze` and its `create` audit entry, first dropping the snoozes
   * expired at `now` (epoch ms). False, with nothing written, when
   * `maxActive` snoozes are already active.
   */
  abstract create(snooze: Snooze, maxActive: number, now: number): Promise<boolean>;
  /** Deletes a snooze and audits it (`delete`, by `actor` at `at`, with `reason` if given); undefined when there is none with this id. */
  abstract remove(id: string, actor: string, at: string, reason?: string): Promise<Snooze | undefined>;
  /** The audit trail, newest first. */
  abstract audit(limit: number, offset: number): Promise<SnoozeAuditPage>;
  /** Calls `listener` when another writer (or instance) may have changed the snoozes; resolves to the unsubscribe. */
  abstract subscribe(listener: () => void): Promise<() => Promise<void>>;
  async close(): Promise<void> {}
}

/** For tests and one-process tools: nothing survives the process. */
export class MemorySnoozeStore extends SnoozeStore {
  private readonly snoozes = new Map<string, Snooze>();
  private readonly trail: SnoozeAuditEntry[] = [];
  private readonly listeners = new Set<() => void>();

  list(): Promise<Snooze[]> {
    return Promise.resolve([...this.snoozes.values()]);
  }

  create(snooze: Snooze, maxActive: number, now: number): Promise<boolean> {
    for (const [id, held] of this.snoozes) if (Date.parse(held.expires_at) <= now) this.snoozes.delete(id);
    if (this.snoozes.size >= maxActive) return Promise.resolve(false);
    this.snoozes.set(snooze.id, snooze);
    this.trail.unshift({ at: snooze.created_at, actor: snooze.created_by, action: 'create', snooze });
    this.notify();
    return Promise.resolve(true);
  }

  remove(id: string, actor: string, at: string, reason?: string): Promise<Snooze | undefined> {
    const snooze = this.snoozes.get(id);
    if (snooze !== undefined) {
      this.snoozes.delete(id);
      this.trail.unshift({ at, actor, action: 'delete', snooze, ...(reason === undefined ? {} : { reason }) });
      this.notify();
    }
    return Promise.resolve(snooze);
  }

  audit(limit: number, offset: number): Promise<SnoozeAuditPage> {
    return Promise.resolve({ total: this.trail.length, items: this.trail.slice(offset, offset + limit) });
  }

  subscribe(listener: () => void): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    return Promise.resolve(() => {
      this.listeners.delete(listener);
      return Promise.resolve();
    });
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
