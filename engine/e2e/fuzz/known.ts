/**
 * Engine bugs the fuzz suite knows about and tolerates, so it stays green (and keeps guarding
 * everything else) until they are fixed. Each has KNOWN entries in corpus.ts with exact bytes.
 * Whoever fixes one sets its flag to false (the fuzz then asserts the behaviour again), removes
 * `known` from its corpus entries, and, once green, deletes the flag.
 */
export const KNOWN_BUGS = {
  /**
   * KNOWN (HTTP): requests uWS 20.30's native parser refuses before any engine code runs get no
   * answer: an unknown or lower-case method (closed at once), a control character in a header
   * value, a header line without a proper name and colon, no Host (held until the 10 s idle
   * timeout), ~1000 headers (closed), a garbage request line (held). See http-edges.test.ts.
   */
  uwsNativeParserRefusals: true,
} as const;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT']);

/** Whether uWS 20.30's own parser refuses this request head without an answer (measured, see above). */
export function uwsNativeRefuses(request: Buffer): boolean {
  const end = request.indexOf('\r\n\r\n');
  if (end < 0) return false; // incomplete: waiting is fair anyway
  const [line, ...headers] = request.subarray(0, end).toString('latin1').split('\r\n');
  const method = line.split(' ')[0];
  if (!METHODS.has(method) || !/^[A-Z]+ \S+ HTTP\/1\.[01]$/.test(line)) return true;
  let host = false;
  for (const h of headers) {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]*):(.*)$/.exec(h);
    if (m === null || /[\u0000-\u0008\u000a-\u001f\u007f]/.test(m[2])) return true;
    if (m[1].toLowerCase() === 'host') host = true;
  }
  return !host;
}
