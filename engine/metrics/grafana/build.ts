/**
 * Writes dashboards/*.json (Grafana) and dashboards/alerts.rules.yml (Prometheus) from the
 * definitions here. Run after editing them:
 *
 *   node --import tsx engine/metrics/grafana/build.ts
 *
 * engine/metrics/dashboards.test.ts fails when the committed files differ from these.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { latency, overview, perArea } from './dashboards.ts';
import { rulesYaml } from './rules.ts';

export const DASHBOARDS_DIR = new URL('../../../dashboards/', import.meta.url);

/** File name in dashboards/ -> content. */
export function renderAll(): Map<string, string> {
  const json = (d: unknown): string => JSON.stringify(d, null, 2) + '\n';
  return new Map([
    ['abe-overview.json', json(overview())],
    ['abe-latency.json', json(latency())],
    ['abe-areas.json', json(perArea())],
    ['alerts.rules.yml', rulesYaml()],
  ]);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, content] of renderAll()) {
    writeFileSync(new URL(name, DASHBOARDS_DIR), content);
    console.log(`wrote dashboards/${name}`);
  }
}
