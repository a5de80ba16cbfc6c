import type { RuleSet } from '@risk/domain/rules/rule';
import type { RuleSetHolder } from '@risk/domain/rules/rule-set-holder';
import { CoalescedRun } from '@risk/domain/shared/coalesced-run';
import type { RuleSetStore } from './rule-set-store';

export interface RuleSetSyncHooks {
  /** A new version is now deciding in this process. */
  readonly onChange?: (version: number, previous: number) => void;
  /** The store could not be read; the next trigger (message or poll) tries again. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Keeps a `RuleSetHolder` on the store's active version. Every trigger (a
 * pub/sub message, a reconnect, a periodic poll) re-reads the active pointer,
 * the single source of truth, instead of trusting the message: a late
 * message can then never roll an instance back. Triggers that arrive while a
 * sync runs are coalesced into one more run.
 */
export class RuleSetSync {
  private readonly run: CoalescedRun;
  /** Bumped by `adopt`, so a sync that read the store before a local write does not undo it. */
  private generation = 0;

  constructor(
    private readonly store: RuleSetStore,
    private readonly holder: RuleSetHolder,
    private readonly hooks: RuleSetSyncHooks = {},
  ) {
    this.run = new CoalescedRun(
      () => this.syncOnce(),
      (error) => this.hooks.onError?.(error),
    );
  }

  /** Decides with `set` at once: this process just activated it in the store. */
  adopt(set: RuleSet): void {
    this.generation++;
    this.apply(set);
  }

  /** Brings the holder to the store's active version; never rejects (errors go to `onError`). */
  sync(): Promise<void> {
    return this.run.trigger();
  }

  private async syncOnce(): Promise<void> {
    const generation = this.generation;
    const active = await this.store.activeVersion();
    if (active === undefined || active === this.holder.current.version) return;
    const set = await this.store.getVersion(active);
    if (set === undefined) throw new Error(`the active rule set version ${active} is missing from the store`);
    if (generation !== this.generation) {
      this.run.repeat();
      return;
    }
    this.apply(set);
  }

  private apply(set: RuleSet): void {
    const previous = this.holder.current.version;
    // Compiles here, in the background task, never per event; the pipeline picks it up at its next batch.
    if (this.holder.activate(set)) this.hooks.onChange?.(set.version, previous);
  }
}
