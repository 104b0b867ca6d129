/**
 * TEST AND LOAD-SCRIPT HELPER: a free TCP port below the ephemeral range (32768-60999 here). An
 * engine that is restarted on its port while clients keep reconnecting needs one: with an
 * ephemeral port, one of thousands of reconnect attempts can get that very port as its source
 * port (a TCP self-connect), and the restarted engine cannot listen.
 */
import { createServer } from 'node:net';

export async function lowFreePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, host, () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
