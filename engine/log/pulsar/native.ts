/**
 * The native client (pulsar-client, libpulsar) behind the narrow interface of ./client-api.ts.
 * pulsar-client's objects already have the shape (Reader, Producer, Message); only the client
 * configuration is translated. MessageIds handed back to it (reader start positions) always came
 * from it (MessageId.earliest() or a message it delivered), so passing them through is sound.
 */
import type * as PC from 'pulsar-client';
import type { Client, ClientConfig, PulsarModule, ReaderConfig } from './client-api.ts';

type NativeApi = Pick<typeof PC, 'Client' | 'MessageId' | 'AuthenticationToken'>;

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export function nativeModule(api: NativeApi): PulsarModule {
  return {
    kind: 'native',
    MessageId: api.MessageId,
    createClient(config: ClientConfig): Client {
      const { token, log } = config;
      const native = new api.Client({
        serviceUrl: config.serviceUrl,
        operationTimeoutSeconds: 30,
        // Listeners of different readers run on these threads (one reader stays on one thread, in order).
        messageListenerThreads: 4,
        ...(token !== undefined && { authentication: new api.AuthenticationToken({ token: typeof token === 'function' ? token : () => token }) }),
        ...(config.tlsTrustCertsFile !== undefined && { tlsTrustCertsFilePath: config.tlsTrustCertsFile }),
        // LogLevel: DEBUG 0, INFO 1, WARN 2, ERROR 3.
        ...(log && { log: (level: PC.LogLevel, file: string, line: number, message: string) => log(LEVELS[level] ?? 'info', message, { file, line }) }),
      });
      return {
        createReader: (c: ReaderConfig) =>
          native.createReader({
            topic: c.topic,
            startMessageId: c.startMessageId as PC.MessageId,
            ...(c.receiverQueueSize !== undefined && { receiverQueueSize: c.receiverQueueSize }),
            ...(c.readerName !== undefined && { readerName: c.readerName }),
            listener: (message, reader) => c.listener(message, reader),
          }),
        createProducer: (c) => native.createProducer(c),
        getPartitionsForTopic: (topic) => native.getPartitionsForTopic(topic),
        close: () => native.close(),
      };
    },
  };
}
