/**
 * What publishers and REST readers can do with areas: append (durably), area info, history.
 * Transports call this; only this and the cursors hold the AreaLog.
 */
import { EngineError, isEngineError } from '../errors.ts';
import type { AppendResult, AreaLog, AreaState, ContentType, LogRecord, RecordHeaders } from '../log/types.ts';
import type { AreaRegistry } from './registry.ts';

export interface PublishRequest {
  readonly payload: Uint8Array;
  readonly contentType: ContentType;
  /** Seconds until the message expires; 0 = never. */
  readonly ttlSeconds: number;
  readonly idempotencyKey?: string;
  /** MQTT 5 publish properties and who published (RecordHeaders). */
  readonly headers?: RecordHeaders;
}

export interface PublishMetrics {
  readonly appendSeconds: { observe(v: number): void };
  readonly publishes: (result: 'ok' | 'duplicate' | 'error') => { inc(): void };
}

export interface AreaInfo extends AreaState {
  readonly area: string;
  /** Subscribers of the area in this process. */
  readonly subscribers: number;
}

export class AreaService {
  private pending = 0;

  constructor(
    private readonly log: AreaLog,
    private readonly registry: AreaRegistry,
    private readonly metrics: PublishMetrics,
    private readonly maxPendingAppends: number,
    private readonly now: () => number = Date.now,
  ) {}

  get pendingAppends(): number {
    return this.pending;
  }

  healthy(): boolean {
    return this.log.healthy();
  }

  async publish(area: string, req: PublishRequest): Promise<AppendResult> {
    // No pre-check of log.healthy(): an unhealthy embedded log only recovers through a write that
    // succeeds, and an unavailable log answers log_unavailable itself.
    if (this.pending >= this.maxPendingAppends) throw new EngineError('rate_limited', `more than ${this.maxPendingAppends} publishes waiting for the log`);
    const time = this.now();
    this.pending++;
    const started = performance.now();
    try {
      const result = await this.log.append(area, {
        payload: req.payload,
        contentType: req.contentType,
        time,
        expiresAt: req.ttlSeconds > 0 ? time + req.ttlSeconds * 1000 : 0,
        idempotencyKey: req.idempotencyKey,
        ...(req.headers !== undefined && { headers: req.headers }),
      });
      this.metrics.appendSeconds.observe((performance.now() - started) / 1000);
      this.metrics.publishes(result.duplicate ? 'duplicate' : 'ok').inc();
      return result;
    } catch (err) {
      this.metrics.publishes('error').inc();
      if (isEngineError(err)) throw err;
      throw new EngineError('log_unavailable', 'the log could not store the message', { cause: err });
    } finally {
      this.pending--;
    }
  }

  /** Every area the log has (or had) records for. */
  async areas(): Promise<string[]> {
    return this.logCall(() => this.log.areas());
  }

  async info(area: string): Promise<AreaInfo> {
    const st = await this.logCall(() => this.log.state(area));
    return { area, ...st, subscribers: this.registry.find(area)?.subscriberCount ?? 0 };
  }

  /** Retained, unexpired records with offset >= from (full-state fetch after recovered:false). */
  async history(area: string, from: number, limit: number): Promise<{ state: AreaState; records: LogRecord[]; next: number }> {
    const state = await this.logCall(() => this.log.state(area));
    const start = Math.max(from, state.first);
    const records = await this.logCall(() => this.log.read(area, start, limit));
    const next = records.length > 0 ? records[records.length - 1].offset + 1 : Math.max(start, state.head + 1);
    const now = this.now();
    return { state, records: records.filter((r) => r.expiresAt === 0 || r.expiresAt > now), next };
  }

  private async logCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new EngineError('log_unavailable', 'the log could not be read', { cause: err });
    }
  }
}
