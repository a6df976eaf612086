/**
 * `gwcli top`: a live view of every gateway of the config (upstream gwtop's role, without
 * Performance Co-Pilot): the gateways are found through the local REST API (/api/config: the
 * portals of every target), each gateway's Prometheus exporter is scraped every interval, and
 * the differences between two scrapes give IOPS, MB/s and latency percentiles per LUN. No
 * daemon of its own; nothing is written anywhere.
 */
import { histogramQuantile, parsePromText, type PromScrape } from '../util/prom-text.js';

export const SORT_KEYS = ['iops', 'read', 'write', 'p99', 'name'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface TopOptions {
  intervalMs: number;
  sort: SortKey;
  reverse: boolean;
  /** Only LUNs with I/O in the last interval. */
  busy: boolean;
  /** Substring a LUN or client name must contain ('' = all). */
  filter: string;
}

export interface GatewayEndpoint {
  name: string;
  /** http://host:port/metrics */
  url: string;
}

/** One scrape of one gateway (undefined scrape: it did not answer). */
export interface GatewayScrape {
  gateway: GatewayEndpoint;
  at: number;
  scrape: PromScrape | undefined;
  error?: string;
}

export interface LunRow {
  name: string;
  owner: string;
  sizeBytes: number;
  iops: number;
  readBps: number;
  writeBps: number;
  p50: number | undefined;
  p99: number | undefined;
  queueDepth: number;
  clients: string[];
}

export interface GatewayRow {
  name: string;
  up: boolean;
  error: string;
  luns: number;
  sessions: number;
  iops: number;
  readBps: number;
  writeBps: number;
}

export interface TopView {
  gateways: GatewayRow[];
  luns: LunRow[];
  clientsLoggedIn: number;
}

/** Sums by label value of the samples of `name` (optionally only those matching `match`). */
function byLabel(s: PromScrape | undefined, name: string, label: string, match: Record<string, string> = {}): Map<string, number> {
  const out = new Map<string, number>();
  if (s === undefined) return out;
  for (const x of s.samples) {
    if (x.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => x.labels[k] === v)) continue;
    const key = x.labels[label] ?? '';
    out.set(key, (out.get(key) ?? 0) + x.value);
  }
  return out;
}

/** Per LUN: bucket le → cumulative count, summed over operations. */
function latencyBuckets(s: PromScrape | undefined): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  if (s === undefined) return out;
  for (const x of s.samples) {
    if (x.name !== 'ceph_iscsi_lun_latency_seconds_bucket') continue;
    const lun = x.labels.lun_name ?? '';
    const le = x.labels.le === '+Inf' ? Infinity : Number(x.labels.le);
    const m = out.get(lun) ?? new Map<number, number>();
    m.set(le, (m.get(le) ?? 0) + x.value);
    out.set(lun, m);
  }
  return out;
}

/** Rate of a counter between two scrapes (a counter that went back, i.e. a restart, counts from 0). */
function rate(cur: number | undefined, prev: number | undefined, seconds: number): number {
  if (cur === undefined || seconds <= 0) return 0;
  const d = prev === undefined || cur < prev ? cur : cur - prev;
  return prev === undefined ? 0 : d / seconds;
}

/** The view of one refresh from the previous and the current scrapes of every gateway. */
export function computeView(prev: ReadonlyMap<string, GatewayScrape>, cur: readonly GatewayScrape[]): TopView {
  const gateways: GatewayRow[] = [];
  const luns = new Map<string, LunRow>();
  const buckets = new Map<string, Map<number, number>>();
  const loggedIn = new Set<string>();
  for (const g of cur) {
    const p = prev.get(g.gateway.name);
    const secs = p?.scrape !== undefined && g.scrape !== undefined ? (g.at - p.at) / 1000 : 0;
    const row: GatewayRow = { name: g.gateway.name, up: g.scrape !== undefined, error: g.error ?? '', luns: 0, sessions: 0, iops: 0, readBps: 0, writeBps: 0 };
    gateways.push(row);
    if (g.scrape === undefined) continue;
    const s = g.scrape;
    const ps = secs > 0 ? p?.scrape : undefined;
    const sizes = byLabel(s, 'ceph_iscsi_lun_size_bytes', 'lun_name');
    const cmds = byLabel(s, 'ceph_iscsi_lun_commands_total', 'lun_name');
    const pcmds = byLabel(ps, 'ceph_iscsi_lun_commands_total', 'lun_name');
    const rd = byLabel(s, 'ceph_iscsi_lun_read_bytes_total', 'lun_name');
    const prd = byLabel(ps, 'ceph_iscsi_lun_read_bytes_total', 'lun_name');
    const wr = byLabel(s, 'ceph_iscsi_lun_write_bytes_total', 'lun_name');
    const pwr = byLabel(ps, 'ceph_iscsi_lun_write_bytes_total', 'lun_name');
    const qd = byLabel(s, 'ceph_iscsi_lun_queue_depth', 'lun_name');
    const ao = byLabel(s, 'ceph_iscsi_lun_active_optimized', 'lun_name');
    const lb = latencyBuckets(s);
    const plb = latencyBuckets(ps);
    for (const x of s.samples) if (x.name === 'ceph_iscsi_client_login' && x.value === 1) loggedIn.add(x.labels.client_iqn ?? '');
    row.sessions = [...byLabel(s, 'ceph_iscsi_sessions', 'portal').values()].reduce((a, b) => a + b, 0);
    row.luns = sizes.size;
    for (const [lun, size] of sizes) {
      const r = luns.get(lun) ?? { name: lun, owner: '', sizeBytes: size, iops: 0, readBps: 0, writeBps: 0, p50: undefined, p99: undefined, queueDepth: 0, clients: [] };
      luns.set(lun, r);
      const iops = secs > 0 ? rate(cmds.get(lun), pcmds.get(lun), secs) : 0;
      const rb = secs > 0 ? rate(rd.get(lun), prd.get(lun), secs) : 0;
      const wb = secs > 0 ? rate(wr.get(lun), pwr.get(lun), secs) : 0;
      r.iops += iops;
      r.readBps += rb;
      r.writeBps += wb;
      row.iops += iops;
      row.readBps += rb;
      row.writeBps += wb;
      r.queueDepth += qd.get(lun) ?? 0;
      if ((ao.get(lun) ?? 0) >= 1) r.owner = g.gateway.name;
      // Latency: the observations of this interval (bucket deltas), summed over gateways and operations.
      const now = lb.get(lun);
      const before = plb.get(lun);
      if (now !== undefined && secs > 0) {
        const acc = buckets.get(lun) ?? new Map<number, number>();
        for (const [le, c] of now) acc.set(le, (acc.get(le) ?? 0) + Math.max(0, c - (before?.get(le) ?? 0)));
        buckets.set(lun, acc);
      }
    }
    for (const x of s.samples) {
      if (x.name !== 'ceph_iscsi_client_lun') continue;
      const r = luns.get(x.labels.lun_name ?? '');
      const c = x.labels.client_iqn ?? '';
      if (r !== undefined && !r.clients.includes(c)) r.clients.push(c);
    }
  }
  for (const [lun, acc] of buckets) {
    const r = luns.get(lun);
    if (r === undefined) continue;
    const list = [...acc].map(([le, count]) => ({ le, count }));
    r.p50 = histogramQuantile(0.5, list);
    r.p99 = histogramQuantile(0.99, list);
  }
  for (const r of luns.values()) r.clients = r.clients.filter((c) => loggedIn.has(c)).sort();
  return { gateways, luns: [...luns.values()], clientsLoggedIn: loggedIn.size };
}

function sortRows(rows: LunRow[], o: TopOptions): LunRow[] {
  const val = (r: LunRow): number | string => {
    switch (o.sort) {
      case 'iops':
        return r.iops;
      case 'read':
        return r.readBps;
      case 'write':
        return r.writeBps;
      case 'p99':
        return r.p99 ?? -1;
      case 'name':
        return r.name;
    }
  };
  const sorted = [...rows].sort((a, b) => {
    const x = val(a);
    const y = val(b);
    // Numbers: largest first; names: alphabetical.
    const c = typeof x === 'string' || typeof y === 'string' ? String(x).localeCompare(String(y)) : y - x;
    return c !== 0 ? c : a.name.localeCompare(b.name);
  });
  return o.reverse ? sorted.reverse() : sorted;
}

const mb = (bps: number): string => (bps / 1e6).toFixed(1);
const ms = (s: number | undefined): string => (s === undefined ? '-' : (s * 1000).toFixed(s < 0.01 ? 2 : 1));
function size(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[i] ?? ''}`;
}
const pad = (s: string, n: number): string => (s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** The screen of one refresh, as lines no wider than `width`. */
export function renderView(v: TopView, o: TopOptions, width: number, clock: Date): string[] {
  const up = v.gateways.filter((g) => g.up).length;
  const tot = v.gateways.reduce((a, g) => ({ iops: a.iops + g.iops, r: a.r + g.readBps, w: a.w + g.writeBps }), { iops: 0, r: 0, w: 0 });
  const lines: string[] = [];
  lines.push(
    `gwcli top - ${clock.toISOString().slice(11, 19)}  gateways ${up}/${v.gateways.length} up  IOPS ${Math.round(tot.iops)}  read ${mb(tot.r)} MB/s  write ${mb(tot.w)} MB/s  clients ${v.clientsLoggedIn}`,
  );
  lines.push(
    `refresh ${o.intervalMs / 1000}s  sort ${o.sort}${o.reverse ? ' (reversed)' : ''}  ${o.busy ? 'busy only  ' : ''}${o.filter !== '' ? `filter "${o.filter}"  ` : ''}keys: s sort  r reverse  b busy  / filter  q quit`,
  );
  lines.push('');
  lines.push(`${pad('GATEWAY', 20)} ${pad('STATE', 6)} ${lpad('LUNS', 5)} ${lpad('SESS', 5)} ${lpad('IOPS', 8)} ${lpad('rMB/s', 8)} ${lpad('wMB/s', 8)}`);
  for (const g of v.gateways) {
    lines.push(
      `${pad(g.name, 20)} ${pad(g.up ? 'up' : 'DOWN', 6)} ${lpad(String(g.luns), 5)} ${lpad(String(g.sessions), 5)} ${lpad(String(Math.round(g.iops)), 8)} ${lpad(mb(g.readBps), 8)} ${lpad(mb(g.writeBps), 8)}${g.up ? '' : `  ${g.error}`}`,
    );
  }
  lines.push('');
  lines.push(
    `${pad('LUN (pool/image)', 28)} ${pad('OWNER(AO)', 12)} ${lpad('SIZE', 7)} ${lpad('IOPS', 8)} ${lpad('rMB/s', 8)} ${lpad('wMB/s', 8)} ${lpad('p50 ms', 7)} ${lpad('p99 ms', 7)} ${lpad('QD', 4)}  CLIENTS`,
  );
  const f = o.filter.toLowerCase();
  let rows = v.luns.filter((r) => f === '' || r.name.toLowerCase().includes(f) || r.clients.some((c) => c.toLowerCase().includes(f)));
  if (o.busy) rows = rows.filter((r) => r.iops > 0);
  for (const r of sortRows(rows, o)) {
    const clients = r.clients.length === 0 ? '-' : r.clients.length === 1 ? (r.clients[0] ?? '') : `-multi- (${r.clients.length})`;
    lines.push(
      `${pad(r.name, 28)} ${pad(r.owner === '' ? '-' : `*${r.owner}`, 12)} ${lpad(size(r.sizeBytes), 7)} ${lpad(String(Math.round(r.iops)), 8)} ${lpad(mb(r.readBps), 8)} ${lpad(mb(r.writeBps), 8)} ${lpad(ms(r.p50), 7)} ${lpad(ms(r.p99), 7)} ${lpad(String(r.queueDepth), 4)}  ${clients}`,
    );
  }
  if (rows.length === 0) lines.push('(no LUN to show)');
  return lines.map((l) => (l.length > width ? l.slice(0, width) : l));
}

/** The exporters of every gateway of the config: the first portal IP of each gateway in any target, at `port`. */
export function endpointsFromConfig(config: unknown, port: number): GatewayEndpoint[] {
  const targets = (config as { targets?: Record<string, { portals?: Record<string, { portal_ip_addresses?: string[] }> }> }).targets ?? {};
  const ips = new Map<string, string>();
  for (const t of Object.values(targets)) {
    for (const [gw, p] of Object.entries(t.portals ?? {})) {
      const ip = p.portal_ip_addresses?.[0];
      if (ip !== undefined && !ips.has(gw)) ips.set(gw, ip);
    }
  }
  return [...ips]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, ip]) => {
      const host = ip.includes(':') && !ip.startsWith('[') ? `[${ip}]` : ip;
      return { name, url: `http://${host}:${port}/metrics` };
    });
}

/** `-g host:port,host:port` (gwtop's -g): explicit exporters, named by their address. */
export function endpointsFromList(list: string): GatewayEndpoint[] {
  return list
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
    .map((x) => ({ name: x, url: x.startsWith('http') ? x : `http://${x}/metrics` }));
}

/** Scrapes one gateway (never rejects). */
export async function scrapeGateway(g: GatewayEndpoint, timeoutMs: number): Promise<GatewayScrape> {
  const at = Date.now();
  try {
    const r = await fetch(g.url, { signal: AbortSignal.timeout(timeoutMs) });
    if (r.status !== 200) return { gateway: g, at, scrape: undefined, error: `HTTP ${r.status}` };
    return { gateway: g, at, scrape: parsePromText(await r.text()) };
  } catch (e) {
    return { gateway: g, at, scrape: undefined, error: e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e) };
  }
}

/** Options of `gwcli top` (after the word top); throws on a bad one. */
export interface TopArgs {
  o: TopOptions;
  gateways?: string;
  metricsPort?: number;
  iterations?: number;
  /** gwcli's own --config / --api, also accepted after `top`. */
  config?: string;
  api?: string;
}

export function parseTopArgs(argv: readonly string[]): TopArgs {
  const o: TopOptions = { intervalMs: 1000, sort: 'iops', reverse: false, busy: false, filter: '' };
  const out: TopArgs = { o };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const take = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (v: string, min: number, max: number): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${a}: ${v} is not a number in ${min}..${max}`);
      return n;
    };
    if (a === '-i' || a === '--interval') o.intervalMs = Math.round(num(take(), 0.2, 60) * 1000);
    else if (a === '-s' || a === '--sort') {
      const k = take();
      if (!(SORT_KEYS as readonly string[]).includes(k)) throw new Error(`--sort: one of ${SORT_KEYS.join(', ')}`);
      o.sort = k as SortKey;
    } else if (a === '-r' || a === '--reverse') o.reverse = true;
    else if (a === '-b' || a === '--busy') o.busy = true;
    else if (a === '-f' || a === '--filter') o.filter = take();
    else if (a === '-g' || a === '--gateways') out.gateways = take();
    else if (a === '--metrics-port') out.metricsPort = num(take(), 1, 65535);
    else if (a === '-n' || a === '--iterations') out.iterations = num(take(), 1, 1e6);
    else if (a === '-c' || a === '--config') out.config = take();
    else if (a === '--api') out.api = take();
    else throw new Error(`top: unknown option ${a}\n${TOP_USAGE}`);
  }
  return out;
}

export const TOP_USAGE = `usage: gwcli top [-i SECONDS] [-s iops|read|write|p99|name] [-r] [-b] [-f TEXT] [-g HOST:PORT,...] [--metrics-port PORT] [-n COUNT]
  Live view of every gateway of the config (found through the REST API; each gateway's
  Prometheus exporter at its first portal IP and prometheus_port): gateways up, per-LUN IOPS,
  MB/s, latency p50/p99, the active/optimized owner (*), logged-in clients.
  -i interval (default 1 s)   -s sort key   -r reverse   -b busy LUNs only   -f filter (LUN or client)
  -g exporters to scrape instead of the config's   -n refreshes, then exit (for scripts)
  Keys: s next sort key, r reverse, b busy only, / filter (Enter applies, Esc cancels), q quit.`;

export interface TopIo {
  write(text: string): void;
  width(): number;
  /** Keys typed (raw mode); absent without a terminal. */
  onKey?(fn: (key: string) => void): void;
  /** Restores the terminal. */
  close?(): void;
}

/**
 * Runs the refresh loop until `q` (or `iterations` refreshes when given, for scripts): a first
 * scrape, then one every interval, each screen drawn from the last two.
 */
export async function runTop(endpoints: () => Promise<GatewayEndpoint[]>, o: TopOptions, io: TopIo, iterations?: number): Promise<void> {
  let prev = new Map<string, GatewayScrape>();
  let stop = false;
  let wake: (() => void) | undefined;
  let filterEntry: string | undefined;
  let last: TopView | undefined;
  const redraw = (): void => {
    if (last === undefined) return;
    const lines = renderView(last, o, io.width(), new Date());
    if (filterEntry !== undefined) lines.push(`filter: ${filterEntry}_`);
    io.write('\x1b[H\x1b[2J' + lines.join('\n') + '\n');
  };
  io.onKey?.((k) => {
    if (filterEntry !== undefined) {
      if (k === '\r' || k === '\n') {
        o.filter = filterEntry;
        filterEntry = undefined;
      } else if (k === '\x1b') filterEntry = undefined;
      else if (k === '\x7f' || k === '\b') filterEntry = filterEntry.slice(0, -1);
      else if (k >= ' ') filterEntry += k;
      redraw();
      return;
    }
    if (k === 'q' || k === '\x03') {
      stop = true;
      wake?.();
    } else if (k === 's') o.sort = SORT_KEYS[(SORT_KEYS.indexOf(o.sort) + 1) % SORT_KEYS.length] ?? 'iops';
    else if (k === 'r') o.reverse = !o.reverse;
    else if (k === 'b') o.busy = !o.busy;
    else if (k === '/') filterEntry = '';
    redraw();
  });
  let n = 0;
  let list = await endpoints();
  for (;;) {
    const started = Date.now();
    // The gateway list is re-read every 10 refreshes (a gateway added to the config shows up).
    if (n > 0 && n % 10 === 0) list = await endpoints().catch(() => list);
    const cur = await Promise.all(list.map((g) => scrapeGateway(g, Math.min(o.intervalMs, 2000))));
    if (n > 0) {
      last = computeView(prev, cur);
      redraw();
    } else {
      io.write('\x1b[H\x1b[2Jgwcli top: first scrape of ' + list.map((g) => g.name).join(', ') + '...\n');
    }
    prev = new Map(cur.map((c) => [c.gateway.name, c]));
    n++;
    if (stop || (iterations !== undefined && n > iterations)) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, Math.max(0, o.intervalMs - (Date.now() - started)));
    });
    wake = undefined;
    if (stop) break;
  }
  io.close?.();
}
