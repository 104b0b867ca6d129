/**
 * The metric names a PromQL expression reads (for the test that checks every dashboard and rule
 * against a real scrape). A small lexer, not a parser: it drops strings, label matchers, range
 * selectors, grouping label lists and Grafana variables, then every identifier left that is not
 * followed by `(` and is not a keyword is a metric name. Function names are checked against
 * PromQL's list so a typo in one fails too.
 */

export const PROMQL_FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'avg', 'avg_over_time', 'bottomk', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min',
  'count', 'count_over_time', 'count_values', 'day_of_month', 'day_of_week', 'days_in_month', 'delta', 'deriv', 'exp', 'floor',
  'group', 'histogram_quantile', 'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join', 'label_replace', 'label_values',
  'last_over_time', 'ln', 'log10', 'log2', 'max', 'max_over_time', 'min', 'min_over_time', 'minute', 'month', 'predict_linear',
  'quantile', 'quantile_over_time', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sort', 'sort_desc', 'sqrt', 'stddev',
  'stddev_over_time', 'stdvar', 'stdvar_over_time', 'sum', 'sum_over_time', 'time', 'timestamp', 'topk', 'vector', 'year',
]);

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

export interface PromqlNames {
  readonly metrics: string[];
  /** Identifiers used as functions that PromQL does not have. */
  readonly unknownFunctions: string[];
}

export function promqlNames(expr: string): PromqlNames {
  let e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\$\{?\w+\}?/g, '1') // Grafana variables ($__rate_interval, ${datasource})
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' '); // ranges and subqueries
  // Label lists after by / without / on / ignoring / group_left / group_right.
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const metrics = new Set<string>();
  const unknownFunctions = new Set<string>();
  for (const m of e.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = m[0];
    const rest = e.slice((m.index ?? 0) + name.length);
    const before = e.slice(0, m.index ?? 0);
    if (/^\d*\.?\d*e$/i.test(name) || /[0-9.]$/.test(before)) continue; // 1e3, 5m, 30s
    if (KEYWORDS.has(name.toLowerCase())) continue;
    if (/^\s*\(/.test(rest)) {
      if (!PROMQL_FUNCTIONS.has(name)) unknownFunctions.add(name);
      continue;
    }
    metrics.add(name);
  }
  return { metrics: [...metrics], unknownFunctions: [...unknownFunctions] };
}
