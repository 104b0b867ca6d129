/**
 * diagnose(): what a failure to reach Pulsar means. The inputs are the errors the clients really
 * raise (shapes seen on Pulsar 4.0.8: engine/log/pulsar/config-errors.broker.test.ts runs them for
 * real); here every branch, including the native client's messages, which cannot be produced here.
 */
import { describe, expect, it } from 'vitest';
import { PulsarAdminError } from './admin.ts';
import { diagnose } from './diagnose.ts';
import { PulsarWsError } from './websocket/socket.ts';

const where = { url: 'http://b:8080', namespace: 'city/alerts' };
const ws = (status: number, reason: string): PulsarWsError => new PulsarWsError(status, reason, 'ws://b:8080/ws/v2/reader/x');
const lookup = (status: number, reason: string): Error => new Error('Failed to GetPartitionsForTopic x', { cause: new PulsarAdminError('GET', '/admin/v2/x', status, reason) });

describe('diagnose', () => {
  it.each([
    ['a rejected token', ws(401, 'Authentication required'), /rejected the credentials/],
    ['no grant (lookup)', lookup(401, 'Unauthorized to validateTopicOperation for operation [LOOKUP]'), /not allowed on namespace city\/alerts .*no produce \+ consume grant/],
    ['no grant (reader)', ws(403, 'Not authorized'), /not allowed on namespace/],
    ['a missing tenant', lookup(404, 'Tenant does not exist'), /tenant or namespace of --pulsar-namespace city\/alerts does not exist/],
    ['not a Pulsar web service', lookup(404, 'Not Found'), /answers, but not as a Pulsar web service/],
    ['the binary port', ws(0, 'socket hang up'), /is it the binary port \(6650\)/],
    ['an unknown host', ws(0, 'getaddrinfo ENOTFOUND b'), /cannot resolve the host of http:\/\/b:8080/],
    ['native: AuthenticationError', new Error('Failed to create reader: AuthenticationError'), /rejected the credentials/],
    ['native: AuthorizationError', new Error('Failed to create producer: AuthorizationError'), /not allowed on namespace/],
    ['native: TopicNotFound', new Error('Failed to create reader: TopicNotFound'), /does not exist/],
  ])('%s is a configuration error', (_what, error, message) => {
    const d = diagnose(error, where);
    expect(d.fatal).toBe(true);
    expect(d.message).toMatch(message);
  });

  it.each([
    ['connection refused', ws(0, 'connect ECONNREFUSED 127.0.0.1:8080')],
    ['a broker starting (503)', lookup(503, 'Service Unavailable')],
    ['a server error', ws(500, 'Server error')],
    ['native: ConnectError', new Error('Failed to create reader: ConnectError')],
    ['native: TimeOut', new Error('Failed to send message: TimeOut')],
  ])('%s is transient: the engine starts not ready and retries', (_what, error) => {
    const d = diagnose(error, where);
    expect(d.fatal).toBe(false);
    expect(d.message).toMatch(/^Pulsar at http:\/\/b:8080 is not reachable \(yet\)/);
  });
});
