/**
 * Child process of uws-fanout.bench.ts: N cheap WebSocket clients on raw `net` sockets. Each does
 * the HTTP upgrade handshake, then only counts the bytes it receives (no frame parsing, no
 * unmasking: server frames are unmasked). The parent asks "tell me when the total reaches X".
 *
 * Messages from the parent:  {type:'connect', port, count, concurrency}  {type:'expect', id, total}  {type:'close'}
 * Messages to the parent:    {type:'connected', count, ms}  {type:'reached', id, total}  {type:'error', message}
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

type FromParent =
  | { type: 'connect'; port: number; count: number; concurrency: number }
  | { type: 'expect'; id: number; total: number }
  | { type: 'close' };

const sockets: net.Socket[] = [];
let received = 0;
let waiting: { id: number; total: number } | undefined;

function send(msg: object): void {
  process.send?.(msg);
}

function check(): void {
  if (waiting !== undefined && received >= waiting.total) {
    const w = waiting;
    waiting = undefined;
    send({ type: 'reached', id: w.id, total: received });
  }
}

function onData(chunk: Buffer): void {
  received += chunk.length;
  if (waiting !== undefined && received >= waiting.total) check();
}

function connectOne(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setNoDelay(true);
    let head: Buffer = Buffer.alloc(0);
    const fail = (err: Error) => {
      s.destroy();
      reject(err);
    };
    s.once('error', fail);
    s.once('connect', () => {
      s.write(
        `GET /bench HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const onHandshake = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!/^HTTP\/1\.1 101/.test(head.subarray(0, 16).toString('latin1'))) {
        fail(new Error(`handshake refused: ${head.subarray(0, Math.min(end, 200)).toString('latin1')}`));
        return;
      }
      s.off('data', onHandshake);
      s.off('error', fail);
      s.on('error', () => {}); // closes at the end of the run are expected
      s.on('data', onData);
      sockets.push(s);
      received += head.length - (end + 4);
      resolve();
    };
    s.on('data', onHandshake);
  });
}

async function connectAll(port: number, count: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      await connectOne(port);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

process.on('message', (msg: FromParent) => {
  if (msg.type === 'connect') {
    const started = performance.now();
    connectAll(msg.port, msg.count, msg.concurrency).then(
      () => send({ type: 'connected', count: sockets.length, ms: performance.now() - started }),
      (err: unknown) => send({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (msg.type === 'expect') {
    waiting = { id: msg.id, total: msg.total };
    check();
  } else if (msg.type === 'close') {
    for (const s of sockets) s.destroy();
    sockets.length = 0;
    process.disconnect?.();
    setImmediate(() => process.exit(0));
  }
});

process.on('disconnect', () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
