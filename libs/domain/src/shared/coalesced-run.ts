/**
 * Runs one task at a time for a follower of a store: a trigger (a pub/sub
 * message, a reconnect, a poll, a local write) that arrives while the task
 * runs is coalesced into one more run, however many arrive, so a burst of
 * notifications costs at most two reads of the store. Never rejects: an
 * error ends the run and goes to `onError` (the next trigger tries again).
 */
export class CoalescedRun {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** Starts the task, or asks the running one for one more pass; resolves when no pass is left. */
  trigger(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.again = false;
          await this.task();
        } while (this.again);
      } catch (error) {
        this.onError(error);
      } finally {
        this.running = undefined;
      }
    };
    this.running = run();
    return this.running;
  }

  /** From inside the task: its reads went stale while it ran, so one more pass follows. */
  repeat(): void {
    this.again = true;
  }
}
