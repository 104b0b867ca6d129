/**
 * uws-fanout: the comparison issue 2 asks for ("measure native app.publish against a per-socket
 * loop"), on real sockets. A uWS app (loadUws(), the build the engine uses) on 127.0.0.1:0;
 * N real WebSocket clients in a child process (raw `net` sockets that only count bytes, see
 * ./uws-clients.ts); one 10 KB frame to all N, three ways:
 *   publish  - native app.publish(topic, frame, false, false), every socket subscribed
 *   loop     - a JS loop of ws.send(frame, false, false) over the sockets
 *   fanOut   - the engine's fanOut() over Subscribers whose write() is ws.send (what
 *              engine/areas/fan-out.ts does through WsConnection.write)
 * For each: the server-side call duration (the tinybench sample), the wall time until every
 * client has received every byte (drain), and the server process CPU time per fan-out.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Bench, type FnReturnedObject } from 'tinybench';
import type { TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
import type { CloseReason } from '../engine/errors.ts';
import { FormatTable } from '../engine/areas/encoding.ts';
import { fanOut } from '../engine/areas/fan-out.ts';
import type { RingEntry } from '../engine/areas/ring.ts';
import { WRITE_DROPPED, type Subscriber } from '../engine/areas/subscriber.ts';
import { LIVE, VirtualCursors } from '../engine/areas/virtual-cursors.ts';
import { loadUws } from '../engine/transports/uws.ts';
import { wsJsonEncoder } from '../engine/transports/ws/message-encoders.ts';
import { alertPayload, jsonRecord, rowFromSamples, rowFromTask, type ResultRow, type Suite } from './support.ts';

const COUNTS = [1000, 5000];
const TOPIC = 'area';
const DRAIN_TIMEOUT_MS = 20_000;

/** Bytes of one unmasked server frame carrying `len` payload bytes. */
function wireLength(len: number): number {
  return len + (len < 126 ? 2 : len < 65536 ? 4 : 10);
}

/** What WsConnection is to areas/: a Subscriber whose write is one uWS send. */
class UwsSubscriber implements Subscriber {
  readonly format = 0;
  paused = false;
  closed = false;
  constructor(private readonly ws: WebSocket<unknown>) {}
  write(frame: Uint8Array): number {
    return this.ws.send(frame, false, false);
  }
  bufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }
  close(_reason: CloseReason, _detail: string): void {
    this.closed = true;
  }
}

class Clients {
  private nextId = 1;
  private readonly waiters = new Map<number, () => void>();
  private connectWaiter: ((n: number) => void) | undefined;
  private failure: ((e: Error) => void) | undefined;
  readonly child: ChildProcess;

  constructor() {
    const script = fileURLToPath(new URL('./uws-clients.ts', import.meta.url));
    this.child = fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: { type: string; id?: number; count?: number; message?: string }) => {
      if (m.type === 'reached') {
        const w = this.waiters.get(m.id!);
        this.waiters.delete(m.id!);
        w?.();
      } else if (m.type === 'connected') {
        this.connectWaiter?.(m.count!);
      } else if (m.type === 'error') {
        this.failure?.(new Error(`client process: ${m.message}`));
      }
    });
  }

  connect(port: number, count: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.connectWaiter = resolve;
      this.failure = reject;
      this.child.send({ type: 'connect', port, count, concurrency: 64 });
    });
  }

  /** Resolves once the clients together have received `total` bytes since they connected. */
  reach(total: number): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`clients did not receive ${total} bytes within ${DRAIN_TIMEOUT_MS} ms`));
      }, DRAIN_TIMEOUT_MS);
      this.waiters.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.send({ type: 'expect', id, total });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.send({ type: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

interface Server {
  readonly app: TemplatedApp;
  readonly port: number;
  readonly sockets: WebSocket<unknown>[];
  close(): void;
}

function startServer(): Promise<Server> {
  const { uws } = loadUws();
  const sockets: WebSocket<unknown>[] = [];
  const app = uws.App();
  app.ws<unknown>('/*', {
    compression: uws.DISABLED,
    maxPayloadLength: 1024,
    maxBackpressure: 4 * 1024 * 1024,
    closeOnBackpressureLimit: 0,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    open: (ws) => {
      ws.subscribe(TOPIC);
      sockets.push(ws);
    },
    close: (ws) => {
      const i = sockets.indexOf(ws);
      if (i >= 0) sockets.splice(i, 1);
    },
  });
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token: us_listen_socket | false) => {
      if (token === false) {
        reject(new Error('uws-fanout: listen on 127.0.0.1:0 failed'));
        return;
      }
      resolve({
        app,
        port: uws.us_socket_local_port(token),
        sockets,
        close() {
          uws.us_listen_socket_close(token);
          for (const ws of [...sockets]) {
            try {
              ws.close();
            } catch {
              // already gone
            }
          }
        },
      });
    });
  });
}

async function waitFor(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`uws-fanout: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Measured {
  readonly drainMs: number[];
  readonly cpuMs: number[];
  notOk: number;
}

export const uwsFanoutSuite: Suite = {
  name: 'uws-fanout',
  description: 'one 10 KB frame to N real WebSocket clients: native app.publish vs a JS ws.send loop vs engine fanOut()',
  async run({ time, log }) {
    const formats = new FormatTable();
    formats.add(wsJsonEncoder);
    const frame = formats.encodeAll('bench', jsonRecord(1, alertPayload(10 * 1024)))[0];
    const perClient = wireLength(frame.byteLength);
    const server = await startServer();
    const clients = new Clients();
    const rows: ResultRow[] = [];
    const notes: string[] = [`uws-fanout: ${loadUws().build}, frame ${frame.byteLength} B (${perClient} B on the wire), clients in a child process`];
    let expected = 0;
    try {
      for (const n of COUNTS) {
        const more = n - server.sockets.length;
        const t0 = performance.now();
        await clients.connect(server.port, more);
        await waitFor(() => server.sockets.length >= n, `${n} server-side opens`);
        log(`  uws-fanout: ${n} clients connected (+${more} in ${(performance.now() - t0).toFixed(0)} ms)`);
        await clients.reach(expected); // nothing outstanding before we start

        const sockets = server.sockets.slice(0, n);
        if (server.app.numSubscribers(TOPIC) !== n) throw new Error(`uws-fanout: ${server.app.numSubscribers(TOPIC)} subscribers, expected ${n}`);
        const vc = new VirtualCursors(n);
        const slots: number[] = [];
        const subs: UwsSubscriber[] = [];
        for (let i = 0; i < n; i++) {
          const slot = vc.alloc(0, 0);
          vc.state[slot] = LIVE;
          slots.push(slot);
          subs.push(new UwsSubscriber(sockets[i]));
        }
        let offset = 0;

        const variants: Record<string, () => number> = {
          [`publish ${n}`]: () => (server.app.publish(TOPIC, frame, false, false) ? 0 : 1),
          [`loop ws.send ${n}`]: () => {
            let notOk = 0;
            for (let i = 0; i < sockets.length; i++) if (sockets[i].send(frame, false, false) !== 1) notOk++;
            return notOk;
          },
          [`engine fanOut ${n}`]: () => {
            offset++;
            const entry: RingEntry = { offset, time: 0, expiresAt: 0, origin: '', frames: [frame] };
            const r = fanOut(entry, slots, subs, vc, offset);
            if (r.delivered !== n) throw new Error(`fanOut delivered ${r.delivered} of ${n}`);
            return 0;
          },
        };
        const measured = new Map<string, Measured>();
        const bench = new Bench({ time, iterations: 20, warmupIterations: 3, warmupTime: 0 });
        for (const [name, call] of Object.entries(variants)) {
          const m: Measured = { drainMs: [], cpuMs: [], notOk: 0 };
          measured.set(name, m);
          bench.add(name, async (): Promise<FnReturnedObject> => {
            expected += n * perClient;
            const cpu0 = process.cpuUsage();
            const t0 = performance.now();
            m.notOk += call();
            const t1 = performance.now();
            await clients.reach(expected);
            const t2 = performance.now();
            const cpu = process.cpuUsage(cpu0);
            m.drainMs.push(t2 - t0);
            m.cpuMs.push((cpu.user + cpu.system) / 1000);
            return { overriddenDuration: t1 - t0, overriddenIterationCost: t2 - t0 };
          });
        }
        await bench.run();
        for (const t of bench.tasks) {
          const m = measured.get(t.name)!;
          // warmup iterations also pushed samples: keep the last `samples` ones
          const call = rowFromTask('uws-fanout', t);
          const keep = (a: number[]) => a.slice(Math.max(0, a.length - call.samples));
          rows.push({ ...call, task: `${t.name}: call` });
          rows.push(rowFromSamples('uws-fanout', `${t.name}: drain (all received)`, keep(m.drainMs)));
          rows.push(rowFromSamples('uws-fanout', `${t.name}: server CPU`, keep(m.cpuMs)));
          if (m.notOk > 0) notes.push(`uws-fanout: ${t.name}: ${m.notOk} sends returned backpressure/dropped`);
        }
        const mean = (task: string) => rows.find((r) => r.task === task)!.meanMs;
        for (const what of ['call', 'drain (all received)', 'server CPU']) {
          const pub = mean(`publish ${n}: ${what}`);
          const loop = mean(`loop ws.send ${n}: ${what}`);
          const eng = mean(`engine fanOut ${n}: ${what}`);
          notes.push(
            `uws-fanout N=${n} ${what}: publish ${pub.toFixed(2)} ms, loop ${loop.toFixed(2)} ms, fanOut ${eng.toFixed(2)} ms` +
              ` -> loop/publish ${(loop / pub).toFixed(2)}x, fanOut/publish ${(eng / pub).toFixed(2)}x`,
          );
        }
      }
    } finally {
      await clients.close();
      server.close();
    }
    return { rows, notes };
  },
};
