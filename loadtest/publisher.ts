/**
 * The producer: REST publishes (POST /v1/areas/{area}/messages, keep-alive) on a fixed schedule,
 * message i due at t0 + i / rate, round-robin over the areas. Each payload carries its send time
 * (`sentAtUs`, stamped just before the request goes out) and whether it is a warm-up message.
 * The schedule does not wait for answers (up to `concurrency` in flight), so a slow engine shows
 * up as latency, not as a lower send rate (and `maxScheduleLagMs` says if we fell behind).
 * rate 'max' (maximum deliveries per second): no schedule; a message goes out whenever its area
 * is less than `window` messages ahead of the slowest normal reader (workers report their
 * floors every 100 ms), so the target is fed exactly as fast as it delivers.
 */
import http from 'node:http';
import { build, type Histogram } from 'hdr-histogram-js';
import { makeAlert } from './alerts.ts';
import { makePayload, nowUs } from './message-parse.ts';

export interface PublisherTarget {
  readonly host: string;
  readonly port: number;
  readonly token?: string;
}

export interface AreaPublished {
  /** Lowest and highest offset answered, and how many 201s. */
  first: number;
  last: number;
  count: number;
}

export interface PublishStats {
  attempted: number;
  ok: number;
  warmupOk: number;
  measuredOk: number;
  failures: Record<string, number>;
  perArea: AreaPublished[];
  /** POST to 201, µs, measured messages only (not the warm-up). */
  readonly latency: Histogram;
  /** How late the schedule sent its worst message. */
  maxScheduleLagMs: number;
  startUs: number;
  measureStartUs: number;
  endUs: number;
  /** Publishes answered per whole second since the start (OMB publishRate). */
  readonly perSecond: number[];
  /** Attempts repeated because of `retryForMs` (engine restarts). */
  retried?: number;
}

export interface ScheduleOptions {
  readonly areas: readonly string[];
  readonly messageSize: number;
  /** Padding (makePayload) or realistic alerts (./alerts.ts); default padding. */
  readonly payload?: 'padding' | 'alerts';
  /** Messages per second, or 'max': as fast as the slowest normal reader takes them (see `window`). */
  readonly rate: number | 'max';
  /** 'max' only: messages per area published ahead of `floors()` (the slowest reader's last offset). */
  readonly window?: number;
  /** 'max' only: per area, the lowest last offset over every subscribed normal reader (-1: unknown). */
  readonly floors?: () => readonly number[];
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly concurrency: number;
  /** Called just before the first measured message is sent. */
  readonly onMeasureStart: () => void;
  /** Checked before each send; true stops the schedule early (engine died, deadline). */
  readonly shouldStop: () => boolean;
  /** Receives the stats object once, at the start, to watch it fill (progress lines). */
  readonly live?: (stats: PublishStats) => void;
  /**
   * Retry a failed publish for up to this long (engine restarts): every message carries an
   * Idempotency-Key (its sequence number), so a retry of one that was stored but not answered
   * gets the first offset again instead of a second copy. Default 0: a failure is final.
   */
  readonly retryForMs?: number;
}

/** How a message reaches the target: REST (below) or MQTT (./mqtt-publisher.ts). */
export interface Sender {
  /** Publishes `body` to area `areaIndex` (with an Idempotency-Key when given); resolves with the offset the target gave it. */
  send(areaIndex: number, body: Buffer, idempotencyKey?: string): Promise<{ offset: number } | { error: string }>;
  close(): void;
}

/** REST publishes: POST /v1/areas/{area}/messages on a keep-alive agent; 201 carries the offset. */
export function httpSender(target: PublisherTarget, areas: readonly string[], concurrency: number): Sender {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  const paths = areas.map((a) => `/v1/areas/${encodeURIComponent(a)}/messages`);
  return {
    send: (areaIndex, body, idempotencyKey) =>
      new Promise((resolve) => {
        const h = { ...headers, 'content-length': String(body.length), ...(idempotencyKey !== undefined && { 'idempotency-key': idempotencyKey }) };
        const req = http.request({ host: target.host, port: target.port, method: 'POST', path: paths[areaIndex], agent, headers: h }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 201) return resolve({ error: `http ${res.statusCode}: ${text.slice(0, 120)}` });
            let offset = NaN;
            try {
              offset = Number((JSON.parse(text) as { offset: unknown }).offset);
            } catch {
              // below
            }
            resolve(Number.isSafeInteger(offset) ? { offset } : { error: '201 without an offset' });
          });
          res.on('error', (err) => resolve({ error: `response: ${err.message}` }));
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: `request: ${err.code ?? err.message}` }));
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

export async function runPublishSchedule(sender: Sender, o: ScheduleOptions): Promise<PublishStats> {
  const stats: PublishStats = {
    attempted: 0,
    ok: 0,
    warmupOk: 0,
    measuredOk: 0,
    failures: {},
    perArea: o.areas.map(() => ({ first: 0, last: 0, count: 0 })),
    latency: build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3, autoResize: true }),
    maxScheduleLagMs: 0,
    startUs: nowUs(),
    measureStartUs: 0,
    endUs: 0,
    perSecond: [],
  };
  o.live?.(stats);
  const fail = (why: string): void => {
    stats.failures[why] = (stats.failures[why] ?? 0) + 1;
  };
  const max = o.rate === 'max';
  const rate = o.rate === 'max' ? 1 : o.rate;
  const total = max ? Infinity : Math.max(1, Math.round(rate * (o.warmupSeconds + o.durationSeconds)));
  const warmCount = Math.round(rate * o.warmupSeconds);
  const intervalMs = 1000 / rate;
  const inFlight = new Set<Promise<void>>();
  const inFlightPerArea = o.areas.map(() => 0);
  const t0 = performance.now();
  const endAt = t0 + (o.warmupSeconds + o.durationSeconds) * 1000;
  const warmEndsAt = t0 + o.warmupSeconds * 1000;
  let measuring = false;
  /** 'max': may area `a` take one more message? */
  const credit = (a: number): boolean => {
    const floor = o.floors?.()[a] ?? -1;
    if (floor < 0) return inFlightPerArea[a] < (o.window ?? 32);
    return stats.perArea[a].last + inFlightPerArea[a] - floor < (o.window ?? 32);
  };

  const publishOne = async (i: number, warm: boolean): Promise<void> => {
    const areaIndex = i % o.areas.length;
    const sentAtUs = nowUs();
    const body = o.payload === 'alerts' ? makeAlert(sentAtUs, warm, i, o.messageSize) : makePayload(sentAtUs, warm, i, o.messageSize);
    const retryUntil = performance.now() + (o.retryForMs ?? 0);
    let r = await sender.send(areaIndex, body, o.retryForMs === undefined ? undefined : `m${i}`);
    while ('error' in r && performance.now() < retryUntil && !o.shouldStop()) {
      stats.retried = (stats.retried ?? 0) + 1;
      await new Promise((res) => setTimeout(res, 100));
      r = await sender.send(areaIndex, body, `m${i}`);
    }
    if ('error' in r) return fail(r.error);
    // Like the end-to-end figures, publish latency leaves the warm-up out (its first publish opens the area).
    if (!warm) stats.latency.recordValue(Math.max(0, nowUs() - sentAtUs));
    stats.ok++;
    if (warm) stats.warmupOk++;
    else stats.measuredOk++;
    const a = stats.perArea[areaIndex];
    if (a.count === 0 || r.offset < a.first) a.first = r.offset;
    if (r.offset > a.last) a.last = r.offset;
    a.count++;
    const second = Math.floor((performance.now() - t0) / 1000);
    while (stats.perSecond.length <= second) stats.perSecond.push(0);
    stats.perSecond[second]++;
  };

  for (let i = 0; i < total; ) {
    if (o.shouldStop()) break;
    let warm: boolean;
    if (max) {
      const now = performance.now();
      if (now >= endAt) break;
      warm = now < warmEndsAt;
      if (inFlight.size >= o.concurrency) {
        await Promise.race(inFlight);
        continue;
      }
      if (!credit(i % o.areas.length)) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
    } else {
      const due = t0 + i * intervalMs;
      const wait = due - performance.now();
      if (wait > 0.5) {
        await new Promise((r) => setTimeout(r, Math.max(1, Math.floor(wait))));
        continue;
      }
      if (inFlight.size >= o.concurrency) {
        await Promise.race(inFlight);
        continue;
      }
      warm = i < warmCount;
      stats.maxScheduleLagMs = Math.max(stats.maxScheduleLagMs, performance.now() - due);
    }
    if (!warm && !measuring) {
      measuring = true;
      stats.measureStartUs = nowUs();
      o.onMeasureStart();
    }
    stats.attempted++;
    const a = i % o.areas.length;
    inFlightPerArea[a]++;
    const p = publishOne(i, warm).finally(() => {
      inFlightPerArea[a]--;
      inFlight.delete(p);
    });
    inFlight.add(p);
    i++;
  }
  await Promise.all(inFlight);
  stats.endUs = nowUs();
  sender.close();
  return stats;
}
