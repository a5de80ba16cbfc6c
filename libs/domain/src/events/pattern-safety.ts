import {
  DIGITS,
  NOT_LINE_TERMINATOR,
  WHITE_SPACE,
  WORD_CHARACTERS,
  codePoint,
  codePointRange,
  complementOf,
  overlaps,
  unicodePropertySet,
  unionOf,
  type CodePointSet,
} from './code-point-set';

/**
 * Whether a declared field's `pattern` (docs/fields.md) can be run on
 * hostile event values without catastrophic backtracking. V8's RegExp engine
 * backtracks: `^(a+)+$` takes seconds on 30 characters, `^\d+\d+\d+$`
 * minutes on 4096. Its linear-time engine (the `l` flag) does not take the
 * `u` flag in Node 20 and refuses `{n,m}` bounds above 16, so patterns keep
 * running on the ordinary engine and only those proven cheap are accepted:
 *
 * - anchored at the start (`^`): an unanchored pattern is tried from every
 *   position of the value (quadratic in its length);
 * - deterministic: every character of a value can be matched by only one
 *   place of the pattern, whatever came before (`[^@]+@`, not `.+@`);
 * - unambiguous: no repetition of something that can match the empty
 *   string, no two alternatives that both can, no repetition that reaches
 *   the same character again by two routes (`(a+)+`);
 * - no backreferences, lookahead or lookbehind.
 *
 * Under these rules the backtracking engine never has two ways to consume a
 * character, so one test costs O(value length × pattern size). The check is
 * a Glushkov construction: one position per character the pattern can
 * match, with the positions that may follow it; deterministic means the
 * character sets of the positions that may come next never overlap.
 * `{n,m}` is expanded, so its bounds are limited by `MAX_PATTERN_POSITIONS`.
 *
 * Returns why the pattern is refused, or `undefined` when it is safe. The
 * pattern must already compile with the `u` flag (syntax errors are the
 * engine's to report).
 */
export function backtrackingRisk(source: string): string | undefined {
  try {
    const root = new PatternParser(source).parse();
    if (!anchoredAtStart(root)) return 'must begin with ^: an unanchored pattern is tried from every position of the value';
    new DeterminismCheck(source).check(root);
    return undefined;
  } catch (error) {
    if (error instanceof PatternRefusal) return error.message;
    throw error;
  }
}

/**
 * Positions (characters of the pattern once `{n,m}` is expanded) a checked
 * pattern may have: a declared string is at most 4096 characters long, so a
 * longer bound could never be used up.
 */
export const MAX_PATTERN_POSITIONS = 4096;
const MAX_FOLLOW_LINKS = 500_000;

class PatternRefusal extends Error {}

type PatternNode =
  | { readonly kind: 'character'; readonly set: CodePointSet; readonly offset: number }
  | { readonly kind: 'assertion'; readonly anchor: '^' | 'other' }
  | { readonly kind: 'sequence'; readonly items: readonly PatternNode[] }
  | { readonly kind: 'choice'; readonly options: readonly PatternNode[]; readonly offset: number }
  | { readonly kind: 'repeat'; readonly body: PatternNode; readonly min: number; readonly max: number; readonly offset: number };

function anchoredAtStart(node: PatternNode): boolean {
  switch (node.kind) {
    case 'assertion':
      return node.anchor === '^';
    case 'sequence':
      return node.items.length > 0 && anchoredAtStart(node.items[0]);
    case 'choice':
      return node.options.every(anchoredAtStart);
    default:
      return false;
  }
}

/** ECMAScript pattern syntax with the `u` flag (a source the engine has compiled). */
class PatternParser {
  private at = 0;

  constructor(private readonly source: string) {}

  parse(): PatternNode {
    const root = this.disjunction();
    if (this.at < this.source.length) throw new PatternRefusal(`unexpected ${this.source[this.at]} at offset ${this.at}`);
    return root;
  }

  private disjunction(): PatternNode {
    const offset = this.at;
    const options = [this.alternative()];
    while (this.source[this.at] === '|') {
      this.at++;
      options.push(this.alternative());
    }
    return options.length === 1 ? options[0] : { kind: 'choice', options, offset };
  }

  private alternative(): PatternNode {
    const items: PatternNode[] = [];
    while (this.at < this.source.length && this.source[this.at] !== '|' && this.source[this.at] !== ')') {
      const offset = this.at;
      const atom = this.term();
      items.push(atom.kind === 'assertion' ? atom : this.quantified(atom, offset));
    }
    return items.length === 1 ? items[0] : { kind: 'sequence', items };
  }

  private term(): PatternNode {
    const offset = this.at;
    const char = this.source[this.at];
    if (char === '^' || char === '$') {
      this.at++;
      return { kind: 'assertion', anchor: char === '^' ? '^' : 'other' };
    }
    if (char === '(') return this.group();
    if (char === '[') return { kind: 'character', set: this.characterClass(), offset };
    if (char === '.') {
      this.at++;
      return { kind: 'character', set: NOT_LINE_TERMINATOR, offset };
    }
    if (char === '\\') {
      const next = this.source[this.at + 1];
      if (next === 'b' || next === 'B') {
        this.at += 2;
        return { kind: 'assertion', anchor: 'other' };
      }
      if (next >= '1' && next <= '9') throw new PatternRefusal(`backreferences (\\${next} at offset ${offset}) are not allowed`);
      if (next === 'k') throw new PatternRefusal(`backreferences (\\k<…> at offset ${offset}) are not allowed`);
      this.at++;
      return { kind: 'character', set: this.escape(false), offset };
    }
    return { kind: 'character', set: codePoint(this.literal()), offset };
  }

  private group(): PatternNode {
    const offset = this.at;
    this.at++;
    if (
      this.source.startsWith('?=', this.at) ||
      this.source.startsWith('?!', this.at) ||
      this.source.startsWith('?<=', this.at) ||
      this.source.startsWith('?<!', this.at)
    )
      throw new PatternRefusal(`lookahead and lookbehind (at offset ${offset}) are not allowed`);
    if (this.source.startsWith('?:', this.at)) this.at += 2;
    else if (this.source.startsWith('?<', this.at)) this.at = this.source.indexOf('>', this.at) + 1;
    const inner = this.disjunction();
    this.expect(')');
    return inner;
  }

  private quantified(atom: PatternNode, offset: number): PatternNode {
    const char = this.source[this.at];
    let min: number;
    let max: number;
    if (char === '*' || char === '+' || char === '?') {
      this.at++;
      [min, max] = char === '*' ? [0, Infinity] : char === '+' ? [1, Infinity] : [0, 1];
    } else if (char === '{') {
      const bounds = /^\{(\d+)(,(\d*))?\}/.exec(this.source.slice(this.at));
      if (bounds === null) throw new PatternRefusal(`unexpected { at offset ${this.at}`);
      this.at += bounds[0].length;
      min = Number(bounds[1]);
      max = bounds[2] === undefined ? min : bounds[3] === '' ? Infinity : Number(bounds[3]);
    } else return atom;
    if (this.source[this.at] === '?') this.at++; // lazy: the same paths, tried in another order
    return { kind: 'repeat', body: atom, min, max, offset };
  }

  private characterClass(): CodePointSet {
    this.at++;
    const negated = this.source[this.at] === '^';
    if (negated) this.at++;
    const parts: CodePointSet[] = [];
    while (this.source[this.at] !== ']') {
      if (this.at >= this.source.length) throw new PatternRefusal('unterminated character class');
      const from = this.classAtom();
      if (this.source[this.at] === '-' && this.source[this.at + 1] !== ']' && isSingle(from)) {
        this.at++;
        const to = this.classAtom();
        parts.push(codePointRange(from[0], to[1]));
      } else parts.push(from);
    }
    this.at++;
    const set = unionOf(parts);
    return negated ? complementOf(set) : set;
  }

  private classAtom(): CodePointSet {
    if (this.source[this.at] !== '\\') return codePoint(this.literal());
    this.at++;
    if (this.source[this.at] === 'b') {
      this.at++;
      return codePoint(0x08);
    }
    return this.escape(true);
  }

  /** After a backslash: a class escape (`\d`, `\p{…}`) or one character. */
  private escape(inClass: boolean): CodePointSet {
    const char = this.source[this.at++];
    switch (char) {
      case 'd':
        return DIGITS;
      case 'D':
        return complementOf(DIGITS);
      case 's':
        return WHITE_SPACE;
      case 'S':
        return complementOf(WHITE_SPACE);
      case 'w':
        return WORD_CHARACTERS;
      case 'W':
        return complementOf(WORD_CHARACTERS);
      case 'p':
      case 'P': {
        const close = this.source.indexOf('}', this.at);
        const set = unicodePropertySet(this.source.slice(this.at + 1, close));
        this.at = close + 1;
        return char === 'p' ? set : complementOf(set);
      }
      case 'f':
        return codePoint(0x0c);
      case 'n':
        return codePoint(0x0a);
      case 'r':
        return codePoint(0x0d);
      case 't':
        return codePoint(0x09);
      case 'v':
        return codePoint(0x0b);
      case 'c':
        return codePoint(this.source.charCodeAt(this.at++) % 32);
      case '0':
        return codePoint(0);
      case 'x':
        this.at += 2;
        return codePoint(parseInt(this.source.slice(this.at - 2, this.at), 16));
      case 'u':
        return codePoint(this.unicodeEscape());
      case '-':
        if (inClass) return codePoint(0x2d);
        break;
      default:
        break;
    }
    this.at--;
    return codePoint(this.literal()); // an escaped syntax character or /
  }

  /** `\uHHHH`, a surrogate pair of two, or `\u{H…}`, after the `u`. */
  private unicodeEscape(): number {
    if (this.source[this.at] === '{') {
      const close = this.source.indexOf('}', this.at);
      const value = parseInt(this.source.slice(this.at + 1, close), 16);
      this.at = close + 1;
      return value;
    }
    const unit = parseInt(this.source.slice(this.at, this.at + 4), 16);
    this.at += 4;
    const trail = /^\\u([dD][c-fC-F][0-9a-fA-F]{2})/.exec(this.source.slice(this.at));
    if (unit >= 0xd800 && unit <= 0xdbff && trail !== null) {
      this.at += 6;
      return 0x10000 + ((unit - 0xd800) << 10) + (parseInt(trail[1], 16) - 0xdc00);
    }
    return unit;
  }

  private literal(): number {
    const value = this.source.codePointAt(this.at) as number;
    this.at += value > 0xffff ? 2 : 1;
    return value;
  }

  private expect(char: string): void {
    if (this.source[this.at] !== char) throw new PatternRefusal(`expected ${char} at offset ${this.at}`);
    this.at++;
  }
}

function isSingle(set: CodePointSet): boolean {
  return set.length === 2 && set[0] === set[1];
}

/** What a sub-pattern can match first and last, and whether it can match nothing. */
interface Shape {
  readonly nullable: boolean;
  readonly first: readonly number[];
  readonly last: readonly number[];
}

const EMPTY: Shape = { nullable: true, first: [], last: [] };

class DeterminismCheck {
  private readonly sets: CodePointSet[] = [];
  private readonly offsets: number[] = [];
  private readonly follow: Set<number>[] = [];
  private links = 0;

  constructor(private readonly source: string) {}

  check(root: PatternNode): void {
    const shape = this.shape(root);
    this.requireDisjoint(shape.first);
    for (const next of this.follow) this.requireDisjoint([...next]);
  }

  private shape(node: PatternNode): Shape {
    switch (node.kind) {
      case 'character':
        return this.position(node.set, node.offset);
      case 'assertion':
        return EMPTY; // it only ever removes paths
      case 'sequence':
        return node.items.reduce<Shape>((before, item) => this.concatenate(before, this.shape(item)), EMPTY);
      case 'choice': {
        const options = node.options.map((option) => this.shape(option));
        if (options.filter((option) => option.nullable).length > 1)
          throw new PatternRefusal(`two alternatives of the choice at offset ${node.offset} can both match the empty string`);
        return {
          nullable: options.some((option) => option.nullable),
          first: options.flatMap((option) => option.first),
          last: options.flatMap((option) => option.last),
        };
      }
      case 'repeat':
        return this.repeat(node.body, node.min, node.max, node.offset);
    }
  }

  /** `body{min,max}` as `body` min times, then `body*` or `(body(body…)?)?`. */
  private repeat(body: PatternNode, min: number, max: number, offset: number): Shape {
    if (max === 0) return EMPTY;
    let shape = EMPTY;
    for (let i = 0; i < min; i++) shape = this.concatenate(shape, this.body(body, offset));
    if (max === Infinity) {
      const loop = this.body(body, offset);
      this.link(loop.last, loop.first, offset);
      return this.concatenate(shape, { nullable: true, first: loop.first, last: loop.last });
    }
    let optional = EMPTY;
    for (let i = min; i < max; i++) {
      const copy = this.concatenate(this.body(body, offset), optional);
      optional = { nullable: true, first: copy.first, last: copy.last };
    }
    return this.concatenate(shape, optional);
  }

  private body(body: PatternNode, offset: number): Shape {
    const shape = this.shape(body);
    if (shape.nullable) throw new PatternRefusal(`the repetition at offset ${offset} repeats something that can match the empty string`);
    return shape;
  }

  private concatenate(before: Shape, after: Shape): Shape {
    this.link(before.last, after.first, undefined);
    return {
      nullable: before.nullable && after.nullable,
      first: before.nullable ? [...before.first, ...after.first] : before.first,
      last: after.nullable ? [...before.last, ...after.last] : after.last,
    };
  }

  private position(set: CodePointSet, offset: number): Shape {
    if (this.sets.length >= MAX_PATTERN_POSITIONS)
      throw new PatternRefusal(`is too large to check: more than ${MAX_PATTERN_POSITIONS} characters once its {n,m} are expanded`);
    const index = this.sets.length;
    this.sets.push(set);
    this.offsets.push(offset);
    this.follow.push(new Set());
    return { nullable: false, first: [index], last: [index] };
  }

  /**
   * May `to` follow `from`. A link made twice would be one text matched two
   * ways; the other rules (no repeated empty match, copies for repetitions,
   * deterministic follow sets) already exclude it: this is their safety net.
   */
  private link(from: readonly number[], to: readonly number[], repeatOffset: number | undefined): void {
    for (const p of from)
      for (const q of to) {
        if (this.follow[p].has(q))
          throw new PatternRefusal(
            `the repetition at offset ${repeatOffset ?? this.offsets[q]} can match the same text in more than one way (a repetition of a repetition)`,
          );
        this.follow[p].add(q);
        if (++this.links > MAX_FOLLOW_LINKS) throw new PatternRefusal('is too large to check');
      }
  }

  private requireDisjoint(positions: readonly number[]): void {
    for (let i = 0; i < positions.length; i++)
      for (let j = i + 1; j < positions.length; j++) {
        const [a, b] = [positions[i], positions[j]];
        if (overlaps(this.sets[a], this.sets[b])) {
          const [x, y] = [this.offsets[a], this.offsets[b]].sort((m, n) => m - n);
          throw new PatternRefusal(
            x === y
              ? `the repetition of ${this.excerpt(x)} at offset ${x} and what follows it can match the same character: make the choice unambiguous (e.g. [^@]+@ rather than .+@)`
              : `${this.excerpt(x)} at offset ${x} and ${this.excerpt(y)} at offset ${y} can match the same character at the same point: make the choice unambiguous (e.g. [^@]+@ rather than .+@)`,
          );
        }
      }
  }

  private excerpt(offset: number): string {
    const rest = this.source.slice(offset);
    const token = /^(\\u\{[^}]*\}|\\[pP]\{[^}]*\}|\\u[0-9a-fA-F]{4}|\\x..|\\c.|\\.|\[(?:\\.|[^\]\\])*\]|.)/su.exec(rest);
    return token === null ? rest : token[0];
  }
}
