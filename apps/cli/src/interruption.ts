/**
 * SIGINT / SIGTERM during a command that writes files. The first signal runs
 * `onSignal` synchronously (remove temporary files: the process may not get
 * another chance) and resolves `signalled`, so the command can stop, release
 * what it holds and exit with 128 + the signal number. A second signal exits
 * at once: the user asked twice.
 */
export class Interruption {
  readonly signalled: Promise<NodeJS.Signals>;
  private received: NodeJS.Signals | undefined;
  private readonly listener: (signal: NodeJS.Signals) => void;

  constructor(onSignal: (signal: NodeJS.Signals) => void) {
    let resolveSignal!: (signal: NodeJS.Signals) => void;
    this.signalled = new Promise((resolve) => (resolveSignal = resolve));
    this.listener = (signal) => {
      if (this.received !== undefined) process.exit(exitCodeOf(signal));
      this.received = signal;
      onSignal(signal);
      resolveSignal(signal);
    };
    process.on('SIGINT', this.listener);
    process.on('SIGTERM', this.listener);
  }

  get signal(): NodeJS.Signals | undefined {
    return this.received;
  }

  dispose(): void {
    process.off('SIGINT', this.listener);
    process.off('SIGTERM', this.listener);
  }
}

/** The shell's convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM). */
export function exitCodeOf(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}
