/**
 * TEST HELPER: a TCP proxy whose existing connections can be frozen (bytes stop flowing both
 * ways, sockets stay open): what a dead mobile link looks like to both ends.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class FreezableProxy {
  private readonly pairs: { a: Socket; b: Socket; frozen: boolean }[] = [];
  private server!: Server;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((a) => {
      const b = connect(this.targetPort, '127.0.0.1');
      const pair = { a, b, frozen: false };
      this.pairs.push(pair);
      a.on('data', (d) => {
        if (!pair.frozen) b.write(d);
      });
      b.on('data', (d) => {
        if (!pair.frozen) a.write(d);
      });
      const end = () => {
        if (pair.frozen) return; // a frozen link reports nothing
        a.destroy();
        b.destroy();
      };
      a.on('close', end).on('error', end);
      b.on('close', end).on('error', end);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Every connection open now stops carrying bytes; new ones work. */
  freezeAll(): number {
    let n = 0;
    for (const p of this.pairs) {
      if (!p.frozen && !p.a.destroyed) {
        p.frozen = true;
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.a.destroy();
      p.b.destroy();
    }
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
