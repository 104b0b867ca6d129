/**
 * Topic names. One persistent topic per area, `persistent://{tenant}/{namespace}/area-{escaped}`,
 * plus the store's meta topic `persistent://{tenant}/{namespace}/abe-meta` and, per area, a dead-letter
 * topic `{area topic}{suffix}` (default suffix `-DLQ`).
 *
 * Escaping: area ids are `[A-Za-z0-9][A-Za-z0-9._:-]*`. Pulsar tolerates `:` in a local topic
 * name on the binary protocol but it is URL-encoded in the metadata store and breaks tooling that
 * splits on it, and a local name containing `-partition-N` is taken for partition N of another
 * topic. So every character outside `[A-Za-z0-9.]` is written `_` + two uppercase hex digits
 * (`:` -> `_3A`, `-` -> `_2D`, `_` -> `_5F`; beyond U+00FF `_u` + four hex digits). The escaped
 * part never contains `-`, so no area topic can end in `-partition-N` or collide with a dead-letter
 * topic (whose suffix must start with `-`). Example: `city:district-7` ->
 * `persistent://city/alerts/area-city_3Adistrict_2D7`.
 */

export interface PulsarNamespace {
  readonly tenant: string;
  readonly namespace: string;
}

/** Pulsar's rule for tenant and namespace names (NamedEntity). */
const NAMED_ENTITY = /^[-=:.\w]+$/;
const SAFE = /^[A-Za-z0-9.]$/;
export const META_TOPIC_NAME = 'abe-meta';
export const AREA_TOPIC_PREFIX = 'area-';
export const DEFAULT_DEAD_LETTER_SUFFIX = '-DLQ';

export function parseNamespace(value: string): PulsarNamespace {
  const parts = value.split('/');
  if (parts.length !== 2 || !NAMED_ENTITY.test(parts[0]!) || !NAMED_ENTITY.test(parts[1]!)) {
    throw new Error(`"${value}" is not a Pulsar namespace: expected tenant/namespace, each of [A-Za-z0-9_=:.-]`);
  }
  return { tenant: parts[0]!, namespace: parts[1]! };
}

export function escapeArea(area: string): string {
  let out = '';
  for (const ch of area) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    const code = ch.codePointAt(0)!;
    if (code <= 0xff) out += `_${code.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (code <= 0xffff) out += `_u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    else throw new Error(`area id contains a character outside the BMP: ${JSON.stringify(area)}`);
  }
  return out;
}

export function unescapeArea(escaped: string): string {
  let out = '';
  for (let i = 0; i < escaped.length; ) {
    const ch = escaped[i]!;
    if (ch !== '_') {
      out += ch;
      i++;
      continue;
    }
    const wide = escaped[i + 1] === 'u';
    const hex = wide ? escaped.slice(i + 2, i + 6) : escaped.slice(i + 1, i + 3);
    if (!/^[0-9A-F]+$/.test(hex) || hex.length !== (wide ? 4 : 2)) throw new Error(`bad escape at ${i} in ${JSON.stringify(escaped)}`);
    out += String.fromCharCode(parseInt(hex, 16));
    i += wide ? 6 : 3;
  }
  return out;
}

function base(ns: PulsarNamespace): string {
  return `persistent://${ns.tenant}/${ns.namespace}/`;
}

export function areaTopic(ns: PulsarNamespace, area: string): string {
  return `${base(ns)}${AREA_TOPIC_PREFIX}${escapeArea(area)}`;
}

export function deadLetterTopic(ns: PulsarNamespace, area: string, suffix: string): string {
  return `${areaTopic(ns, area)}${suffix}`;
}

export function metaTopic(ns: PulsarNamespace): string {
  return `${base(ns)}${META_TOPIC_NAME}`;
}

/** Throws unless `suffix` is a usable dead-letter suffix (starts with `-`, no `-partition-`). */
export function validateDeadLetterSuffix(suffix: string): string {
  if (!/^-[A-Za-z0-9._-]{1,64}$/.test(suffix) || suffix.includes('-partition-')) {
    throw new Error(`"${suffix}" is not a dead-letter suffix: it must start with "-", use [A-Za-z0-9._-] and not contain "-partition-"`);
  }
  return suffix;
}

/** `persistent://tenant/ns/local` -> `persistent/tenant/ns/local` (local URL-encoded): the path form of the admin and WebSocket APIs. */
export function topicPath(topic: string): string {
  const m = /^(persistent|non-persistent):\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(topic);
  if (!m) throw new Error(`not a fully qualified topic name: ${topic}`);
  return `${m[1]}/${m[2]}/${m[3]}/${encodeURIComponent(m[4]!)}`;
}
