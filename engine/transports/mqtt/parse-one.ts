/**
 * One mqtt-packet parser for the whole process instead of one per connection (its BufferList,
 * state and emitter cost every connection memory). The framer hands it one whole packet at a
 * time, synchronously, so the parser is clean between calls; if a packet leaves it in any other
 * state (an error, bytes left over, no packet), the packet is malformed and the parser is replaced.
 *
 * The PUBLISH payload and other binary fields mqtt-packet returns are views of the bytes parsed:
 * callers pass bytes they own (connection.ts copies transient reads before parsing).
 */
import { parser as createParser, type Packet } from 'mqtt-packet';

type Parser = ReturnType<typeof createParser>;

let parser: Parser | undefined;
let got: Packet | undefined;
let count = 0;
let error: string | undefined;

function fresh(): Parser {
  const p = createParser();
  p.on('packet', (packet: Packet) => {
    got = packet;
    count++;
  });
  p.on('error', (err: Error) => (error ??= err.message));
  return p;
}

/** The packet in `raw` (exactly one whole packet), parsed as protocol `version`; a string says why it is malformed. */
export function parseOne(raw: Buffer, version: 4 | 5): Packet | string {
  parser ??= fresh();
  got = undefined;
  count = 0;
  error = undefined;
  // A CONNECT sets the version itself; every other packet is read as the connection's.
  (parser as unknown as { settings: { protocolVersion?: number } }).settings.protocolVersion = version;
  let left: number;
  try {
    left = parser.parse(raw);
  } catch (err) {
    error ??= err instanceof Error ? err.message : String(err);
    left = -1;
  }
  if (error !== undefined || left !== 0 || count !== 1 || got === undefined) {
    parser = undefined;
    return error ?? 'packet did not parse as one whole packet';
  }
  const p = got;
  got = undefined;
  return p;
}
