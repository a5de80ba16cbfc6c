import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { backtrackingRisk, MAX_PATTERN_POSITIONS } from './pattern-safety';

/** Patterns that backtrack without bound in V8 on a crafted value, each with the reason it is refused. */
const HOSTILE: readonly [string, RegExp][] = [
  ['^(a+)+$', /the repetition of a at offset 2 and what follows it can match the same character/],
  ['^(a|a)*$', /offset 2 and a at offset 4 can match the same character/],
  ['^(a*)*$', /repeats something that can match the empty string/],
  ['^(a|aa)+$', /can match the same character/],
  ['^(\\d+)*x$', /the repetition of \\d at offset 2/],
  ['^(?:a?){20}a{20}$', /repeats something that can match the empty string/],
  ['^\\d+\\d+\\d+$', /\\d at offset 1 and \\d at offset 4 can match the same character/],
  ['^.*.*=.*$', /can match the same character/],
  ['^(?:x|y|\\w)+!$', /can match the same character/],
  ['^(\\w+\\s?)*$', /the repetition of \\w at offset 2/],
  ['^[a-z]+@[a-z]+(?:\\.[a-z]+)*\\.com$', /can match the same character/],
  ['^(a)\\1$', /backreferences \(\\1 at offset 4\) are not allowed/],
  ['^(?<x>a)\\k<x>$', /backreferences/],
  ['^(?=a)a$', /lookahead and lookbehind \(at offset 1\) are not allowed/],
  ['^(?<!b)a$', /lookahead and lookbehind/],
  ['\\d+x', /must begin with \^/],
  ['[0-9]{6}$', /must begin with \^/],
  ['^a|b', /must begin with \^/],
  ['^(?:|a|)x$', /two alternatives of the choice at offset 4 can both match the empty string/],
  ['^\\p{L}+\\p{Lu}$', /can match the same character/],
  ['^[^@]+\\S$', /can match the same character/],
];

/** Patterns a field declaration reasonably uses: each must stay accepted. */
const ORDINARY: readonly string[] = [
  '^[A-Z]{2}$',
  '^\\d{6}$',
  '^[a-z0-9._-]+@[a-z0-9.-]+$',
  '^[0-9]+$',
  '^[^@\\s]+@[^@\\s]+$',
  '^(?:web|app|pos)$',
  '^[A-Z]{3}-\\d{4,8}$',
  '^(?<bin>\\d{6})\\d{0,13}$',
  '^\\p{Lu}\\p{Ll}+(?: \\p{Lu}\\p{Ll}+)*$',
  '^[\\u{1F600}-\\u{1F64F}]+$',
  '^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$',
  '^\\bx\\b',
  '^[a-z]+?$',
  '^FR\\d{2}[ ]?\\d{4}$',
  '^$|^[a-z]$',
];

describe('pattern safety: backtrackingRisk', () => {
  it('refuses every hostile pattern, naming the construct', () => {
    for (const [source, reason] of HOSTILE) {
      assert.doesNotThrow(() => new RegExp(source, 'u'), source);
      const risk = backtrackingRisk(source);
      assert.ok(risk !== undefined, `${source} was accepted`);
      assert.match(risk, reason, source);
    }
  });

  it('accepts ordinary patterns', () => {
    for (const source of ORDINARY) assert.equal(backtrackingRisk(source), undefined, source);
  });

  it('bounds what {n,m} may expand to', () => {
    assert.equal(backtrackingRisk(`^[0-9]{1,${MAX_PATTERN_POSITIONS}}$`), undefined);
    assert.match(backtrackingRisk(`^[0-9]{1,${MAX_PATTERN_POSITIONS + 1}}$`) ?? '', /too large to check/);
    assert.match(backtrackingRisk('^(?:[a-z]{1,200}-){1,200}$') ?? '', /too large to check/);
  });

  it('reads escapes, classes and surrogate pairs as the u flag does', () => {
    // each is deterministic only if the two sets are read exactly: a wrong reading would overlap them
    assert.equal(backtrackingRisk('^[\\x41-\\x43]+[\\u0044]$'), undefined);
    assert.equal(backtrackingRisk('^\\uD83D\\uDE00+\\u{1F601}$'), undefined);
    assert.equal(backtrackingRisk('^[^\\d]+\\d$'), undefined);
    assert.equal(backtrackingRisk('^\\W+\\w$'), undefined);
    assert.equal(backtrackingRisk('^\\S+\\s$'), undefined);
    assert.equal(backtrackingRisk('^[\\-a]+b$'), undefined);
    assert.equal(backtrackingRisk('^\\P{L}+\\p{L}$'), undefined);
    assert.equal(backtrackingRisk('^.+\\n$'), undefined);
    // and overlapping ones are seen
    assert.ok(backtrackingRisk('^\\uD83D\\uDE00+\\u{1F600}$') !== undefined);
    assert.ok(backtrackingRisk('^[\\x41-\\x44]+[\\u0044]$') !== undefined);
    assert.ok(backtrackingRisk('^.+\\r$') === undefined && backtrackingRisk('^.+\\t$') !== undefined);
  });
});
