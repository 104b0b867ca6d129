/**
 * Content-coding negotiation with HTTP's Accept-Encoding syntax (RFC 9110 §12.5.3), shared by the
 * REST history pages (gzip) and MQTT 5 subscriptions (the accept-encoding User Property, deflate):
 * a comma-separated list of codings, any case, each with optional parameters; `q=0` refuses one.
 * The coding's own entry decides; without one, `*` does.
 */
export function acceptsCoding(list: string, coding: string): boolean {
  let star = false;
  for (const entry of list.split(',')) {
    const [token, ...params] = entry.split(';').map((p) => p.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    const ok = q === undefined || Number(q.slice(2)) > 0;
    if (token === coding) return ok;
    if (token === '*') star = ok;
  }
  return star;
}
