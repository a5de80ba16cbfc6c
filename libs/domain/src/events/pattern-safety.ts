import { overlaps, type CodePointSet } from './code-point-set';
import { parsePattern, PatternRefusal, type PatternNode } from './pattern-syntax';

/**
 * Whether a declared field's `pattern` (docs/fields.md) can be run on
 * hostile event values without catastrophic backtracking. V8's RegExp engine
 * backtracks: `^(a+)+$` takes seconds on 30 characters, `^\d+\d+\d+$` over
 * a minute on 4096. Its linear-time engine (the `l` flag) does not take the
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
    const root = parsePattern(source);
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
