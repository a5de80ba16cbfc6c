import type { Writable } from 'node:stream';
import { generateStream } from '@risk/generator';
import { writeChunk } from '@risk/infra/files/ndjson-file.sinks';
import { UsageError, parseArgs } from './args';

export const GENERATE_USAGE = 'usage: risk-engine generate --events <n> --seed <s> [--start <ISO time>] [--format ndjson|kcat]';

/**
 * Prints a seeded, realistic event stream as NDJSON on stdout. `--format kcat`
 * prints `user_id|event` lines for `kcat -P -K '|'`, so that every user's
 * events land on one partition in order, as the engine expects of producers.
 */
export async function runGenerate(argv: readonly string[], io: { stdout: Writable; stderr: Writable }): Promise<number> {
  let events: number;
  let seed: number;
  let startMs: number | undefined;
  let keyed = false;
  try {
    const args = parseArgs(argv, ['events', 'seed', 'start', 'format']);
    const format = args.get('format') ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'kcat') throw new UsageError('--format must be ndjson or kcat');
    keyed = format === 'kcat';
    events = Number(args.get('events') ?? '10000');
    seed = Number(args.get('seed') ?? '1');
    if (!Number.isInteger(events) || events < 1 || events > 50_000_000)
      throw new UsageError('--events must be an integer from 1 to 50000000');
    if (!Number.isInteger(seed)) throw new UsageError('--seed must be an integer');
    if (args.has('start')) {
      startMs = Date.parse(args.get('start')!);
      if (Number.isNaN(startMs)) throw new UsageError('--start must be an ISO-8601 time');
    }
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${GENERATE_USAGE}\n`);
    return 2;
  }
  const generated = generateStream({ events, seed, ...(startMs === undefined ? {} : { startMs }) });
  const lines = keyed ? generated.map(keyedByUser) : generated;
  for (let i = 0; i < lines.length; i += 5000) await writeChunk(io.stdout, lines.slice(i, i + 5000).join('\n') + '\n');
  return 0;
}

/** `user_id|line`; the stream's deliberately malformed lines have no user to key by and keep an empty key. */
function keyedByUser(line: string): string {
  try {
    const userId = (JSON.parse(line) as { user_id?: unknown }).user_id;
    return `${typeof userId === 'string' ? userId.replaceAll('|', '') : ''}|${line}`;
  } catch {
    return `|${line}`;
  }
}
