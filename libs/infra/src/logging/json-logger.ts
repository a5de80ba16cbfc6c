import type { LoggerService } from '@nestjs/common';
import type { LogLevel } from '../config/engine-config';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Structured logs: one JSON object per line on stdout, with `time`, `level`,
 * `context` and `msg`, plus any fields. Also serves as Nest's logger so the
 * framework's own lines come out in the same shape.
 */
export class JsonLogger implements LoggerService {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly context = 'risk-engine',
    private readonly write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  ) {}

  child(context: string): JsonLogger {
    return new JsonLogger(this.level, context, this.write);
  }

  debug(message: unknown, fields?: unknown): void {
    this.emit('debug', message, fields);
  }
  info(message: unknown, fields?: unknown): void {
    this.emit('info', message, fields);
  }
  log(message: unknown, fields?: unknown): void {
    this.emit('info', message, fields);
  }
  warn(message: unknown, fields?: unknown): void {
    this.emit('warn', message, fields);
  }
  error(message: unknown, fields?: unknown, context?: unknown): void {
    this.emit('error', message, fields, context);
  }
  verbose(message: unknown, fields?: unknown): void {
    this.emit('debug', message, fields);
  }

  private emit(level: LogLevel, message: unknown, fields?: unknown, extra?: unknown): void {
    if (RANK[level] < RANK[this.level]) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, context: this.context };
    if (message instanceof Error) {
      entry.msg = message.message;
      entry.error = serializeError(message);
    } else entry.msg = typeof message === 'string' ? message : JSON.stringify(message);
    // Nest passes its context name as a trailing string argument.
    if (typeof fields === 'string') entry.context = fields;
    else if (fields instanceof Error) entry.error = serializeError(fields);
    else if (fields !== null && typeof fields === 'object') Object.assign(entry, fields);
    if (typeof extra === 'string') entry.context = extra;
    this.write(JSON.stringify(entry));
  }
}

export function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const out: Record<string, unknown> = { name: error.name, message: error.message };
  const coded = error as Error & { code?: unknown; retriable?: unknown };
  if (coded.code !== undefined) out.code = coded.code;
  if (coded.retriable !== undefined) out.retriable = coded.retriable;
  if (error.stack !== undefined) out.stack = error.stack.split('\n').slice(0, 6).join('\n');
  return out;
}
