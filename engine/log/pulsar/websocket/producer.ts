/**
 * A Producer over `/ws/v2/producer/{topic}`: the broker runs a Java producer for us (named, no
 * batching unless asked). Each send is a JSON frame with a unique `context`; the broker answers
 * `{"result":"ok","messageId":...,"context":...}` once the message is persisted, or an error.
 *
 * After a drop the producer reconnects by itself and re-sends, in order, every message not yet
 * answered (as the native client does); a send not answered within `sendTimeoutMs` fails with
 * TimeOut and is never re-sent after that. A re-sent message may have been persisted before the
 * drop: the WebSocket API numbers messages itself (a per-message sequenceId is ignored by the
 * broker's handler), so broker deduplication cannot drop it; readers drop it by (abe-producer,
 * abe-seq) (../area-window.ts).
 */
import type { MessageId, Producer, ProducerConfig, ProducerMessage } from '../client-api.ts';
import { topicPath } from '../topic-names.ts';
import { Link, type SocketEndpoint, wsBase } from './socket.ts';
import { WsMessageId } from './message.ts';

interface Pending {
  readonly frame: string;
  resolve(id: MessageId): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
}

interface Ack {
  readonly result?: string;
  readonly messageId?: string;
  readonly context?: string;
  readonly errorMsg?: string;
}

export class WsProducer implements Producer {
  private readonly link: Link;
  private readonly pending = new Map<string, Pending>();
  private nextContext = 0;
  private closed = false;

  private constructor(
    endpoint: SocketEndpoint,
    private readonly config: ProducerConfig,
    private readonly onClosed: (p: WsProducer) => void,
  ) {
    const q = new URLSearchParams();
    if (config.producerName) q.set('producerName', config.producerName);
    q.set('batchingEnabled', String(config.batchingEnabled ?? false));
    if (config.batchingEnabled) {
      if (config.batchingMaxMessages) q.set('batchingMaxMessages', String(config.batchingMaxMessages));
      if (config.batchingMaxPublishDelayMs) q.set('batchingMaxPublishDelay', String(config.batchingMaxPublishDelayMs));
    }
    if (config.sendTimeoutMs) q.set('sendTimeoutMillis', String(config.sendTimeoutMs));
    if (config.maxPendingMessages) q.set('maxPendingMessages', String(config.maxPendingMessages));
    const url = `${wsBase(endpoint.webServiceUrl)}/producer/${topicPath(config.topic)}?${q.toString()}`;
    this.link = new Link(endpoint, () => url, {
      onFrame: (text) => this.onAck(text),
      // Re-send what is unanswered, in the order it was first sent (Map keeps insertion order).
      onUp: (ws) => {
        for (const p of this.pending.values()) ws.send(p.frame);
      },
    });
  }

  static async create(endpoint: SocketEndpoint, config: ProducerConfig, onClosed: (p: WsProducer) => void = () => {}): Promise<WsProducer> {
    const p = new WsProducer(endpoint, config, onClosed);
    await p.link.open();
    return p;
  }

  send(message: ProducerMessage): Promise<MessageId> {
    if (this.closed) return Promise.reject(new Error('Failed to send message: AlreadyClosed'));
    if (this.pending.size >= (this.config.maxPendingMessages ?? 10_000)) return Promise.reject(new Error('Failed to send message: ProducerQueueIsFull'));
    const context = String(++this.nextContext);
    const frame = JSON.stringify({
      payload: message.data.toString('base64'),
      ...(message.properties ? { properties: message.properties } : {}),
      context,
      ...(message.eventTimestamp ? { eventTime: new Date(message.eventTimestamp).toISOString() } : {}),
    });
    return new Promise<MessageId>((resolve, reject) => {
      const p: Pending = { frame, resolve, reject };
      const timeout = this.config.sendTimeoutMs ?? 30_000;
      if (timeout > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(context);
          reject(new Error(`Failed to send message: TimeOut (${this.link.connected ? 'no answer' : `disconnected: ${this.link.lastError?.message ?? 'connecting'}`})`));
        }, timeout);
      }
      this.pending.set(context, p);
      this.link.send(frame); // while disconnected it waits in `pending` for the reconnection
    });
  }

  async close(): Promise<null> {
    this.closed = true;
    this.link.close();
    this.onClosed(this);
    for (const [context, p] of this.pending) {
      this.pending.delete(context);
      if (p.timer) clearTimeout(p.timer);
      p.reject(new Error('Failed to send message: AlreadyClosed'));
    }
    return null;
  }

  private onAck(text: string): void {
    let ack: Ack;
    try {
      ack = JSON.parse(text) as Ack;
    } catch {
      return;
    }
    const p = ack.context === undefined ? undefined : this.pending.get(ack.context);
    if (!p) return; // timed out already, or an answer to a frame of a closed producer
    this.pending.delete(ack.context!);
    if (p.timer) clearTimeout(p.timer);
    if (ack.result === 'ok' && typeof ack.messageId === 'string') p.resolve(WsMessageId.fromBase64(ack.messageId));
    else p.reject(new Error(`Failed to send message: ${ack.result ?? 'error'}: ${ack.errorMsg ?? 'no detail'}`));
  }
}
