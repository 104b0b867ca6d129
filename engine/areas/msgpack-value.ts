/**
 * MessagePack payloads as JS values, the one way the engine reads them (publish check, vehicle
 * formats, history). msgpackr's default turns every uint64/int64 (0xcf / 0xd3) into a BigInt,
 * which JSON cannot hold: `JSON.stringify` threw while encoding such a message, so a publish that
 * had been answered 201 reached no subscriber of any format and made its history page answer 500.
 * Many encoders write any integer >= 2^32 that way (a timestamp in ms), so 64-bit integers are
 * read as numbers where exact (|n| <= 2^53, msgpackr's `int64AsType: 'auto'`), and the rest, still
 * BigInt, become their exact decimal digits as a JSON string. (Client frames keep msgpackr's strict
 * default: a uint64 ack offset is bad_frame on both ack paths, ws/ack-frame.ts.)
 */
import { Unpackr } from 'msgpackr';

// As msgpackr's own `unpack` (useRecords: false: maps are plain objects), plus int64AsType.
// 'auto' is in msgpackr 2.1's README and code (unpack.js, 0xcf / 0xd3) but not yet in its typings.
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' } as unknown as ConstructorParameters<typeof Unpackr>[0]);

/** The value of one MessagePack object (throws on malformed input, like msgpackr's unpack). */
export function unpackValue(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/** JSON text of a decoded value; a BigInt (past 2^53) becomes a string of its exact digits. */
export function jsonOfValue(value: unknown): string {
  return JSON.stringify(value, bigintAsString);
}

function bigintAsString(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
