/**
 * GET /v1/areas/{area}/messages?from=&limit= (JSON only; `from` inclusive; page on with `next`).
 * Used to fill a `recovered:false` gap; the app can call it too (client.history()).
 */
import { HistoryError } from './errors.ts';

export interface HistoryMessage {
  readonly offset: number;
  readonly time: number;
  readonly expiresAt?: number;
  readonly encoding?: 'base64';
  readonly data: unknown;
}

export interface HistoryPage {
  readonly area: string;
  readonly epoch: string;
  readonly head: number;
  readonly first: number;
  readonly next: number;
  readonly messages: readonly HistoryMessage[];
}

export async function fetchHistory(
  fetchFn: typeof globalThis.fetch,
  httpUrl: string,
  token: string | undefined,
  area: string,
  from: number,
  limit: number,
): Promise<HistoryPage> {
  const url = `${httpUrl.replace(/\/$/, '')}/v1/areas/${encodeURIComponent(area)}/messages?from=${from}&limit=${limit}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetchFn(url, { headers });
  } catch (err) {
    throw new HistoryError(0, 'network', `history ${area}: ${(err as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new HistoryError(res.status, typeof body.code === 'string' ? body.code : 'http_error', `history ${area}: HTTP ${res.status} ${String(body.message ?? '')}`);
  if (typeof body.epoch !== 'string' || !Array.isArray(body.messages) || typeof body.next !== 'number') {
    throw new HistoryError(res.status, 'bad_response', `history ${area}: unexpected body`);
  }
  return body as unknown as HistoryPage;
}

/** http(s) base of the engine from its ws(s) URL: same host and port, no path. */
export function httpBaseOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  return `${u.protocol}//${u.host}`;
}
