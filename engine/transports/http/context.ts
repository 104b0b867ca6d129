/** What REST handlers get: the area service, auth, limits, metrics. Never the log itself. */
import type { AreaService } from '../../areas/service.ts';
import type { Authenticator, Principal } from '../../auth/types.ts';
import type { CounterLike } from '../../areas/metrics.ts';
import { EngineError, type ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { bearerToken } from '../shared/bearer.ts';

export interface HttpContext {
  readonly service: AreaService;
  readonly auth: Authenticator;
  readonly maxPayloadBytes: number;
  readonly logger: Logger;
  readonly httpErrors: (code: ErrorCode) => CounterLike;
  readonly authFailures: (reason: string) => CounterLike;
}

/** Bearer token from the Authorization header (REST has no query-token fallback: URLs get logged). */
export async function authenticateRequest(ctx: HttpContext, authorization: string): Promise<Principal> {
  try {
    return await ctx.auth.authenticate(bearerToken(authorization));
  } catch (err) {
    const reason = err instanceof EngineError ? err.message.split(':')[0] : 'error';
    ctx.authFailures(reason).inc();
    throw err;
  }
}
