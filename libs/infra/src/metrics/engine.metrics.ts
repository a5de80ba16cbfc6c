import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { OutcomeCounts, Verdict } from '@risk/domain';

/**
 * Rule-hit series are kept for this many rule set versions (the most recently
 * seen ones): the running version and the one before it, which other
 * partitions may still decide with for a moment after a hot reload.
 */
const RULE_HIT_VERSIONS = 2;

/**
 * Prometheus metrics of one engine instance. The only file importing
 * prom-client; everything else calls these typed methods.
 */
export class EngineMetrics {
  readonly registry = new Registry();
  private readonly events: Counter<'outcome' | 'source'>;
  private readonly consumed: Counter<'source'>;
  private readonly decisionSeconds: Histogram<'source'>;
  private readonly verdictLatency: Histogram<'source'>;
  private readonly rulesVersion: Gauge;
  /** Lists (docs/lists.md): at most 1,000, so the `list` label stays bounded. */
  private readonly listVersion: Gauge<'list'>;
  private readonly listEntries: Gauge<'list'>;
  private readonly consumerLag: Gauge<'topic' | 'partition'>;
  private readonly alerts: Counter<'risk_level'>;
  private readonly stateEvictions: Counter<'kind'>;
  private readonly memoryRefused: Counter;
  private readonly rejects: Counter<'source' | 'reason'>;
  private readonly suppressedAlerts: Counter<'kind'>;
  private readonly ruleHits: Counter<'rule_id' | 'mode' | 'rules_version'>;
  /** Per rules_version seen, oldest first: the rule_id/mode pairs it has series for. */
  private readonly ruleHitSeries = new Map<number, Map<string, { rule_id: string; mode: string }>>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'risk_engine_' });
    this.events = new Counter({
      name: 'risk_engine_events_total',
      help: 'Events by outcome (accepted, late, duplicate, rejected) and source (http, kafka, replay)',
      labelNames: ['outcome', 'source'],
      registers: [this.registry],
    });
    this.consumed = new Counter({
      name: 'risk_engine_messages_consumed_total',
      help: 'Messages taken in (Kafka records, HTTP events, replay lines), whatever their outcome',
      labelNames: ['source'],
      registers: [this.registry],
    });
    this.decisionSeconds = new Histogram({
      name: 'risk_engine_batch_decision_seconds',
      help: 'Time to decide and deliver one batch',
      labelNames: ['source'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.verdictLatency = new Histogram({
      name: 'risk_engine_processing_latency_seconds',
      help: 'From arrival of an event (Kafka append time or HTTP receipt) to its verdict being written',
      labelNames: ['source'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.rulesVersion = new Gauge({
      name: 'risk_engine_rules_version',
      help: 'Rule set version this instance decides with',
      registers: [this.registry],
    });
    this.listVersion = new Gauge({
      name: 'risk_engine_list_version',
      help: 'Version of each list this instance decides with',
      labelNames: ['list'],
      registers: [this.registry],
    });
    this.listEntries = new Gauge({
      name: 'risk_engine_list_entries',
      help: 'Entries of each list this instance decides with (expired ones included until removed)',
      labelNames: ['list'],
      registers: [this.registry],
    });
    this.consumerLag = new Gauge({
      name: 'risk_engine_consumer_lag',
      help: 'Messages between the last processed offset and the partition high watermark',
      labelNames: ['topic', 'partition'],
      registers: [this.registry],
    });
    this.rejects = new Counter({
      name: 'risk_engine_rejects_total',
      help: 'Rejected events by source and reason (invalid: breaks SPEC §1; event_time_ahead: dated more than MAX_EVENT_TIME_SKEW ahead)',
      labelNames: ['source', 'reason'],
      registers: [this.registry],
    });
    const stateBytes = (): number => this.readStateBytes();
    this.stateEvictions = new Counter({
      name: 'risk_engine_state_evictions_total',
      help: 'In-memory state forgotten to stay under MEMORY_BUDGET: idle entities (windows expired), active entities, dedup event_ids',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'risk_engine_state_estimated_bytes',
      help: 'Estimated heap bytes of the in-memory feature state (compared with MEMORY_BUDGET)',
      registers: [this.registry],
      collect() {
        this.set(stateBytes());
      },
    });
    const stateConflicts = (): number => this.readStateConflicts();
    new Counter({
      name: 'risk_engine_state_write_conflicts_total',
      help: 'Redis state writes refused because another writer changed an entity first (the batch re-read and recomputed it)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(stateConflicts());
      },
    });
    this.memoryRefused = new Counter({
      name: 'risk_engine_memory_pressure_refused_events_total',
      help: 'Events refused (HTTP 503, Kafka pause) because the live heap was near the V8 heap limit',
      registers: [this.registry],
    });
    this.ruleHits = new Counter({
      name: 'risk_engine_rule_hits_total',
      help: 'Verdicts where a rule fired, by rule id, mode (active, shadow) and rules version (the two latest versions seen)',
      labelNames: ['rule_id', 'mode', 'rules_version'],
      registers: [this.registry],
    });
    this.alerts = new Counter({
      name: 'risk_engine_alerts_total',
      help: 'Alerts raised by risk level',
      labelNames: ['risk_level'],
      registers: [this.registry],
    });
    this.suppressedAlerts = new Counter({
      name: 'risk_engine_alerts_suppressed_total',
      help: 'Alerts not published because a rule cooldown or a snooze held them back (docs/suppression.md); their verdicts are stored',
      labelNames: ['kind'],
      registers: [this.registry],
    });
  }

  recordBatch(source: string, counts: OutcomeCounts, seconds: number): void {
    this.consumed.inc({ source }, counts.accepted + counts.late + counts.duplicate + counts.rejected);
    if (counts.accepted > 0) this.events.inc({ outcome: 'accepted', source }, counts.accepted);
    if (counts.late > 0) this.events.inc({ outcome: 'late', source }, counts.late);
    if (counts.duplicate > 0) this.events.inc({ outcome: 'duplicate', source }, counts.duplicate);
    if (counts.rejected > 0) {
      this.events.inc({ outcome: 'rejected', source }, counts.rejected);
      for (const [reason, count] of Object.entries(counts.rejectedByReason ?? { invalid: counts.rejected })) {
        if (count > 0) this.rejects.inc({ source, reason }, count);
      }
    }
    for (const [kind, count] of Object.entries(counts.suppressedByKind ?? {})) if (count > 0) this.suppressedAlerts.inc({ kind }, count);
    this.decisionSeconds.observe({ source }, seconds);
  }

  /** Input refused before it reached the pipeline (an HTTP body with bad lines is refused whole). */
  recordRejects(source: string, count: number, byReason: OutcomeCounts['rejectedByReason'] = { invalid: count }): void {
    this.consumed.inc({ source }, count);
    this.events.inc({ outcome: 'rejected', source }, count);
    for (const [reason, n] of Object.entries(byReason ?? {})) if (n > 0) this.rejects.inc({ source, reason }, n);
  }

  /** Entities (idle, active) or remembered event_ids (dedup) forgotten to keep the state under MEMORY_BUDGET. */
  recordStateEvictions(kind: string, count: number): void {
    this.stateEvictions.inc({ kind }, count);
  }

  /** Reads the in-memory state's estimated size at each scrape. */
  watchStateBytes(read: () => number): void {
    this.readStateBytes = read;
  }
  private readStateBytes: () => number = () => 0;

  /** The Redis state's count of refused writes (compare-and-set conflicts), read at each scrape. */
  watchStateConflicts(read: () => number): void {
    this.readStateConflicts = read;
  }
  private readStateConflicts: () => number = () => 0;

  /** Events refused with a retriable error because the heap was near its limit. */
  recordMemoryRefusal(events: number): void {
    this.memoryRefused.inc(events);
  }

  recordLatency(source: string, seconds: number): void {
    this.verdictLatency.observe({ source }, seconds);
  }

  recordAlerts(riskLevel: string, count: number): void {
    this.alerts.inc({ risk_level: riskLevel }, count);
  }

  /**
   * Counts each fired rule of each verdict. Labels stay bounded: rule ids are
   * bounded by the rule set (at most 1000 rules), and only the series of the
   * two most recently seen versions are kept; an older version's series are
   * removed when a third appears (its hits stay in the verdict store and
   * `GET /rules/stats`).
   */
  recordRuleHits(verdicts: readonly Verdict[]): void {
    // Tallied per batch first: one counter update (labels hashed once) per rule, mode and version, not per hit.
    const tallies = new Map<string, { ruleId: string; mode: string; version: number; hits: number }>();
    const tally = (ruleId: string, mode: string, version: number): void => {
      const key = `${version}:${mode}:${ruleId}`;
      const found = tallies.get(key);
      if (found !== undefined) found.hits++;
      else tallies.set(key, { ruleId, mode, version, hits: 1 });
    };
    for (const verdict of verdicts) {
      for (const rule of verdict.rules) tally(rule.id, 'active', verdict.rules_version);
      for (const rule of verdict.shadow_rules) tally(rule.id, 'shadow', verdict.rules_version);
    }
    for (const { ruleId, mode, version, hits } of tallies.values())
      this.countHit(this.seriesOf(version), ruleId, mode, String(version), hits);
  }

  private seriesOf(version: number): Map<string, { rule_id: string; mode: string }> {
    let series = this.ruleHitSeries.get(version);
    if (series !== undefined) return series;
    this.ruleHitSeries.set(version, (series = new Map<string, { rule_id: string; mode: string }>()));
    while (this.ruleHitSeries.size > RULE_HIT_VERSIONS) {
      const [oldest, labels] = this.ruleHitSeries.entries().next().value!;
      for (const { rule_id, mode } of labels.values()) this.ruleHits.remove({ rule_id, mode, rules_version: String(oldest) });
      this.ruleHitSeries.delete(oldest);
    }
    return series;
  }

  private countHit(
    series: Map<string, { rule_id: string; mode: string }>,
    ruleId: string,
    mode: string,
    rulesVersion: string,
    hits: number,
  ): void {
    const key = `${mode}:${ruleId}`;
    if (!series.has(key)) series.set(key, { rule_id: ruleId, mode });
    this.ruleHits.inc({ rule_id: ruleId, mode, rules_version: rulesVersion }, hits);
  }

  setRulesVersion(version: number): void {
    this.rulesVersion.set(version);
  }

  /** A list now decides at `version` with `entries` entries here; `undefined` version: it was deleted. */
  setList(list: string, version: number | undefined, entries: number): void {
    if (version === undefined) {
      this.listVersion.remove({ list });
      this.listEntries.remove({ list });
      return;
    }
    this.listVersion.set({ list }, version);
    this.listEntries.set({ list }, entries);
  }

  setConsumerLag(topic: string, partition: number, lag: number): void {
    this.consumerLag.set({ topic, partition: String(partition) }, lag);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
