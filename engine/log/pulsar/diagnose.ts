/**
 * What a failure to reach Pulsar means, for the operator: one clear sentence, and whether waiting
 * can fix it. At open (./pulsar-log.ts) a transient failure (broker down, starting, restarting) lets
 * the engine start not ready and keep trying; a configuration error (wrong URL, token, tenant,
 * namespace, missing grant) stops the start with that sentence.
 *
 * Evidence (Pulsar 4.0.8 standalone, WebSocket client, role abe-engine): no/garbled token -> 401
 * "Authentication required"; a namespace that does not exist, or one without a grant for the role
 * -> lookup 401 "Unauthorized to validateTopicOperation for operation [LOOKUP]", reader/producer 403
 * (Pulsar does not tell a non-admin role which); a tenant that does not exist -> 404 "Tenant does
 * not exist"; the binary port given as web URL -> "socket hang up"; nothing listening ->
 * ECONNREFUSED; unknown host -> ENOTFOUND. Native client: AuthenticationError, AuthorizationError,
 * TopicNotFound are configuration; ConnectError, TimeOut, ServiceUnitNotReady are transient.
 */

export interface PulsarFailure {
  /** true: configuration, waiting will not help. */
  readonly fatal: boolean;
  readonly message: string;
}

interface Where {
  /** The URL the client was given. */
  readonly url: string;
  readonly namespace: string;
}

function statusOf(error: unknown): { status: number; reason: string } | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const s = (e as { status?: unknown; reason?: unknown }).status;
    if (typeof s === 'number') return { status: s, reason: String((e as { reason?: unknown }).reason ?? e.message) };
  }
  return undefined;
}

function text(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 4; e = e instanceof Error ? e.cause : undefined, depth++) parts.push(e instanceof Error ? e.message : String(e));
  return parts.join(' <- ');
}

export function diagnose(error: unknown, w: Where): PulsarFailure {
  const all = text(error);
  const s = statusOf(error);
  const fatal = (message: string): PulsarFailure => ({ fatal: true, message: `${message} (${all})` });
  const transient = (message: string): PulsarFailure => ({ fatal: false, message: `${message} (${all})` });
  if (s && s.status === 401 && /Authentication required|authenticat/i.test(s.reason)) return fatal(`Pulsar at ${w.url} rejected the credentials: check --pulsar-token / --pulsar-token-file`);
  if ((s && (s.status === 401 || s.status === 403)) || /AuthorizationError|Unauthorized|Not authorized/i.test(all)) {
    return fatal(`not allowed on namespace ${w.namespace} at ${w.url}: it does not exist, or the token's role has no produce + consume grant on it (pulsar-admin namespaces create / grant-permission --actions produce,consume)`);
  }
  if (/AuthenticationError/.test(all)) return fatal(`Pulsar at ${w.url} rejected the credentials: check --pulsar-token / --pulsar-token-file`);
  if ((s && s.status === 404 && /Tenant/i.test(s.reason)) || /TopicNotFound|Tenant does not exist|Namespace (does not exist|not found)/i.test(all)) {
    return fatal(`the tenant or namespace of --pulsar-namespace ${w.namespace} does not exist at ${w.url}`);
  }
  if (s && (s.status === 404 || s.status === 405 || (s.status >= 300 && s.status < 400))) return fatal(`${w.url} answers, but not as a Pulsar web service (admin + WebSocket API): check --pulsar-web-url`);
  if (/ENOTFOUND|EAI_AGAIN/.test(all)) return fatal(`cannot resolve the host of ${w.url}: check --pulsar-url / --pulsar-web-url`);
  if (/socket hang up|Parse Error|HPE_|wrong version number|EPROTO/i.test(all)) {
    return fatal(`${w.url} does not speak HTTP(S) as Pulsar's web service does: is it the binary port (6650) instead of the web port (8080)? check --pulsar-web-url`);
  }
  return transient(`Pulsar at ${w.url} is not reachable (yet)`);
}
