import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The CLI compiled alongside the tests (bin/risk-engine.js loads the same file from dist/). */
export const CLI = join(__dirname, '..', '..', 'apps', 'cli', 'src', 'main.js');

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `risk-engine <args>` with `input` on stdin (empty by default) and resolves with its exit status and output. */
export function runCli(args: readonly string[], input?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
    // A replay that refuses its arguments exits without reading stdin.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}
