/**
 * Pulsar's admin REST API (`{webServiceUrl}/admin/v2/...`), the slice this project uses: the
 * WebSocket client asks it what the binary protocol answers in-band (the partitions of a topic),
 * and the standalone launcher, the load test and the tests set namespaces up with it.
 *
 * Errors keep the broker's status and reason ("401 Unauthorized", "404 Namespace does not exist"),
 * so a wrong URL, a wrong tenant/namespace and a missing permission each read as what they are.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { topicPath } from './topic-names.ts';

export type TokenSource = string | (() => string) | undefined;

export interface AdminOptions {
  /** http(s)://host:port of the broker's web service. */
  readonly webServiceUrl: string;
  readonly token?: TokenSource;
  /** CA bundle for an https:// web service URL. */
  readonly tlsTrustCertsFile?: string;
  readonly timeoutMs?: number;
}

export class PulsarAdminError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string,
    /** The answer was Pulsar's JSON `{"reason": ...}`, not some other server's page. */
    readonly json = false,
  ) {
    super(`${method} ${path}: ${status === 0 ? reason : `${status} ${reason}`}`);
    this.name = 'PulsarAdminError';
  }
}

export function resolveToken(token: TokenSource): string | undefined {
  return typeof token === 'function' ? token() : token;
}

/** The broker's reason: `{"reason": "..."}` bodies (json), else the raw text. */
function reasonOf(text: string): { reason: string; json: boolean } {
  try {
    const body = JSON.parse(text) as { reason?: unknown };
    if (typeof body.reason === 'string') return { reason: body.reason, json: true };
  } catch {
    // not JSON
  }
  return { reason: text.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300) || 'no body', json: false };
}

export class PulsarAdmin {
  private readonly base: URL;

  constructor(private readonly o: AdminOptions) {
    this.base = new URL(o.webServiceUrl);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`admin URL must be http(s)://, got ${o.webServiceUrl}`);
  }

  get url(): string {
    return this.base.origin;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  put(path: string, body?: unknown): Promise<void> {
    return this.call<void>('PUT', path, body);
  }

  post(path: string, body?: unknown): Promise<void> {
    return this.call<void>('POST', path, body);
  }

  delete(path: string): Promise<void> {
    return this.call<void>('DELETE', path);
  }

  /** `/admin/v2/persistent/{tenant}/{namespace}/{local}` + `rest`. */
  static topicUrl(topic: string, rest: string): string {
    return `/admin/v2/${topicPath(topic)}${rest}`;
  }

  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.base);
    // Token and CA read at every call, as the WebSocket client does at every connection (rotation).
    const token = resolveToken(this.o.token);
    const ca = url.protocol === 'https:' && this.o.tlsTrustCertsFile ? readFileSync(this.o.tlsTrustCertsFile) : undefined;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const send = url.protocol === 'https:' ? request : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { method, headers, timeout: this.o.timeoutMs ?? 10_000, ...(ca ? { ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new PulsarAdminError(method, path, 0, e.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            const r = reasonOf(text);
            return reject(new PulsarAdminError(method, path, status, r.reason, r.json));
          }
          if (text === '') return resolve(undefined as T);
          try {
            resolve(JSON.parse(text) as T);
          } catch {
            resolve(text as T);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.o.timeoutMs ?? 10_000} ms`)));
      req.on('error', (e) => reject(new PulsarAdminError(method, path, 0, `${this.base.origin} unreachable: ${e.message}`)));
      req.end(payload);
    });
  }
}

/**
 * What the engine needs of a namespace (README, "Pulsar"): retention that keeps every message (area
 * topics have no subscriptions; without retention Pulsar keeps nothing of them), broker
 * deduplication, and produce + consume for the engine's role. Used by the standalone launcher and
 * the tests; operators do the same with pulsar-admin.
 */
export async function prepareNamespace(admin: PulsarAdmin, namespace: string, role: string): Promise<void> {
  await admin.post(`/admin/v2/namespaces/${namespace}/retention`, { retentionTimeInMinutes: -1, retentionSizeInMB: -1 });
  await admin.post(`/admin/v2/namespaces/${namespace}/deduplication`, true);
  await admin.post(`/admin/v2/namespaces/${namespace}/permissions/${role}`, ['produce', 'consume']);
}

/**
 * A namespace of the caller's own (tests, load-test runs): created unless it exists, prepared as
 * above; `drop()` deletes it with everything in it and reports a failure to `warn`, never throws.
 */
export async function ownNamespace(admin: PulsarAdmin, namespace: string, role: string, warn: (line: string) => void = console.warn): Promise<{ namespace: string; drop(): Promise<void> }> {
  await admin.put(`/admin/v2/namespaces/${namespace}`, {}).catch((e: unknown) => {
    if (!(e instanceof PulsarAdminError && e.status === 409)) throw e; // 409: it exists (an engine restarted on it)
  });
  await prepareNamespace(admin, namespace, role);
  return {
    namespace,
    drop: () => admin.delete(`/admin/v2/namespaces/${namespace}?force=true`).catch((e: unknown) => warn(`could not delete ${namespace}: ${String(e)}`)),
  };
}
