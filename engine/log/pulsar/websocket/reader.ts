/**
 * A Reader over `/ws/v2/reader/{topic}`: the broker runs a non-durable Java Reader for us and
 * pushes its messages as JSON frames. Flow control is per message: the broker sends at most
 * `receiverQueueSize` (capped at 1000 by the broker) until the client answers; this reader answers
 * each frame right after its listener ran.
 *
 * After a drop (broker restart, network) it reconnects by itself, starting after the last message
 * it delivered, as the native client's readers do; while down, isConnected() is false. Messages
 * from other topics' frames, or non-message frames, never reach the listener.
 */
import type { Message, MessageId, Reader, ReaderConfig } from '../client-api.ts';
import { Link, type SocketEndpoint, topicPath, wsBase } from './socket.ts';
import { WsMessage, isReaderFrame, startParam } from './message.ts';

export class WsReader implements Reader {
  private readonly link: Link;
  /** Where the next (re)connection starts (exclusive). */
  private start: MessageId;

  private constructor(
    endpoint: SocketEndpoint,
    private readonly config: ReaderConfig,
    onError: (error: unknown, where: string) => void,
  ) {
    this.start = config.startMessageId;
    const base = `${wsBase(endpoint.webServiceUrl)}/reader/${topicPath(config.topic)}`;
    const queue = Math.min(1000, Math.max(1, config.receiverQueueSize ?? 1000));
    const name = config.readerName ? `&readerName=${encodeURIComponent(config.readerName)}` : '';
    this.link = new Link(endpoint, () => `${base}?messageId=${encodeURIComponent(startParam(this.start))}&receiverQueueSize=${queue}&cryptoFailureAction=CONSUME${name}`, {
      onFrame: (text) => this.onFrame(text, onError),
      onUp: () => {},
      onDown: () => {},
    });
  }

  static async create(endpoint: SocketEndpoint, config: ReaderConfig, onError: (error: unknown, where: string) => void): Promise<WsReader> {
    const r = new WsReader(endpoint, config, onError);
    await r.link.open();
    return r;
  }

  isConnected(): boolean {
    return this.link.connected;
  }

  async close(): Promise<null> {
    this.link.close();
    return null;
  }

  private onFrame(text: string, onError: (error: unknown, where: string) => void): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch (error) {
      onError(error, `undecodable frame from the reader of ${this.config.topic}`);
      return;
    }
    if (!isReaderFrame(frame)) return; // e.g. an answer to a command this reader never sends
    let message: Message;
    try {
      message = new WsMessage(frame);
    } catch (error) {
      onError(error, `undecodable message on ${this.config.topic}`);
      return;
    }
    this.start = message.getMessageId();
    try {
      this.config.listener(message, this);
    } catch (error) {
      onError(error, `the listener of the reader of ${this.config.topic}`);
    }
    // The permit for the next message: the broker counts any text frame as one.
    this.link.send(`{"messageId":"${frame.messageId}"}`);
  }
}
