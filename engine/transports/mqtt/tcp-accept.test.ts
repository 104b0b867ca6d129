/** adoptAccepted on real sockets: every byte arrives once, in order, through the ONE shared buffer; close and write still work. */
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { until } from '../../testing/harness.ts';
import { adoptAccepted } from './tcp-accept.ts';

describe('adoptAccepted', () => {
  it('reads every byte through one shared buffer, writes back, and closes', async () => {
    const got: Buffer[] = [];
    const arrays = new Set<ArrayBufferLike>();
    let closed = false;
    let shared = false;
    let server: Socket | undefined;
    const srv = createServer({ pauseOnConnect: true }, (accepted) => {
      const a = adoptAccepted(accepted, (b) => {
        arrays.add(b.buffer);
        got.push(Buffer.from(b)); // transient: copy to keep
      });
      shared = a.sharedReads;
      server = a.socket;
      a.socket.on('close', () => (closed = true));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    const client = connect(port, '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', r));
    const sent: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const chunk = Buffer.alloc(1000 + i * 37, i);
      sent.push(chunk);
      client.write(chunk);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const total = sent.reduce((n, b) => n + b.length, 0);
    await until('all bytes', () => got.reduce((n, b) => n + b.length, 0) >= total);
    expect(Buffer.concat(got).equals(Buffer.concat(sent))).toBe(true);
    expect(shared).toBe(true);
    expect(arrays.size).toBe(1);
    const echoed: Buffer[] = [];
    client.on('data', (b: Buffer) => echoed.push(b));
    server!.write(Buffer.from('pong'));
    await until('echo', () => Buffer.concat(echoed).toString() === 'pong');
    client.end();
    await until('server side closed', () => closed);
    expect(await new Promise<number>((r) => srv.getConnections((_e, n) => r(n)))).toBe(0);
    srv.close();
  });
});
