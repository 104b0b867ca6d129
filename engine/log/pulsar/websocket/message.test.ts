/**
 * WebSocket API frames as the log reads them: ids are the binary protocol's MessageIdData, times
 * are ISO strings, a still-encrypted message comes with its encryption context, and the producer
 * name travels in `abe-producer` (the API does not carry it).
 */
import { describe, expect, it } from 'vitest';
import { decodeMessage } from '../codec.ts';
import { decodeMessageId, encodeMessageId } from '../message-id.ts';
import { WsMessage, WsMessageId, startParam } from './message.ts';

const id = (ledger: number, entry: number, batchIndex = -1): string =>
  encodeMessageId({ ledger: BigInt(ledger), entry: BigInt(entry), partition: -1, batchIndex, batchSize: batchIndex >= 0 ? 3 : 0 }).toString('base64');

describe('WebSocket API messages', () => {
  it('decodes a reader frame: id, payload, properties, times', () => {
    const m = new WsMessage({ messageId: id(12, 7, 1), payload: Buffer.from('hello').toString('base64'), properties: { a: 'b' }, publishTime: '2026-12-06T18:32:15.73Z', eventTime: '2026-12-06T18:32:15.719Z' });
    expect(decodeMessageId(m.getMessageId().serialize())).toEqual({ ledger: 12n, entry: 7n, partition: -1, batchIndex: 1, batchSize: 3 });
    expect(m.getData().toString()).toBe('hello');
    expect(m.getProperties()).toEqual({ a: 'b' });
    expect(m.getPublishTimestamp()).toBe(Date.parse('2026-12-06T18:32:15.730Z'));
    expect(m.getEventTimestamp()).toBe(Date.parse('2026-12-06T18:32:15.719Z'));
    expect(m.getProducerName()).toBe('');
    expect(m.getEncryptionContext()).toBeNull();
    expect(new WsMessage({ messageId: id(1, 1), encryptionContext: { keys: {} } }).getEncryptionContext()).toEqual({ isDecryptionFailed: true });
  });

  it('start positions: earliest, latest, else the id itself', () => {
    expect(startParam(WsMessageId.earliest())).toBe('earliest');
    expect(startParam(WsMessageId.latest())).toBe('latest');
    expect(startParam(WsMessageId.fromBase64(id(5, 2, 0)))).toBe(id(5, 2, 0));
  });

  it('an engine message names its producer in abe-producer; without it a sequence is not trusted', () => {
    const props = { 'abe-content-type': 'binary', 'abe-time': '5', 'abe-seq': '9' };
    const ours = decodeMessage(new WsMessage({ messageId: id(1, 1), payload: '', properties: { ...props, 'abe-producer': 'abe-h-1-abc' } }));
    expect(ours).toMatchObject({ kind: 'data', producer: 'abe-h-1-abc', seq: 9 });
    const anonymous = decodeMessage(new WsMessage({ messageId: id(1, 2), payload: '', properties: props }));
    expect(anonymous).toMatchObject({ kind: 'data', producer: '' });
    expect(anonymous).not.toHaveProperty('seq');
  });
});
