/** Property tests: the topic/filter classification and why wildcards are all-or-nothing over areas. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidAreaId } from '../../auth/patterns.ts';
import { areaOfTopic, filterMatches, parseFilter, topicOf } from './topics.ts';

const areaChar = fc.constantFrom(...'abcxyzABZ019._:-'.split(''));
const area = fc
  .tuple(fc.constantFrom(...'aZ7'.split('')), fc.array(areaChar, { maxLength: 20 }))
  .map(([h, t]) => h + t.join(''));
const level = fc.oneof(fc.constant('areas'), fc.constant('+'), fc.constant('#'), area, fc.constant(''), fc.constant('x+y'));
const filter = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));

describe('topics', () => {
  it('areas/{area} round-trips; anything else is not an area topic', () => {
    fc.assert(
      fc.property(area, (a) => {
        expect(isValidAreaId(a)).toBe(true);
        expect(areaOfTopic(topicOf(a))).toBe(a);
        expect(parseFilter(topicOf(a))).toEqual({ kind: 'area', area: a });
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const a = areaOfTopic(s);
        if (a !== undefined) expect(topicOf(a)).toBe(s);
        expect(a === undefined || isValidAreaId(a)).toBe(true);
      }),
    );
  });

  it('an exact filter matches exactly its own area topic', () => {
    fc.assert(
      fc.property(filter, area, (f, a) => {
        const p = parseFilter(f);
        if (p.kind === 'area') expect(filterMatches(f, topicOf(a))).toBe(p.area === a);
      }),
    );
  });

  it('a wildcard in the area level (or a leading #) matches every area topic or none', () => {
    // A filter like `+/a` wildcards only the constant `areas` level and matches one area: the
    // expansion (wildcards.ts) matches each area with filterMatches, so it gets exactly that one.
    fc.assert(
      fc.property(filter, area, area, (f, a, b) => {
        if (parseFilter(f).kind !== 'wildcard') return;
        const levels = f.split('/');
        if (!(levels[0] === '#' || levels[1] === '+' || levels[1] === '#')) return;
        expect(filterMatches(f, topicOf(a))).toBe(filterMatches(f, topicOf(b)));
      }),
    );
  });

  it('classifies: wildcards, shared, invalid placements', () => {
    expect(parseFilter('areas/+').kind).toBe('wildcard');
    expect(parseFilter('#').kind).toBe('wildcard');
    expect(parseFilter('+/+').kind).toBe('wildcard');
    expect(parseFilter('areas/#/x').kind).toBe('invalid');
    expect(parseFilter('areas/dist+').kind).toBe('invalid');
    expect(parseFilter('areas/a#').kind).toBe('invalid');
    expect(parseFilter('$share/g/areas/a').kind).toBe('shared');
    expect(parseFilter('areas/').kind).toBe('invalid');
    expect(parseFilter('areas/a/b').kind).toBe('invalid');
    expect(parseFilter('').kind).toBe('invalid');
    expect(parseFilter('areas/-bad').kind).toBe('invalid');
  });

  it('any filter containing + or # is never an exact area', () => {
    fc.assert(
      fc.property(filter, (f) => {
        if (f.includes('+') || f.includes('#')) expect(parseFilter(f).kind).not.toBe('area');
      }),
    );
  });
});
