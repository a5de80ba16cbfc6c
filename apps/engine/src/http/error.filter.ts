import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import type { Response } from 'express';
import { ConflictError, InvalidInputError, NotFoundError, RiskEngineError, type FieldError } from '@risk/domain';
import type { JsonLogger } from '@risk/infra/logging/json-logger';
import { UnsupportedMediaError } from './request-body';

/** Error body of every non-2xx answer. */
export interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly errors?: readonly FieldError[];
  readonly retriable: boolean;
}

/**
 * The HTTP edge: maps domain errors (code + retriable) to status codes.
 * Nothing below the controllers knows about HTTP.
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: JsonLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const [status, body] = this.map(exception);
    if (status >= 500) this.logger.error('request failed', { status, error: body.error, message: body.message });
    if (status === 503) response.setHeader('Retry-After', '1');
    response.status(status).json(body);
  }

  private map(exception: unknown): [number, ErrorBody] {
    if (exception instanceof InvalidInputError) {
      return [400, { error: exception.code, message: exception.message, errors: exception.errors, retriable: false }];
    }
    if (exception instanceof UnsupportedMediaError) {
      return [415, { error: exception.code, message: exception.message, errors: exception.errors, retriable: false }];
    }
    if (exception instanceof NotFoundError) return [404, { error: exception.code, message: exception.message, retriable: false }];
    if (exception instanceof ConflictError) {
      return [409, { error: exception.code, message: exception.message, retriable: false, ...(exception.details as object | undefined) }];
    }
    if (exception instanceof RiskEngineError) {
      return [exception.retriable ? 503 : 500, { error: exception.code, message: exception.message, retriable: exception.retriable }];
    }
    const bodyError = bodyReadError(exception);
    if (bodyError !== undefined) return bodyError;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse() as { message?: unknown; error?: string } | string;
      const message =
        typeof response === 'string'
          ? response
          : Array.isArray(response.message)
            ? response.message.join('; ')
            : typeof response.message === 'string'
              ? response.message
              : exception.message;
      return [status, { error: httpCode(status), message, retriable: status === 429 || status >= 500 }];
    }
    return [500, { error: 'INTERNAL', message: 'internal error', retriable: true }];
  }
}

/**
 * body-parser's errors (http-errors with a 4xx status): the client sent a body
 * that cannot be read (too large, an unknown content-encoding, corrupt or
 * truncated gzip, an aborted upload). Each is the client's fault, never a 500.
 */
function bodyReadError(exception: unknown): [number, ErrorBody] | undefined {
  const error = exception as { type?: unknown; status?: unknown; code?: unknown; message?: unknown; expose?: unknown } | null;
  if (error === null || typeof error !== 'object' || typeof error.status !== 'number' || error.expose !== true) return undefined;
  if (error.status < 400 || error.status >= 500) return undefined;
  const detail = typeof error.message === 'string' ? error.message : 'the body could not be read';
  const fail = (status: number, code: string, message: string, path = '$'): [number, ErrorBody] => [
    status,
    { error: code, message, errors: [{ path, message }], retriable: false },
  ];
  if (error.type === 'entity.too.large') return [413, { error: 'BODY_TOO_LARGE', message: detail, retriable: false }];
  if (error.type === 'encoding.unsupported') {
    return fail(415, 'UNSUPPORTED_CONTENT_ENCODING', `${detail}: send identity, gzip, deflate or br`, 'content-encoding');
  }
  if (error.type === 'charset.unsupported') return fail(415, 'UNSUPPORTED_CHARSET', `${detail}: send UTF-8`, 'content-type');
  if (typeof error.code === 'string' && error.code.startsWith('Z_')) {
    return fail(
      400,
      'INVALID_CONTENT_ENCODING',
      `the body could not be decompressed as its content-encoding says: ${detail}`,
      'content-encoding',
    );
  }
  return fail(error.status, httpCode(error.status), detail);
}

function httpCode(status: number): string {
  return (
    {
      400: 'BAD_REQUEST',
      401: 'UNAUTHORIZED',
      403: 'FORBIDDEN',
      404: 'NOT_FOUND',
      405: 'METHOD_NOT_ALLOWED',
      413: 'BODY_TOO_LARGE',
      415: 'UNSUPPORTED_MEDIA_TYPE',
      429: 'TOO_MANY_REQUESTS',
    }[status] ?? `HTTP_${status}`
  );
}

/** ValidationPipe's errors → one FieldError per property, with nested paths. */
export function validationErrors(errors: readonly ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const path =
      parent === '' ? error.property : /^\d+$/.test(error.property) ? `${parent}[${error.property}]` : `${parent}.${error.property}`;
    for (const message of Object.values(error.constraints ?? {})) out.push({ path, message });
    if (error.children !== undefined && error.children.length > 0) out.push(...validationErrors(error.children, path));
  }
  return out;
}

export function toInvalidInput(errors: ValidationError[]): InvalidInputError {
  const fieldErrors = validationErrors(errors);
  return new InvalidInputError('INVALID_REQUEST', fieldErrors.map((e) => `${e.path}: ${e.message}`).join('; '), fieldErrors);
}
