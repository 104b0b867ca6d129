/**
 * One process of SDK clients for the reconnect storm (./sdk-storm.ts): `count` abe-client
 * Clients over `ws`, each subscribed to one area, recording every connect attempt (each
 * WebSocket constructed), when all its areas were subscribed again after the restart, and what
 * its handler got (contiguity is checked on the fly: no store of every offset).
 */
import { WebSocket } from 'ws';
import { Client } from '../client/src/index.ts';

interface Init {
  type: 'init';
  url: string;
  first: number;
  count: number;
  areas: string[];
  jitter: boolean;
  minDelay: number;
  maxDelay: number;
  localAddress: string;
}

interface Tracked {
  client: Client;
  area: string;
  /** Last offset the handler got (the start head once subscribed). */
  last: number;
  started: boolean;
  gaps: number;
  dups: number;
  delivered: number;
  resumedAt: number;
}

let init: Init;
const attempts: number[] = [];
/** When each retry was planned to start (close seen + backoff delay): what independent vehicles would do, free of this process's CPU. */
const planned: number[] = [];
const tracked: Tracked[] = [];
let restartAt = Number.POSITIVE_INFINITY;
let progress: ReturnType<typeof setInterval> | undefined;

function send(m: unknown): void {
  if (process.connected) process.send?.(m);
}

process.on('message', (m: { type: string; at?: number; heads?: Record<string, number> }) => {
  if (m.type === 'init') start(m as unknown as Init);
  else if (m.type === 'restart') {
    restartAt = m.at!;
  } else if (m.type === 'finish') finish(m.heads!);
});

function start(i: Init): void {
  init = i;
  const localAddress = i.localAddress;
  // Every attempt is one constructed WebSocket: recorded, and bound to this process's source address.
  class CountingWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      attempts.push(Date.now());
      super(url, protocols, { localAddress });
    }
  }
  for (let k = 0; k < i.count; k++) {
    const g = i.first + k;
    const area = i.areas[g % i.areas.length];
    const client = new Client({
      url: i.url,
      WebSocket: CountingWebSocket as never,
      jitter: i.jitter,
      minReconnectDelay: i.minDelay,
      maxReconnectDelay: i.maxDelay,
      networkEventTarget: null,
      connectTimeout: 20_000,
      subscribeTimeout: 30_000,
    });
    client.on('connecting', (c) => {
      if (c.attempt > 0) planned.push(Date.now() + c.delayMs);
    });
    const t: Tracked = { client, area, last: 0, started: false, gaps: 0, dups: 0, delivered: 0, resumedAt: 0 };
    const sub = client.subscribe(area, (msg) => {
      t.delivered++;
      if (msg.offset <= t.last) t.dups++;
      else if (msg.offset !== t.last + 1) t.gaps += msg.offset - t.last - 1;
      t.last = Math.max(t.last, msg.offset);
    });
    sub.on('subscribed', (s) => {
      if (!t.started) {
        t.started = true;
        t.last = s.head;
      }
      if (Date.now() >= restartAt && t.resumedAt === 0) t.resumedAt = Date.now();
    });
    tracked.push(t);
  }
  // connect in slices so the initial connect is not itself a storm
  let next = 0;
  const step = () => {
    for (let n = 0; n < 200 && next < tracked.length; n++) tracked[next++].client.connect();
    if (next < tracked.length) setTimeout(step, 20);
  };
  step();
  progress = setInterval(() => {
    const subscribed = tracked.filter((t) => t.client.getSubscription(t.area)?.state === 'subscribed').length;
    const resumed = tracked.filter((t) => t.resumedAt > 0).length;
    send({ type: 'progress', subscribed, resumed });
  }, 250);
  progress.unref();
}

function finish(heads: Record<string, number>): void {
  clearInterval(progress);
  let lost = 0;
  let dups = 0;
  let gaps = 0;
  let recoveredFalse = 0;
  let delivered = 0;
  for (const t of tracked) {
    lost += Math.max(0, (heads[t.area] ?? 0) - t.last);
    dups += t.dups;
    gaps += t.gaps;
    delivered += t.delivered;
    recoveredFalse += t.client.stats().gaps;
  }
  send({ type: 'report', attempts, planned, resumedAt: tracked.map((t) => t.resumedAt), lost: lost + gaps, dups, recoveredFalse, delivered });
  for (const t of tracked) void t.client.disconnect();
  setTimeout(() => process.exit(0), 500);
}
