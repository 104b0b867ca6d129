import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AREA_ID_RE, compilePatterns, isValidAreaId } from './patterns.ts';

/** Reference semantics, deliberately the obvious (slow, regex) way. */
function oracle(patterns: readonly string[], area: string): boolean {
  return patterns.some((p) => {
    const body = [...p]
      .map((c) => (c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')))
      .join('');
    return new RegExp(`^${body}$`).test(area);
  });
}

const areaChar = fc.constantFrom(...'ab.:-_9Z');
const areaStr = fc.string({ unit: areaChar, maxLength: 12 });
const patternStr = fc.string({ unit: fc.constantFrom(...'ab.:-*?'), maxLength: 8 });
const validArea = fc.stringMatching(AREA_ID_RE);
const anyStr = fc.string({ unit: 'binary', maxLength: 20 });

describe('compilePatterns', () => {
  it('examples', () => {
    const m = compilePatterns(['keytop:*', 'city-?:*', 'exact.one']);
    expect(m('keytop:lane-3')).toBe(true);
    expect(m('keytop:')).toBe(true);
    expect(m('keytop')).toBe(false);
    expect(m('city-a:parking')).toBe(true);
    expect(m('city-ab:parking')).toBe(false);
    expect(m('city-:parking')).toBe(false);
    expect(m('exact.one')).toBe(true);
    expect(m('exactXone')).toBe(false);
    expect(m('other')).toBe(false);
  });

  it('no patterns match nothing; `*` matches everything', () => {
    expect(compilePatterns([])('a')).toBe(false);
    expect(compilePatterns(['*'])('anything:at-all')).toBe(true);
    expect(compilePatterns(['**'])('')).toBe(true);
  });

  it('interior stars and question marks', () => {
    const m = compilePatterns(['a*b*c', '*.x', '??']);
    expect(m('abc')).toBe(true);
    expect(m('a-b-c')).toBe(true);
    expect(m('acb')).toBe(false);
    expect(m('abcb')).toBe(false);
    expect(m('zone.x')).toBe(true);
    expect(m('.x')).toBe(true);
    expect(m('zyx')).toBe(false);
    expect(m('ab')).toBe(true);
    expect(m('abc.y')).toBe(false);
  });

  it('pathological pattern stays fast (no backtracking blow-up)', () => {
    const m = compilePatterns(['*a*a*a*a*a*a*a*a*a*a*b']);
    const area = 'a'.repeat(128);
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) expect(m(area)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('property: agrees with a regex oracle', () => {
    fc.assert(
      fc.property(fc.array(patternStr, { maxLength: 4 }), areaStr, (patterns, area) => {
        expect(compilePatterns(patterns)(area)).toBe(oracle(patterns, area));
      }),
      { numRuns: 3000 },
    );
  });

  it('property: a literal pattern matches only itself', () => {
    const literal = fc.string({ unit: fc.constantFrom(...'ab.:-_9Z()[]+^$|\\{}'), maxLength: 10 });
    fc.assert(
      fc.property(literal, anyStr, (p, other) => {
        const m = compilePatterns([p]);
        expect(m(p)).toBe(true);
        expect(m(other)).toBe(other === p);
      }),
    );
  });

  it('property: prefix* matches exactly the strings starting with prefix', () => {
    const prefix = fc.string({ unit: fc.constantFrom(...'ab.:-()+^$|'), maxLength: 6 });
    fc.assert(
      fc.property(prefix, areaStr, anyStr, (pre, rest, other) => {
        const m = compilePatterns([`${pre}*`]);
        expect(m(pre + rest)).toBe(true);
        expect(m(other)).toBe(other.startsWith(pre));
      }),
    );
  });

  it('property: regex-special characters are literal', () => {
    const special = fc.constantFrom(...'.+^$()[]{}|\\/');
    fc.assert(
      fc.property(special, areaChar, (c, other) => {
        fc.pre(other !== c);
        const m = compilePatterns([`a${c}b`]);
        expect(m(`a${c}b`)).toBe(true);
        expect(m(`a${other}b`)).toBe(false);
        expect(m('ab')).toBe(false);
      }),
    );
  });

  it('property: `?` matches exactly one character', () => {
    fc.assert(
      fc.property(areaStr, (s) => {
        expect(compilePatterns(['?'.repeat(s.length)])(s)).toBe(true);
        expect(compilePatterns(['?'.repeat(s.length + 1)])(s)).toBe(false);
      }),
    );
  });

  it('property: a list matches when any member matches (order irrelevant)', () => {
    fc.assert(
      fc.property(fc.array(patternStr, { maxLength: 5 }), areaStr, (patterns, area) => {
        const any = patterns.some((p) => compilePatterns([p])(area));
        expect(compilePatterns(patterns)(area)).toBe(any);
        expect(compilePatterns([...patterns].reverse())(area)).toBe(any);
      }),
    );
  });
});

describe('area ids', () => {
  it('accepts valid ids', () => {
    for (const id of ['a', 'keytop:lane-3', 'city-1.zone_2', 'A'.repeat(128)]) expect(isValidAreaId(id)).toBe(true);
  });
  it('rejects invalid ids', () => {
    for (const id of ['', '-a', '.a', ':a', 'a b', 'a/b', 'a*', 'A'.repeat(129), 'é', 'a\n', 42, undefined]) {
      expect(isValidAreaId(id)).toBe(false);
    }
  });
  it('property: generated valid ids pass, 129+ chars fail', () => {
    fc.assert(fc.property(validArea, (id) => isValidAreaId(id)));
    fc.assert(fc.property(validArea, (id) => !isValidAreaId(id + 'x'.repeat(129))));
  });
});
