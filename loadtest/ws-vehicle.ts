/**
 * Protocol v1 over WebSocket for the swarm's vehicles (subprotocol v1.json or v1.msgpack, or
 * their +deflate variants offered before the plain one: ws-json-deflate), on the
 * minimal RFC 6455 client codec of ./ws-codec.ts: upgrade with a checked Sec-WebSocket-Accept,
 * frames scanned in place in the shared read buffer (only a frame split across reads is copied,
 * into a pooled buffer sized for that frame), message frames not decoded (./message-parse.ts),
 * pings answered, everything else decoded fully (rare).
 *
 * Cheap per connection: the upgrade request is built once per destination, with one random
 * Sec-WebSocket-Key per codec (i.e. per worker process and transport) whose expected
 * Sec-WebSocket-Accept is computed once; every answer is still checked against it (status 101,
 * accept, subprotocol), by a scan of the head in the read buffer (./ws-codec.ts verifyUpgrade).
 * The first subscribe per area and the ack frame per area are prebuilt (an ack writes only its
 * offset's bytes into a masked copy).
 *
 * +deflate [issue 16]: a frame starting with 0xC1 is inflated (Node's zlib) and then read like a
 * plain one. Every vehicle of a process gets the same bytes for a message, so each process
 * inflates a frame once and checks every other copy against it byte for byte (Inflated): the
 * load generator shares 10,000 vehicles' CPU on 2 cores, and 10,000 identical inflates would
 * measure the generator, not the engine (a real vehicle inflates its one copy).
 */
import { inflateRawSync } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import { MESSAGE, parseJsonMessage, parseMsgpackMessage, type ParsedMessage } from './message-parse.ts';
import type { CodecHost, VehicleCodec } from './vehicle-codec.ts';
import { CONNECTING, inc, UPGRADED, type Vehicle } from './vehicles.ts';
import {
  checkUpgrade,
  encodeClientFrame,
  expectedAccept,
  frameLength,
  newWebSocketKey,
  NumberFrameEncoder,
  OP_BINARY,
  OP_CLOSE,
  OP_CONT,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  parseUpgradeAnswer,
  scanFrames,
  upgradeRequest,
  verifyUpgrade,
  WsProtocolError,
} from './ws-codec.ts';

const REST_POOL_BUFFER = 16 * 1024;
const REST_POOL_MAX = 4096;
const restPool: Buffer[] = [];

/** A buffer for a frame/packet split across reads (pooled when small). */
export function acquireRest(size: number): Buffer {
  if (size <= REST_POOL_BUFFER) return restPool.pop() ?? Buffer.allocUnsafe(REST_POOL_BUFFER);
  return Buffer.allocUnsafe(size);
}

/** Drops v's partial frame (back to the pool). */
export function releaseRest(v: Vehicle): void {
  const b = v.rest;
  v.rest = null;
  v.restLen = 0;
  if (b !== null && b.length === REST_POOL_BUFFER && restPool.length < REST_POOL_MAX) restPool.push(b);
}

/**
 * Appends to v's partial frame/packet from src[start..end), growing it to hold `need` bytes, and
 * copies at most up to `need`. Returns the new read position in src. Shared by the WS and MQTT codecs.
 */
export function fillRest(v: Vehicle, src: Buffer, start: number, end: number, need: number): number {
  const rest = v.rest as Buffer;
  if (need > rest.length) {
    const bigger = acquireRest(need);
    rest.copy(bigger, 0, 0, v.restLen);
    const len = v.restLen;
    releaseRest(v);
    v.rest = bigger;
    v.restLen = len;
  }
  const take = Math.min(end - start, need - v.restLen);
  src.copy(v.rest as Buffer, v.restLen, start, start + take);
  v.restLen += take;
  return start + take;
}

const parsed: ParsedMessage = { offset: 0, time: 0, sentAtUs: 0, warm: 0 };

/** First byte of a compressed frame in the +deflate subprotocols (engine/areas/compression.ts). */
const COMPRESSED_MARKER = 0xc1;
const INFLATED_KEPT = 16;

/**
 * The last frames this process inflated, each with its inflated bytes: a frame equal byte for
 * byte to one of them is not inflated again. Copies of the frames are kept (the read buffer is
 * shared and reused).
 */
class Inflated {
  private readonly frames: Buffer[] = [];
  private readonly plain: Buffer[] = [];
  private next = 0;

  of(buf: Buffer, s: number, e: number): Buffer {
    const len = e - s;
    for (let i = 0; i < this.frames.length; i++) {
      const f = this.frames[i];
      if (f.length === len && buf.compare(f, 0, len, s, e) === 0) return this.plain[i];
    }
    const plain = inflateRawSync(buf.subarray(s + 1, e));
    this.frames[this.next] = Buffer.from(buf.subarray(s, e));
    this.plain[this.next] = plain;
    this.next = (this.next + 1) % INFLATED_KEPT;
    return plain;
  }
}

export class WsVehicleCodec implements VehicleCodec {
  readonly transport;
  private readonly json: boolean;
  /** Offers the +deflate variant first (the plain one second, which an older server picks). */
  private readonly deflate: boolean;
  private readonly inflated = new Inflated();
  /** What the upgrade request offers, and the answers accepted. */
  private readonly protocol: string;
  private readonly accepted: readonly string[];
  private readonly opcode: number;
  private readonly subscribeFrames = new Map<number, Buffer>();
  private readonly ackEncoders: NumberFrameEncoder[] = [];
  /** The upgrade request per destination (host:port). */
  private readonly requests = new Map<string, Buffer>();
  /** One key for all of this codec's upgrades, and the Sec-WebSocket-Accept every answer must carry. */
  readonly key = newWebSocketKey();
  readonly accept = expectedAccept(this.key);
  private readonly onFrameBound: (v: Vehicle, fin: boolean, opcode: number, buf: Buffer, s: number, e: number) => void;
  private host!: CodecHost;

  constructor(transport: 'ws-json' | 'ws-msgpack' | 'ws-json-deflate' | 'ws-msgpack-deflate') {
    this.transport = transport;
    this.json = transport.startsWith('ws-json');
    this.deflate = transport.endsWith('-deflate');
    const base = this.json ? 'v1.json' : 'v1.msgpack';
    this.accepted = this.deflate ? [`${base}+deflate`, base] : [base];
    this.protocol = this.accepted.join(', ');
    this.opcode = this.json ? OP_TEXT : OP_BINARY;
    this.onFrameBound = (v, fin, op, buf, s, e) => this.onFrame(v, fin, op, buf, s, e);
  }

  private encode(frame: Record<string, unknown>): Buffer {
    return encodeClientFrame(this.opcode, this.json ? Buffer.from(JSON.stringify(frame)) : pack(frame));
  }

  hello(v: Vehicle, host: CodecHost): Buffer {
    v.hs = null;
    releaseRest(v);
    const dest = `${v.host}:${host.port}`;
    let req = this.requests.get(dest);
    if (req === undefined) {
      const headers: Record<string, string> = host.token === undefined ? {} : { Authorization: `Bearer ${host.token}` };
      this.requests.set(dest, (req = upgradeRequest({ host: dest, path: '/v1/ws', key: this.key, protocol: this.protocol, headers })));
    }
    return req;
  }

  subscribe(v: Vehicle, host: CodecHost): Buffer {
    const area = host.areaNames[v.area];
    if (v.everSubscribed) return this.encode({ type: 'subscribe', area, since: { offset: v.last, epoch: v.epoch } });
    let f = this.subscribeFrames.get(v.area);
    if (f === undefined) this.subscribeFrames.set(v.area, (f = this.encode({ type: 'subscribe', area })));
    return f;
  }

  ack(v: Vehicle, offset: number, host: CodecHost): Buffer {
    let enc = this.ackEncoders[v.area];
    if (enc === undefined) {
      const area = host.areaNames[v.area];
      enc = this.ackEncoders[v.area] = this.json
        ? new NumberFrameEncoder(this.opcode, 'decimal', Buffer.from(`{"type":"ack","area":${JSON.stringify(area)},"offset":`), Buffer.from('}'))
        : new NumberFrameEncoder(this.opcode, 'msgpack', Buffer.concat([Buffer.from([0x83]), pack('type'), pack('ack'), pack('area'), pack(area), pack('offset')]), Buffer.alloc(0));
    }
    return enc.encode(offset);
  }

  onData(v: Vehicle, buf: Buffer, start: number, end: number, host: CodecHost): void {
    this.host = host;
    if (v.state === CONNECTING) this.onUpgradeBytes(v, buf, start, end);
    else this.feed(v, buf, start, end);
  }

  private onUpgradeBytes(v: Vehicle, buf: Buffer, start: number, end: number): void {
    if (v.hs === null) {
      // The usual case: the whole answer in one read, checked in place.
      const head = verifyUpgrade(buf, start, end, this.accept, this.accepted);
      if (head > 0) {
        this.host.upgraded(v);
        if (start + head < end && v.sock !== null) this.feed(v, buf, start + head, end);
        return;
      }
      if (head === 0) {
        this.refused(v, buf.subarray(start, end));
        return;
      }
    }
    const chunk = Buffer.from(buf.subarray(start, end));
    v.hs = v.hs === null ? chunk : Buffer.concat([v.hs, chunk]);
    const answer = parseUpgradeAnswer(v.hs);
    if (answer === undefined) {
      if (v.hs.length > 16 * 1024) this.host.attemptFailed(v, 'upgrade answer too long');
      return;
    }
    if (verifyUpgrade(v.hs, 0, v.hs.length, this.accept, this.accepted) <= 0) {
      this.refused(v, v.hs);
      return;
    }
    const hs = v.hs;
    v.hs = null;
    this.host.upgraded(v);
    if (hs.length > answer.headLength && v.sock !== null) this.feed(v, hs, answer.headLength, hs.length);
  }

  /** A complete answer that is not a good upgrade: fail the attempt with the reason. */
  private refused(v: Vehicle, head: Buffer): void {
    v.hs = null;
    const answer = parseUpgradeAnswer(head);
    const problem = answer === undefined ? 'bad upgrade answer' : (checkUpgrade(answer, this.key, this.accepted) ?? 'bad upgrade answer');
    const status = answer?.status ?? 0;
    this.host.attemptFailed(v, status === 101 ? problem : `http ${status}`);
    if (status !== 101) inc(this.host.tally.protocolErrors, problem.slice(0, 160));
  }

  /** Frames in src[start, end): first finish a frame split across reads, then scan in place. */
  private feed(v: Vehicle, src: Buffer, start: number, end: number): void {
    const max = this.host.maxFrameBytes;
    while (v.restLen > 0 && start < end) {
      const rest = v.rest as Buffer;
      let need: number;
      if (v.restLen < 2) need = 2;
      else {
        const l7 = rest[1] & 0x7f;
        const headerLength = l7 < 126 ? 2 : l7 === 126 ? 4 : 10;
        need = v.restLen < headerLength ? headerLength : frameLength(rest, 0, v.restLen);
      }
      if (need > max + 10) throw new WsProtocolError(`frame of ${need} bytes is over the limit`);
      start = fillRest(v, src, start, end, need);
      const full = frameLength(v.rest as Buffer, 0, v.restLen);
      if (full !== 0 && full === v.restLen) {
        scanFrames(v, v.rest as Buffer, 0, v.restLen, this.onFrameBound, max);
        releaseRest(v);
      }
    }
    if (start >= end || v.sock === null) return;
    const used = scanFrames(v, src, start, end, this.onFrameBound, max);
    if (used < end && v.sock !== null) {
      const left = end - used;
      const rest = acquireRest(Math.max(left, frameLength(src, used, end)));
      src.copy(rest, 0, used, end);
      v.rest = rest;
      v.restLen = left;
    }
  }

  private onFrame(v: Vehicle, fin: boolean, opcode: number, buf: Buffer, s: number, e: number): void {
    const tally = this.host.tally;
    if (!fin || opcode === OP_CONT) {
      // The engine never fragments; a fragmented message is counted and its offset shows up as lost.
      inc(tally.protocolErrors, 'fragmented frame');
      return;
    }
    if (opcode === OP_TEXT || opcode === OP_BINARY) {
      // +deflate: binary frames whatever the format (or text ones from a server that chose plain v1.json).
      if ((opcode === OP_TEXT) !== this.json && !(this.deflate && opcode === OP_BINARY)) inc(tally.protocolErrors, `${opcode === OP_TEXT ? 'text' : 'binary'} frame on ${this.transport}`);
      const size = e - s;
      if (this.deflate && opcode === OP_BINARY && size > 0 && buf[s] === COMPRESSED_MARKER) {
        buf = this.inflated.of(buf, s, e);
        s = 0;
        e = buf.length;
      }
      const kind = this.json ? parseJsonMessage(buf, s, e, parsed) : parseMsgpackMessage(buf, s, e, parsed);
      if (kind === MESSAGE) this.host.message(v, parsed, size);
      else this.onControl(v, buf, s, e);
    } else if (opcode === OP_PING) {
      v.sock?.write(encodeClientFrame(OP_PONG, buf.subarray(s, e)));
      tally.pingsAnswered++;
    } else if (opcode === OP_CLOSE) {
      const code = e - s >= 2 ? buf.readUInt16BE(s) : 1005;
      const reason = e - s > 2 ? buf.toString('utf8', s + 2, Math.min(e, s + 64)) : '';
      inc(tally.closeCodes, reason === '' ? String(code) : `${code} ${reason}`);
      v.lastError = `close ${code}`;
      v.sock?.destroy();
    } else if (opcode !== OP_PONG) {
      inc(tally.protocolErrors, `opcode ${opcode}`);
    }
  }

  private onControl(v: Vehicle, buf: Buffer, s: number, e: number): void {
    const tally = this.host.tally;
    let f: Record<string, unknown>;
    try {
      f = (this.json ? JSON.parse(buf.toString('utf8', s, e)) : unpack(buf.subarray(s, e))) as Record<string, unknown>;
    } catch {
      inc(tally.protocolErrors, 'undecodable frame');
      return;
    }
    switch (f.type) {
      case 'subscribed':
        if (v.state !== UPGRADED) {
          inc(tally.protocolErrors, 'unexpected subscribed');
          return;
        }
        this.host.subscribed(v, Number(f.offset), String(f.epoch ?? ''), f.recovered === true);
        return;
      case 'error':
        inc(tally.engineErrors, String(f.code));
        if (v.state === UPGRADED) this.host.attemptFailed(v, `error ${String(f.code)}`);
        return;
      case 'pong':
      case 'unsubscribed':
        return;
      default:
        inc(tally.protocolErrors, `frame type ${String(f.type).slice(0, 32)}`);
    }
  }
}
