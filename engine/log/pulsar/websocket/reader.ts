/**
 * A Reader over `/ws/v2/reader/{topic}`: the broker runs a non-durable Java Reader for us and
 * pushes its messages as JSON frames. Flow control is per message: the broker sends at most
 * `receiverQueueSize` (capped at 1000 by the broker) until the client answers; this reader answers
 * each frame right after its listener ran.
 *
 * After a drop (broker restart, network) it reconnects by itself, starting after the last message
 * it delivered, as the native client's readers do; while down, isConnected() is false.
 * Non-message frames never reach the listener; a frame it cannot decode drops the connection, so
 * the reader starts again after the last message delivered (skipping one would shift offsets).
 */
import type { Message, MessageId, Reader, ReaderConfig } from '../client-api.ts';
import { topicPath } from '../topic-names.ts';
import { Link, type SocketEndpoint, wsBase } from './socket.ts';
import { WsMessage, isReaderFrame, startParam } from './message.ts';

export class WsReader implements Reader {
  private readonly link: Link;
  /** Where the next (re)connection starts (exclusive). */
  private start: MessageId;

  private constructor(
    endpoint: SocketEndpoint,
    private readonly config: ReaderConfig,
    onError: (error: unknown, where: string) => void,
    private readonly onClosed: (r: WsReader) => void,
  ) {
    this.start = config.startMessageId;
    const base = `${wsBase(endpoint.webServiceUrl)}/reader/${topicPath(config.topic)}`;
    const queue = Math.min(1000, Math.max(1, config.receiverQueueSize ?? 1000));
    const name = config.readerName ? `&readerName=${encodeURIComponent(config.readerName)}` : '';
    this.link = new Link(endpoint, () => `${base}?messageId=${encodeURIComponent(startParam(this.start))}&receiverQueueSize=${queue}&cryptoFailureAction=CONSUME${name}`, {
      onFrame: (text) => this.onFrame(text, onError),
    });
  }

  static async create(endpoint: SocketEndpoint, config: ReaderConfig, onError: (error: unknown, where: string) => void, onClosed: (r: WsReader) => void = () => {}): Promise<WsReader> {
    const r = new WsReader(endpoint, config, onError, onClosed);
    await r.link.open();
    return r;
  }

  isConnected(): boolean {
    return this.link.connected;
  }

  async close(): Promise<null> {
    this.link.close();
    this.onClosed(this);
    return null;
  }

  private onFrame(text: string, onError: (error: unknown, where: string) => void): void {
    let frame: unknown;
    let message: Message;
    try {
      frame = JSON.parse(text);
      if (!isReaderFrame(frame)) return; // e.g. an answer to a command this reader never sends
      message = new WsMessage(frame);
    } catch (error) {
      // Skipping it would shift this reader's count against every other reader's: start again
      // after the last message delivered instead.
      onError(error, `undecodable frame from the reader of ${this.config.topic} (reconnecting)`);
      this.link.drop();
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
