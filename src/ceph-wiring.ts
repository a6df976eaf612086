/**
 * The daemon's Ceph wiring, beside main.ts (which calls it): settings whose values are
 * `config://<key>` read from the mon config-key store (as ceph-iscsi settings.py does for
 * cephadm's iscsi-gateway.cfg), and the config store chosen by `config_store`
 * (file: <data_dir>/gateway.conf; rados: the object <pool>/<gateway_conf>), and with
 * backstore = rbd the persistent-reservation stores in RADOS.
 * librados is loaded only when one of them needs it.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadSettingsWithWarnings, parseIni, SETTINGS_ENV_PREFIX, SETTINGS_PATH_ENV, type LoadedSettings, type LoadSettingsOptions } from './config/settings.js';
import type { Settings } from './config/settings-types.js';
import { FileConfigStore } from './config/store-file.js';
import { RadosConfigStore } from './config/store-rados.js';
import type { ConfigStore } from './config/store.js';
import type { RadosCluster } from './backstore/rbd/rados.js';
import type { DesiredDisk } from './gateway/desired.js';
import { FileBoard, RadosBoard, type Board } from './gateway/ha/board.js';
import { RadosSharedPrStore } from './gateway/pr-store-rados.js';
import type { SharedPrStore } from './scsi/reservations.js';
import type { Logger } from './util/log.js';

class NeedMonKey extends Error {
  constructor(readonly key: string) {
    super(`config-key ${key} needed`);
  }
}

async function connectRados(s: Pick<Settings, 'cluster_name' | 'cluster_client_name' | 'ceph_config_dir'>): Promise<RadosCluster> {
  const specifier = './backstore/rbd/rados.js';
  const mod = (await import(specifier)) as typeof import('./backstore/rbd/rados.js');
  return mod.RadosCluster.connect({ clusterName: s.cluster_name, clientName: s.cluster_client_name, configDir: s.ceph_config_dir });
}

/** cluster_name / cluster_client_name / ceph_config_dir as the cfg file (and environment) give them. */
function connectionSettings(opts: LoadSettingsOptions): Pick<Settings, 'cluster_name' | 'cluster_client_name' | 'ceph_config_dir'> {
  const env = opts.env ?? process.env;
  const file = opts.path ?? env[SETTINGS_PATH_ENV];
  const sections = file !== undefined && file !== '' ? parseIni(readFileSync(file, 'utf8'), file) : new Map<string, Map<string, string>>();
  const pick = (key: string, def: string): string => {
    const v = env[`${SETTINGS_ENV_PREFIX}${key.toUpperCase()}`] ?? sections.get('config')?.get(key) ?? sections.get('DEFAULT')?.get(key) ?? def;
    if (v.startsWith('config://')) throw new Error(`${key} cannot be a config:// value: it is needed to reach the monitor`);
    return v;
  };
  return {
    cluster_name: pick('cluster_name', 'ceph'),
    cluster_client_name: pick('cluster_client_name', 'client.admin'),
    ceph_config_dir: pick('ceph_config_dir', '/etc/ceph'),
  };
}

/**
 * loadSettingsWithWarnings, resolving `config://` values from the mon config-key store. The
 * cluster is contacted only when a cfg value needs it, as the cfg's own cluster_client_name.
 */
export async function loadSettingsWithMon(opts: LoadSettingsOptions): Promise<LoadedSettings> {
  const known = new Map<string, string | undefined>();
  let cluster: RadosCluster | undefined;
  try {
    for (;;) {
      try {
        return loadSettingsWithWarnings({
          ...opts,
          monConfig: (key) => {
            if (known.has(key)) return known.get(key);
            throw new NeedMonKey(key);
          },
        });
      } catch (err) {
        if (!(err instanceof NeedMonKey)) throw err;
        cluster ??= await connectRados(connectionSettings(opts));
        known.set(err.key, await cluster.configKeyGet(err.key));
      }
    }
  } finally {
    await cluster?.shutdown().catch(() => undefined);
  }
}

export interface OpenedConfigStore {
  store: ConfigStore;
  /** The group's HA membership board, beside the document. */
  board: (members: () => string[]) => Board;
  /** Removes an OSD blocklist entry (Ceph; absent on the file store). */
  unblocklist?: (address: string) => Promise<void>;
  /**
   * A connection for control-plane objects, never the data client: the config store's
   * (config_store = rados), or one of its own (backstore = rbd with the file config store).
   * Watches deliver their callbacks through koffi, which holds the librados thread until the
   * event loop has run them, and the data client has a single I/O thread (provider.ts): a
   * watch there would stall every completion meanwhile, and deadlock a synchronous librbd
   * call of the loop that needs that thread.
   */
  rados?: RadosCluster;
  close(): Promise<void>;
}

/**
 * backstore = rbd: the PR state of each disk in the RADOS object `igw.pr.<image>` of its pool
 * (gateway/pr-store-rados.ts), through the control connection (`opened.rados`, never
 * blocklisted); the data client's (`dataCluster`, looked up on each use: it is replaced after
 * a blocklist) only if there is none. Undefined (the file store) for other backstores.
 */
export function radosPrStores(
  settings: Settings,
  opened: OpenedConfigStore,
  dataCluster: (() => RadosCluster | undefined) | undefined,
  log: Logger,
): ((disk: DesiredDisk) => SharedPrStore) | undefined {
  if (settings.backstore !== 'rbd') return undefined;
  const config = opened.rados;
  const current = (): RadosCluster => {
    const c = config ?? dataCluster?.();
    if (c === undefined) throw new Error('no RADOS connection for the persistent-reservation state');
    return c;
  };
  const prLog = log.child({ component: 'pr' });
  return (disk) => new RadosSharedPrStore({ rados: current, pool: disk.pool, image: disk.image, lu: disk.wwn, logger: prLog });
}

/** The config store of `config_store`, and what to close with it. */
export async function openConfigStore(settings: Settings, log: Logger): Promise<OpenedConfigStore> {
  if (settings.config_store === 'rados') {
    const cluster = await connectRados(settings);
    const store = new RadosConfigStore({ rados: cluster, pool: settings.pool, object: settings.gateway_conf, logger: log.child({ component: 'config' }) });
    log.info({ config: `rados://${settings.pool}/${settings.gateway_conf}` }, 'config store ready');
    return {
      store,
      rados: cluster,
      board: (members) => new RadosBoard(cluster, settings.pool, settings.gateway_conf, members),
      unblocklist: async (addr) => {
        const r = await cluster.monCommand({ prefix: 'osd blocklist', blocklistop: 'rm', addr });
        if (r.rc === 0) log.info({ addr }, "removed this gateway's previous client from the OSD blocklist");
      },
      close: async () => {
        await store.close();
        await cluster.shutdown();
      },
    };
  }
  const store = new FileConfigStore({ path: join(settings.data_dir, settings.gateway_conf) });
  const board = (): Board => new FileBoard(join(settings.data_dir, '.state', 'ha'));
  if (settings.backstore !== 'rbd') return { store, board, close: () => store.close() };
  const control = await connectRados(settings);
  return {
    store,
    board,
    rados: control,
    close: async () => {
      await store.close();
      await control.shutdown();
    },
  };
}
