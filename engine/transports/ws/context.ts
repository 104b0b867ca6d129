/** The narrow context WebSocket handlers get: no reaching into the server or the log. */
import type { AreaRegistry } from '../../areas/registry.ts';
import type { Logger } from '../../logger.ts';
import type { WsMetrics } from './metrics.ts';

export type { WsMetrics } from './metrics.ts';

export interface WsContext {
  readonly areas: AreaRegistry;
  readonly maxSubscriptionsPerConnection: number;
  readonly metrics: WsMetrics;
  readonly logger: Logger;
  readonly now: () => number;
}
