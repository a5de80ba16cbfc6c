import {
  AlertSuppressor,
  MemoryCooldownStore,
  MemoryFeatureStore,
  RiskPipeline,
  RuleSetHolder,
  SnoozeBook,
  VerdictSink,
  type FeatureDefinition,
  type InboundMessage,
  type RuleDefinition,
  type Snooze,
  type Verdict,
} from '@risk/domain';
import { CountingAlertPublisher, NdjsonRejectSink } from '@risk/infra/files/ndjson-file.sinks';
import { ENGINE_DEFAULTS } from './engine-defaults';
import { fmt, line } from './stats';

class CountingSink extends VerdictSink {
  suppressed = 0;
  write(verdicts: readonly Verdict[]): Promise<void> {
    for (const v of verdicts) if (v.suppressed === true) this.suppressed++;
    return Promise.resolve();
  }
}

const SNOOZES = 1_000;

/** 1,000 active snoozes of every rule: IPs, devices and users, a few of them in the stream. */
function benchSnoozes(lines: readonly string[]): Snooze[] {
  const seen = lines.slice(0, 2_000).map((text) => JSON.parse(text) as Record<string, unknown>);
  const far = new Date(Date.now() + 86_400_000).toISOString();
  return Array.from({ length: SNOOZES }, (_, i) => {
    const key = ['ip_address', 'device_id', 'user_id'][i % 3];
    const fromStream = i % 50 === 0 ? seen[i % seen.length]?.[key] : undefined;
    return {
      id: `sz-${i}`,
      key,
      value: typeof fromStream === 'string' ? fromStream : `not-in-stream-${i}`,
      rule_id: null,
      reason: 'bench',
      created_by: 'bench',
      created_at: new Date().toISOString(),
      expires_at: far,
    };
  });
}

async function throughput(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  rules: readonly RuleDefinition[],
  snoozes: readonly Snooze[],
): Promise<{ rate: number; suppressed: number }> {
  const book = new SnoozeBook();
  book.replace(snoozes);
  const sink = new CountingSink();
  const pipeline = new RiskPipeline(
    new MemoryFeatureStore(features, ENGINE_DEFAULTS.state),
    new RuleSetHolder({ version: 1, rules }),
    { verdicts: sink, alerts: new CountingAlertPublisher(), rejects: new NdjsonRejectSink(undefined) },
    {
      alertThreshold: 'MEDIUM',
      maxEventTimeSkewMs: ENGINE_DEFAULTS.maxEventTimeSkewMs,
      suppressor: new AlertSuppressor(new MemoryCooldownStore(), book),
    },
  );
  const started = performance.now();
  for (let i = 0; i < lines.length; i += 1000) {
    const messages: InboundMessage[] = [];
    for (let j = i; j < Math.min(i + 1000, lines.length); j++) messages.push({ value: lines[j], source: { line: j + 1 } });
    await pipeline.process('bench', messages);
  }
  return { rate: lines.length / ((performance.now() - started) / 1000), suppressed: sink.suppressed };
}

/**
 * Issue 14 item 2 (BENCH_ONLY=suppression): the in-memory pipeline with the
 * bench rules, against the same rules each given a 30-minute cooldown per
 * user, and against those plus 1,000 active snoozes; alternating runs in one
 * process, each pair's ratio reported and the median taken.
 */
export async function benchSuppression(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  rules: RuleDefinition[],
): Promise<void> {
  const cooled = rules.map((rule) => ({ ...rule, cooldown: { key: 'user_id', duration: '30m' } }));
  const snoozes = benchSnoozes(lines);
  const configs = [
    { name: 'no cooldown, no snooze', rules, snoozes: [] as Snooze[] },
    { name: 'every rule with a 30m cooldown per user', rules: cooled, snoozes: [] as Snooze[] },
    { name: `cooldowns + ${fmt(SNOOZES)} active snoozes`, rules: cooled, snoozes },
  ];
  for (const config of configs) await throughput(lines, features, config.rules, config.snoozes); // warm-up
  const rates = configs.map(() => [] as number[]);
  const suppressed = configs.map(() => 0);
  for (let run = 0; run < 5; run++) {
    for (let c = 0; c < configs.length; c++) {
      const result = await throughput(lines, features, configs[c].rules, configs[c].snoozes);
      rates[c].push(result.rate);
      suppressed[c] = result.suppressed;
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  process.stdout.write(`\nalert suppression: cooldowns and snoozes on the in-memory pipeline (issue 14 item 2)\n`);
  configs.forEach((config, c) => {
    const ratios = rates[c].map((rate, run) => rate / rates[0][run]);
    line(
      config.name,
      `${fmt(Math.max(...rates[c]))} events/s (best of 5), ${fmt(suppressed[c])} alerts suppressed` +
        (c === 0 ? '' : `; pairwise median ${fmt(median(ratios), 2)}×`),
    );
  });
}
