import type { RuleSet } from '@risk/domain';

/**
 * Hands the versions this process writes to the watcher, so the instance
 * that took a write decides with it at once instead of waiting for its own
 * pub/sub message (read-your-writes).
 */
export class RuleActivations {
  private listener: ((set: RuleSet) => void) | undefined;

  listen(listener: (set: RuleSet) => void): void {
    this.listener = listener;
  }

  emit(set: RuleSet): void {
    this.listener?.(set);
  }
}
