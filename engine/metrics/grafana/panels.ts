/**
 * Grafana dashboard JSON (schemaVersion 39, Grafana 10/11) from a few helpers, so the three
 * dashboards in dashboards/ stay consistent. ./build.ts writes them; a test checks that the
 * committed files match and that every metric their PromQL names exists in a real scrape.
 *
 * Every query filters on the `job` and `instance` variables; `$__rate_interval` sizes rate().
 */

export type Json = Record<string, unknown>;

export interface Target {
  readonly expr: string;
  readonly legend?: string;
  readonly instant?: boolean;
  readonly format?: 'time_series' | 'table' | 'heatmap';
}

export interface PanelSpec {
  readonly title: string;
  readonly description?: string;
  readonly targets: readonly Target[];
  /** Grafana unit id: s, short, ops, bytes, percentunit, none... */
  readonly unit?: string;
  /** Grid width in 24ths (height below). */
  readonly w: number;
  readonly h?: number;
  readonly stack?: boolean;
  readonly min?: number;
  readonly decimals?: number;
  readonly thresholds?: readonly [number, string][];
  readonly mappings?: Json[];
  readonly overrides?: Json[];
}

export const DS = { type: 'prometheus', uid: '${datasource}' } as const;
/** The label filter every query carries. */
export const SEL = 'job=~"$job", instance=~"$instance"';

/** `name{SEL, extra}` */
export function m(name: string, extra = ''): string {
  return `${name}{${SEL}${extra === '' ? '' : `, ${extra}`}}`;
}

export function rate(name: string, extra = '', by = ''): string {
  return `sum${by === '' ? '' : ` by (${by})`} (rate(${m(name, extra)}[$__rate_interval]))`;
}

export function quantileOf(q: number, family: string, extra = '', by = ''): string {
  return `histogram_quantile(${q}, sum by (le${by === '' ? '' : `, ${by}`}) (rate(${m(`${family}_bucket`, extra)}[$__rate_interval])))`;
}

/** Mean of a histogram over the rate window: sum(rate(_sum)) / sum(rate(_count)). */
export function meanOf(family: string, extra = ''): string {
  return `(${rate(`${family}_sum`, extra)} / ${rate(`${family}_count`, extra)})`;
}

function targets(ts: readonly Target[]): Json[] {
  return ts.map((t, i) => ({
    datasource: DS,
    refId: String.fromCharCode(65 + i),
    expr: t.expr,
    legendFormat: t.legend ?? '__auto',
    range: t.instant !== true,
    instant: t.instant === true,
    ...(t.format !== undefined && { format: t.format }),
  }));
}

function fieldConfig(p: PanelSpec, custom: Json): Json {
  const steps = [{ color: 'green', value: null }, ...(p.thresholds ?? []).map(([value, color]) => ({ color, value }))];
  return {
    defaults: {
      unit: p.unit ?? 'short',
      ...(p.min !== undefined && { min: p.min }),
      ...(p.decimals !== undefined && { decimals: p.decimals }),
      thresholds: { mode: 'absolute', steps },
      color: { mode: p.thresholds === undefined ? 'palette-classic' : 'thresholds' },
      ...(p.mappings !== undefined && { mappings: p.mappings }),
      custom,
    },
    overrides: p.overrides ?? [],
  };
}

export type PanelKind = 'timeseries' | 'stat' | 'table' | 'bargauge' | 'heatmap';

export interface Built {
  readonly kind: PanelKind;
  readonly spec: PanelSpec;
}

export const timeseries = (spec: PanelSpec): Built => ({ kind: 'timeseries', spec });
export const stat = (spec: PanelSpec): Built => ({ kind: 'stat', spec });
export const table = (spec: PanelSpec): Built => ({ kind: 'table', spec });
export const bargauge = (spec: PanelSpec): Built => ({ kind: 'bargauge', spec });
export const heatmap = (spec: PanelSpec): Built => ({ kind: 'heatmap', spec });

function panelJson(b: Built, id: number, gridPos: Json): Json {
  const p = b.spec;
  const base = { id, type: b.kind, title: p.title, description: p.description ?? '', datasource: DS, gridPos, targets: targets(p.targets) };
  switch (b.kind) {
    case 'timeseries':
      return {
        ...base,
        fieldConfig: fieldConfig(p, {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: p.stack === true ? 60 : 10,
          showPoints: 'never',
          spanNulls: true,
          stacking: { mode: p.stack === true ? 'normal' : 'none', group: 'A' },
          axisSoftMin: p.min ?? 0,
        }),
        options: { legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } },
      };
    case 'stat':
      return {
        ...base,
        fieldConfig: fieldConfig(p, {}),
        options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'area', textMode: 'auto', justifyMode: 'auto', orientation: 'auto' },
      };
    case 'bargauge':
      return {
        ...base,
        fieldConfig: fieldConfig(p, {}),
        options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, orientation: 'horizontal', displayMode: 'gradient', showUnfilled: true },
      };
    case 'table':
      return {
        ...base,
        fieldConfig: fieldConfig(p, { align: 'auto', cellOptions: { type: 'auto' } }),
        options: { showHeader: true, sortBy: [{ displayName: 'Max lag', desc: true }] },
        transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true }, renameByName: { 'Value #A': 'Subscribers', 'Value #B': 'Head offset', 'Value #C': 'Min acked', 'Value #D': 'Max lag' } } }],
      };
    case 'heatmap':
      return {
        ...base,
        fieldConfig: { defaults: { custom: {} }, overrides: [] },
        options: { calculate: false, yAxis: { unit: p.unit ?? 's' }, color: { scheme: 'Oranges', mode: 'scheme' }, cellGap: 1, tooltip: { show: true, yHistogram: true } },
      };
  }
}

/** Lays panels out left to right in rows of 24 columns; `row` titles start a new row. */
export function dashboard(opts: { uid: string; title: string; description: string; tags: string[]; extraVars?: Json[]; layout: (Built | string)[] }): Json {
  const panels: Json[] = [];
  let x = 0;
  let y = 0;
  let rowH = 0;
  let id = 1;
  for (const item of opts.layout) {
    if (typeof item === 'string') {
      if (x > 0) y += rowH;
      panels.push({ id: id++, type: 'row', title: item, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
      y += 1;
      x = 0;
      rowH = 0;
      continue;
    }
    const w = item.spec.w;
    const h = item.spec.h ?? 8;
    if (x + w > 24) {
      y += rowH;
      x = 0;
      rowH = 0;
    }
    panels.push(panelJson(item, id++, { h, w, x, y }));
    x += w;
    rowH = Math.max(rowH, h);
  }
  const query = (name: string, q: string, multi: boolean): Json => ({
    name,
    label: name,
    type: 'query',
    datasource: DS,
    query: { query: q, refId: 'StandardVariableQuery' },
    definition: q,
    refresh: 2,
    includeAll: true,
    multi,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
  });
  return {
    uid: opts.uid,
    title: opts.title,
    description: opts.description,
    tags: opts.tags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '10s',
    time: { from: 'now-1h', to: 'now' },
    timezone: '',
    templating: {
      list: [
        { name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus', current: {}, hide: 0 },
        query('job', 'label_values(abe_build_info, job)', true),
        query('instance', 'label_values(abe_build_info{job=~"$job"}, instance)', true),
        ...(opts.extraVars ?? []),
      ],
    },
    annotations: { list: [] },
    links: [{ title: 'Engine dashboards', type: 'dashboards', tags: ['area-broadcast-engine'], asDropdown: true }],
    panels,
  };
}
