import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, line, percentile } from './stats';

/** The CLI as users run it, compiled next to this file. */
const CLI = join(__dirname, '..', '..', 'cli', 'src', 'main.js');

/**
 * `BENCH_ONLY=backtest`: `risk-engine backtest` of two versions (the shipped
 * rules against a copy whose login-burst threshold is 3 instead of 5) against
 * `risk-engine replay` of the shipped rules, over the same file, in the same
 * run, taking turns (issue 14 item 4: at most 1.3× the replay's time). Both
 * are child processes timed whole, from spawn to exit.
 */
export async function benchBacktest(lines: readonly string[], runs: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'risk-bench-backtest-'));
  try {
    const input = join(dir, 'events.ndjson');
    writeFileSync(input, lines.join('\n') + '\n');
    const shipped = join(process.cwd(), 'rules');
    const candidate = join(dir, 'candidate');
    cpSync(shipped, candidate, { recursive: true });
    const burst = join(candidate, 'login-burst.json');
    writeFileSync(burst, readFileSync(burst, 'utf8').replace('"value": 5', '"value": 3'));
    const replay = {
      label: 'replay (one version, verdicts written)',
      args: [CLI, 'replay', '--input', input, '--output', join(dir, 'verdicts.ndjson'), '--rules', shipped],
      seconds: [] as number[],
    };
    const backtest = {
      label: 'backtest (two versions, report written)',
      args: [CLI, 'backtest', '--input', input, '--baseline', shipped, '--candidate', candidate, '--report', join(dir, 'report.json')],
      seconds: [] as number[],
    };
    process.stdout.write(
      `\nbacktest: ${fmt(lines.length)} lines, ${runs === 1 ? '1 run' : `${runs} runs`} of each command taking turns, wall clock of the whole command\n`,
    );
    for (let run = 0; run < runs; run++) for (const c of [replay, backtest]) c.seconds.push(await time(c.args));
    for (const c of [replay, backtest]) {
      const sorted = [...c.seconds].sort((a, b) => a - b);
      line(
        c.label,
        `best ${fmt(sorted[0], 2)} s   median ${fmt(percentile(sorted, 50), 2)} s   (${c.seconds.map((s) => fmt(s, 2)).join(' / ')} s)`,
      );
    }
    const best = (c: { seconds: number[] }): number => Math.min(...c.seconds);
    const median = (c: { seconds: number[] }): number =>
      percentile(
        [...c.seconds].sort((a, b) => a - b),
        50,
      );
    line(
      'backtest / replay time',
      `best ${fmt(best(backtest) / best(replay), 2)}×   median ${fmt(median(backtest) / median(replay), 2)}×   (target ≤ 1.3×)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function time(args: readonly string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`${args[1]} exited with ${code}: ${stderr.trim()}`);
  return (performance.now() - started) / 1000;
}
