import { RespArgs, type CommandArg } from './redis-command.encoding';

/** The Redis client wrapper's plain types (redis.client.ts, the only file importing `ioredis`) and its pure helpers. */

export interface RedisClientOptions {
  /** `redis://host:port` (or `rediss://`) of a single node. */
  readonly url?: string | undefined;
  /** `host:port` seeds of a Redis Cluster, instead of `url`. */
  readonly clusterNodes?: readonly string[] | undefined;
  /** A command that got no answer within this long fails with a retriable error. Default 2000 ms. */
  readonly commandTimeoutMs?: number;
  /** Longest pause between reconnection attempts. Default 1000 ms. */
  readonly maxReconnectDelayMs?: number;
}

/** A Lua script registered on the client; `run` sends EVALSHA (EVAL once after a server restart). */
export interface RedisScript {
  readonly name: string;
  run(keys: readonly string[], args: readonly CommandArg[]): Promise<unknown>;
}

export interface ScriptCall {
  readonly script: RedisScript;
  readonly keys: readonly string[];
  readonly args: readonly CommandArg[];
  /** Bulk replies as Buffers instead of UTF-8 strings. */
  readonly buffers?: boolean;
}

/** A plain command in a pipeline; it is routed by its first argument (a key). */
export interface CommandCall {
  readonly command: 'get' | 'mget' | 'hmget' | 'lrange' | 'hset' | 'hdel' | 'hlen' | 'llen';
  readonly args: readonly (string | number)[];
  /** Bulk replies as Buffers (binary state) instead of UTF-8 strings. */
  readonly buffers?: boolean;
}

export type PipelineCall = ScriptCall | CommandCall;

export interface RedisSubscription {
  close(): Promise<void>;
}

export function parseNode(node: string): { host: string; port: number } {
  const text = node.replace(/^rediss?:\/\//, '');
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return { host: text, port: 6379 };
  return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}

/** Arguments as ioredis's own encoding takes them: pre-encoded ones (RespArgs) as one Buffer each. */
export function plainArgs(args: readonly CommandArg[]): (string | number | Buffer)[] {
  return args.flatMap((arg) => (arg instanceof RespArgs ? arg.split() : [arg]));
}

export function routingKey(call: PipelineCall): string {
  return 'script' in call ? (call.keys[0] ?? '') : String(call.args[0] ?? '');
}
