/** The standalone's configuration: what the engine relies on is in it, and instance names stay safe paths. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SPEC, instancePaths, jvmEnv, standaloneConf } from './config.ts';

const conf = (text: string): Map<string, string> =>
  new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));

describe('standalone config', () => {
  it('loopback only, WebSocket API on, fsynced journal, no topic deletion, token auth and authorization', () => {
    const p = instancePaths('default', '/cache');
    const c = conf(standaloneConf(DEFAULT_SPEC, p));
    expect(c.get('bindAddress')).toBe('127.0.0.1');
    expect(c.get('advertisedAddress')).toBe('127.0.0.1');
    expect(c.get('listeningInterface')).toBe('lo');
    expect(c.get('webServicePort')).toBe('8081');
    expect(c.get('webSocketServiceEnabled')).toBe('true');
    expect(c.get('journalSyncData')).toBe('true');
    expect(c.get('brokerDeleteInactiveTopicsEnabled')).toBe('false');
    expect(c.get('authenticationEnabled')).toBe('true');
    expect(c.get('authorizationEnabled')).toBe('true');
    expect(c.get('tokenSecretKey')).toBe('file:///cache/instances/default/token-secret.key');
    expect(c.get('brokerClientAuthenticationParameters')).toBe('file:///cache/instances/default/admin.token');
  });

  it('binds another address and its interface when asked (a fleet bridge), never every interface', () => {
    const c = conf(standaloneConf({ ...DEFAULT_SPEC, bindAddress: '10.231.7.1', interface: 'abebr0' }, instancePaths('fleet', '/cache')));
    expect(c.get('bindAddress')).toBe('10.231.7.1');
    expect(c.get('listeningInterface')).toBe('abebr0');
  });

  it('sizes the JVM for a 2-core machine shared with the engine', () => {
    expect(jvmEnv(DEFAULT_SPEC).PULSAR_MEM).toBe('-Xms256m -Xmx1024m -XX:MaxDirectMemorySize=1024m');
    expect(jvmEnv(DEFAULT_SPEC).PULSAR_GC).toContain('-XX:+UseG1GC');
  });

  it('refuses instance names that are not plain directory names', () => {
    expect(() => instancePaths('../etc')).toThrow(/instance name/);
    expect(() => instancePaths('Default')).toThrow(/instance name/);
  });
});
