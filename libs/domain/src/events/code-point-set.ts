/**
 * A set of Unicode code points as sorted, disjoint, non-adjacent inclusive
 * ranges `[from0, to0, from1, to1, …]`: what one character of a regular
 * expression (a literal, a class, `.`, `\d`, `\p{…}`) can match, for the
 * overlap tests of pattern-safety.ts.
 */
export type CodePointSet = readonly number[];

export const LARGEST_CODE_POINT = 0x10ffff;
export const ALL_CODE_POINTS: CodePointSet = [0, LARGEST_CODE_POINT];

export function codePoint(value: number): CodePointSet {
  return [value, value];
}

export function codePointRange(from: number, to: number): CodePointSet {
  return [from, to];
}

export function unionOf(sets: readonly CodePointSet[]): CodePointSet {
  const pairs: [number, number][] = [];
  for (const set of sets) for (let i = 0; i < set.length; i += 2) pairs.push([set[i], set[i + 1]]);
  pairs.sort((a, b) => a[0] - b[0]);
  const merged: number[] = [];
  for (const [from, to] of pairs) {
    const last = merged.length - 1;
    if (last > 0 && from <= merged[last] + 1) merged[last] = Math.max(merged[last], to);
    else merged.push(from, to);
  }
  return merged;
}

export function complementOf(set: CodePointSet): CodePointSet {
  const result: number[] = [];
  let next = 0;
  for (let i = 0; i < set.length; i += 2) {
    if (set[i] > next) result.push(next, set[i] - 1);
    next = set[i + 1] + 1;
  }
  if (next <= LARGEST_CODE_POINT) result.push(next, LARGEST_CODE_POINT);
  return result;
}

export function overlaps(a: CodePointSet, b: CodePointSet): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i + 1] < b[j]) i += 2;
    else if (b[j + 1] < a[i]) j += 2;
    else return true;
  }
  return false;
}

/** `\d`, `\s`, `\w` as ECMAScript defines them (`u` flag, no `i`). */
export const DIGITS: CodePointSet = [0x30, 0x39];
export const WORD_CHARACTERS: CodePointSet = unionOf([DIGITS, [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]]);
export const WHITE_SPACE: CodePointSet = unionOf(
  [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff]
    .map(codePoint)
    .concat([[0x2000, 0x200a]]),
);
/** `.` without the `s` flag: anything but a line terminator. */
export const NOT_LINE_TERMINATOR: CodePointSet = complementOf(unionOf([0x0a, 0x0d, 0x2028, 0x2029].map(codePoint)));

const propertySets = new Map<string, CodePointSet>();

/**
 * The code points of `\p{name}` (`name` as written between the braces, e.g.
 * `L` or `Script=Greek`), asked of the engine's own Unicode tables once per
 * name (a scan of every code point, tens of milliseconds, at load time only).
 * Throws the engine's SyntaxError for a name it does not know.
 */
export function unicodePropertySet(name: string): CodePointSet {
  let set = propertySets.get(name);
  if (set === undefined) {
    const matches = new RegExp(`^\\p{${name}}$`, 'u');
    const ranges: number[] = [];
    for (let value = 0; value <= LARGEST_CODE_POINT; value++) {
      if (!matches.test(String.fromCodePoint(value))) continue;
      const last = ranges.length - 1;
      if (last > 0 && ranges[last] === value - 1) ranges[last] = value;
      else ranges.push(value, value);
    }
    set = ranges;
    propertySets.set(name, set);
  }
  return set;
}
