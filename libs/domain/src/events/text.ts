/**
 * SPEC §1 limits ids and names in characters, i.e. Unicode code points: an
 * emoji (two UTF-16 units) counts once. A lone surrogate (reachable through a
 * JSON `\ud83d` escape) is not a character and has no UTF-8 form, so it is
 * refused rather than stored and later written out as U+FFFD.
 */
export function textProblem(value: string, maxCharacters: number, minCharacters = 0): string | undefined {
  // More than two units per allowed character cannot fit, whatever they hold.
  if (value.length > 2 * maxCharacters) return `must be at most ${maxCharacters} characters`;
  let characters = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdfff) {
      const next = i + 1 < value.length ? value.charCodeAt(i + 1) : 0;
      if (unit > 0xdbff || next < 0xdc00 || next > 0xdfff) {
        return `must be valid Unicode text: lone surrogate \\u${unit.toString(16)} at character ${characters + 1}`;
      }
      i++;
    }
    characters++;
  }
  if (characters > maxCharacters) return `must be at most ${maxCharacters} characters`;
  return characters < minCharacters ? `must be at least ${minCharacters} characters` : undefined;
}

/** How an unexpected JSON value is named in a reason: `null`, `an array`, `an object`, or its type. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}
