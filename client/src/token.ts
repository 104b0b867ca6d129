/**
 * What the SDK reads from a token without verifying it (the engine verifies): `exp`, `iat` and the
 * `subscribe` globs, to refresh before expiry and to refuse a forbidden area locally (the engine
 * would close the whole connection with 4501, taking every other area down with it).
 */
import { base64ToBytes } from './codec.ts';

export interface TokenInfo {
  /** NumericDate (s), undefined for an opaque token or one without exp. */
  readonly exp: number | undefined;
  readonly iat: number | undefined;
  /** The `subscribe` claim's globs; undefined when unknown (opaque token): no local check. */
  readonly subscribe: readonly string[] | undefined;
}

const OPAQUE: TokenInfo = Object.freeze({ exp: undefined, iat: undefined, subscribe: undefined });

function base64UrlDecode(s: string): string {
  return new TextDecoder().decode(base64ToBytes(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)));
}

export function decodeToken(token: string): TokenInfo {
  const parts = token.split('.');
  if (parts.length !== 3) return OPAQUE;
  let claims: unknown;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    return OPAQUE;
  }
  if (typeof claims !== 'object' || claims === null) return OPAQUE;
  const c = claims as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const subscribe = Array.isArray(c.subscribe) && c.subscribe.every((p) => typeof p === 'string') ? (c.subscribe as string[]) : undefined;
  return { exp: num(c.exp), iat: num(c.iat), subscribe };
}

/**
 * The engine's glob semantics (engine/auth/patterns.ts): `*` any run of characters, `?` one
 * character, everything else literal. A test checks this against the engine's matcher.
 */
export function globMatch(pattern: string, text: string): boolean {
  // Classic two-pointer wildcard match with one backtrack point: O(n·m) worst case, no regex.
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

export function maySubscribe(info: TokenInfo, area: string): boolean {
  return info.subscribe === undefined || info.subscribe.some((p) => globMatch(p, area));
}

/**
 * When to get the next token (ms since the Unix epoch), or undefined for tokens without exp.
 * Skew-free when `iat` is present (the lifetime is measured on the issuer's clock, the time on
 * ours): at 70-90% of the lifetime (jittered so a fleet that got its tokens together does not
 * refresh together), and at the latest 2 s before exp (the engine closes within ~1 s after it).
 */
export function refreshAt(info: TokenInfo, receivedAt: number, random: () => number): number | undefined {
  if (info.exp === undefined) return undefined;
  const lifetimeMs = info.iat !== undefined ? (info.exp - info.iat) * 1000 : info.exp * 1000 - receivedAt;
  const at = receivedAt + lifetimeMs * (0.7 + 0.2 * random());
  const latest = info.iat !== undefined ? receivedAt + lifetimeMs - 2000 : info.exp * 1000 - 2000;
  return Math.max(receivedAt, Math.min(at, latest));
}
