/**
 * MQTT topics <-> areas. The only topics are `areas/{area}`: one level per area, and area ids
 * (^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$) never contain `/`, `+` or `#`.
 *
 * Wildcards cover whole levels [MQTT-4.7.1-1..3], so a filter with one in the area level
 * (`areas/+`, `areas/#`, `#`, `+/+`...) matches EVERY area, current and future: such a filter is
 * kept as a wildcard subscription and expanded to the areas the token may read (wildcards.ts).
 * An exact topic the token does not allow gets SUBACK 0x80 (3.1.1) / 0x87 (5.0).
 */
import { isValidAreaId } from '../../auth/patterns.ts';

export const TOPIC_PREFIX = 'areas/';

export type FilterKind = 'area' | 'wildcard' | 'shared' | 'invalid';

export interface ParsedFilter {
  readonly kind: FilterKind;
  /** Set when kind is 'area', and for a shared subscription of one area. */
  readonly area?: string;
  /** Set when kind is 'shared': the share name and the filter after it. */
  readonly group?: string;
  readonly inner?: string;
}

/** The topic of an area's messages. */
export function topicOf(area: string): string {
  return TOPIC_PREFIX + area;
}

/** The area of a PUBLISH topic name, or undefined if it is not `areas/{valid area}`. */
export function areaOfTopic(topic: string): string | undefined {
  if (!topic.startsWith(TOPIC_PREFIX)) return undefined;
  const area = topic.slice(TOPIC_PREFIX.length);
  return isValidAreaId(area) ? area : undefined;
}

/** Classifies a SUBSCRIBE/UNSUBSCRIBE topic filter. */
export function parseFilter(filter: string): ParsedFilter {
  if (filter.length === 0 || filter.length > 65535 || filter.includes('\u0000')) return INVALID;
  if (filter.startsWith('$share/')) {
    // `$share/{ShareName}/{filter}`: a name of at least one character without / + # [MQTT-4.8.2-1, -2].
    const slash = filter.indexOf('/', 7);
    const group = slash < 0 ? '' : filter.slice(7, slash);
    if (group === '' || group.includes('+') || group.includes('#')) return INVALID;
    const inner = filter.slice(slash + 1);
    const f = parseFilter(inner);
    if (f.kind === 'invalid' || f.kind === 'shared') return INVALID;
    return { kind: 'shared', group, inner, ...(f.area !== undefined && { area: f.area }) };
  }
  const levels = filter.split('/');
  let wild = false;
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l === '#') {
      if (i !== levels.length - 1) return INVALID; // `#` must be last [MQTT-4.7.1-2]
      wild = true;
    } else if (l === '+') {
      wild = true;
    } else if (l.includes('+') || l.includes('#')) {
      return INVALID; // wildcards must fill a whole level [MQTT-4.7.1-1/3]
    }
  }
  if (wild) return WILDCARD;
  const area = areaOfTopic(filter);
  return area === undefined ? INVALID : { kind: 'area', area };
}

/** Does an MQTT filter match a topic name? (reference matcher, used by the property tests) */
export function filterMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const INVALID: ParsedFilter = { kind: 'invalid' };
const WILDCARD: ParsedFilter = { kind: 'wildcard' };
