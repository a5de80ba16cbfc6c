import assert from 'node:assert/strict';
import { RejectSink, type FiredRule, type RejectedMessage, type RiskLevel, type Verdict } from '@risk/domain';
import { ElasticsearchClient } from '@risk/infra/elasticsearch/elasticsearch.client';
import { ElasticsearchVerdictSink, type ElasticsearchVerdictSinkOptions } from '@risk/infra/elasticsearch/elasticsearch-verdict.sink';

export class RecordingRejectSink extends RejectSink {
  readonly messages: RejectedMessage[] = [];
  failWith: Error | undefined;

  override async reject(messages: readonly RejectedMessage[]): Promise<void> {
    if (this.failWith !== undefined) throw this.failWith;
    this.messages.push(...messages);
  }
}

const RULES: Record<string, { risk_level: RiskLevel; score: number; reason: string }> = {
  'device-and-city-change': { risk_level: 'HIGH', score: 80, reason: 'device and city changed within 1 h' },
  'login-burst': { risk_level: 'MEDIUM', score: 40, reason: 'more than 5 logins within 1 h' },
  'ip-registration-farm': { risk_level: 'HIGH', score: 90, reason: 'more than 20 registrations from one IP within 10 min' },
  'small-payment': { risk_level: 'LOW', score: 5, reason: 'payment' },
};

function fired(id: string): FiredRule {
  const rule = RULES[id];
  return {
    id,
    ...rule,
    explanation: [
      { path: 'conditions.all[0]', fact: 'distinct_devices_1h', operator: 'greaterThan', value: 1, fact_value: 2, result: true },
      { path: 'conditions.all[1]', fact: 'location_city', operator: 'in', value: ['Paris', 'Lyon'], fact_value: null, result: false },
    ],
  };
}

export interface VerdictSpec {
  event_id: string;
  user_id?: string;
  event_time: string;
  rules?: string[];
  shadow?: string[];
  event_type?: string;
  late?: boolean;
}

const RANK: Record<RiskLevel, number> = { LOW: 0, MEDIUM: 1, HIGH: 2 };

/** A verdict shaped as the pipeline produces it (SPEC §5). */
export function verdict(spec: VerdictSpec): Verdict {
  const rules = (spec.rules ?? []).slice().sort().map(fired);
  const risk_level = rules.reduce<RiskLevel>((max, r) => (RANK[r.risk_level] > RANK[max] ? r.risk_level : max), 'LOW');
  return {
    event_id: spec.event_id,
    user_id: spec.user_id ?? 'u-1',
    event_type: spec.event_type ?? 'login',
    event_time: new Date(spec.event_time).toISOString(),
    risk_level,
    score: Math.min(
      100,
      rules.reduce((s, r) => s + r.score, 0),
    ),
    rules,
    shadow_rules: (spec.shadow ?? []).slice().sort().map(fired),
    features: {
      distinct_devices_1h: 2,
      distinct_cities_1h: 1,
      login_count_1h: 3,
      failed_login_count_1h: 0,
      payment_amount_24h: 12.5,
      ip_registrations_10m: 0,
      device_distinct_users_24h: 1,
      device_changed: true,
      city_changed: false,
    },
    late: spec.late ?? false,
    rules_version: 7,
    decided_at: new Date(Date.parse(spec.event_time) + 12).toISOString(),
  };
}

/** `n` verdicts one minute apart from `start`, cycling through users and levels. */
export function verdicts(n: number, start = '2026-11-20T10:00:00.000Z', users = 3, idPrefix = 'e'): Verdict[] {
  const cycle = [[], ['login-burst'], ['device-and-city-change'], ['small-payment']];
  return Array.from({ length: n }, (_, i) =>
    verdict({
      event_id: `${idPrefix}-${i}`,
      user_id: `u-${i % users}`,
      event_time: new Date(Date.parse(start) + i * 60_000).toISOString(),
      rules: cycle[i % cycle.length],
      shadow: i % 5 === 0 ? ['ip-registration-farm'] : [],
    }),
  );
}

export function client(node: string, indexPrefix = 'risk'): ElasticsearchClient {
  return new ElasticsearchClient({ node, requestTimeoutMs: 10_000, indexPrefix, maxRetries: 0 });
}

/**
 * A sink with test-sized backoff, already set up. Indices get no replica so
 * that the single test node stays green (the readiness test makes it yellow
 * and red on purpose).
 */
export async function sink(
  es: ElasticsearchClient,
  rejects = new RecordingRejectSink(),
  options: Partial<ElasticsearchVerdictSinkOptions> = {},
): Promise<{ sink: ElasticsearchVerdictSink; rejects: RecordingRejectSink }> {
  const s = new ElasticsearchVerdictSink(es, rejects, {
    flushMaxDocs: 5000,
    flushMaxBytes: 5 * 1024 * 1024,
    backoffBaseMs: 5,
    backoffMaxMs: 50,
    flushIntervalMs: 2,
    index: { replicas: 0 },
    ...options,
  });
  await s.ensureSetup();
  return { sink: s, rejects };
}

/**
 * Direct reads from the node, independent of the adapter under test. The node
 * is near-real-time: searches and counts refresh first; a GET by id is
 * real-time anyway.
 */
export class NodeReader {
  constructor(private readonly url: string) {}

  async request<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  /** Documents in an index or alias after a refresh; 0 when it does not exist. */
  async count(index: string): Promise<number> {
    await this.request('POST', `/${index}/_refresh?ignore_unavailable=true`);
    const { status, body } = await this.request<{ count: number }>('GET', `/${index}/_count?ignore_unavailable=true`);
    if (status === 404) return 0;
    assert.equal(status, 200, JSON.stringify(body));
    return body.count;
  }

  /** `_source`, `_seq_no` and `_primary_term` of a document, or undefined. */
  async doc<T = any>(index: string, id: string): Promise<{ source: T; seqNo: number; primaryTerm: number } | undefined> {
    const { status, body } = await this.request('GET', `/${index}/_doc/${encodeURIComponent(id)}`);
    if (status === 404) return undefined;
    assert.equal(status, 200, JSON.stringify(body));
    return { source: body._source as T, seqNo: body._seq_no as number, primaryTerm: body._primary_term as number };
  }

  async source<T = any>(index: string, id: string): Promise<T | undefined> {
    return (await this.doc<T>(index, id))?.source;
  }

  /** Index names behind an alias, sorted. */
  async aliasIndices(alias: string): Promise<string[]> {
    const { status, body } = await this.request<Record<string, unknown>>('GET', `/_alias/${alias}`);
    return status === 404 ? [] : Object.keys(body).sort();
  }
}
