import {
  DIGITS,
  NOT_LINE_TERMINATOR,
  WHITE_SPACE,
  WORD_CHARACTERS,
  codePoint,
  codePointRange,
  complementOf,
  unicodePropertySet,
  unionOf,
  type CodePointSet,
} from './code-point-set';

/** Why a pattern is refused: its message names the construct and its offset in the pattern. */
export class PatternRefusal extends Error {}

/**
 * A pattern as what each of its characters can match: groups are
 * transparent (captures do not matter to a test), `{n,m}`, `*`, `+` and `?`
 * are repeats, and `^`, `$`, `\b`, `\B` are zero-width assertions.
 */
export type PatternNode =
  | { readonly kind: 'character'; readonly set: CodePointSet; readonly offset: number }
  | { readonly kind: 'assertion'; readonly anchor: '^' | 'other' }
  | { readonly kind: 'sequence'; readonly items: readonly PatternNode[] }
  | { readonly kind: 'choice'; readonly options: readonly PatternNode[]; readonly offset: number }
  | { readonly kind: 'repeat'; readonly body: PatternNode; readonly min: number; readonly max: number; readonly offset: number };

/**
 * Parses a pattern the engine has compiled with the `u` flag. Backreferences
 * and lookarounds are refused here (a `PatternRefusal`), since what they
 * match depends on more than the next character.
 */
export function parsePattern(source: string): PatternNode {
  return new PatternParser(source).parse();
}

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
