/**
 * The Pulsar client over the broker's WebSocket API (no native library): readers and producers
 * are WebSockets to `{webServiceUrl}/ws/v2/...` (./reader.ts, ./producer.ts); the questions the
 * binary protocol answers in-band (how many partitions) go to the admin REST API (../admin.ts).
 * Token authentication: `Authorization: Bearer` on every upgrade and admin call, the token read
 * again for each (a token file can be rotated).
 */
import { PulsarAdmin, PulsarAdminError } from '../admin.ts';
import type { Client, ClientConfig, Producer, ProducerConfig, PulsarModule, Reader, ReaderConfig } from '../client-api.ts';
import { WsMessageId } from './message.ts';
import { WsProducer } from './producer.ts';
import { WsReader } from './reader.ts';
import type { SocketEndpoint } from './socket.ts';

export class WsClient implements Client {
  private readonly endpoint: SocketEndpoint;
  private readonly admin: PulsarAdmin;
  private readonly owned = new Set<WsReader | WsProducer>();
  private closed = false;

  constructor(private readonly config: ClientConfig) {
    this.endpoint = {
      webServiceUrl: config.serviceUrl,
      ...(config.token !== undefined ? { token: config.token } : {}),
      ...(config.tlsTrustCertsFile !== undefined ? { tlsTrustCertsFile: config.tlsTrustCertsFile } : {}),
    };
    this.admin = new PulsarAdmin({ ...this.endpoint, timeoutMs: 30_000 });
  }

  async createReader(config: ReaderConfig): Promise<Reader> {
    if (this.closed) throw new Error('Failed to create reader: AlreadyClosed');
    const onError = (error: unknown, where: string): void => this.config.log?.('warn', `${where}: ${error instanceof Error ? error.message : String(error)}`);
    return this.own(await WsReader.create(this.endpoint, config, onError, (r) => this.owned.delete(r)));
  }

  async createProducer(config: ProducerConfig): Promise<Producer> {
    if (this.closed) throw new Error('Failed to create producer: AlreadyClosed');
    return this.own(await WsProducer.create(this.endpoint, config, (p) => this.owned.delete(p)));
  }

  /**
   * GET /admin/v2/{topic}/partitions?checkAllowAutoCreation=true: `{"partitions":0}` is a
   * non-partitioned topic, or one auto-creation will make non-partitioned (as the binary lookup
   * answers; without the flag a topic not created yet is a 404).
   */
  async getPartitionsForTopic(topic: string): Promise<string[]> {
    let meta: { partitions?: number };
    try {
      meta = await this.admin.get<{ partitions?: number }>(PulsarAdmin.topicUrl(topic, '/partitions?checkAllowAutoCreation=true'));
    } catch (error) {
      if (error instanceof PulsarAdminError) throw new Error(`Failed to GetPartitionsForTopic ${topic}: ${error.status === 0 ? error.reason : `${error.status} ${error.reason}`}`, { cause: error });
      throw error;
    }
    const n = meta.partitions ?? 0;
    return n > 0 ? Array.from({ length: n }, (_, i) => `${topic}-partition-${i}`) : [topic];
  }

  async close(): Promise<null> {
    this.closed = true;
    await Promise.all([...this.owned].map((c) => c.close()));
    this.owned.clear();
    return null;
  }

  /** Tracks what must close with the client (each removes itself when closed first). */
  private own<T extends WsReader | WsProducer>(c: T): T {
    if (this.closed) {
      void c.close();
      throw new Error('the client was closed');
    }
    this.owned.add(c);
    return c;
  }
}

export const websocketModule: PulsarModule = {
  kind: 'websocket',
  createClient: (config) => new WsClient(config),
  MessageId: WsMessageId,
};
