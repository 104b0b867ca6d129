/**
 * The comparison point for the engine's figures: a bare uWS.js broadcaster that speaks just enough
 * of protocol v1 for the swarm (subscribe -> subscribed; REST publish -> one `app.publish` of the
 * same JSON message frame the engine sends). No durability, no resume, no acks, no backpressure
 * policy. `npm run loadtest -- <scenario> --target bare` starts it like the engine; by hand:
 *
 *   node --import tsx loadtest/bare-uws.ts --port 9090 [--workers 6] [--hosts 127.0.0.1,127.0.0.2]
 *
 * --workers N: N processes (node:cluster) on one port (uWS SO_REUSEPORT), like the engine. A
 * publish is relayed through the primary, which numbers it and sends it to every worker, so every
 * vehicle gets it with the same offset (the engine's shared log, done the cheapest way: IPC).
 * --hosts: listen on each of these addresses (the swarm's destinations) rather than 0.0.0.0.
 */
import cluster from 'node:cluster';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { loadUws } from '../engine/transports/uws.ts';

interface Relay {
  readonly type: 'bare:publish';
  readonly area: string;
  readonly data: string;
  /** Set by the primary. */
  readonly offset?: number;
  readonly time?: number;
  /** Worker-local request id of the POST waiting for it. */
  readonly id: number;
  readonly from?: number;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9090' },
    host: { type: 'string', default: '127.0.0.1' },
    hosts: { type: 'string' },
    workers: { type: 'string', default: '1' },
  },
});
const workers = Math.max(1, Number(values.workers));
const hosts = (values.hosts ?? values.host ?? '127.0.0.1').split(',').filter(Boolean);

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

if (workers > 1 && cluster.isPrimary) {
  // Primary: numbers publishes per area and relays them to every worker.
  const heads = new Map<string, number>();
  const port = Number(values.port) === 0 ? await freePort(hosts[0]) : Number(values.port);
  let listening = 0;
  let stopping = false;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork({ BARE_PORT: String(port) });
    w.on('message', (m: Relay | { type: 'bare:listening' }) => {
      if (m.type === 'bare:listening') {
        if (++listening === workers) process.stdout.write(`${JSON.stringify({ msg: 'bare uWS broadcaster listening', port, workers, pids: Object.values(cluster.workers ?? {}).map((x) => x?.process.pid), pid: process.pid })}\n`);
        return;
      }
      const offset = (heads.get(m.area) ?? 0) + 1;
      heads.set(m.area, offset);
      const out: Relay = { ...m, offset, time: Date.now(), from: w.id };
      for (const x of Object.values(cluster.workers ?? {})) x?.send(out);
    });
    w.on('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`bare worker ${i} exited (code ${code}, signal ${signal})\n`);
      process.exit(1);
    });
  }
  const stop = (): void => {
    stopping = true;
    for (const x of Object.values(cluster.workers ?? {})) x?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 300);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const { uws, build } = loadUws();
  const app = uws.App();
  const heads = new Map<string, number>();
  const enc = new TextDecoder();
  const waiting = new Map<number, (offset: number) => void>();
  let nextId = 1;
  const relayed = workers > 1;

  const broadcast = (area: string, offset: number, time: number, data: string): void => {
    if (offset > (heads.get(area) ?? 0)) heads.set(area, offset);
    app.publish(area, `{"type":"message","area":"${area}","offset":${offset},"time":${time},"data":${data}}`, false);
  };
  if (relayed) {
    process.on('message', (m: Relay) => {
      broadcast(m.area, m.offset!, m.time!, m.data);
      if (m.from === cluster.worker?.id) {
        waiting.get(m.id)?.(m.offset!);
        waiting.delete(m.id);
      }
    });
  }

  app.ws<Record<string, never>>('/v1/ws', {
    maxPayloadLength: 16 * 1024,
    maxBackpressure: 64 * 1024 * 1024, // never skip a socket: this is the "no policy" baseline
    idleTimeout: 120,
    sendPingsAutomatically: true,
    // Speaks v1.json only, like an engine from before the +deflate subprotocols [issue 16]: from an
    // offer such as "v1.json+deflate, v1.json" it picks v1.json, and the vehicles read plain frames.
    upgrade: (res, req, context) => {
      const offered = req.getHeader('sec-websocket-protocol').split(',').map((p) => p.trim());
      const chosen = offered.includes('v1.json') ? 'v1.json' : '';
      res.upgrade({}, req.getHeader('sec-websocket-key'), chosen, req.getHeader('sec-websocket-extensions'), context);
    },
    message: (ws, data) => {
      let f: { type?: string; area?: string };
      try {
        f = JSON.parse(enc.decode(data)) as typeof f;
      } catch {
        ws.end(4502, 'bad_frame');
        return;
      }
      if (f.type === 'subscribe' && typeof f.area === 'string') {
        ws.subscribe(f.area);
        ws.send(JSON.stringify({ type: 'subscribed', area: f.area, epoch: 'bare', offset: heads.get(f.area) ?? 0, recovered: false }));
      } else if (f.type === 'ping') {
        ws.send('{"type":"pong"}');
      }
    },
  });

  app.post('/v1/areas/:area/messages', (res, req) => {
    const area = decodeURIComponent(req.getParameter(0) ?? '');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const chunks: Buffer[] = [];
    res.onData((chunk, isLast) => {
      chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
      if (!isLast) return;
      const data = Buffer.concat(chunks).toString();
      const answer = (offset: number): void => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus('201 Created').writeHeader('content-type', 'application/json').end(JSON.stringify({ area, offset, epoch: 'bare' }));
        });
      };
      if (relayed) {
        const id = nextId++;
        waiting.set(id, answer);
        process.send?.({ type: 'bare:publish', area, data, id } satisfies Relay);
        return;
      }
      const offset = (heads.get(area) ?? 0) + 1;
      broadcast(area, offset, Date.now(), data);
      answer(offset);
    });
  });

  app.get('/v1/areas/:area', (res, req) => {
    const area = decodeURIComponent(req.getParameter(0) ?? '');
    res.writeHeader('content-type', 'application/json').end(JSON.stringify({ area, epoch: 'bare', head: heads.get(area) ?? 0, first: 1, subscribers: app.numSubscribers(area) }));
  });
  app.get('/readyz', (res) => {
    res.writeHeader('content-type', 'application/json').end('{"status":"ready"}');
  });
  app.get('/healthz', (res) => {
    res.writeHeader('content-type', 'application/json').end('{"status":"ok"}');
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').writeHeader('content-type', 'application/json').end('{"code":"not_found"}');
  });

  const wanted = process.env.BARE_PORT !== undefined ? Number(process.env.BARE_PORT) : Number(values.port) === 0 && hosts.length > 1 ? await freePort(hosts[0]) : Number(values.port);
  let port = wanted;
  for (const host of hosts) {
    await new Promise<void>((resolve) => {
      app.listen(host, port, (s) => {
        if (!s) {
          process.stderr.write(`cannot listen on ${host}:${port}\n`);
          process.exit(1);
        }
        port = uws.us_socket_local_port(s);
        resolve();
      });
    });
  }
  if (relayed) process.send?.({ type: 'bare:listening' });
  else process.stdout.write(`${JSON.stringify({ msg: 'bare uWS broadcaster listening', port, uws: build, pid: process.pid, workers: 1, hosts })}\n`);
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
