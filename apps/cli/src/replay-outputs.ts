import type { Writable } from 'node:stream';
import { ReplacingFile, describeFsError } from '@risk/infra/files/replacing-file';
import type { ReplayPaths } from './replay-paths';

/** One destination of a replay: stdout, or a file that appears only when complete. */
interface ReplayOutput {
  readonly stream: Writable;
  /** `--output verdicts.ndjson`, for messages. */
  readonly label: string;
  /** Undefined for stdout. */
  readonly file: ReplacingFile | undefined;
}

export type OpenedOutputs = { readonly ok: true; readonly outputs: ReplayOutputs } | { readonly ok: false; readonly message: string };

/** The verdicts output and the optional rejects output of one run; committed or discarded together. */
export class ReplayOutputs {
  constructor(
    readonly verdicts: ReplayOutput,
    readonly rejects: ReplayOutput | undefined,
  ) {}

  private get all(): ReplayOutput[] {
    return this.rejects === undefined ? [this.verdicts] : [this.verdicts, this.rejects];
  }

  /** Why an output failed, when `error` came from one (disk full, a closed pipe). */
  failure(error: Error): string | undefined {
    for (const output of this.all) {
      const errored = output.stream.errored;
      if (errored !== null) return `cannot write ${output.label}: ${describeFsError(errored)}`;
    }
    // A write to a pipe can fail synchronously, leaving no trace on the stream.
    const toStdout = this.all.find((output) => output.file === undefined);
    if (toStdout !== undefined && (error as NodeJS.ErrnoException).syscall === 'write') {
      return `cannot write ${toStdout.label}: ${describeFsError(error)}`;
    }
    return undefined;
  }

  /** Removes the temporary files; synchronous, for signal handlers. */
  discard(): void {
    for (const output of this.all) output.file?.discard();
  }

  /** For the message of a failed run: the files it did not touch, because it only ever wrote temporary files. */
  leftAsItWas(): string {
    const files = this.all.filter((o) => o.file?.temporary !== undefined).map((o) => o.label);
    return files.length === 0 ? '' : `; no file written (${files.join(', ')} left as it was)`;
  }

  /**
   * Puts every file in place: all are flushed to disk first, then renamed,
   * so a write error on one leaves both previous files as they were.
   */
  async commit(): Promise<{ readonly ok: true } | { readonly ok: false; readonly message: string }> {
    for (const output of this.all) {
      const finished = output.file === undefined ? await flushStdout(output) : await output.file.finish(output.label);
      if (!finished.ok) {
        this.discard();
        return finished;
      }
    }
    for (const output of this.all) {
      if (output.file === undefined) continue;
      const published = await output.file.publish(output.label);
      if (!published.ok) {
        this.discard();
        return published;
      }
    }
    return { ok: true };
  }
}

export async function openReplayOutputs(
  paths: ReplayPaths,
  given: { readonly output: string; readonly rejects: string | undefined },
  stdout: Writable,
): Promise<OpenedOutputs> {
  // A closed pipe (`| head`) is reported through `failure`, not as an unhandled 'error' event.
  stdout.on('error', () => undefined);
  const verdicts = await openOne(paths.output, `--output ${given.output}`, stdout);
  if (!verdicts.ok) return verdicts;
  if (given.rejects === undefined) return { ok: true, outputs: new ReplayOutputs(verdicts.output, undefined) };
  const rejects = await openOne(paths.rejects, `--rejects ${given.rejects}`, stdout);
  if (!rejects.ok) {
    verdicts.output.file?.discard();
    return rejects;
  }
  return { ok: true, outputs: new ReplayOutputs(verdicts.output, rejects.output) };
}

async function openOne(
  target: string | undefined,
  label: string,
  stdout: Writable,
): Promise<{ readonly ok: true; readonly output: ReplayOutput } | { readonly ok: false; readonly message: string }> {
  if (target === undefined) return { ok: true, output: { stream: stdout, label: 'stdout', file: undefined } };
  const opened = await ReplacingFile.open(target, label);
  if (!opened.ok) return opened;
  return { ok: true, output: { stream: opened.file.stream, label, file: opened.file } };
}

function flushStdout(output: ReplayOutput): Promise<{ readonly ok: true } | { readonly ok: false; readonly message: string }> {
  const failed = (error: Error): { ok: false; message: string } => ({
    ok: false,
    message: `cannot write stdout: ${describeFsError(error)}`,
  });
  if (output.stream.errored !== null) return Promise.resolve(failed(output.stream.errored));
  // stdout is never ended (the process owns it); an empty write resolves once earlier data is handed over.
  return new Promise((resolve) => {
    output.stream.write('', (error) => resolve(error ? failed(error) : { ok: true }));
  });
}
