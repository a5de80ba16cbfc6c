// Not a test: `node <out>/apps/bench/src/replay-io-floor.js <input.ndjson> <output.ndjson> <features JSON>` is the I/O
// floor of the replay benchmark (replay.bench.ts): what any replay must at least do, and nothing else.
import { createReadStream, createWriteStream } from 'node:fs';

/**
 * Reads an NDJSON file as `risk-engine replay` does (1 MiB chunks), splits it
 * into lines, `JSON.parse`s each one and writes one verdict-shaped JSON object
 * per event (the verdict's fields in its order; `features` is the given
 * object, with the default rules' names) to the output, one write per chunk
 * of input (the replay writes one per batch of 1,000). No validation, no
 * state, no rules, no fsync. Prints the number of verdicts to stderr.
 */
async function main(): Promise<void> {
  const [inputPath, outputPath, featuresJson] = process.argv.slice(2);
  if (inputPath === undefined || outputPath === undefined) {
    process.stderr.write('usage: replay-io-floor <input.ndjson> <output.ndjson> [features JSON]\n');
    process.exitCode = 2;
    return;
  }
  const features = JSON.parse(featuresJson ?? '{}') as Record<string, unknown>;
  const out = createWriteStream(outputPath, { highWaterMark: 1 << 20 });
  let rest = '';
  let verdicts = 0;
  for await (const chunk of createReadStream(inputPath, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const lines = (rest + (chunk as string)).split('\n');
    rest = lines.pop() ?? '';
    const decidedAt = new Date().toISOString();
    let text = '';
    for (const line of lines) {
      if (line.trim().length === 0) continue;
      let event: Record<string, unknown> | null;
      try {
        event = JSON.parse(line) as Record<string, unknown> | null;
      } catch {
        continue;
      }
      if (event === null || typeof event !== 'object') continue;
      text +=
        JSON.stringify({
          event_id: event.event_id,
          user_id: event.user_id,
          event_type: event.event_type,
          event_time: event.event_time,
          risk_level: 'LOW',
          score: 0,
          rules: [],
          shadow_rules: [],
          features,
          late: false,
          rules_version: 1,
          decided_at: decidedAt,
        }) + '\n';
      verdicts++;
    }
    if (text.length > 0 && !out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  if (rest.trim().length > 0) process.stderr.write('replay-io-floor: the input does not end with a newline; its last line is ignored\n');
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
  process.stderr.write(`replay-io-floor: ${verdicts} verdicts\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`replay-io-floor: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
