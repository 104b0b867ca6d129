/**
 * Messages between the engine's primary and its worker processes (node:cluster IPC, JSON).
 *
 *   primary                                  worker i (env ABE_WORKER_INDEX=i, ABE_WORKER_PORT=...)
 *   fork ───────────────────────────────────▶ startEngine(port from env)
 *        ◀─────────────────────────────────── listening {port, mqttPort?, pid}
 *   GET /metrics lands on ANY worker (shared port) ─▶ that worker:
 *        ◀─────────────────────────────────── scrape {id}
 *   metrics-json {id} ──────────────────────▶ every ready worker (the asking one too)
 *        ◀─────────────────────────────────── metrics-json-result {id, metrics}
 *   scrape-result {id, text} ───────────────▶ the asking worker answers the HTTP request
 *   SIGTERM (signal, not IPC) ──────────────▶ engine.close(): going_away, log flushed, exit 0
 */

export const ENV_INDEX = 'ABE_WORKER_INDEX';
/** HTTP/WebSocket port the worker must listen on (the first worker's actual port when --port 0). */
export const ENV_PORT = 'ABE_WORKER_PORT';

/** registry.getMetricsAsJSON() of one process (prom-client's MetricObjectWithValues[]). */
export type MetricsJson = unknown[];

export type WorkerToPrimary =
  | { readonly type: 'abe:listening'; readonly port: number; readonly mqttPort?: number; readonly pid: number }
  | { readonly type: 'abe:scrape'; readonly id: number }
  | { readonly type: 'abe:metrics-json-result'; readonly id: number; readonly metrics?: MetricsJson; readonly error?: string };

export type PrimaryToWorker =
  | { readonly type: 'abe:metrics-json'; readonly id: number }
  | { readonly type: 'abe:scrape-result'; readonly id: number; readonly text?: string; readonly error?: string };

function isOurs(m: unknown): boolean {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('abe:');
}

export function isWorkerMessage(m: unknown): m is WorkerToPrimary {
  return isOurs(m);
}

export function isPrimaryMessage(m: unknown): m is PrimaryToWorker {
  return isOurs(m);
}
