import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The faults a real Elasticsearch node cannot be made to produce on demand:
 * 429 (`es_rejected_execution_exception`, a full write queue) and 5xx such as
 * 503 (`unavailable_shards_exception`), for a whole request or for single bulk
 * items. Everything else is tested against the real node
 * (`elasticsearch-node.ts`); this is only a proxy in front of it, on its own
 * loopback port: requests pass through unchanged unless a fault is armed, so
 * mappings, versions and searches stay the real node's.
 *
 * - `failNextRequests(n, status)`: the next n requests (optionally only those
 *   matching) answer `status` without reaching the node;
 * - `failItem(id, status, times)`: in the next `times` bulks holding an action
 *   for `_id` = id, that item answers `status` and is not forwarded; the other
 *   items of the bulk go to the node and their answers are merged back in order.
 */

type Json = Record<string, unknown>;

const FAIL_TYPES: Record<number, string> = {
  429: 'es_rejected_execution_exception',
  500: 'exception',
  502: 'exception',
  503: 'unavailable_shards_exception',
  504: 'exception',
};

interface RequestFailure {
  status: number;
  count: number;
  match: (method: string, path: string) => boolean;
}

export class EsFaultProxy {
  /** `METHOD /path status` per request, in arrival order. */
  readonly log: string[] = [];
  /** How many requests were answered with each status (passed through or injected). */
  readonly statuses = new Map<number, number>();
  private readonly requestFailures: RequestFailure[] = [];
  private readonly holds: { match: (method: string, path: string) => boolean; reached: () => void; released: Promise<void> }[] = [];
  private readonly itemFailures = new Map<string, { status: number; remaining: number }>();

  private constructor(
    private readonly server: Server,
    private readonly upstream: string,
  ) {}

  static async start(upstream: string): Promise<EsFaultProxy> {
    const server = createServer();
    const proxy = new EsFaultProxy(server, upstream);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void proxy.handle(req, res).catch((error: unknown) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'proxy_error', reason: String(error) }, status: 502 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  failNextRequests(count: number, status: number, match: (method: string, path: string) => boolean = () => true): void {
    this.requestFailures.push({ status, count, match });
  }

  failItem(id: string, status: number, times = 1): void {
    this.itemFailures.set(id, { status, remaining: times });
  }

  /**
   * Holds the next request matching until `release()` is called: `reached`
   * resolves once it arrived. Lets a test order two writers deterministically
   * (e.g. a profile read, then another writer's update, then the first write).
   */
  hold(match: (method: string, path: string) => boolean): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const arrived = new Promise<void>((resolve) => (reached = resolve));
    this.holds.push({ match, reached, released });
    return { reached: arrived, release };
  }

  /** Disarms every fault and forgets the log. */
  reset(): void {
    this.requestFailures.length = 0;
    this.itemFailures.clear();
    this.holds.length = 0;
    this.log.length = 0;
    this.statuses.clear();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0];

    const held = this.holds.findIndex((h) => h.match(method, path));
    if (held !== -1) {
      const [hold] = this.holds.splice(held, 1);
      hold.reached();
      await hold.released;
    }
    const failure = this.requestFailures.find((f) => f.count > 0 && f.match(method, path));
    if (failure !== undefined) {
      failure.count -= 1;
      const type = FAIL_TYPES[failure.status] ?? 'exception';
      return this.answer(res, method, path, failure.status, {
        error: { root_cause: [{ type, reason: 'injected' }], type, reason: 'injected' },
        status: failure.status,
      });
    }
    if (method === 'POST' && path.endsWith('/_bulk') && this.itemFailures.size > 0) return this.bulkWithItemFaults(req, res, body, path);
    const upstream = await this.forward(req, body);
    return this.answer(res, method, path, upstream.status, upstream.text);
  }

  /** Drops the armed items from the bulk, forwards the rest, and merges injected item errors back in request order. */
  private async bulkWithItemFaults(req: IncomingMessage, res: ServerResponse, body: string, path: string): Promise<void> {
    const lines = body.split('\n').filter((l) => l !== '');
    const forwarded: string[] = [];
    const slots: (Json | undefined)[] = [];
    for (let i = 0; i < lines.length;) {
      const action = JSON.parse(lines[i]) as Record<string, { _index?: string; _id?: string }>;
      const [name, meta] = Object.entries(action)[0];
      const hasSource = name !== 'delete';
      const pair = lines.slice(i, i + (hasSource ? 2 : 1));
      i += pair.length;
      const fault = meta._id === undefined ? undefined : this.itemFailures.get(meta._id);
      if (fault !== undefined && fault.remaining > 0) {
        fault.remaining -= 1;
        const type = FAIL_TYPES[fault.status] ?? 'exception';
        slots.push({ [name]: { _index: meta._index, _id: meta._id, status: fault.status, error: { type, reason: 'injected' } } });
      } else {
        slots.push(undefined);
        forwarded.push(...pair);
      }
    }
    let items: Json[] = [];
    let took = 0;
    if (forwarded.length > 0) {
      const upstream = await this.forward(req, `${forwarded.join('\n')}\n`);
      if (upstream.status >= 300) return this.answer(res, 'POST', path, upstream.status, upstream.text);
      const parsed = JSON.parse(upstream.text) as { took?: number; items?: Json[] };
      items = parsed.items ?? [];
      took = parsed.took ?? 0;
    }
    let next = 0;
    const merged = slots.map((slot) => slot ?? items[next++]);
    return this.answer(res, 'POST', path, 200, { took, errors: true, items: merged });
  }

  private async forward(req: IncomingMessage, body: string): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'accept', 'authorization']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const method = req.method ?? 'GET';
    const response = await fetch(`${this.upstream}${req.url ?? '/'}`, {
      method,
      headers,
      ...(method === 'GET' || method === 'HEAD' || body === '' ? {} : { body }),
    });
    return { status: response.status, text: await response.text() };
  }

  private answer(res: ServerResponse, method: string, path: string, status: number, body: Json | string): void {
    this.log.push(`${method} ${path} ${status}`);
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    // The v8 client refuses answers without this header (it checks it is talking to Elasticsearch).
    res.writeHead(status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
    res.end(method === 'HEAD' ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  }
}
