/** What a verified token (or loopback dev mode) allows. Built once per connection/request. */
export interface Principal {
  /** JWT `sub`; 'anonymous' in dev mode. */
  readonly subject: string;
  /** ms since epoch when the token expires; 0 = never (dev mode or no `exp`). */
  readonly expiresAt: number;
  canSubscribe(area: string): boolean;
  canPublish(area: string): boolean;
  /** May read operations data (/metrics, /dashboard/data): the token's `"ops": true`; always in dev mode. */
  canOperate(): boolean;
}

export interface Authenticator {
  /** false only in loopback dev mode (no key configured). */
  readonly enabled: boolean;
  /**
   * Verifies a bearer token. Throws EngineError('unauthorized') for a missing, malformed,
   * badly signed or expired token. With auth disabled, returns an allow-all principal.
   */
  authenticate(token: string | undefined): Promise<Principal>;
  /**
   * The principal when it is known without waiting (dev mode, or a token already verified and
   * cached), else undefined: then call authenticate(). Lets a connect skip a promise and its
   * closures [issue 6: connect rate and per-connection memory at 100K].
   */
  authenticateKnown?(token: string | undefined): Principal | undefined;
}
