/**
 * iscsi-gateway: the daemon. Reads iscsi-gateway.cfg, opens the backstore and
 * the config store, starts the gateway (iSCSI portals + logical units,
 * reconciled from the config document) and the rbd-target-api compatible REST
 * API. The only file that wires all layers together.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { buildApi } from './api/server.js';
import { createBackstoreProvider } from './backstore/registry.js';
import type { RadosCluster } from './backstore/rbd/rados.js';
import { loadSettingsWithMon, openConfigStore, radosPrStores } from './ceph-wiring.js';
import type { Settings } from './config/settings-types.js';
import { Gateway } from './gateway/gateway.js';
import type { MetricsExporter } from './metrics/exporter.js';
import { createLogger, type Logger } from './util/log.js';
import { packageVersion } from './util/version.js';
import { sdNotify } from './util/sd-notify.js';

/** ceph-iscsi's rbd-target-api exits with 16 on fatal start-up errors; systemd units expect it. */
const EXIT_FATAL = 16;

const USAGE = `Usage: iscsi-gateway [--config FILE]

Runs a Ceph iSCSI gateway: the iSCSI target and the rbd-target-api compatible REST API, in
the foreground (a service manager runs it: deploy/systemd/iscsi-gateway.service).

  -c, --config FILE   iscsi-gateway.cfg to read (default: $ISCSI_GATEWAY_CFG, else
                      /etc/ceph/iscsi-gateway.cfg when present, else built-in defaults:
                      file backstore in ./data)
  -h, --help          this text
  -v, --version       print the version

Environment:
  ISCSI_GW_<KEY>=value  overrides [config] key <key> of the cfg (ISCSI_GW_API_PORT=5001)
  LOG_LEVEL=level       log level (trace, debug, info, warn, error), over logger_level
  NOTIFY_SOCKET         set by systemd (Type=notify): READY=1 once the API and portals listen

Logs go to stdout: JSON lines, or readable lines on a terminal or with log_format = text.
Signals: SIGTERM/SIGINT stop cleanly, SIGHUP re-applies the configuration.
Exit status: 0 after a clean stop, 16 when start-up fails (bad settings, port in use...).
`;

function parseArgs(argv: string[]): { config?: string } {
  const out: { config?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (a === '-v' || a === '--version') {
      process.stdout.write(`iscsi-gateway ${packageVersion()}\n`);
      process.exit(0);
    } else if (a === '-c' || a === '--config') {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a file name`);
      out.config = v;
    } else if (a !== undefined && a.startsWith('--config=')) {
      out.config = a.slice('--config='.length);
    } else {
      throw new Error(`unknown argument "${String(a)}"\n${USAGE}`);
    }
  }
  return out;
}

function levelName(level: number): string {
  // logger_level uses Python's numeric levels (10 DEBUG ... 50 CRITICAL).
  if (level <= 10) return 'debug';
  if (level <= 20) return 'info';
  if (level <= 30) return 'warn';
  if (level <= 40) return 'error';
  return 'fatal';
}

async function main(): Promise<void> {
  let settings: Settings;
  let warnings: string[] = [];
  try {
    const args = parseArgs(process.argv.slice(2));
    const loaded = await loadSettingsWithMon(args.config !== undefined ? { path: args.config } : {});
    settings = loaded.settings;
    warnings = loaded.warnings;
  } catch (err) {
    process.stderr.write(`iscsi-gateway: ${(err as Error).message}\n`);
    process.exit(EXIT_FATAL);
  }
  // log_format = auto: readable lines for a person at a terminal, JSON lines for the journal and collectors.
  const text = settings.log_format === 'text' || (settings.log_format === 'auto' && process.stdout.isTTY === true);
  const log: Logger = createLogger({
    level: process.env.LOG_LEVEL ?? levelName(settings.logger_level === 10 ? 20 : settings.logger_level),
    name: 'iscsi-gateway',
    ...(text ? { format: 'text' as const, color: process.stdout.isTTY === true && process.env.NO_COLOR === undefined } : {}),
  });
  for (const w of warnings) log.warn(w);

  let gateway: Gateway | undefined;
  let api: Awaited<ReturnType<typeof buildApi>> | undefined;
  let metrics: MetricsExporter | undefined;
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    sdNotify('STOPPING=1');
    const deadline = setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting');
      void exitNow(log, 1);
    }, 10_000);
    deadline.unref();
    armStopWatchdog(12_000);
    await api?.close().catch((err: unknown) => log.warn({ err }, 'closing the API failed'));
    await metrics?.close();
    await gateway?.stop().catch((err: unknown) => log.warn({ err }, 'stopping the gateway failed'));
    log.info('stopped');
    await exitNow(log, 0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: re-applying the configuration (and re-reading every disk size)');
    void gateway?.reconcileNow(true);
  });
  process.on('unhandledRejection', (err) => {
    log.error({ err }, 'unhandled promise rejection (bug): continuing');
  });

  try {
    const backstore = await createBackstoreProvider(settings, log);
    const opened = await openConfigStore(settings, log);
    const { store, board, unblocklist } = opened;
    // Ceph: image locks name their owner by the data client's address.
    const ceph = backstore as { cluster?: RadosCluster; reconnect?: () => Promise<void> };
    const sharedPrStore = radosPrStores(settings, opened, ceph.cluster !== undefined ? () => ceph.cluster : undefined, log);
    gateway = new Gateway({
      settings,
      store,
      backstore,
      logger: log,
      board: board(() => gateway?.memberNames() ?? []),
      ...(ceph.cluster !== undefined ? { dataAddress: () => ceph.cluster?.address() } : {}),
      ...(ceph.reconnect !== undefined ? { rejoin: () => ceph.reconnect?.() ?? Promise.resolve() } : {}),
      ...(unblocklist !== undefined ? { unblocklist } : {}),
      // Ceph fences a dead holder by blocklisting its client; the file default ends its process.
      ...(ceph.cluster === undefined ? { fenceLocalPeers: true } : {}),
      ...(sharedPrStore !== undefined ? { sharedPrStore } : {}),
    });
    // The API and the exporter (fastify, prom-client: ~0.1 s of module loading) load once the
    // portals serve the LUNs, not before.
    await gateway.start();
    const { buildApi } = await import('./api/server.js');
    api = buildApi({ settings, store, backstore, status: gateway, logger: log.child({ component: 'api' }) });
    const host = settings.api_host === '::' || settings.api_host === '' ? '::' : settings.api_host;
    await api.listen({ host, port: settings.api_port });
    log.info(
      { gateway: gateway.gatewayName, api: `${settings.api_secure ? 'https' : 'http'}://${host}:${settings.api_port}`, iscsiPort: settings.iscsi_port, backstore: settings.backstore, dataDir: settings.data_dir },
      'iscsi-gateway ready',
    );
    metrics = await startMetrics(settings, gateway, log);
    // systemd Type=notify: active only now that the API and the portals listen.
    sdNotify(`READY=1\nSTATUS=serving ${gateway.gatewayName}: API port ${settings.api_port}, iSCSI port ${settings.iscsi_port}\nMAINPID=${process.pid}`);
  } catch (err) {
    log.fatal({ err }, 'start-up failed');
    await gateway?.stop().catch(() => undefined);
    process.exit(EXIT_FATAL);
  }
}

void main();

/** The Prometheus exporter (prometheus_exporter); a port it cannot bind is logged, never fatal. */
async function startMetrics(settings: Settings, gateway: Gateway, log: Logger): Promise<MetricsExporter | undefined> {
  if (!settings.prometheus_exporter) return undefined;
  const logger = log.child({ component: 'metrics' });
  const { startMetricsExporter } = await import('./metrics/exporter.js');
  return startMetricsExporter({ host: settings.prometheus_host, port: settings.prometheus_port, source: gateway, logger }).catch((err: unknown) => {
    logger.error({ err, port: settings.prometheus_port }, 'the Prometheus exporter could not listen: running without it');
    return undefined;
  });
}

/**
 * The last resort of a stop: if the event loop itself is blocked (a native call that never
 * returns, so the 10 s deadline timer cannot run), a worker thread ends the process with
 * SIGKILL after `ms`. The service manager then sees it gone, as it would after its own timeout.
 */
function armStopWatchdog(ms: number): void {
  const w = new Worker(`setTimeout(() => process.kill(${process.pid}, 'SIGKILL'), ${ms});`, { eval: true });
  w.unref();
}

/**
 * Ends the process once the logs are out, without the C++ exit handlers and static destructors
 * of the native libraries loaded (libc `_exit`): librados's can wait for its threads, and a
 * thread parked in a koffi callback relay waits for the JS thread, which is exiting. Seen in CI:
 * a gateway that had logged "stopped" never exited. Everything was closed before (gateway.stop).
 */
async function exitNow(log: Logger, code: number): Promise<never> {
  await new Promise<void>((resolve) => {
    log.flush(() => resolve());
  });
  // A profiling run (--cpu-prof, --heap-prof) writes its profile in Node's own exit path.
  const profiling = process.execArgv.some((a) => a.startsWith('--cpu-prof') || a.startsWith('--heap-prof'));
  if (!profiling) {
    try {
      const koffi = createRequire(import.meta.url)('koffi') as { load(name: string): { func(sig: string): (code: number) => void } };
      koffi.load('libc.so.6').func('void _exit(int status)')(code);
    } catch {
      // no koffi or libc: the ordinary exit
    }
  }
  process.exit(code);
}
