/**
 * diagnose(): what a failure to reach Pulsar means. The inputs are the errors the clients really
 * raise (shapes seen on Pulsar 4.0.8: engine/log/pulsar/config-errors.broker.test.ts runs them for
 * real); here every branch, including the native client's messages, which cannot be produced here.
 */
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../errors.ts';
import { PulsarAdminError } from './admin.ts';
import { diagnose } from './diagnose.ts';
import { PulsarWsError } from './websocket/socket.ts';

const where = { url: 'http://b:8080', namespace: 'city/alerts' };
const ws = (status: number, reason: string): PulsarWsError => new PulsarWsError(status, reason, 'ws://b:8080/ws/v2/reader/x');
const lookup = (status: number, reason: string, json = false): Error => new Error('Failed to GetPartitionsForTopic x', { cause: new PulsarAdminError('GET', '/admin/v2/x', status, reason, json) });

describe('diagnose', () => {
  it.each([
    ['a rejected token', ws(401, 'Authentication required'), /rejected the credentials/],
    ['no grant (lookup)', lookup(401, 'Unauthorized to validateTopicOperation for operation [LOOKUP]'), /not allowed on namespace city\/alerts .*no produce \+ consume grant/],
    ['no grant (reader)', ws(403, 'Not authorized'), /not allowed on namespace/],
    ['a missing tenant', lookup(404, 'Tenant does not exist', true), /tenant or namespace of --pulsar-namespace city\/alerts does not exist/],
    ['a refusal Pulsar explains', lookup(404, 'Topic persistent://city/alerts/abe-meta not found', true), /Pulsar at http:\/\/b:8080 refused: 404 Topic persistent:\/\/city\/alerts\/abe-meta not found/],
    ['not a Pulsar web service', lookup(404, 'Not Found'), /answers, but not as a Pulsar web service/],
    ['the log\'s own refusal (a partitioned meta topic)', new EngineError('log_unavailable', 'persistent://city/alerts/abe-meta is a partitioned topic: the meta topic must be non-partitioned'), /^persistent:\/\/city\/alerts\/abe-meta is a partitioned topic/],
    ['native: AuthenticationError', new Error('Failed to create reader: AuthenticationError'), /rejected the credentials/],
    ['native: AuthorizationError', new Error('Failed to create producer: AuthorizationError'), /not allowed on namespace/],
    ['native: TopicNotFound', new Error('Failed to create reader: TopicNotFound'), /does not exist/],
  ])('%s is a configuration error, certain at once', (_what, error, message) => {
    const d = diagnose(error, where);
    expect(d).toMatchObject({ fatal: true, confirm: false });
    expect(d.message).toMatch(message);
  });

  it.each([
    ['the binary port', ws(0, 'socket hang up'), /is it the binary port \(6650\)/],
    ['an unknown host', ws(0, 'getaddrinfo ENOTFOUND b'), /cannot resolve the host of http:\/\/b:8080/],
  ])('%s is a configuration error once it repeats (a restart behind a balancer looks the same once)', (_what, error, message) => {
    const d = diagnose(error, where);
    expect(d).toMatchObject({ fatal: true, confirm: true });
    expect(d.message).toMatch(message);
  });

  it.each([
    ['connection refused', ws(0, 'connect ECONNREFUSED 127.0.0.1:8080')],
    ['a broker starting (503)', lookup(503, 'Service Unavailable')],
    ['a server error', ws(500, 'Server error')],
    ['native: ConnectError', new Error('Failed to create reader: ConnectError')],
    ['native: TimeOut', new Error('Failed to send message: TimeOut')],
    ['a DNS answer to try again', ws(0, 'getaddrinfo EAI_AGAIN b')],
  ])('%s is transient: the engine starts not ready and retries', (_what, error) => {
    const d = diagnose(error, where);
    expect(d.fatal).toBe(false);
    expect(d.message).toMatch(/^Pulsar at http:\/\/b:8080 is not reachable \(yet\)/);
  });
});
