import { createHash } from 'node:crypto';
import { DependencyUnavailableError, RiskEngineError } from '@risk/domain';
import { Cluster, Command, Redis, ReplyError } from 'ioredis';
import { backoffDelay } from '../retry/retry';
import { encodeCommand, type CommandArg } from './redis-command.encoding';
import { keySlot } from './redis-keys';
import {
  parseInfo,
  parseNode,
  plainArgs,
  routingKey,
  type PipelineCall,
  type RedisClientOptions,
  type RedisScript,
  type RedisSubscription,
  type ScriptCall,
} from './redis-client.types';

/** The only file importing `ioredis`: everything else sees this wrapper and plain types (redis-client.types.ts). */
export type { CommandCall, PipelineCall, RedisClientOptions, RedisScript, RedisSubscription, ScriptCall } from './redis-client.types';

/** Server replies that mean "not now" rather than "never": the same command can succeed later. */
const RETRIABLE_REPLIES = /^(OOM|BUSY|LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|MOVED|ASK|NOREPLICAS)\b/;

/**
 * Fail-fast Redis access for the adapters. While the server is unreachable
 * every call rejects at once with a retriable `DependencyUnavailableError`
 * (no offline queue, one attempt, a command timeout) instead of piling up
 * work in memory; the connection keeps reconnecting in the background, so
 * the caller simply retries later.
 */
export class RedisClient {
  private readonly client: Redis | Cluster;
  private readonly subscribers = new Set<Redis | Cluster>();
  private scriptCount = 0;
  private readonly commands = new Map<RedisScript, string>();
  private closed = false;

  constructor(readonly options: RedisClientOptions) {
    const commandTimeout = options.commandTimeoutMs ?? 2_000;
    const maxDelay = options.maxReconnectDelayMs ?? 1_000;
    // ioredis asks before each reconnection (times from 1): 100 ms, 200 ms, … up to maxDelay.
    const retryStrategy = (times: number): number => backoffDelay(times, { initialMs: 100, maxMs: maxDelay, jitter: 0 });
    const nodes = options.clusterNodes;
    if (nodes !== undefined && nodes.length > 0) {
      this.client = new Cluster(nodes.map(parseNode), {
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        slotsRefreshTimeout: commandTimeout,
        redisOptions: { commandTimeout, maxRetriesPerRequest: 0, connectTimeout: commandTimeout },
      });
    } else if (options.url !== undefined) {
      this.client = new Redis(options.url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout,
        connectTimeout: commandTimeout,
        retryStrategy,
      });
    } else {
      throw new RiskEngineError('REDIS_CONFIG', 'Redis needs a url or cluster nodes', false);
    }
    // Errors surface on the calls; an unhandled 'error' event would crash the process.
    this.client.on('error', () => undefined);
  }

  get isCluster(): boolean {
    return this.client instanceof Cluster;
  }

  get isReady(): boolean {
    return this.client.status === 'ready';
  }

  /** Resolves once connected (and, for a cluster, the slot map is known). */
  async waitReady(timeoutMs = 10_000): Promise<void> {
    if (this.client.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady);
        reject(new DependencyUnavailableError('redis', `Redis not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.client.once('ready', onReady);
    });
  }

  /** Registers a Lua script. The script must declare every key it touches in KEYS (cluster routing). */
  defineScript(name: string, lua: string): RedisScript {
    const command = `risk_${name}_${++this.scriptCount}`;
    this.client.defineCommand(command, { lua });
    const target = this.client as unknown as Record<string, (...args: (string | number | Buffer)[]) => Promise<unknown>>;
    const client = this.client;
    const source: ScriptSource = { lua, sha: createHash('sha1').update(lua).digest('hex'), loadedOn: new WeakSet() };
    const script: RedisScript = {
      name,
      run: (keys, args) =>
        this.call(`script ${name}`, () =>
          client instanceof Cluster
            ? target[command].call(client, keys.length, ...keys, ...plainArgs(args))
            : runEncoded(client, source, keys, args),
        ),
    };
    this.commands.set(script, command);
    return script;
  }

  /**
   * Runs script calls in one round trip: one pipeline, or on a cluster one
   * pipeline per master, sent together. Each call must keep its keys in one
   * slot. Answers come back in call order; the first failure rejects.
   */
  runScripts(calls: readonly ScriptCall[]): Promise<unknown[]> {
    return this.pipelined(calls);
  }

  /**
   * Scripts and plain commands in one round trip (one pipeline per master on
   * a cluster, all sent at once). Calls to one master run in the given order.
   * Each call keeps its keys in one slot. Answers come back in call order;
   * the first failure rejects.
   */
  async pipelined(calls: readonly PipelineCall[]): Promise<unknown[]> {
    if (calls.length === 0) return [];
    const groups = new Map<string, number[]>();
    if (this.client instanceof Cluster) {
      const slots = this.client.slots;
      calls.forEach((call, i) => {
        const node = slots[keySlot(routingKey(call))]?.[0] ?? '?';
        const list = groups.get(node);
        if (list === undefined) groups.set(node, [i]);
        else list.push(i);
      });
    } else {
      groups.set(
        '',
        calls.map((_, i) => i),
      );
    }
    const answers = new Array<unknown>(calls.length);
    // A single node: plain commands are encoded by EncodedCommand (a cluster's pipelines route by the arguments).
    const single = !(this.client instanceof Cluster);
    await this.call('pipeline', async () => {
      await Promise.all(
        [...groups.values()].map(async (indexes) => {
          const pipeline = this.client.pipeline() as unknown as Record<string, (...args: (string | number | Buffer)[]) => unknown> & {
            exec(): Promise<[Error | null, unknown][] | null>;
            sendCommand(command: Command): unknown;
          };
          for (const i of indexes) {
            const call = calls[i];
            if ('script' in call) {
              const name = this.commands.get(call.script)!;
              pipeline[call.buffers === true ? `${name}Buffer` : name](call.keys.length, ...call.keys, ...plainArgs(call.args));
            } else if (single) {
              pipeline.sendCommand(new EncodedCommand(call.command, call.args, call.buffers === true));
            } else {
              pipeline[call.buffers === true ? `${call.command}Buffer` : call.command](...call.args);
            }
          }
          const results = await pipeline.exec();
          if (results === null) throw new Error('pipeline discarded');
          results.forEach(([error, value], j) => {
            if (error !== null) throw error;
            answers[indexes[j]] = value;
          });
        }),
      );
    });
    return answers;
  }

  get(key: string): Promise<string | null> {
    return this.call('GET', () => this.client.get(key));
  }

  /** SET, with an expiry in milliseconds when given. */
  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    await this.call('SET', () => (ttlMs === undefined ? this.client.set(key, value) : this.client.set(key, value, 'PX', ttlMs)));
  }

  del(...keys: string[]): Promise<number> {
    return this.call('DEL', () => this.client.del(...keys));
  }

  hget(key: string, field: string): Promise<string | null> {
    return this.call('HGET', () => this.client.hget(key, field));
  }

  async hset(key: string, fields: Record<string, string>): Promise<void> {
    await this.call('HSET', () => this.client.hset(key, fields));
  }

  hgetall(key: string): Promise<Record<string, string>> {
    return this.call('HGETALL', () => this.client.hgetall(key));
  }

  /** One HSCAN page of a hash: the next cursor ('0' at the end) and its fields and values, alternating. */
  hscan(key: string, cursor: string, count: number): Promise<[string, string[]]> {
    return this.call('HSCAN', () => this.client.hscan(key, cursor, 'COUNT', count));
  }

  publish(channel: string, message: string): Promise<number> {
    return this.call('PUBLISH', () => this.client.publish(channel, message));
  }

  /**
   * Subscribes on a dedicated connection (a subscribed connection can run
   * nothing else), once that connection is ready: with the offline queue
   * disabled, a command sent while it is still connecting fails at once. It
   * resubscribes by itself after a reconnection, but messages published while
   * it was down are lost: `onResubscribed` runs after each reconnection so the
   * subscriber can re-read the state it tracks.
   */
  async subscribe(
    channel: string,
    onMessage: (message: string) => void,
    onResubscribed?: () => void,
    timeoutMs = 10_000,
  ): Promise<RedisSubscription> {
    const connection = this.client.duplicate();
    connection.on('error', () => undefined);
    this.subscribers.add(connection);
    connection.on('message', (from: string, message: string) => {
      if (from === channel) onMessage(message);
    });
    try {
      if (connection.status !== 'ready') {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new DependencyUnavailableError('redis', `Redis subscriber not ready within ${timeoutMs} ms`)),
            timeoutMs,
          );
          connection.once('ready', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      await this.call('SUBSCRIBE', () => connection.subscribe(channel));
    } catch (error) {
      this.subscribers.delete(connection);
      connection.disconnect();
      throw toRiskError('SUBSCRIBE', error);
    }
    if (onResubscribed !== undefined) connection.on('ready', onResubscribed);
    return {
      close: async () => {
        this.subscribers.delete(connection);
        await quietly(connection);
      },
    };
  }

  /** `INFO <section>` parsed into key/value pairs; for a cluster, the first master's answer. */
  async info(section: string): Promise<Record<string, string>> {
    const text = await this.call('INFO', () => {
      if (this.client instanceof Cluster) {
        const master = this.client.nodes('master')[0];
        if (master === undefined) throw new Error('no cluster master known');
        return master.info(section);
      }
      return this.client.info(section);
    });
    return parseInfo(text);
  }

  async ping(): Promise<void> {
    await this.call('PING', () => this.client.ping());
  }

  /**
   * Deletes every key matching a glob pattern (SCAN + UNLINK, on every master). Production code: a replay with
   * `--state` deletes its private key prefix with it (apps/cli), and `replay-clean` after a failed one.
   */
  async deleteMatching(pattern: string): Promise<number> {
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    let deleted = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.call('SCAN', () => node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000));
        cursor = next;
        if (keys.length === 0) continue;
        // One key per UNLINK (keys of one SCAN page may lie in different slots), one round trip per page.
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.unlink(key);
        const results = await this.call('UNLINK', () => pipeline.exec());
        for (const [error, count] of results ?? []) {
          if (error !== null) throw toRiskError('UNLINK', error);
          deleted += Number(count);
        }
      } while (cursor !== '0');
    }
    return deleted;
  }

  /**
   * Visits the keys matching a glob pattern (SCAN, on every master), one SCAN
   * page at a time; `visit` answering false stops the scan. Keys may be
   * changed or deleted by `visit` meanwhile (SCAN tolerates it).
   */
  async scanMatching(pattern: string, visit: (keys: string[]) => Promise<boolean | void> | boolean | void): Promise<void> {
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.call('SCAN', () => node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000));
        cursor = next;
        if (keys.length > 0 && (await visit(keys)) === false) return;
      } while (cursor !== '0');
    }
  }

  /** Up to `limit` keys matching a glob pattern and `accept` (SCAN, on every master). */
  async findMatching(pattern: string, limit: number, accept: (key: string) => boolean = () => true): Promise<string[]> {
    const found: string[] = [];
    await this.scanMatching(pattern, (keys) => {
      for (const key of keys) if (found.length < limit && accept(key)) found.push(key);
      return found.length < limit;
    });
    return found;
  }

  async quit(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const connection of this.subscribers) await quietly(connection);
    this.subscribers.clear();
    await quietly(this.client);
  }

  /** Closes every connection at once without waiting for replies: for a server that stopped answering. */
  disconnect(): void {
    this.closed = true;
    for (const connection of this.subscribers) connection.disconnect();
    this.subscribers.clear();
    this.client.disconnect();
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new RiskEngineError('REDIS_CLOSED', `Redis client closed (${what})`, false);
    try {
      return await run();
    } catch (error) {
      throw toRiskError(what, error);
    }
  }
}

/** A script as `runEncoded` sends it: its text, its SHA1, and the connections that have run it (EVALSHA works there). */
interface ScriptSource {
  readonly lua: string;
  readonly sha: string;
  loadedOn: WeakSet<object>;
}

/**
 * EVALSHA, or EVAL on a connection that has not run the script yet (as
 * ioredis's own scripts do), whose whole command is encoded once into one
 * Buffer (`encodeCommand`) when the client writes it. A batch's write
 * script has hundreds to thousands of arguments: the client's own path
 * copies them into new arrays four times and builds a string per argument.
 */
class EncodedScriptCommand extends Command {
  constructor(
    private readonly source: ScriptSource,
    private readonly scriptKeys: readonly string[],
    private readonly scriptArgs: readonly CommandArg[],
  ) {
    super('evalsha', [], { replyEncoding: 'utf8' });
  }

  override toWritable(socket: object): Buffer {
    const head: CommandArg[] = this.source.loadedOn.has(socket)
      ? ['evalsha', this.source.sha, this.scriptKeys.length]
      : ['eval', this.source.lua, this.scriptKeys.length];
    this.source.loadedOn.add(socket);
    return encodeCommand([head, this.scriptKeys, this.scriptArgs]);
  }
}

/** A plain command encoded in one pass into one Buffer when the client writes it (`encodeCommand`; see EncodedScriptCommand). */
class EncodedCommand extends Command {
  constructor(
    name: string,
    private readonly commandArgs: readonly CommandArg[],
    buffers: boolean,
  ) {
    super(name, [], { replyEncoding: buffers ? null : 'utf8' });
  }

  override toWritable(): Buffer {
    return encodeCommand([[this.name], this.commandArgs]);
  }
}

/** A single node: runs the script through `EncodedScriptCommand`; after NOSCRIPT (a flushed or restarted server) once more with EVAL. */
async function runEncoded(client: Redis, source: ScriptSource, keys: readonly string[], args: readonly CommandArg[]): Promise<unknown> {
  try {
    return await client.sendCommand(new EncodedScriptCommand(source, keys, args));
  } catch (error) {
    if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
    source.loadedOn = new WeakSet();
    return await client.sendCommand(new EncodedScriptCommand(source, keys, args));
  }
}

/** Maps ioredis failures onto the domain's errors: connection trouble is retriable, a command the server refuses is not. */
export function toRiskError(what: string, error: unknown): RiskEngineError {
  if (error instanceof RiskEngineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ReplyError && !RETRIABLE_REPLIES.test(message)) {
    return new RiskEngineError('REDIS_ERROR', `Redis refused ${what}: ${message}`, false, undefined, { cause: error });
  }
  return new DependencyUnavailableError('redis', `Redis unavailable (${what}): ${message}`, { cause: error });
}

async function quietly(connection: Redis | Cluster): Promise<void> {
  try {
    if (connection.status === 'ready') await connection.quit();
    else connection.disconnect();
  } catch {
    connection.disconnect();
  }
}
