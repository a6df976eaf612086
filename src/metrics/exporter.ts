/**
 * The Prometheus exporter (upstream rbd-target-gw's role): GET /metrics on
 * prometheus_host:prometheus_port. Each scrape takes one MetricsSnapshot of the gateway and
 * renders the families of families.ts plus prom-client's process metrics; the data path only
 * ever bumps plain counters (src/scsi/io-stats.ts, src/iscsi/stats.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { MetricsSnapshot } from '../gateway/status.js';
import { FAMILIES, type Family, type MetricType, type Sample } from './families.js';

export interface MetricsSource {
  metricsSnapshot(): MetricsSnapshot;
}

interface LoggerLike {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** prom-client's custom metric shape: `get()` answers the values of one scrape. */
class SnapshotMetric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator = 'sum';
  readonly #family: Family;
  readonly #exporter: MetricsRegistry;

  constructor(f: Family, exporter: MetricsRegistry) {
    this.name = f.name;
    this.help = f.help;
    this.type = f.type;
    this.#family = f;
    this.#exporter = exporter;
  }

  get(): { name: string; help: string; type: MetricType; aggregator: string; values: Sample[] } {
    const s = this.#exporter.current;
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: s === undefined ? [] : this.#family.samples(s) };
  }

  reset(): void {
    // Values live in the gateway; nothing to reset here.
  }
}

/** The registry of one gateway's series; `render()` is one scrape. */
export class MetricsRegistry {
  readonly registry = new Registry();
  current: MetricsSnapshot | undefined;
  #started = 0;
  readonly #source: MetricsSource;

  constructor(source: MetricsSource, opts: { processMetrics?: boolean } = {}) {
    this.#source = source;
    for (const f of FAMILIES) this.registry.registerMetric(new SnapshotMetric(f, this) as never);
    // Collected last: the time this scrape took to read the gateway and build every sample (upstream's meaning).
    const scrape: Family = {
      name: 'ceph_iscsi_scrape_duration_seconds',
      type: 'gauge',
      help: 'Time this scrape took to read the gateway state and build the samples of every other series',
      samples: (s) => [{ labels: { gw_name: s.gatewayName }, value: (performance.now() - this.#started) / 1000 }],
    };
    if (opts.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named *_total: promtool's lint refuses them (and they say little on a gateway).
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    }
    this.registry.registerMetric(new SnapshotMetric(scrape, this) as never);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(): Promise<string> {
    this.#started = performance.now();
    this.current = this.#source.metricsSnapshot();
    try {
      return await this.registry.metrics();
    } finally {
      this.current = undefined;
    }
  }
}

export interface MetricsExporter {
  /** The bound port (prometheus_port, or the one the OS chose for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics (and / with a pointer to it). Never throws on a request: a failed
 * scrape answers 500 and is logged once per distinct message.
 */
export async function startMetricsExporter(opts: { host: string; port: number; source: MetricsSource; logger: LoggerLike }): Promise<MetricsExporter> {
  const metrics = new MetricsRegistry(opts.source);
  const logged = new Set<string>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ceph-iscsi-gateway exporter: see /metrics\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => {
        const msg = err instanceof Error ? err.message : String(err);
        if (!logged.has(msg) && logged.size < 100) {
          logged.add(msg);
          opts.logger.warn({ err }, 'metrics scrape failed');
        }
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('scrape failed\n');
      },
    );
  });
  let host = opts.host === '' ? '::' : opts.host;
  const listen = (h: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: h, port: opts.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen(host);
  } catch (err) {
    // '::' on a host without IPv6: every IPv4 address instead.
    if (host !== '::' || (err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
    host = '0.0.0.0';
    await listen(host);
  }
  const port = (server.address() as AddressInfo).port;
  opts.logger.info({ url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics` }, 'Prometheus exporter listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
