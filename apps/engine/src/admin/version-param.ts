import { InvalidInputError } from '@risk/domain';

export function invalidVersion(): InvalidInputError {
  return new InvalidInputError('INVALID_REQUEST', 'version: must be a positive integer', [
    { path: 'version', message: 'must be a positive integer' },
  ]);
}
