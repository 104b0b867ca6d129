/**
 * One WebSocket to the broker's WebSocket API, shared by the reader and the producer: the URL and
 * token of every (re)connection, the refusal read back as an error that says what it is, a ping
 * that keeps the session alive (the broker closes sessions idle for webSocketSessionIdleTimeoutMillis,
 * 5 minutes by default) and finds dead peers, and reconnection with backoff after a drop.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { resolveToken, type TokenSource } from '../admin.ts';
import { backoffDelay } from '../options.ts';

export interface SocketEndpoint {
  /** http(s)://host:port of the broker's web service. */
  readonly webServiceUrl: string;
  readonly token?: TokenSource;
  readonly tlsTrustCertsFile?: string;
}

/** The broker refused the upgrade (status 0: no HTTP answer at all). */
export class PulsarWsError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly url: string,
  ) {
    super(status === 0 ? `${url}: ${reason}` : `${url}: ${status} ${reason}`);
    this.name = 'PulsarWsError';
  }
}

export function wsBase(webServiceUrl: string): string {
  const u = new URL(webServiceUrl);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`the WebSocket client needs the broker's http(s):// web service URL, got ${webServiceUrl}`);
  return `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}/ws/v2`;
}

const PING_MS = 30_000;
const OPEN_TIMEOUT_MS = 30_000;

/** Jetty answers refusals with an HTML page; the reason is its <title>/<h2> or the status text. */
function refusalReason(res: IncomingMessage, body: string): string {
  const h = /<h2>HTTP ERROR \d+ ([^<]+)<\/h2>/i.exec(body) ?? /<title>Error \d+ ([^<]+)<\/title>/i.exec(body);
  const text = h?.[1] ?? body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300);
  return text || res.statusMessage || 'refused';
}

/** Opens one WebSocket; resolves when it is open, rejects with PulsarWsError when refused. */
export function openSocket(endpoint: SocketEndpoint, url: string): Promise<WebSocket> {
  const shown = url.replace(/\?.*$/, '');
  let ws: WebSocket;
  try {
    // The token (file) and CA are read at every connection: a rotated token is picked up.
    const token = resolveToken(endpoint.token);
    ws = new WebSocket(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      handshakeTimeout: OPEN_TIMEOUT_MS,
      perMessageDeflate: false,
      ...(endpoint.tlsTrustCertsFile ? { ca: readFileSync(endpoint.tlsTrustCertsFile) } : {}),
    });
  } catch (error) {
    return Promise.reject(new PulsarWsError(0, `cannot connect: ${error instanceof Error ? error.message : String(error)}`, shown));
  }
  return new Promise<WebSocket>((resolve, reject) => {
    let settled = false;
    const settle = (error?: PulsarWsError): void => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve(ws);
    };
    // One listener for the socket's whole life: an 'error' without one would throw. After the open,
    // an error always comes with 'close', which the owner handles.
    ws.on('error', (e) => settle(new PulsarWsError(0, e.message, shown)));
    ws.once('open', () => settle());
    ws.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      const refuse = (reason: string): void => {
        settle(new PulsarWsError(res.statusCode ?? 0, reason, shown));
        req.destroy(); // with this listener, ws leaves aborting the upgrade request to us
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => refuse(refusalReason(res, Buffer.concat(chunks).toString('utf8'))));
      res.on('error', (e) => refuse(e.message));
    });
  });
}

export interface LinkEvents {
  /** A text frame from the broker. */
  onFrame(text: string): void;
  /** The socket opened (first time and after every reconnect). */
  onUp?(ws: WebSocket): void;
}

/** A connection that lasted this long counts as good: the next drop starts the backoff over. */
const STABLE_MS = 5000;

/**
 * A socket that comes back: after a drop it reconnects (URL recomputed each time, so a reader
 * resumes after what it delivered) with jittered backoff until closed. The first connection is
 * made by `open()`, which rejects instead of retrying (a bad URL or token is reported to the caller).
 */
export class Link {
  private ws: WebSocket | undefined;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private pinger: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  private upSince = 0;
  lastError: Error | undefined;

  constructor(
    private readonly endpoint: SocketEndpoint,
    private readonly url: () => string,
    private readonly events: LinkEvents,
    private readonly backoffMs = { initial: 100, max: 5000 },
  ) {}

  get connected(): boolean {
    return this.ws !== undefined && this.ws.readyState === WebSocket.OPEN;
  }

  async open(): Promise<void> {
    this.adopt(await openSocket(this.endpoint, this.url()));
  }

  send(text: string): boolean {
    if (!this.connected) return false;
    this.ws!.send(text);
    return true;
  }

  /** Drops the current socket; the link reconnects as after any drop. */
  drop(): void {
    this.ws?.terminate();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.stopPing();
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.close(1000);
  }

  private adopt(ws: WebSocket): void {
    if (this.closed) {
      ws.close(1000);
      return;
    }
    this.ws = ws;
    this.upSince = Date.now();
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.events.onFrame(data.toString());
    });
    ws.on('pong', () => (this.awaitingPong = false));
    ws.once('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.stopPing();
      this.lastError = new Error(`WebSocket closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`);
      // A socket the broker closes right after opening it (a name still registered, a topic being
      // fenced) must not be retried every 50 ms: only a connection that lasted resets the backoff.
      this.attempt = Date.now() - this.upSince >= STABLE_MS ? 0 : this.attempt + 1;
      this.reconnectLater();
    });
    this.startPing(ws);
    this.events.onUp?.(ws);
  }

  private reconnectLater(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      openSocket(this.endpoint, this.url()).then(
        (ws) => this.adopt(ws),
        (error: unknown) => {
          this.lastError = error instanceof Error ? error : new Error(String(error));
          this.attempt++;
          this.reconnectLater();
        },
      );
    }, backoffDelay(this.attempt, this.backoffMs));
    this.timer.unref();
  }

  private startPing(ws: WebSocket): void {
    this.awaitingPong = false;
    this.pinger = setInterval(() => {
      if (this.awaitingPong) {
        ws.terminate(); // no pong for a whole period: the peer is gone
        return;
      }
      this.awaitingPong = true;
      ws.ping();
    }, PING_MS);
    this.pinger.unref();
  }

  private stopPing(): void {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = undefined;
  }
}
