import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { Max, Min, IsInt } from 'class-validator';
import { InvalidInputError } from '@risk/domain';

const PLAIN_DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/**
 * A rule set version as written in a path: plain decimal, positive and safe.
 * `0x1`, `1e0`, `01`, `+1` or ` 1` are refused, never read as version 1 (an
 * activation of the wrong version is a rollback nobody asked for).
 */
export function parseVersion(text: unknown, path = 'version'): number {
  const value = typeof text === 'string' && PLAIN_DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidInputError('INVALID_REQUEST', `${path}: must be a positive integer in plain decimal`, [
      { path, message: 'must be a positive integer in plain decimal' },
    ]);
  }
  return value;
}

/**
 * The `:version` route parameter, parsed by `parseVersion`. A custom
 * decorator on purpose: the global ValidationPipe would first turn "0x1"
 * into 1 with `+value` for a parameter typed number.
 */
export const VersionParam = createParamDecorator((_: unknown, context: ExecutionContext): number =>
  parseVersion(context.switchToHttp().getRequest<Request>().params.version),
);

/**
 * A query parameter that must be a number: only plain decimal strings are
 * converted; anything else stays a string and fails `@IsInt()`.
 */
export function decimalQueryValue({ value }: { value: unknown }): unknown {
  return typeof value === 'string' && PLAIN_DECIMAL.test(value) ? Number(value) : value;
}

/** `base_version` / `version` in a body or query: an integer from 1 to 2^53 − 1 (1e20 is a 400, not a stale write). */
export function IsRuleSetVersion(): PropertyDecorator {
  return (target, key) => {
    IsInt()(target, key);
    Min(1)(target, key);
    Max(Number.MAX_SAFE_INTEGER)(target, key);
  };
}
