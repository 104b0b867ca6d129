/**
 * PulsarLog: the AreaLog on Apache Pulsar. One persistent topic per area (./topic-names.ts), one
 * tailing Reader per area per process (./area-reader.ts), one lazily created Producer per area
 * (./producers.ts), the store epoch and area registry in the meta topic (./meta.ts). Design,
 * limits and the namespace settings it needs: README, section "Pulsar".
 *
 * No client library is imported here: the client module comes in through options.pulsar (native or
 * WebSocket, picked by ./loader.ts when `--log pulsar` is configured, or the test double of ./testing/).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Client } from './client-api.ts';
import { EngineError, isEngineError } from '../../errors.ts';
import type { AppendRequest, AppendResult, AreaLog, AreaState, LogRecord, TailHandle, TailListener } from '../types.ts';
import { AreaReader } from './area-reader.ts';
import { MetaStore } from './meta.ts';
import { diagnose, type PulsarFailure } from './diagnose.ts';
import { backoffDelay, resolveOptions, type PulsarLogOptions, type ResolvedPulsarLogOptions } from './options.ts';
import { ProducerPool } from './producers.ts';
import { areaTopic, deadLetterTopic, metaTopic, parseNamespace, validateDeadLetterSuffix, type PulsarNamespace } from './topic-names.ts';

/** Retries of an open that found the broker unreachable: jittered, 0.5 s doubling to 5 s. */
const OPEN_RETRY_MS = { initial: 500, max: 5000 };

export class PulsarLog implements AreaLog {
  readonly kind = 'pulsar';
  private readonly o: ResolvedPulsarLogOptions;
  private readonly ns: PulsarNamespace;
  private client: Client | undefined;
  private meta!: MetaStore;
  private producers!: ProducerPool;
  private deadLetters!: ProducerPool;
  private readonly areaReaders = new Map<string, AreaReader>();
  private opened = false;
  private closed = false;
  /** Why the log is not open yet (the broker was unreachable at open; retrying in the background). */
  private notOpenBecause: string | undefined;
  private openRetry: NodeJS.Timeout | undefined;
  private readersHealthy = true;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(options: PulsarLogOptions) {
    const name = `abe-${hostname().replace(/[^A-Za-z0-9.-]/g, '-')}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.o = resolveOptions(options, name);
    this.ns = parseNamespace(options.namespace);
    validateDeadLetterSuffix(this.o.deadLetterSuffix);
  }

  /**
   * Connects and opens the meta topic. A configuration error (./diagnose.ts: wrong URL, token,
   * tenant, namespace, missing grant) rejects with one clear sentence. An unreachable broker does
   * not: the log opens not ready (healthy() false, calls fail with log_unavailable) and keeps trying
   * in the background, so an engine started before its broker serves as soon as the broker comes.
   */
  async open(): Promise<void> {
    if (this.opened || this.client) throw new Error('PulsarLog.open() called twice');
    const o = this.o;
    this.client = o.pulsar.createClient(o.client);
    const common = { client: this.client, sendTimeoutMs: o.sendTimeoutMs, backoffMs: o.backoffMs, onError: o.onError };
    this.producers = new ProducerPool({ ...common, producerName: o.producerName, producerIdleMs: o.producerIdleMs, now: o.now });
    this.deadLetters = new ProducerPool({ ...common, producerName: `${o.producerName}-dlq`, producerIdleMs: o.producerIdleMs, now: o.now });
    let failure = await this.openMeta();
    // A network-level answer that looks like configuration is confirmed twice before the start gives up.
    for (let again = 0; failure?.fatal && failure.confirm && again < 2; again++) {
      await new Promise((r) => setTimeout(r, 1000));
      failure = await this.openMeta();
    }
    if (!failure) return;
    if (failure.fatal) {
      await this.shutdown();
      throw new EngineError('log_unavailable', `cannot open the Pulsar log: ${failure.message}`);
    }
    o.onError(new Error(failure.message), 'opening the Pulsar log: starting not ready, retrying in the background');
    this.retryOpen(0, failure.message);
  }

  /** One attempt at the meta topic; undefined when the log is open. */
  private async openMeta(): Promise<PulsarFailure | undefined> {
    const o = this.o;
    const meta = new MetaStore({ client: this.client!, sendTimeoutMs: o.sendTimeoutMs, backoffMs: o.backoffMs, onError: o.onError, pulsar: o.pulsar, topic: metaTopic(this.ns), producerName: o.producerName, catchUpIdleMs: o.catchUpIdleMs, readerStallMs: o.readerStallMs });
    try {
      await meta.open();
    } catch (error) {
      await meta.close().catch(() => {});
      const failure = diagnose(error, { url: o.client.serviceUrl, namespace: `${this.ns.tenant}/${this.ns.namespace}` });
      this.notOpenBecause = failure.message;
      return failure;
    }
    if (this.closed) {
      await meta.close().catch(() => {}); // closed while this attempt was under way
      return undefined;
    }
    this.meta = meta;
    this.opened = true;
    this.notOpenBecause = undefined;
    if (o.sweepMs > 0) {
      this.sweepTimer = setInterval(() => void this.sweep().catch((e: unknown) => o.onError(e, 'sweep')), o.sweepMs);
      this.sweepTimer.unref();
    }
    return undefined;
  }

  /**
   * Retries an open that found the broker unreachable. A configuration error found only now (the
   * broker came back with a wrong token, say) cannot stop a running engine: it stays not ready and
   * says so when the reason changes and every 10th retry.
   */
  private retryOpen(attempt: number, lastSaid: string): void {
    this.openRetry = setTimeout(() => {
      this.openRetry = undefined;
      if (this.closed) return;
      void this.openMeta().then((failure) => {
        if (this.closed) return;
        if (!failure) {
          this.o.onError(new Error(`the Pulsar log is open after ${attempt + 1} retries`), 'opening the Pulsar log: recovered');
          return;
        }
        const changed = failure.message.replace(/\(.*$/, '') !== lastSaid.replace(/\(.*$/, '');
        if (changed || attempt % 10 === 9) this.o.onError(new Error(failure.message), `opening the Pulsar log: still not open after ${attempt + 1} retries`);
        this.retryOpen(attempt + 1, changed ? failure.message : lastSaid);
      });
    }, backoffDelay(attempt, OPEN_RETRY_MS));
    this.openRetry.unref();
  }

  /** The store's epoch (areas that were never reset share it). */
  get epoch(): string {
    return this.meta.epoch;
  }

  async state(area: string): Promise<AreaState> {
    return this.call(area, (a) => a.state());
  }

  async append(area: string, request: AppendRequest): Promise<AppendResult> {
    return this.call(area, (a) => a.append(request));
  }

  async read(area: string, from: number, limit: number): Promise<LogRecord[]> {
    return this.call(area, (a) => a.read(from, limit));
  }

  tail(area: string, after: number, listener: TailListener): TailHandle {
    this.assertOpen();
    return this.area(area).tails.add(after, listener);
  }

  async areas(): Promise<string[]> {
    this.assertOpen();
    const out = new Set(this.meta.areas());
    for (const [area, a] of this.areaReaders) if (a.seq.resolved) out.add(area);
    return [...out];
  }

  healthy(): boolean {
    return this.opened && !this.closed && this.readersHealthy && this.meta.healthy() && !this.producers.anyFailing;
  }

  /**
   * Housekeeping, every `sweepMs` (and on demand): reader watchdogs and health, logical retention,
   * checkpoints, idle readers and producers. Concurrent calls share one run.
   */
  sweep(): Promise<void> {
    this.assertOpen();
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.openRetry) clearTimeout(this.openRetry);
    await this.sweeping?.catch(() => {});
    await this.shutdown();
  }

  private async shutdown(): Promise<void> {
    const readers = [...this.areaReaders.values()];
    this.areaReaders.clear();
    await Promise.all(readers.map((a) => a.close()));
    await Promise.all([this.producers?.closeAll(), this.deadLetters?.closeAll(), this.opened ? this.meta.close() : undefined]);
    await this.client?.close().catch((e: unknown) => this.o.onError(e, 'closing the Pulsar client'));
  }

  private async runSweep(): Promise<void> {
    const now = this.o.now();
    this.meta.check(now);
    let healthy = true;
    for (const [area, a] of [...this.areaReaders]) {
      if (a.idle(now)) {
        this.areaReaders.delete(area);
        await a.close();
        continue;
      }
      try {
        await a.sweep(now);
      } catch (error) {
        this.o.onError(error, `sweep of area ${area}`);
      }
      if (a.isCaughtUp && !a.healthy()) healthy = false;
    }
    this.readersHealthy = healthy;
    this.producers.closeIdle(now);
    this.deadLetters.closeIdle(now);
  }

  private area(area: string): AreaReader {
    return this.areaReaders.get(area) ?? this.createArea(area, undefined, 0);
  }

  private createArea(area: string, tails: AreaReader['tails'] | undefined, attempt: number): AreaReader {
    const a = new AreaReader({
      ...(tails ? { tails } : {}),
      area,
      topic: areaTopic(this.ns, area),
      deadLetterTopic: deadLetterTopic(this.ns, area, this.o.deadLetterSuffix),
      client: this.client!,
      pulsar: this.o.pulsar,
      producers: this.producers,
      deadLetters: this.deadLetters,
      meta: this.meta,
      options: this.o,
      onDead: (dead) => {
        if (this.areaReaders.get(area) === dead) this.areaReaders.delete(area);
      },
    });
    this.areaReaders.set(area, a);
    this.watchOpen(area, a, attempt);
    return a;
  }

  /**
   * An area that failed to open is dropped, so the next call tries again; when it has tails, it is
   * re-created after a backoff and the tails continue on the new instance.
   */
  private watchOpen(area: string, created: AreaReader, attempt: number): void {
    created.ready.then(
      () => {},
      (error: unknown) => {
        if (this.areaReaders.get(area) !== created) return;
        this.areaReaders.delete(area);
        void created.close(true);
        if (created.tails.size === 0 || this.closed) return;
        this.o.onError(error, `opening area ${area} (its tails wait for a retry)`);
        const retry = setTimeout(() => {
          if (this.closed || this.areaReaders.has(area) || created.tails.size === 0) return;
          this.createArea(area, created.tails, attempt + 1);
        }, backoffDelay(attempt, this.o.backoffMs));
        retry.unref();
      },
    );
  }

  private async call<T>(area: string, fn: (a: AreaReader) => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await fn(this.area(area));
    } catch (error) {
      if (isEngineError(error)) throw error;
      throw new EngineError('log_unavailable', `Pulsar log, area ${area}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineError('log_unavailable', 'the log is closed');
    if (this.opened) return;
    if (this.notOpenBecause !== undefined) throw new EngineError('log_unavailable', `the Pulsar log is not open yet: ${this.notOpenBecause}`);
    throw new Error('PulsarLog used before open()');
  }
}
