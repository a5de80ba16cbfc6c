/**
 * Every error that crosses a port carries a stable code and says whether
 * retrying the same operation later can succeed. The edges (HTTP, Kafka,
 * replay) map these to status codes, pauses or dead letters; nothing inside
 * the domain decides that.
 */
export class RiskEngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retriable: boolean,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A dependency (Redis, Kafka, Elasticsearch) is unreachable or overloaded: try again later. */
export class DependencyUnavailableError extends RiskEngineError {
  constructor(dependency: string, message: string, options?: { cause?: unknown }) {
    super(`${dependency.toUpperCase()}_UNAVAILABLE`, message, true, { dependency }, options);
  }
}

/** Input that can never succeed as it is: a bad rule, a bad request. */
export class InvalidInputError extends RiskEngineError {
  constructor(
    code: string,
    message: string,
    readonly errors: readonly FieldError[],
  ) {
    super(code, message, false, { errors });
  }
}

export class NotFoundError extends RiskEngineError {
  constructor(what: string, id: string | number) {
    super('NOT_FOUND', `${what} ${String(id)} not found`, false);
  }
}

export class ConflictError extends RiskEngineError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, false, details);
  }
}

/** One problem with one field: `path` uses dots and [index], e.g. `conditions.all[1].fact`. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export function isRetriable(error: unknown): boolean {
  return error instanceof RiskEngineError && error.retriable;
}
