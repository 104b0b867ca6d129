/**
 * Realistic alert payloads for the load test [issue 16]: JSON shaped like what cities and
 * mobility operators publish (road damage seen by a camera, lane closures with their geometry,
 * the free/occupied list of a car park's bays), not padding or random bytes, so that compression
 * figures mean something. The kinds alternate with the message number; each message is
 * different (seeded by its number), with the varied numbers (coordinates, confidences, times,
 * ids) that make real alerts compress far less than padding does.
 *
 * Like makePayload, `sentAtUs` and `warm` come first (the vehicles read them without a JSON
 * parse). Sizes: the alert grows by list items (detections, polyline points, bays) until the
 * next would pass `size`; every kind has a compact form for small sizes (~200-256 B).
 */

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const ALERT_KINDS = ['road_damage', 'lane_closure', 'parking_bays'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

const ROADS = ['Route 1', 'Route 15', 'Meiji-dori', 'Yasukuni-dori', 'Shuto C2', 'Kannana-dori', 'Hibiya-dori', 'Sotobori-dori'];
const DIRECTIONS = ['northbound', 'southbound', 'eastbound', 'westbound'];
const DAMAGE = ['pothole', 'crack', 'rutting', 'debris', 'missing_marking', 'manhole_cover'];
const SEVERITY = ['low', 'medium', 'high', 'critical'];
const REASONS = ['roadworks', 'accident', 'broken_down_vehicle', 'flooding', 'event', 'inspection'];
const BAY_TYPES = ['standard', 'standard', 'standard', 'compact', 'disabled', 'ev', 'family'];
const BAY_STATUS = ['free', 'occupied', 'occupied', 'reserved'];

const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)];
const fixed = (x: number, digits: number): number => Number(x.toFixed(digits));
const isoAt = (ms: number): string => new Date(ms).toISOString();

/** Base time of generated timestamps (stable, so a message's bytes depend only on its inputs). */
const BASE_MS = Date.UTC(2026, 11, 7, 6, 0, 0);

interface Builder {
  /** The alert without its list. */
  readonly head: Record<string, unknown>;
  /** Name of the list that grows with the size. */
  readonly listKey: string;
  item(i: number): unknown;
}

function roadDamage(r: () => number, seq: number, lat: number, lon: number): Builder {
  const t = BASE_MS + seq * 1000;
  return {
    head: {
      kind: 'road_damage',
      id: `rd-${(100000 + seq).toString(36)}`,
      severity: pick(r, SEVERITY),
      damage: pick(r, DAMAGE),
      at: { lat: fixed(lat, 6), lon: fixed(lon, 6), road: pick(r, ROADS), dir: pick(r, DIRECTIONS) },
      reportedAt: isoAt(t),
    },
    listKey: 'detections',
    item: (i) => ({
      at: isoAt(t - i * 1000 * (5 + Math.floor(r() * 55))),
      camera: `cam-${String(Math.floor(r() * 4000)).padStart(4, '0')}`,
      lat: fixed(lat + (r() - 0.5) * 0.0004, 6),
      lon: fixed(lon + (r() - 0.5) * 0.0004, 6),
      confidence: fixed(0.55 + r() * 0.45, 3),
      widthCm: Math.floor(10 + r() * 90),
      depthCm: Math.floor(1 + r() * 15),
      image: `https://img.example.city/rd/${(t + i).toString(36)}${Math.floor(r() * 1e6).toString(36)}.jpg`,
    }),
  };
}

function laneClosure(r: () => number, seq: number, lat: number, lon: number): Builder {
  const t = BASE_MS + seq * 1000;
  const lanes = Math.floor(2 + r() * 3);
  let plat = lat;
  let plon = lon;
  return {
    head: {
      kind: 'lane_closure',
      id: `lc-${(100000 + seq).toString(36)}`,
      road: pick(r, ROADS),
      dir: pick(r, DIRECTIONS),
      closed: [Math.floor(1 + r() * lanes)],
      lanes,
      reason: pick(r, REASONS),
      from: isoAt(t),
      until: isoAt(t + Math.floor(1 + r() * 48) * 1800_000),
      limitKmh: pick(r, [30, 40, 50, 60]),
    },
    listKey: 'path',
    item: () => {
      plat += (r() - 0.3) * 0.0006;
      plon += (r() - 0.3) * 0.0006;
      return [fixed(plat, 6), fixed(plon, 6)];
    },
  };
}

function parkingBays(r: () => number, seq: number, lat: number, lon: number): Builder {
  const t = BASE_MS + seq * 1000;
  const facility = Math.floor(r() * 300);
  return {
    head: {
      kind: 'parking_bays',
      facility: `P-${String(facility).padStart(3, '0')}`,
      at: { lat: fixed(lat, 6), lon: fixed(lon, 6) },
      updatedAt: isoAt(t),
    },
    listKey: 'bays',
    item: (i) => {
      const status = pick(r, BAY_STATUS);
      return {
        id: `L${1 + (i % 4)}-${String(i).padStart(4, '0')}`,
        type: pick(r, BAY_TYPES),
        status,
        since: isoAt(t - Math.floor(r() * 7200) * 1000),
        ...(status === 'occupied' && r() < 0.5 && { until: isoAt(t + Math.floor(r() * 7200) * 1000) }),
        ...(r() < 0.3 && { priceYenPerHour: pick(r, [200, 300, 400, 600]) }),
      };
    },
  };
}

const BUILDERS = { road_damage: roadDamage, lane_closure: laneClosure, parking_bays: parkingBays } as const;

/** The kind of message `seq` (they take turns). */
export function alertKindOf(seq: number): AlertKind {
  return ALERT_KINDS[seq % ALERT_KINDS.length];
}

/**
 * One alert of at most `size` bytes (at least the kind's compact form), `sentAtUs` first.
 * Deterministic in (seq, size) except for the stamp.
 */
export function makeAlert(sentAtUs: number, warm: boolean, seq: number, size: number): Buffer {
  const r = rng(seq * 2654435761);
  const lat = 35.6 + r() * 0.2;
  const lon = 139.6 + r() * 0.25;
  const b = BUILDERS[alertKindOf(seq)](r, seq, lat, lon);
  const prefix = `{"sentAtUs":${sentAtUs},"warm":${warm ? 1 : 0},"seq":${seq},`;
  const head = JSON.stringify(b.head).slice(1, -1);
  const items: string[] = [];
  let length = prefix.length + head.length + `,"${b.listKey}":[]}`.length;
  for (let i = 0; i < 100_000; i++) {
    const item = JSON.stringify(b.item(i));
    const add = item.length + (items.length > 0 ? 1 : 0);
    if (length + add > size && items.length > 0) break;
    if (length + add > size && length > size * 0.8) break;
    items.push(item);
    length += add;
  }
  return Buffer.from(`${prefix}${head},"${b.listKey}":[${items.join(',')}]}`, 'utf8');
}
