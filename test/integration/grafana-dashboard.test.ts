/**
 * deploy/grafana/ceph-iscsi-gateway.json references only series the exporter serves: every
 * metric name in its panel expressions and template queries is checked against a live scrape
 * of a gateway that has served I/O (so the per-client series exist too).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePromText } from '../../src/util/prom-text.js';
import { addClient, Daemon, defineTarget, QEMU_INITIATOR, requireTools, ROOT, run, TARGET_IQN } from './helpers.js';

const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'ceph-iscsi-gateway.json');
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset']);

/** Metric names of a PromQL expression (or a Grafana label_values() query). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ') // label values
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping label lists
    .replace(/\blabel_values\s*\(([^,)]*),[^)]*\)/g, ' $1 ') // label_values(metric, label)
    .replace(/\$\w+/g, ' ') // Grafana variables
    .replace(/(^|[^\w])\d+(\.\d+)?(e[+-]?\d+)?/gi, '$1 '); // numbers
  const names = new Set<string>();
  for (const m of stripped.matchAll(/([A-Za-z_:][\w:]*)\s*(\()?/g)) {
    const word = m[1] ?? '';
    if (m[2] !== undefined || KEYWORDS.has(word)) continue; // a function call or a keyword
    names.add(word);
  }
  return [...names];
}

interface Panel {
  title?: string;
  type?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

function panels(list: Panel[]): Panel[] {
  return list.flatMap((p) => [p, ...panels(p.panels ?? [])]);
}

test('metricNames reads PromQL', () => {
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le, op) (rate(a_bucket{x=~"$g"}[$__rate_interval])))'), ['a_bucket']);
  assert.deepEqual(metricNames('sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) > 1e9 and on (x) up'), ['a_sum', 'a_count', 'up']);
  assert.deepEqual(metricNames('label_values(m_total{gw_name=~"$gateway"}, lun_name)'), ['m_total']);
});

test('grafana: every series the dashboard queries is served by the exporter', { timeout: 60_000 }, async () => {
  requireTools('qemu-io');
  const t0 = Date.now();
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; uid: string; panels: Panel[]; templating: { list: { query?: string | { query: string } }[] } };
  assert.ok(dash.title !== '' && dash.uid !== '', 'title and uid');
  const exprs: { where: string; expr: string }[] = [];
  for (const p of panels(dash.panels)) {
    if (p.type === 'row') continue;
    assert.ok((p.targets ?? []).length > 0, `panel "${p.title ?? ''}" has no query`);
    for (const t of p.targets ?? []) if (t.expr !== undefined) exprs.push({ where: `panel "${p.title ?? ''}"`, expr: t.expr });
  }
  for (const v of dash.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q !== undefined && q.includes('(')) exprs.push({ where: 'template variable', expr: q });
  }
  const wanted = new Map<string, string>();
  for (const e of exprs) for (const n of metricNames(e.expr)) if (!wanted.has(n)) wanted.set(n, e.where);
  assert.ok(wanted.size >= 20, `only ${wanted.size} series referenced`);

  const d = await Daemon.start();
  try {
    await defineTarget(d.api, d.gatewayName, 'rbd/grafana_disk', '8M');
    await addClient(d.api, QEMU_INITIATOR, 'rbd/grafana_disk');
    const io = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 1M', '-c', 'read -P 0x11 0 1M', `iscsi://${d.portal()}/${TARGET_IQN}/0`], { timeoutMs: 30_000 });
    assert.equal(io.code, 0, io.output);
    const scrape = parsePromText(await d.scrape());
    const served = new Set([...scrape.samples.map((s) => s.name), ...scrape.types.keys()]);
    const missing = [...wanted].filter(([n]) => !served.has(n)).map(([n, where]) => `${n} (${where})`);
    assert.deepEqual(missing, [], 'series the dashboard uses but the exporter does not serve');
    console.log(`grafana: ${exprs.length} expressions, ${wanted.size} series, all served (${Date.now() - t0} ms)`);
  } finally {
    await d.dispose();
  }
});
