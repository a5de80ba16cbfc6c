import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { InvalidInputError, RiskEngineError, type FieldError } from '@risk/domain';
import { DEFAULT_PAYLOAD_LIMITS } from '@risk/domain/rules/lifecycle';

/** Largest admin (JSON) body: a rule is at most 64 KiB, a dry run adds one event and its features. */
export const ADMIN_BODY_LIMIT_BYTES = 1024 * 1024;
/**
 * Nesting allowed in an admin body: a rule document may nest 32 levels, and a
 * dry run wraps it in one more object (`{"rule": …}`). Checked on the parsed
 * JSON without recursion, before class-transformer (which recurses) sees it.
 */
export const ADMIN_BODY_MAX_DEPTH = DEFAULT_PAYLOAD_LIMITS.maxJsonDepth + 1;

// ignoreBOM keeps a U+FEFF where it stands: only a BOM at the very start of a body is dropped (stripBom).
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const UTF8_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);

/** 415 for a body whose bytes the engine cannot read as sent. */
export class UnsupportedMediaError extends RiskEngineError {
  constructor(
    code: string,
    message: string,
    readonly errors: readonly FieldError[],
  ) {
    super(code, message, false, { errors });
  }
}

export function isEventsPath(req: Request): boolean {
  return /^\/events\/?$/i.test((req.url ?? '').split('?')[0]);
}

/** Largest bulk list upload (NDJSON or CSV): a million entries with notes fit (docs/lists.md). */
export const LIST_UPLOAD_LIMIT_BYTES = 256 * 1024 * 1024;
const LIST_UPLOAD_TYPES = ['application/x-ndjson', 'text/csv'];

/** `POST /lists/<name>/entries` as NDJSON or CSV: kept as bytes and split into lines by the lists controller. */
export function isListUpload(req: Request): boolean {
  return req.method === 'POST' && /^\/lists\/[^/]+\/entries\/?$/i.test((req.url ?? '').split('?')[0]) && Boolean(req.is(LIST_UPLOAD_TYPES));
}

/** `POST /backtests` with its events as NDJSON: kept as bytes (bounded like `POST /events`) and split by the controller. */
export function isBacktestUpload(req: Request): boolean {
  return req.method === 'POST' && /^\/backtests\/?$/i.test((req.url ?? '').split('?')[0]) && Boolean(req.is(['application/x-ndjson']));
}

/**
 * Every body is read as bytes by body-parser (which also inflates gzip,
 * deflate and br, and enforces the size limits), then decoded here with a
 * fatal UTF-8 decoder: the SPEC says UTF-8, so bad bytes are a 400, never a
 * silent U+FFFD. `POST /events` keeps its bytes: the ingest decodes them line
 * by line so that an error names its line. Admin bodies are parsed as JSON
 * and bounded in depth here, once for every route.
 */
export function installBodyReaders(app: NestExpressApplication, maxEventsBodyBytes: number): void {
  app.useBodyParser('raw', { type: (req: Request) => isEventsPath(req), limit: maxEventsBodyBytes });
  app.useBodyParser('raw', { type: (req: Request) => isListUpload(req), limit: LIST_UPLOAD_LIMIT_BYTES });
  app.useBodyParser('raw', { type: (req: Request) => isBacktestUpload(req), limit: maxEventsBodyBytes });
  app.useBodyParser('raw', {
    type: (req: Request) => !isEventsPath(req) && Boolean(req.is(['application/json', 'application/*+json'])),
    limit: ADMIN_BODY_LIMIT_BYTES,
  });
  app.use((req: Request, _res: Response, next: NextFunction) => {
    try {
      if (!Buffer.isBuffer(req.body)) return next();
      checkCharset(req.headers['content-type']);
      if (!isEventsPath(req) && !isListUpload(req) && !isBacktestUpload(req)) req.body = parseJsonBody(req.body);
      next();
    } catch (error) {
      next(error);
    }
  });
}

/** Only UTF-8 (and its subset US-ASCII) is read; any other declared charset is a 415 naming it. */
export function checkCharset(contentType: string | undefined): void {
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '');
  if (match === null) return;
  const charset = match[1].toLowerCase();
  if (UTF8_CHARSETS.has(charset)) return;
  throw new UnsupportedMediaError('UNSUPPORTED_CHARSET', `unsupported charset "${match[1]}": send UTF-8`, [
    { path: 'content-type', message: `charset "${match[1]}" is not supported; the body must be UTF-8` },
  ]);
}

/** A UTF-8 byte order mark at the start of a body is tolerated (many editors write one) and dropped. */
export function stripBom(bytes: Buffer): Buffer {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
}

/** Strict UTF-8 decoding: `undefined` when the bytes are not UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** An admin body: UTF-8, JSON, an object or array, nested at most ADMIN_BODY_MAX_DEPTH levels, no `__proto__` keys. */
export function parseJsonBody(bytes: Buffer): unknown {
  const text = decodeUtf8(stripBom(bytes));
  if (text === undefined) throw bodyError('INVALID_ENCODING', 'the body is not valid UTF-8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw bodyError('INVALID_JSON', `not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object') throw bodyError('INVALID_JSON', 'expected a JSON object');
  const problem = checkJsonShape(parsed, ADMIN_BODY_MAX_DEPTH);
  if (problem !== undefined) throw bodyError(problem.code, problem.message);
  return parsed;
}

/**
 * Walks a parsed document without recursion. Deeper than `maxDepth` stops
 * the walk at once; a `__proto__` key is refused because class-transformer
 * would assign it and swap the prototype of the object it builds.
 */
export function checkJsonShape(value: unknown, maxDepth: number): { code: string; message: string } | undefined {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > maxDepth) return { code: 'BODY_TOO_DEEP', message: `JSON nesting is deeper than the ${maxDepth} levels allowed` };
    if (Array.isArray(node)) {
      for (const child of node) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
      continue;
    }
    for (const key of Object.keys(node as object)) {
      if (key === '__proto__') return { code: 'INVALID_JSON', message: 'the key "__proto__" is not allowed' };
      const child = (node as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return undefined;
}

function bodyError(code: string, message: string): InvalidInputError {
  return new InvalidInputError(code, message, [{ path: '$', message }]);
}
