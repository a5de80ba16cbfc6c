import { fork } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyRiskProfileUpdate, RISK_PROFILE_SCRIPT_ID, type RiskProfileParams } from '@risk/infra/elasticsearch/risk-profile.script';

/**
 * A small in-memory stand-in for the Elasticsearch 8 REST API, on a real
 * loopback socket, answering the subset the verdict store uses with the
 * documented request/response shapes. It is a fixture, not a product:
 * - one node, one shard, no refresh interval (writes are searchable at once);
 * - mappings: `dynamic` (true/false/strict), `enabled: false`, dynamic templates
 *   (path_match/match/match_mapping_type), and type checks of keyword, text,
 *   numbers, boolean, date, object; no analysis (text matches exactly);
 * - queries: bool (filter/must/must_not/should + minimum_should_match), term,
 *   terms, range, ids, match_all, exists; sort on fields; search_after; size/from;
 * - painless is not run: stored scripts are kept, and an update naming a stored
 *   script by id runs a registered JS twin ({@link EsTestServer.emulateScript};
 *   `risk-profile-update-v1` is registered by default); inline scripts fail;
 * - `filter_path` supports plain and `*` segments; most other query-string options are ignored.
 */

type Json = Record<string, unknown>;
type Mapping = Json & { type?: string; properties?: Record<string, Mapping>; dynamic?: boolean | string; enabled?: boolean };
type ScriptEmulation = (ctx: { _source: Json; op: string }, params: Json) => void;

interface StoredDoc {
  source: Json;
  version: number;
  seqNo: number;
}

interface Index {
  readonly name: string;
  readonly mappings: Mapping & { dynamic_templates?: Record<string, Json>[] };
  readonly docs: Map<string, StoredDoc>;
  seqNo: number;
}

interface Template {
  index_patterns: string[];
  priority?: number;
  version?: number;
  template?: { mappings?: Mapping; aliases?: Record<string, Json>; settings?: Json };
}

class EsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    reason: string,
    readonly extra: Json = {},
  ) {
    super(reason);
  }

  body(): Json {
    const cause = { type: this.type, reason: this.message, ...this.extra };
    return { error: { root_cause: [cause], ...cause }, status: this.status };
  }

  item(): Json {
    return { type: this.type, reason: this.message, ...this.extra };
  }
}

const FAIL_TYPES: Record<number, string> = {
  429: 'es_rejected_execution_exception',
  500: 'exception',
  502: 'exception',
  503: 'unavailable_shards_exception',
  504: 'exception',
};

export interface RequestFailure {
  status: number;
  count: number;
  match: (method: string, path: string) => boolean;
}

export class EsTestServer {
  readonly indices = new Map<string, Index>();
  readonly aliases = new Map<string, Set<string>>();
  readonly templates = new Map<string, Template>();
  readonly scripts = new Map<string, Json>();
  /** Requests seen, e.g. `POST /_bulk`, in order; bounded to the last 10 000. */
  readonly log: string[] = [];
  /** Number of answers per HTTP status. */
  readonly statuses = new Map<number, number>();
  healthStatus: 'green' | 'yellow' | 'red' = 'green';

  private readonly emulations = new Map<string, ScriptEmulation>();
  private readonly requestFailures: RequestFailure[] = [];
  private readonly itemFailures = new Map<string, { status: number; remaining: number; type: string; reason: string }>();

  private constructor(private readonly server: Server) {
    this.emulateScript(RISK_PROFILE_SCRIPT_ID, (ctx, params) => applyRiskProfileUpdate(ctx, params as unknown as RiskProfileParams));
  }

  static async start(port = 0): Promise<EsTestServer> {
    const server = createServer();
    const es = new EsTestServer(server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => es.handle(req, res));
    // Keep-alive sockets must not hold stop() hostage.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return es;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Runs `fn` instead of painless for updates naming the stored script `id`. */
  emulateScript(id: string, fn: ScriptEmulation): void {
    this.emulations.set(id, fn);
  }

  /** The next `count` requests matching (default: bulk requests) are answered `status` as a whole. */
  failNextRequests(
    count: number,
    status: number,
    match: (method: string, path: string) => boolean = (_m, path) => path.includes('_bulk'),
  ): void {
    this.requestFailures.push({ status, count, match });
  }

  /** The next `times` bulk actions on document `id` fail with `status` (the rest of the bulk succeeds). */
  failItem(id: string, status: number, times = 1, type = FAIL_TYPES[status] ?? 'illegal_argument_exception'): void {
    this.itemFailures.set(id, { status, remaining: times, type, reason: `injected failure for [${id}]` });
  }

  /** Document count of an index expression (index, alias, wildcard). */
  countDocs(expression: string): number {
    return this.resolve(expression, true).reduce((n, index) => n + index.docs.size, 0);
  }

  getDoc(index: string, id: string): Json | undefined {
    return this.indices.get(index)?.docs.get(id)?.source;
  }

  reset(): void {
    this.indices.clear();
    this.aliases.clear();
    this.templates.clear();
    this.scripts.clear();
    this.requestFailures.length = 0;
    this.itemFailures.clear();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = req.method ?? 'GET';
      const path = decodeURIComponent(url.pathname).replace(/\/+$/, '') || '/';
      this.log.push(`${method} ${path}`);
      if (this.log.length > 10_000) this.log.splice(0, this.log.length - 10_000);
      let status = 200;
      let body: unknown;
      try {
        const failure = this.requestFailures.find((f) => f.count > 0 && f.match(method, path));
        if (failure !== undefined) {
          failure.count -= 1;
          throw new EsError(failure.status, FAIL_TYPES[failure.status] ?? 'exception', `injected ${failure.status}`);
        }
        [status, body] = this.route(method, path, Buffer.concat(chunks).toString('utf8'));
        if (status < 300) body = filterPath(body, url.searchParams.get('filter_path'));
      } catch (error) {
        const es = error instanceof EsError ? error : new EsError(500, 'exception', error instanceof Error ? error.message : String(error));
        [status, body] = [es.status, es.body()];
      }
      this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
      const text = method === 'HEAD' || body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, {
        'x-elastic-product': 'Elasticsearch',
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    });
  }

  private route(method: string, path: string, text: string): [number, unknown] {
    const parts = path.split('/').filter((p) => p !== '');
    const json = (): Json => (text.trim() === '' ? {} : (JSON.parse(text) as Json));
    const [a, b, c] = parts;
    if (parts.length === 0) {
      return [
        200,
        {
          name: 'es-test-server',
          cluster_name: 'es-test-server',
          cluster_uuid: 'test',
          version: { number: '8.15.0', build_flavor: 'default', lucene_version: '9.11.1', minimum_wire_compatibility_version: '7.17.0' },
          tagline: 'You Know, for Search',
        },
      ];
    }
    if (a === '_bulk' && (method === 'POST' || method === 'PUT')) return [200, this.bulk(text, undefined)];
    if (b === '_bulk' && (method === 'POST' || method === 'PUT')) return [200, this.bulk(text, a)];
    if (a === '_cluster' && b === 'health') return [200, this.health()];
    if (a === '_index_template' && b !== undefined) return this.indexTemplate(method, b, json);
    if (a === '_scripts' && b !== undefined) {
      if (method === 'PUT' || method === 'POST') {
        this.scripts.set(b, json().script as Json);
        return [200, { acknowledged: true }];
      }
      const script = this.scripts.get(b);
      return [200, script === undefined ? { _id: b, found: false } : { _id: b, found: true, script }];
    }
    if (a === '_alias' && b !== undefined && method === 'GET') return this.getAlias(b);
    if (a === '_aliases' && method === 'POST') return [200, this.updateAliases(json())];
    if (a === '_refresh' || b === '_refresh') {
      const n = a === '_refresh' ? this.indices.size : this.resolve(a, false).length;
      return [200, { _shards: { total: n, successful: n, failed: 0 } }];
    }
    if (b === '_search' && (method === 'POST' || method === 'GET')) return [200, this.search(a, json())];
    if (b === '_count' && (method === 'POST' || method === 'GET')) {
      const indices = this.resolve(a, false);
      const query = json().query as Json | undefined;
      const count = indices.reduce((n, index) => n + [...index.docs.values()].filter((d) => matches(index, d, query)).length, 0);
      return [200, { count, _shards: { total: indices.length, successful: indices.length, skipped: 0, failed: 0 } }];
    }
    if (b === '_doc' && c !== undefined && method === 'GET') return this.getDocument(a, c);
    throw new EsError(400, 'illegal_argument_exception', `no handler found for uri [${path}] and method [${method}]`);
  }

  private health(): Json {
    const shards = this.indices.size;
    return {
      cluster_name: 'es-test-server',
      status: this.healthStatus,
      timed_out: false,
      number_of_nodes: 1,
      number_of_data_nodes: 1,
      active_primary_shards: shards,
      active_shards: shards,
      relocating_shards: 0,
      initializing_shards: 0,
      unassigned_shards: 0,
      active_shards_percent_as_number: 100,
    };
  }

  private indexTemplate(method: string, name: string, json: () => Json): [number, unknown] {
    if (method === 'PUT' || method === 'POST') {
      const body = json() as unknown as Template;
      if (!Array.isArray(body.index_patterns)) throw new EsError(400, 'action_request_validation_exception', 'index patterns are missing');
      this.templates.set(name, structuredClone(body));
      return [200, { acknowledged: true }];
    }
    const template = this.templates.get(name);
    if (template === undefined) throw new EsError(404, 'resource_not_found_exception', `index template matching [${name}] not found`);
    return [200, { index_templates: [{ name, index_template: template }] }];
  }

  private getAlias(name: string): [number, unknown] {
    const indices = this.aliases.get(name);
    if (indices === undefined || indices.size === 0) return [404, { error: `alias [${name}] missing`, status: 404 }];
    return [200, Object.fromEntries([...indices].map((index) => [index, { aliases: { [name]: {} } }]))];
  }

  private updateAliases(body: Json): Json {
    for (const action of (body.actions as Json[] | undefined) ?? []) {
      const add = action.add as { index: string; alias: string } | undefined;
      const remove = action.remove as { index: string; alias: string } | undefined;
      if (add !== undefined) {
        if (!this.indices.has(add.index))
          throw new EsError(404, 'index_not_found_exception', `no such index [${add.index}]`, { index: add.index });
        this.aliasSet(add.alias).add(add.index);
      }
      if (remove !== undefined) this.aliases.get(remove.alias)?.delete(remove.index);
    }
    return { acknowledged: true, errors: false };
  }

  private aliasSet(alias: string): Set<string> {
    let set = this.aliases.get(alias);
    if (set === undefined) this.aliases.set(alias, (set = new Set()));
    return set;
  }

  /** Indices named by an index expression: comma list of names, aliases, wildcards, `_all`. */
  private resolve(expression: string, lenient: boolean): Index[] {
    const found = new Set<Index>();
    for (const part of expression.split(',')) {
      if (part === '_all' || part === '*') {
        this.indices.forEach((index) => found.add(index));
        continue;
      }
      if (part.includes('*')) {
        const re = glob(part);
        for (const index of this.indices.values()) if (re.test(index.name)) found.add(index);
        for (const [alias, names] of this.aliases) if (re.test(alias)) names.forEach((n) => found.add(this.indices.get(n)!));
        continue;
      }
      const index = this.indices.get(part);
      const aliased = this.aliases.get(part);
      if (index !== undefined) found.add(index);
      else if (aliased !== undefined && aliased.size > 0) aliased.forEach((n) => found.add(this.indices.get(n)!));
      else if (!lenient)
        throw new EsError(404, 'index_not_found_exception', `no such index [${part}]`, { index: part, 'resource.id': part });
    }
    return [...found];
  }

  /** The index a write to `name` goes to, created from the best-matching template when missing. */
  private writeIndex(name: string): Index {
    const existing = this.indices.get(name);
    if (existing !== undefined) return existing;
    const aliased = this.aliases.get(name);
    if (aliased !== undefined && aliased.size > 0) {
      if (aliased.size > 1) {
        throw new EsError(
          400,
          'illegal_argument_exception',
          `no write index is defined for alias [${name}]; the alias points to multiple indices`,
        );
      }
      return this.indices.get([...aliased][0])!;
    }
    if (!/^[a-z0-9][a-z0-9._+-]*$/.test(name)) throw new EsError(400, 'invalid_index_name_exception', `Invalid index name [${name}]`);
    const template = [...this.templates.values()]
      .filter((t) => t.index_patterns.some((p) => glob(p).test(name)))
      .sort((x, y) => (y.priority ?? 0) - (x.priority ?? 0))[0];
    const index: Index = {
      name,
      mappings: structuredClone(template?.template?.mappings ?? {}),
      docs: new Map(),
      seqNo: 0,
    };
    this.indices.set(name, index);
    for (const alias of Object.keys(template?.template?.aliases ?? {})) this.aliasSet(alias).add(name);
    return index;
  }

  private bulk(text: string, defaultIndex: string | undefined): Json {
    const started = Date.now();
    const lines = text.split('\n');
    const items: Json[] = [];
    for (let i = 0; i < lines.length; i += 1) {
      const line = lines[i];
      if (line.trim() === '') continue;
      let action: string;
      let meta: Json;
      try {
        const parsed = JSON.parse(line) as Json;
        action = Object.keys(parsed)[0]!;
        meta = parsed[action] as Json;
      } catch {
        // A malformed action line fails the whole request, as in Elasticsearch.
        throw new EsError(400, 'illegal_argument_exception', `Malformed action/metadata line [${i + 1}]`);
      }
      if (!['index', 'create', 'update', 'delete'].includes(action)) {
        throw new EsError(
          400,
          'illegal_argument_exception',
          `Malformed action/metadata line [${i + 1}], expected one of [create, delete, index, update] but found [${action}]`,
        );
      }
      const source = action === 'delete' ? undefined : (JSON.parse(lines[++i] ?? '{}') as Json);
      const indexName = (meta._index as string | undefined) ?? defaultIndex;
      const id = meta._id as string | undefined;
      let result: Json;
      try {
        if (indexName === undefined)
          throw new EsError(400, 'action_request_validation_exception', 'Validation Failed: 1: index is missing;');
        const injected = id === undefined ? undefined : this.itemFailures.get(id);
        if (injected !== undefined && injected.remaining > 0) {
          injected.remaining -= 1;
          throw new EsError(injected.status, injected.type, injected.reason);
        }
        result = this.applyAction(action, this.writeIndex(indexName), id, source);
      } catch (error) {
        const es = error instanceof EsError ? error : new EsError(500, 'exception', String(error));
        result = { _index: indexName, _id: id, status: es.status, error: es.item() };
      }
      items.push({ [action]: result });
    }
    return { took: Date.now() - started, errors: items.some((item) => 'error' in (Object.values(item)[0] as Json)), items };
  }

  private applyAction(action: string, index: Index, givenId: string | undefined, body: Json | undefined): Json {
    const id = givenId ?? `auto-${index.seqNo + 1}-${Math.random().toString(36).slice(2, 10)}`;
    const existing = index.docs.get(id);
    const done = (result: string, status: number, doc: StoredDoc | undefined): Json => ({
      _index: index.name,
      _id: id,
      _version: doc?.version ?? 1,
      result,
      _shards: { total: 1, successful: result === 'noop' ? 0 : 1, failed: 0 },
      ...(doc === undefined ? {} : { _seq_no: doc.seqNo, _primary_term: 1 }),
      status,
    });
    const store = (source: Json): StoredDoc => {
      validate(index, source, id);
      const doc = { source, version: (existing?.version ?? 0) + 1, seqNo: index.seqNo++ };
      index.docs.set(id, doc);
      return doc;
    };
    switch (action) {
      case 'index':
        return done(existing === undefined ? 'created' : 'updated', existing === undefined ? 201 : 200, store(body!));
      case 'create':
        if (existing !== undefined) {
          throw new EsError(
            409,
            'version_conflict_engine_exception',
            `[${id}]: version conflict, document already exists (current version [${existing.version}])`,
          );
        }
        return done('created', 201, store(body!));
      case 'delete':
        if (existing === undefined) return done('not_found', 404, undefined);
        index.docs.delete(id);
        return done('deleted', 200, { ...existing, version: existing.version + 1 });
      default:
        break;
    }
    // update
    const u = body as { doc?: Json; doc_as_upsert?: boolean; upsert?: Json; script?: Json; scripted_upsert?: boolean };
    if (u.script !== undefined) {
      if (existing === undefined && u.upsert === undefined)
        throw new EsError(404, 'document_missing_exception', `[${id}]: document missing`);
      if (existing === undefined && u.scripted_upsert !== true) return done('created', 201, store(structuredClone(u.upsert!)));
      const ctx = { _source: cloneJson(existing?.source ?? u.upsert!), op: existing === undefined ? 'create' : 'index' };
      this.runScript(u.script, ctx);
      if (ctx.op === 'noop' || ctx.op === 'none') return done('noop', 200, existing);
      return existing === undefined ? done('created', 201, store(ctx._source)) : done('updated', 200, store(ctx._source));
    }
    if (u.doc === undefined)
      throw new EsError(400, 'action_request_validation_exception', 'Validation Failed: 1: script or doc is missing;');
    if (existing === undefined) {
      if (u.doc_as_upsert === true) return done('created', 201, store(structuredClone(u.doc)));
      if (u.upsert !== undefined) return done('created', 201, store(structuredClone(u.upsert)));
      throw new EsError(404, 'document_missing_exception', `[${id}]: document missing`);
    }
    const merged = deepMerge(structuredClone(existing.source), u.doc);
    if (JSON.stringify(merged) === JSON.stringify(existing.source)) return done('noop', 200, existing);
    return done('updated', 200, store(merged));
  }

  private runScript(script: Json, ctx: { _source: Json; op: string }): void {
    const id = script.id as string | undefined;
    if (id === undefined) throw new EsError(400, 'illegal_argument_exception', 'the test server cannot run inline scripts');
    if (!this.scripts.has(id)) throw new EsError(404, 'resource_not_found_exception', `unable to find script [${id}] in cluster state`);
    const emulation = this.emulations.get(id);
    if (emulation === undefined)
      throw new EsError(400, 'illegal_argument_exception', `the test server has no emulation for script [${id}]`);
    emulation(ctx, (script.params as Json | undefined) ?? {});
  }

  private getDocument(indexName: string, id: string): [number, unknown] {
    const indices = this.resolve(indexName, false);
    if (indices.length > 1) {
      throw new EsError(
        400,
        'illegal_argument_exception',
        `alias [${indexName}] has more than one index associated with it, can't execute a single index op`,
      );
    }
    const index = indices[0];
    const doc = index.docs.get(id);
    if (doc === undefined) return [404, { _index: index.name, _id: id, found: false }];
    return [
      200,
      { _index: index.name, _id: id, _version: doc.version, _seq_no: doc.seqNo, _primary_term: 1, found: true, _source: doc.source },
    ];
  }

  private search(expression: string, body: Json): Json {
    const indices = this.resolve(expression, false);
    const size = typeof body.size === 'number' ? body.size : 10;
    const from = typeof body.from === 'number' ? body.from : 0;
    const sort = normaliseSort(body.sort);
    const after = body.search_after as unknown[] | undefined;
    let hits: { index: Index; id: string; doc: StoredDoc; sort: unknown[] }[] = [];
    for (const index of indices) {
      for (const [id, doc] of index.docs) {
        if (matches(index, doc, body.query as Json | undefined))
          hits.push({ index, id, doc, sort: sort.map((s) => sortValue(index, doc, s)) });
      }
    }
    const compare = (x: unknown[], y: unknown[]): number => {
      for (let k = 0; k < sort.length; k += 1) {
        const c = compareSortValues(x[k], y[k], sort[k].desc);
        if (c !== 0) return c;
      }
      return 0;
    };
    if (sort.length > 0) hits.sort((x, y) => compare(x.sort, y.sort));
    const total = hits.length;
    if (after !== undefined) hits = hits.filter((h) => compare(h.sort, after) > 0);
    const page = hits.slice(from, from + size);
    return {
      took: 1,
      timed_out: false,
      _shards: { total: indices.length, successful: indices.length, skipped: 0, failed: 0 },
      hits: {
        total: { value: total, relation: 'eq' },
        max_score: null,
        hits: page.map((h) => ({
          _index: h.index.name,
          _id: h.id,
          _score: null,
          _source: h.doc.source,
          ...(sort.length > 0 ? { sort: h.sort } : {}),
        })),
      },
    };
  }
}

function glob(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

/** structuredClone is slow for many small JSON objects; documents are plain JSON. */
function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const key in value) out[key] = cloneJson((value as Json)[key]);
  return out as T;
}

/** Elasticsearch's `filter_path` for the shapes used here: `a`, `a.b`, `items.*.status` (no `**`, no exclusions). */
function filterPath(body: unknown, spec: string | null): unknown {
  if (spec === null || spec === '' || !isObject(body)) return body;
  const paths = spec.split(',').map((p) => p.trim().split('.'));
  const pick = (value: unknown, rests: string[][]): unknown => {
    if (rests.some((r) => r.length === 0)) return value;
    if (Array.isArray(value)) return value.map((v) => pick(v, rests)).filter((v) => v !== undefined);
    if (!isObject(value)) return undefined;
    const out: Json = {};
    for (const key of Object.keys(value)) {
      const next = rests.filter((r) => r[0] === '*' || r[0] === key).map((r) => r.slice(1));
      if (next.length === 0) continue;
      const picked = pick(value[key], next);
      if (picked !== undefined && !(isObject(picked) && Object.keys(picked).length === 0)) out[key] = picked;
    }
    return out;
  };
  return pick(body, paths);
}

function deepMerge(target: Json, patch: Json): Json {
  for (const [k, v] of Object.entries(patch)) {
    const t = target[k];
    if (isObject(v) && isObject(t)) deepMerge(t, v);
    else target[k] = v;
  }
  return target;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- mappings -------------------------------------------------------------

/** Checks a document against the index mapping; dynamic additions are applied only if the whole document is valid. */
function validate(index: Index, source: Json, id: string): void {
  const added: [Record<string, Mapping>, string, Mapping][] = [];
  const root = index.mappings;
  root.properties ??= {};
  checkObject(index, source, root.properties, root.dynamic ?? true, '', '_doc', id, added);
  for (const [props, key, mapping] of added) props[key] = mapping;
}

function checkObject(
  index: Index,
  obj: Json,
  props: Record<string, Mapping>,
  dynamic: boolean | string,
  prefix: string,
  parent: string,
  id: string,
  added: [Record<string, Mapping>, string, Mapping][],
): void {
  for (const key in obj) {
    const value = obj[key];
    const path = prefix === '' ? key : `${prefix}.${key}`;
    let mapping = props[key] ?? added.find(([p, k]) => p === props && k === key)?.[2];
    if (mapping === undefined) {
      if (value === null) continue;
      if (dynamic === 'strict' || dynamic === 'strict_allow_templates') {
        throw new EsError(
          400,
          'strict_dynamic_mapping_exception',
          `[1:2] mapping set to strict, dynamic introduction of [${key}] within [${parent}] is not allowed`,
        );
      }
      if (dynamic === false || dynamic === 'false' || dynamic === 'runtime') continue;
      mapping = dynamicMapping(index, path, key, value);
      added.push([props, key, mapping]);
    }
    checkValue(index, value, mapping, path, key, dynamic, id, added);
  }
}

function checkValue(
  index: Index,
  value: unknown,
  mapping: Mapping,
  path: string,
  key: string,
  inherited: boolean | string,
  id: string,
  added: [Record<string, Mapping>, string, Mapping][],
): void {
  if (value === null) return;
  if (Array.isArray(value)) {
    if (mapping.enabled === false) return;
    for (const v of value) checkValue(index, v, mapping, path, key, inherited, id, added);
    return;
  }
  const type = mapping.type ?? 'object';
  switch (type) {
    case 'object':
    case 'nested':
      if (!isObject(value)) {
        throw new EsError(
          400,
          'document_parsing_exception',
          `[1:2] object mapping for [${path}] tried to parse field [${key}] as object, but found a concrete value`,
        );
      }
      if (mapping.enabled === false) return;
      mapping.properties ??= {};
      checkObject(index, value, mapping.properties, mapping.dynamic ?? inherited, path, path, id, added);
      return;
    case 'flattened':
      return;
    case 'keyword':
    case 'text':
      if (isObject(value)) parseFailure(path, type, id, value);
      return;
    case 'boolean':
      if (typeof value !== 'boolean' && value !== 'true' && value !== 'false' && value !== '') parseFailure(path, type, id, value);
      return;
    case 'date':
      if (!(typeof value === 'number' || (typeof value === 'string' && !Number.isNaN(Date.parse(value)))))
        parseFailure(path, type, id, value);
      return;
    case 'integer':
    case 'long':
    case 'short':
    case 'byte':
    case 'double':
    case 'float':
    case 'half_float':
    case 'scaled_float':
      if (!(typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))))
        parseFailure(path, type, id, value);
      return;
    default:
      return;
  }
}

function parseFailure(path: string, type: string, id: string, value: unknown): never {
  throw new EsError(
    400,
    'document_parsing_exception',
    `[1:2] failed to parse field [${path}] of type [${type}] in document with id '${id}'. Preview of field's value: '${String(value)}'`,
  );
}

function dynamicMapping(index: Index, path: string, key: string, value: unknown): Mapping {
  const detected =
    typeof value === 'boolean'
      ? 'boolean'
      : typeof value === 'number'
        ? Number.isInteger(value)
          ? 'long'
          : 'double'
        : typeof value === 'string'
          ? 'string'
          : 'object';
  for (const entry of index.mappings.dynamic_templates ?? []) {
    const spec = Object.values(entry)[0] as { path_match?: string; match?: string; match_mapping_type?: string; mapping: Mapping };
    if (spec.path_match !== undefined && !glob(spec.path_match).test(path)) continue;
    if (spec.match !== undefined && !glob(spec.match).test(key)) continue;
    if (spec.match_mapping_type !== undefined && spec.match_mapping_type !== '*' && spec.match_mapping_type !== detected) continue;
    return structuredClone(spec.mapping);
  }
  switch (detected) {
    case 'boolean':
      return { type: 'boolean' };
    case 'long':
      return { type: 'long' };
    case 'double':
      return { type: 'float' };
    case 'string':
      return { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } };
    default:
      return { type: 'object', properties: {} };
  }
}

function fieldMapping(index: Index, path: string): Mapping | undefined {
  let props = index.mappings.properties;
  let mapping: Mapping | undefined;
  for (const part of path.split('.')) {
    mapping = props?.[part];
    if (mapping === undefined) return undefined;
    props = mapping.properties;
  }
  return mapping;
}

// ---- queries --------------------------------------------------------------

function valuesAt(source: unknown, path: string): unknown[] {
  let current: unknown[] = [source];
  for (const part of path.split('.')) {
    const next: unknown[] = [];
    for (const c of current) {
      if (Array.isArray(c)) c.forEach((e) => isObject(e) && e[part] !== undefined && next.push(e[part]));
      else if (isObject(c) && c[part] !== undefined) next.push(c[part]);
    }
    current = next;
  }
  return current.flat().filter((v) => v !== null && v !== undefined);
}

/** A comparable form of a field value: epoch ms for dates, numbers for numeric types, strings otherwise. */
function comparable(index: Index, path: string, value: unknown): number | string | boolean {
  const type = fieldMapping(index, path)?.type;
  if (type === 'date') return typeof value === 'number' ? value : Date.parse(String(value));
  if (type === 'boolean') return value === true || value === 'true';
  if (type !== undefined && ['integer', 'long', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float'].includes(type))
    return Number(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function matches(index: Index, doc: StoredDoc, query: Json | undefined): boolean {
  if (query === undefined) return true;
  const [kind, spec] = Object.entries(query)[0] ?? ['match_all', {}];
  const s = spec as Json;
  switch (kind) {
    case 'match_all':
      return true;
    case 'match_none':
      return false;
    case 'bool': {
      const list = (k: string): Json[] => (s[k] === undefined ? [] : Array.isArray(s[k]) ? (s[k] as Json[]) : [s[k] as Json]);
      const must = [...list('must'), ...list('filter')];
      if (!must.every((q) => matches(index, doc, q))) return false;
      if (list('must_not').some((q) => matches(index, doc, q))) return false;
      const should = list('should');
      const minimum = (s.minimum_should_match as number | undefined) ?? (must.length === 0 ? 1 : 0);
      return should.length === 0 || should.filter((q) => matches(index, doc, q)).length >= minimum;
    }
    case 'term':
    case 'terms': {
      const [field, raw] = Object.entries(s).find(([k]) => k !== 'boost')!;
      const wanted = kind === 'terms' ? (raw as unknown[]) : [isObject(raw) ? raw.value : raw];
      const targets = wanted.map((w) => comparable(index, field, w));
      return valuesAt(doc.source, field).some((v) => targets.includes(comparable(index, field, v)));
    }
    case 'ids':
      return ((s.values as string[]) ?? []).some((id) => index.docs.get(id) === doc);
    case 'exists':
      return valuesAt(doc.source, s.field as string).length > 0;
    case 'range': {
      const [field, bounds] = Object.entries(s)[0] as [string, Json];
      const bound = (k: string) => (bounds[k] === undefined ? undefined : comparable(index, field, bounds[k]));
      const [gte, gt, lte, lt] = [bound('gte'), bound('gt'), bound('lte'), bound('lt')];
      return valuesAt(doc.source, field).some((raw) => {
        const v = comparable(index, field, raw);
        return (
          (gte === undefined || v >= gte) && (gt === undefined || v > gt) && (lte === undefined || v <= lte) && (lt === undefined || v < lt)
        );
      });
    }
    default:
      throw new EsError(400, 'parsing_exception', `unknown query [${kind}] (not supported by the test server)`);
  }
}

interface SortSpec {
  field: string;
  desc: boolean;
}

function normaliseSort(raw: unknown): SortSpec[] {
  if (raw === undefined) return [];
  return (Array.isArray(raw) ? raw : [raw]).map((entry): SortSpec => {
    if (typeof entry === 'string') return { field: entry, desc: false };
    const [field, spec] = Object.entries(entry as Json)[0];
    const order = typeof spec === 'string' ? spec : ((spec as Json).order as string | undefined);
    return { field, desc: order === 'desc' };
  });
}

function sortValue(index: Index, doc: StoredDoc, spec: SortSpec): unknown {
  const values = valuesAt(doc.source, spec.field).map((v) => comparable(index, spec.field, v));
  if (values.length === 0) return null;
  return values.reduce((best, v) => ((spec.desc ? v > best : v < best) ? v : best));
}

/** Missing values sort last in both directions, as Elasticsearch's default `missing: _last`. */
function compareSortValues(x: unknown, y: unknown, desc: boolean): number {
  if (x === y) return 0;
  if (x === null || x === undefined) return 1;
  if (y === null || y === undefined) return -1;
  const c = (x as number | string) < (y as number | string) ? -1 : 1;
  return desc ? -c : c;
}

/** In this process, with its state inspectable (tests): `const es = await startEsTestServer(); … await es.stop();` */
export async function startEsTestServer(port = 0): Promise<EsTestServer> {
  return EsTestServer.start(port);
}

/**
 * In a child process (the benchmark): the server's parsing and bookkeeping then
 * run on another core, as a real Elasticsearch would, instead of competing with
 * the client being measured.
 */
export async function spawnEsTestServer(): Promise<{ url: string; port: number; pid: number; stop(): Promise<void> }> {
  const child = fork(__filename, [], { env: { ...process.env, ES_TEST_SERVER_CHILD: '1' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`es test server exited with ${String(code)}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? 0,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

if (require.main === module && process.env.ES_TEST_SERVER_CHILD === '1') {
  void EsTestServer.start().then((server) => {
    process.send?.({ port: server.port });
    process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
    // Ends with the parent, whatever happens to it.
    process.once('disconnect', () => process.exit(0));
  });
}
