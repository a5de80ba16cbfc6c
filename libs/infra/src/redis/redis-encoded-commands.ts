import { constantArgs, encodeCommand, encodeCommands, type CommandArg } from './redis-command.encoding';

const MULTI = [constantArgs('multi')];
const EXEC = [constantArgs('exec')];

/**
 * The commands the single-node client writes itself, encoded in one pass
 * (redis-command.encoding.ts). Built on ioredis's Command, which
 * redis.client.ts (the only file importing ioredis) passes in.
 */

/** ioredis's Command, as far as these commands use it. */
export type CommandBase = new (
  name: string,
  args: unknown[],
  options: { replyEncoding: string | null },
) => {
  readonly name: string;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  toWritable(socket: object): Buffer;
};

/** The client's queue of commands awaiting replies, as ioredis keeps it. */
interface ReplyQueue {
  readonly commandQueue: { unshift(item: never): unknown };
  readonly condition: { readonly select: number } | null;
}

/** A script as the client sends it: its text, its SHA1, and the connections that have run it (EVALSHA works there). */
export interface ScriptSource {
  readonly lua: string;
  readonly sha: string;
  loadedOn: WeakSet<object>;
}

/** The encoded command classes on ioredis's Command. */
export function encodedCommands(Base: CommandBase, isReplyError: (error: Error) => boolean) {
  /**
   * EVALSHA, or EVAL on a connection that has not run the script yet (as
   * ioredis's own scripts do), whose whole command is encoded once into one
   * Buffer (`encodeCommand`) when the client writes it. A batch's write
   * script has hundreds to thousands of arguments: the client's own path
   * copies them into new arrays four times and builds a string per argument.
   */
  class EncodedScriptCommand extends Base {
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

  /** A plain command encoded in one pass into one Buffer when the client writes it (see EncodedScriptCommand). */
  class EncodedCommand extends Base {
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

  return { EncodedScriptCommand, EncodedCommand, EncodedTransaction: transactionCommand(Base, isReplyError) };
}

/**
 * MULTI, commands, EXEC as one command written once (`encodeCommands`),
 * answered with all its replies: each reply but the last puts it back at the
 * head of the client's queue of commands awaiting replies, so it takes the
 * next one too (as ioredis does for SUBSCRIBE). One command object and one
 * write instead of one per SET: the engine's CPU. An error reply (a command
 * refused while queued, EXECABORT) is kept and the next ones still taken, so
 * replies stay paired with their commands; a connection error (not a reply)
 * rejects at once, as ioredis then fails every command it waits for.
 */
function transactionCommand(Base: CommandBase, isReplyError: (error: Error) => boolean) {
  return class EncodedTransaction extends Base {
    constructor(
      client: ReplyQueue,
      private readonly commands: readonly (readonly CommandArg[])[],
    ) {
      // Replies as the parser gives them (Buffers): the caller only looks for nil and errors.
      super('multi', [], { replyEncoding: null });
      const replies: unknown[] = [];
      const expected = commands.length + 2;
      const resolve = this.resolve;
      const reject = this.reject;
      let failure: Error | undefined;
      const item = { command: this, stream: undefined, select: client.condition?.select ?? 0 };
      const more = (): boolean => {
        if (replies.length >= expected) return false;
        client.commandQueue.unshift(item as never);
        return true;
      };
      this.resolve = (reply: unknown): void => {
        replies.push(reply);
        if (more()) return;
        if (failure === undefined) resolve(replies);
        else reject(failure);
      };
      this.reject = (error: Error): void => {
        if (!isReplyError(error)) return reject(error);
        replies.push(error);
        failure ??= error;
        if (!more()) reject(failure);
      };
    }

    override toWritable(): Buffer {
      return encodeCommands([MULTI, ...this.commands, EXEC]);
    }
  };
}
