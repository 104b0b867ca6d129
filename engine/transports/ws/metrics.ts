/**
 * What the WebSocket transport counts, as interfaces the transport owns; engine/metrics builds
 * them in the prom-client registry (the dependency points from metrics/ to transports/, never up).
 */
import type { CounterLike } from '../../areas/metrics.ts';
import type { CloseReason, ErrorCode } from '../../errors.ts';

/** The handlers' counters (ack, subscribe...). */
export interface WsMetrics {
  readonly acks: CounterLike;
  readonly subscribes: CounterLike;
  readonly recoveredFalse: CounterLike;
  /** Subscribes with `since` (replay requests), whatever the answer. */
  readonly resumes?: CounterLike;
  readonly badInput: (code: ErrorCode) => CounterLike;
  readonly subscriptions: { inc(): void; dec(): void };
}

/** The endpoint's own: connections, closes by reason, auth failures, HTTP refusals of the upgrade. */
export interface WsEndpointMetrics {
  readonly ws: WsMetrics;
  readonly wsConnections: { inc(): void; dec(): void };
  readonly closes: (reason: CloseReason) => CounterLike;
  readonly authFailures: (reason: string) => CounterLike;
  readonly httpErrors: (code: ErrorCode) => CounterLike;
}
