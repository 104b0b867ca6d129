/** The narrow context WebSocket handlers get: no reaching into the server or the log. */
import type { AreaRegistry } from '../../areas/registry.ts';
import type { ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { CounterLike } from '../../areas/metrics.ts';

export interface WsMetrics {
  readonly acks: CounterLike;
  readonly subscribes: CounterLike;
  readonly recoveredFalse: CounterLike;
  /** Subscribes with `since` (replay requests), whatever the answer. */
  readonly resumes?: CounterLike;
  readonly badInput: (code: ErrorCode) => CounterLike;
  readonly subscriptions: { inc(): void; dec(): void };
}

export interface WsContext {
  readonly areas: AreaRegistry;
  readonly maxSubscriptionsPerConnection: number;
  readonly metrics: WsMetrics;
  readonly logger: Logger;
  readonly now: () => number;
}
