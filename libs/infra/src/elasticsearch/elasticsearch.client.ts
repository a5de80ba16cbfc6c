import { Client, errors } from '@elastic/elasticsearch';
import { DependencyUnavailableError, RiskEngineError } from '@risk/domain';

/** The only file importing `@elastic/elasticsearch`: everything else sees these plain types. */
export interface ElasticsearchClientOptions {
  /** e.g. `http://127.0.0.1:9200` */
  readonly node: string;
  readonly username?: string;
  readonly password?: string;
  /** Base64 `id:api_key`, as Elasticsearch returns it in `encoded`. Wins over username/password. */
  readonly apiKey?: string;
  readonly requestTimeoutMs: number;
  /** Prefix of every index, alias and template name; default `risk`. */
  readonly indexPrefix?: string;
  /** Transport-level retries for reads (connection errors, 502/503/504). Bulk never uses them: the sink owns its retry policy. */
  readonly maxRetries?: number;
}

/**
 * Elasticsearch answered with an error status. 429 (too many requests) and
 * 5xx can succeed later (`ELASTICSEARCH_UNAVAILABLE`, retriable); other
 * statuses will not (`ELASTICSEARCH_REFUSED`). No answer at all (connection
 * refused or reset, timeout) is a `DependencyUnavailableError`.
 */
export class EsResponseError extends RiskEngineError {
  constructor(
    readonly statusCode: number,
    /** Elasticsearch's `error.type`, e.g. `index_not_found_exception`. */
    readonly type: string | undefined,
    readonly reason: string | undefined,
    options?: { cause?: unknown },
  ) {
    const retriable = statusCode === 429 || statusCode >= 500;
    super(
      retriable ? 'ELASTICSEARCH_UNAVAILABLE' : 'ELASTICSEARCH_REFUSED',
      `Elasticsearch answered ${statusCode}${type === undefined ? '' : ` ${type}`}${reason === undefined ? '' : `: ${reason}`}`,
      retriable,
      { dependency: 'elasticsearch', statusCode, type },
      options,
    );
  }
}

/** The index (or every index behind an alias or pattern) does not exist yet. */
export function isMissingIndex(error: unknown): boolean {
  return error instanceof EsResponseError && error.statusCode === 404 && error.type === 'index_not_found_exception';
}

export interface EsBulkItemResult {
  readonly _index?: string;
  readonly _id?: string;
  readonly status: number;
  readonly result?: string;
  readonly error?: { readonly type?: string; readonly reason?: string; readonly caused_by?: unknown };
}

export interface EsBulkResponse {
  readonly took?: number;
  readonly errors: boolean;
  /** One entry per action, in request order, keyed by the action name (`index`, `create`, `update`, `delete`). */
  readonly items: readonly Readonly<Record<string, EsBulkItemResult>>[];
}

/** A document as read for a conditional write (`if_seq_no` / `if_primary_term`). */
export type EsVersionedDoc<T> =
  | { readonly id: string; readonly found: true; readonly source: T; readonly seqNo: number; readonly primaryTerm: number }
  | { readonly id: string; readonly found: false };

export interface EsSearchHit<T> {
  readonly _index: string;
  readonly _id: string;
  readonly _source: T;
  readonly sort?: readonly unknown[];
}

export interface EsSearchResponse<T> {
  readonly hits: { readonly total?: { readonly value: number; readonly relation: string }; readonly hits: readonly EsSearchHit<T>[] };
  /** Present when the request asked for aggregations; each caller reads its own shape. */
  readonly aggregations?: Readonly<Record<string, unknown>>;
}

export interface EsClusterHealth {
  readonly cluster_name: string;
  readonly status: 'green' | 'yellow' | 'red';
  readonly number_of_nodes?: number;
  readonly timed_out?: boolean;
}

export interface EsAliasAction {
  readonly add?: { readonly index: string; readonly alias: string; readonly is_write_index?: boolean };
  readonly remove?: { readonly index: string; readonly alias: string };
}

type Method = 'GET' | 'PUT' | 'POST' | 'HEAD' | 'DELETE';

/**
 * A thin wrapper around the v8 client: JSON in, JSON out, and every client
 * error turned into the engine's coded errors here, once: {@link EsResponseError}
 * for an error status, `DependencyUnavailableError` for no answer, and
 * `ELASTICSEARCH_ERROR` (not retriable) for anything else. Adapters never see
 * the client's types.
 */
export class ElasticsearchClient {
  readonly indexPrefix: string;
  private readonly client: Client;

  constructor(readonly options: ElasticsearchClientOptions) {
    this.indexPrefix = options.indexPrefix ?? 'risk';
    const auth =
      options.apiKey !== undefined && options.apiKey !== ''
        ? { apiKey: options.apiKey }
        : options.username !== undefined && options.username !== ''
          ? { username: options.username, password: options.password ?? '' }
          : undefined;
    this.client = new Client({
      node: options.node,
      ...(auth === undefined ? {} : { auth }),
      requestTimeout: options.requestTimeoutMs,
      maxRetries: options.maxRetries ?? 2,
      compression: false,
    });
  }

  /**
   * Sends an NDJSON bulk body as it is (the sink builds it itself to count
   * bytes). No transport retries: a timed-out bulk may still have been applied,
   * which is harmless because every action is idempotent, but the caller must
   * decide when to send it again.
   */
  async bulk(ndjson: string): Promise<EsBulkResponse> {
    return this.call<EsBulkResponse>(
      'POST',
      '/_bulk',
      {
        bulkBody: ndjson,
        querystring: { filter_path: 'took,errors,items.*._index,items.*._id,items.*.status,items.*.result,items.*.error' },
      },
      0,
    );
  }

  /** The document's `_source`, or `undefined` when the index or document does not exist. */
  async get<T>(index: string, id: string): Promise<T | undefined> {
    try {
      const body = await this.call<{ found: boolean; _source?: T }>('GET', `/${enc(index)}/_doc/${enc(id)}`);
      return body.found ? body._source : undefined;
    } catch (error) {
      if (error instanceof EsResponseError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  /**
   * Real-time multi-get of documents by id, with the `_seq_no` / `_primary_term`
   * a conditional write needs. A missing index reads as every document missing.
   */
  async mget<T>(index: string, ids: readonly string[]): Promise<EsVersionedDoc<T>[]> {
    if (ids.length === 0) return [];
    let body: {
      docs: {
        _id: string;
        found?: boolean;
        _seq_no?: number;
        _primary_term?: number;
        _source?: T;
        error?: { type?: string; reason?: string };
      }[];
    };
    try {
      body = await this.call('POST', `/${enc(index)}/_mget`, {
        body: { ids },
        querystring: { filter_path: 'docs._id,docs.found,docs._seq_no,docs._primary_term,docs._source,docs.error' },
      });
    } catch (error) {
      if (isMissingIndex(error)) return ids.map((id) => ({ id, found: false }));
      throw error;
    }
    return body.docs.map((doc) => {
      if (doc.error !== undefined && doc.error.type !== 'index_not_found_exception') {
        throw new EsResponseError(500, doc.error.type, `mget of ${doc._id}: ${doc.error.reason ?? 'failed'}`);
      }
      return doc.found === true && doc._source !== undefined && doc._seq_no !== undefined && doc._primary_term !== undefined
        ? { id: doc._id, found: true, source: doc._source, seqNo: doc._seq_no, primaryTerm: doc._primary_term }
        : { id: doc._id, found: false };
    });
  }

  /**
   * Indexes documents with the client's own bulk helper (`client.helpers.bulk`):
   * the plain baseline the sink benchmark compares against. Not used on the
   * write path (the sink owns its batching and retries).
   */
  async bulkIndexWithHelper(
    documents: readonly Record<string, unknown>[],
    target: (doc: Record<string, unknown>) => { index: string; id: string },
    options: { flushBytes: number; concurrency: number },
  ): Promise<{ total: number; failed: number; successful: number; timeMs: number }> {
    try {
      const stats = await this.client.helpers.bulk<Record<string, unknown>>({
        datasource: documents as Record<string, unknown>[],
        onDocument: (doc) => {
          const { index, id } = target(doc);
          return { index: { _index: index, _id: id } };
        },
        flushBytes: options.flushBytes,
        concurrency: options.concurrency,
        refreshOnCompletion: false,
      });
      return { total: stats.total, failed: stats.failed, successful: stats.successful, timeMs: stats.time };
    } catch (error) {
      throw translate(error);
    }
  }

  async search<T>(index: string, body: Record<string, unknown>): Promise<EsSearchResponse<T>> {
    return this.call<EsSearchResponse<T>>('POST', `/${enc(index)}/_search`, { body });
  }

  async count(index: string, query?: Record<string, unknown>): Promise<number> {
    const body = await this.call<{ count: number }>('POST', `/${enc(index)}/_count`, query === undefined ? {} : { body: { query } });
    return body.count;
  }

  async indexTemplateExists(name: string): Promise<boolean> {
    return (await this.call<boolean>('HEAD', `/_index_template/${enc(name)}`)) === true;
  }

  /** The template's `version`, `undefined` when it has none, `null` when the template does not exist. */
  async indexTemplateVersion(name: string): Promise<number | undefined | null> {
    try {
      const body = await this.call<{ index_templates: { name: string; index_template: { version?: number } }[] }>(
        'GET',
        `/_index_template/${enc(name)}`,
      );
      const found = body.index_templates.find((t) => t.name === name);
      return found === undefined ? null : found.index_template.version;
    } catch (error) {
      if (error instanceof EsResponseError && error.statusCode === 404) return null;
      throw error;
    }
  }

  async putIndexTemplate(name: string, template: Record<string, unknown>): Promise<void> {
    await this.call('PUT', `/_index_template/${enc(name)}`, { body: template });
  }

  /** Adds fields to the mapping of the indices matching `index` (a name or pattern); none matching is not an error. */
  async putMapping(index: string, mapping: Record<string, unknown>): Promise<void> {
    try {
      await this.call('PUT', `/${enc(index)}/_mapping`, { body: mapping });
    } catch (error) {
      if (error instanceof EsResponseError && error.statusCode === 404) return;
      throw error;
    }
  }

  /** Index name → alias names, for the indices behind `alias`; empty when the alias does not exist. */
  async getAlias(alias: string): Promise<Record<string, string[]>> {
    try {
      const body = await this.call<Record<string, { aliases: Record<string, unknown> }>>('GET', `/_alias/${enc(alias)}`);
      return Object.fromEntries(Object.entries(body).map(([index, v]) => [index, Object.keys(v.aliases)]));
    } catch (error) {
      if (error instanceof EsResponseError && error.statusCode === 404) return {};
      throw error;
    }
  }

  async updateAliases(actions: readonly EsAliasAction[]): Promise<void> {
    await this.call('POST', '/_aliases', { body: { actions } });
  }

  /** Makes recent writes searchable now; for tests and tools, never on the write path. */
  async refresh(index = '_all'): Promise<void> {
    await this.call('POST', `/${enc(index)}/_refresh`);
  }

  async clusterHealth(timeoutMs: number): Promise<EsClusterHealth> {
    // A red cluster answers 200 with status red; only `wait_for_*` timeouts answer 408, which we do not ask for.
    return this.call<EsClusterHealth>('GET', '/_cluster/health', { querystring: { timeout: `${timeoutMs}ms` } }, 0, timeoutMs);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async call<T = unknown>(
    method: Method,
    path: string,
    params: { body?: Record<string, unknown>; bulkBody?: string; querystring?: Record<string, string> } = {},
    maxRetries?: number,
    requestTimeoutMs?: number,
  ): Promise<T> {
    try {
      const result = await this.client.transport.request(
        { method, path, ...params },
        {
          ...(maxRetries === undefined ? {} : { maxRetries }),
          ...(requestTimeoutMs === undefined ? {} : { requestTimeout: requestTimeoutMs }),
        },
      );
      return result as T;
    } catch (error) {
      throw translate(error);
    }
  }
}

function enc(segment: string): string {
  // Index expressions keep their commas and wildcards; everything else is escaped.
  return encodeURIComponent(segment).replace(/%2C/g, ',').replace(/%2A/g, '*');
}

function translate(error: unknown): RiskEngineError {
  if (error instanceof RiskEngineError) return error;
  if (error instanceof errors.ResponseError) {
    const body = error.body as { error?: { type?: string; reason?: string } | string } | undefined;
    const detail = typeof body?.error === 'object' ? body.error : undefined;
    const reason = detail?.reason ?? (typeof body?.error === 'string' ? body.error : undefined);
    return new EsResponseError(error.statusCode ?? 0, detail?.type, reason, { cause: error });
  }
  if (
    error instanceof errors.ConnectionError ||
    error instanceof errors.TimeoutError ||
    error instanceof errors.NoLivingConnectionsError ||
    error instanceof errors.RequestAbortedError
  ) {
    return new DependencyUnavailableError('elasticsearch', error.message, { cause: error });
  }
  if (error instanceof errors.ProductNotSupportedError) {
    return new DependencyUnavailableError('elasticsearch', 'the server at the configured node is not Elasticsearch', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new RiskEngineError(
    'ELASTICSEARCH_ERROR',
    `Elasticsearch client: ${message}`,
    false,
    { dependency: 'elasticsearch' },
    { cause: error },
  );
}
