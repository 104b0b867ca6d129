/**
 * The client's token: the current one, what it allows (decoded, not verified), when to refresh
 * it, and getToken calls with their reason [client README "Tokens"].
 */
import { decodeToken, maySubscribe, refreshAt, type TokenInfo } from './token.ts';
import type { TokenReason } from './types.ts';

export class Credentials {
  token: string | undefined;
  private info: TokenInfo = { exp: undefined, iat: undefined, subscribe: undefined };
  private receivedAt = 0;
  /** Why the next getToken call happens (a 4005 makes it 'expired'). */
  nextReason: TokenReason | undefined;
  /** getToken calls after the initial one. */
  refreshes = 0;

  constructor(
    initial: string | undefined,
    private readonly getToken: ((ctx: { reason: TokenReason }) => Promise<string>) | undefined,
    private readonly random: () => number,
    private readonly onToken: (exp: number | undefined, refreshAt: number | undefined) => void,
  ) {
    if (initial !== undefined) this.accept(initial);
  }

  get refreshable(): boolean {
    return this.getToken !== undefined;
  }

  accept(token: string): void {
    this.token = token;
    this.info = decodeToken(token);
    this.receivedAt = Date.now();
    this.onToken(this.info.exp, refreshAt(this.info, this.receivedAt, this.random));
  }

  /** The token's `subscribe` globs allow the area (true for an opaque token: the engine decides). */
  maySubscribe(area: string): boolean {
    return maySubscribe(this.info, area);
  }

  /** No token, or the local clock says it expired: connecting needs a new one first. */
  get needed(): boolean {
    return this.token === undefined || (this.info.exp !== undefined && this.info.exp * 1000 <= Date.now());
  }

  /** Gets a token when one is needed (no-op without getToken: the engine may run without auth). */
  async ensure(): Promise<void> {
    if (!this.needed) return;
    const reason = this.nextReason ?? (this.token === undefined ? 'initial' : 'expired');
    this.nextReason = undefined;
    await this.fetch(reason);
  }

  async fetch(reason: TokenReason): Promise<void> {
    if (this.getToken === undefined) return;
    this.accept(await this.getToken({ reason }));
    if (reason !== 'initial') this.refreshes++;
  }

  /** Drops the token (closed 4005 or 4500): the next connect gets a new one for `reason`. */
  drop(reason: TokenReason): void {
    this.token = undefined;
    this.nextReason = reason;
  }

  /** When to refresh (ms since the Unix epoch), or undefined (no getToken, or a token without exp). */
  refreshAt(): number | undefined {
    if (this.getToken === undefined) return undefined;
    return refreshAt(this.info, this.receivedAt || Date.now(), this.random);
  }
}
