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
import { EngineError } from '../../errors.ts';
import { PulsarAdminError } from './admin.ts';
import { PulsarWsError } from './websocket/socket.ts';

export interface PulsarFailure {
  /** true: configuration, waiting will not help. */
  readonly fatal: boolean;
  /**
   * A network-level answer that is usually configuration (an unknown host, a port that does not
   * speak HTTP) but can also be a broker restarting under a load balancer: the open tries a couple
   * more times before it gives up. Answers from Pulsar itself (401, 403, 404 with a reason) are
   * certain at once.
   */
  readonly confirm: boolean;
  readonly message: string;
}

interface Where {
  /** The URL the client was given. */
  readonly url: string;
  readonly namespace: string;
}

/** The HTTP answer in the cause chain: only the clients' own errors carry one (EngineError's `status` is ours, not Pulsar's). */
function answerOf(error: unknown): { status: number; reason: string; json: boolean } | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof PulsarAdminError) return { status: e.status, reason: e.reason, json: e.json };
    if (e instanceof PulsarWsError) return { status: e.status, reason: e.reason, json: false };
  }
  return undefined;
}

/** A refusal the log itself decided (e.g. a partitioned meta topic): configuration, said as it is. */
function ownRefusal(error: unknown): EngineError | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) if (e instanceof EngineError) return e;
  return undefined;
}

function text(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 4; e = e instanceof Error ? e.cause : undefined, depth++) parts.push(e instanceof Error ? e.message : String(e));
  return parts.join(' <- ');
}

export function diagnose(error: unknown, w: Where): PulsarFailure {
  const all = text(error);
  const s = answerOf(error);
  const fatal = (message: string, confirm = false): PulsarFailure => ({ fatal: true, confirm, message: `${message} (${all})` });
  const own = ownRefusal(error);
  if (own && s === undefined) return { fatal: true, confirm: false, message: own.message };
  if (s && s.status === 401 && /Authentication required|authenticat/i.test(s.reason)) return fatal(`Pulsar at ${w.url} rejected the credentials: check --pulsar-token / --pulsar-token-file`);
  if ((s && (s.status === 401 || s.status === 403)) || /AuthorizationError|Unauthorized|Not authorized/i.test(all)) {
    return fatal(`not allowed on namespace ${w.namespace} at ${w.url}: it does not exist, or the token's role has no produce + consume grant on it (pulsar-admin namespaces create / grant-permission --actions produce,consume)`);
  }
  if (/AuthenticationError/.test(all)) return fatal(`Pulsar at ${w.url} rejected the credentials: check --pulsar-token / --pulsar-token-file`);
  if ((s && s.status === 404 && /Tenant/i.test(s.reason)) || /TopicNotFound|Tenant does not exist|Namespace (does not exist|not found)/i.test(all)) {
    return fatal(`the tenant or namespace of --pulsar-namespace ${w.namespace} does not exist at ${w.url}`);
  }
  // Pulsar's own refusals come with a JSON reason: say it; anything else that answers is not Pulsar.
  if (s && s.json && s.status >= 400 && s.status < 500) return fatal(`Pulsar at ${w.url} refused: ${s.status} ${s.reason}`);
  if (s && (s.status === 404 || s.status === 405 || (s.status >= 300 && s.status < 400))) return fatal(`${w.url} answers, but not as a Pulsar web service (admin + WebSocket API): check --pulsar-web-url`);
  if (/ENOTFOUND/.test(all)) return fatal(`cannot resolve the host of ${w.url}: check --pulsar-url / --pulsar-web-url`, true);
  if (/socket hang up|Parse Error|HPE_|wrong version number|EPROTO/i.test(all)) {
    return fatal(`${w.url} does not speak HTTP(S) as Pulsar's web service does: is it the binary port (6650) instead of the web port (8080)? check --pulsar-web-url`, true);
  }
  // Refused connections, timeouts, EAI_AGAIN (DNS: try again), 5xx: a broker that is down or starting.
  return { fatal: false, confirm: false, message: `Pulsar at ${w.url} is not reachable (yet) (${all})` };
}
