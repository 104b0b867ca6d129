/**
 * Glob patterns over area ids, as carried in token claims (`subscribe`, `publish`).
 *
 *   `*`  any run of characters (including none)
 *   `?`  exactly one character
 *   everything else is literal (no escapes, no classes; `.`, `+`, `(`, `[`... mean themselves)
 *
 * A list of patterns is compiled ONCE into a matcher; matching builds no regex and allocates
 * nothing. It is a plain segment scan, not a RegExp, so a pattern such as `*a*a*a*a*b` cannot
 * backtrack exponentially: worst case is O(area length × pattern length).
 */

/** Valid area ids (same rule as the `invalid_area` error). */
export const AREA_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Plain boolean (not a type guard), so a failed check on a `string` does not narrow it to `never`. */
export function isValidAreaId(area: unknown): boolean {
  return typeof area === 'string' && AREA_ID_RE.test(area);
}

export type AreaMatcher = (area: string) => boolean;

const QUESTION = 63; // '?'

/** A run of literal characters and `?`s between two `*`s. */
interface Segment {
  readonly text: string;
  /** true when `text` contains `?`; otherwise plain string comparison is used. */
  readonly wild: boolean;
}

/** A pattern with at least one `?` or an interior `*` (the general case). */
interface GlobPattern {
  /** Segments split on `*`; length 1 means the pattern has no `*`. */
  readonly segments: readonly Segment[];
  /** Sum of segment lengths: the shortest area that can match. */
  readonly minLength: number;
}

const NEVER: AreaMatcher = () => false;
const ALWAYS: AreaMatcher = () => true;

/** Compiles patterns into one matcher: true when ANY pattern matches the whole area id. */
export function compilePatterns(patterns: readonly string[]): AreaMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const globs: GlobPattern[] = [];
  for (const pattern of new Set(patterns)) {
    if (typeof pattern !== 'string') continue;
    if (/^\*+$/.test(pattern)) return ALWAYS;
    const star = pattern.indexOf('*');
    const hasQuestion = pattern.includes('?');
    if (star < 0 && !hasQuestion) {
      exact.add(pattern);
    } else if (!hasQuestion && star === pattern.length - 1) {
      prefixes.push(pattern.slice(0, -1));
    } else {
      globs.push(compileGlob(pattern));
    }
  }
  if (exact.size === 0 && prefixes.length === 0 && globs.length === 0) return NEVER;
  if (prefixes.length === 0 && globs.length === 0) return (area) => exact.has(area);
  return (area) => {
    if (exact.has(area)) return true;
    for (let i = 0; i < prefixes.length; i++) if (area.startsWith(prefixes[i])) return true;
    for (let i = 0; i < globs.length; i++) if (matchGlob(globs[i], area)) return true;
    return false;
  };
}

function compileGlob(pattern: string): GlobPattern {
  // Consecutive stars collapse (`a**b` = `a*b`); empty interior segments then vanish.
  const parts = pattern.replace(/\*+/g, '*').split('*');
  const segments = parts.map((text) => ({ text, wild: text.includes('?') }));
  const minLength = parts.reduce((n, p) => n + p.length, 0);
  return { segments, minLength };
}

/** Does `seg` match `area` starting exactly at `at`? (caller guarantees it fits) */
function segmentAt(seg: Segment, area: string, at: number): boolean {
  const text = seg.text;
  if (!seg.wild) return area.startsWith(text, at);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== QUESTION && c !== area.charCodeAt(at + i)) return false;
  }
  return true;
}

/** Leftmost position >= from where `seg` matches and ends by `limit`; -1 if none. */
function findSegment(seg: Segment, area: string, from: number, limit: number): number {
  const last = limit - seg.text.length;
  if (!seg.wild) {
    const at = area.indexOf(seg.text, from);
    return at >= 0 && at <= last ? at : -1;
  }
  for (let at = from; at <= last; at++) if (segmentAt(seg, area, at)) return at;
  return -1;
}

/**
 * Head segment anchored at 0, tail segment anchored at the end, middle segments matched
 * greedily leftmost in between. Leftmost placement is optimal for `*`-separated segments: it
 * leaves the most room for everything after it, so no backtracking is ever needed.
 */
function matchGlob(glob: GlobPattern, area: string): boolean {
  const segs = glob.segments;
  const len = area.length;
  if (len < glob.minLength) return false;
  const head = segs[0];
  if (segs.length === 1) return len === head.text.length && segmentAt(head, area, 0);
  if (!segmentAt(head, area, 0)) return false;
  const tail = segs[segs.length - 1];
  const tailAt = len - tail.text.length;
  if (!segmentAt(tail, area, tailAt)) return false;
  let pos = head.text.length;
  for (let i = 1; i < segs.length - 1; i++) {
    const seg = segs[i];
    const at = findSegment(seg, area, pos, tailAt);
    if (at < 0) return false;
    pos = at + seg.text.length;
  }
  return pos <= tailAt;
}
