/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or undefined. One parser for REST and both upgrades. */
const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function bearerToken(header: string): string | undefined {
  const m = BEARER.exec(header);
  return m === null ? undefined : m[1];
}
