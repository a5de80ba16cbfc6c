import { InvalidInputError } from '@risk/domain';

/**
 * The version a write is based on, from `base_version` (body or query) or an
 * `If-Match` header (`"7"`, `W/"7"` or `7`; `*` means any). Absent: the write
 * applies to whatever version is active when it arrives.
 */
export function baseVersion(ifMatch: string | undefined, explicit: number | undefined): number | undefined {
  let fromHeader: number | undefined;
  const text = ifMatch?.trim();
  if (text !== undefined && text !== '' && text !== '*') {
    const match = /^(?:W\/)?"?([1-9]\d{0,14})"?$/.exec(text);
    if (match === null) {
      throw new InvalidInputError('INVALID_REQUEST', 'If-Match: expected a rule set version such as "7"', [
        { path: 'If-Match', message: 'expected a rule set version such as "7"' },
      ]);
    }
    fromHeader = Number(match[1]);
  }
  if (fromHeader !== undefined && explicit !== undefined && fromHeader !== explicit) {
    throw new InvalidInputError('INVALID_REQUEST', 'If-Match and base_version disagree', [
      { path: 'base_version', message: `is ${explicit} but If-Match says ${fromHeader}` },
    ]);
  }
  return explicit ?? fromHeader;
}

export function etag(version: number): string {
  return `"${version}"`;
}
