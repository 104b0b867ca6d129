/**
 * The `+deflate` subprotocols [engine issue 16]: a server frame whose first byte is 0xC1 is that
 * byte and then the v1 frame compressed with raw DEFLATE (RFC 1951). Browsers and Node 20 (checked on 20.20)
 * inflate it with the platform's DecompressionStream('deflate-raw'), so the SDK carries no
 * inflate code of its own. 0xC1 can start neither JSON text nor msgpack, so any other frame is
 * a plain v1 frame.
 */
import { frameBytes } from './codec.ts';

/** First byte of a compressed frame. */
export const COMPRESSED_MARKER = 0xc1;

/** The `+deflate` variant of a subprotocol. */
export const deflateVariant = (subprotocol: string): string => `${subprotocol}+deflate`;

/** This runtime can inflate raw DEFLATE (DecompressionStream with 'deflate-raw'). */
export function canInflate(): boolean {
  const DS = (globalThis as { DecompressionStream?: new (format: string) => unknown }).DecompressionStream;
  if (DS === undefined || typeof Blob === 'undefined' || typeof Response === 'undefined') return false;
  try {
    new DS('deflate-raw');
    return true;
  } catch {
    return false; // an older engine that knows gzip/deflate only
  }
}

/** The frame compressed after the marker (a copy-free view), or undefined for a plain frame. */
export function compressedPart(data: unknown): Uint8Array | undefined {
  const bytes = frameBytes(data);
  return bytes !== undefined && bytes.byteLength > 0 && bytes[0] === COMPRESSED_MARKER ? bytes.subarray(1) : undefined;
}

/** Inflates raw DEFLATE bytes; rejects on a corrupt stream. */
export async function inflateRaw(bytes: Uint8Array): Promise<Uint8Array> {
  const DS = (globalThis as unknown as { DecompressionStream: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).DecompressionStream;
  const stream = new Blob([bytes as unknown as ArrayBuffer]).stream().pipeThrough(new DS('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
