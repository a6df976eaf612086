/**
 * What the tree shows, read from the REST API only: `GET /api/config` (the document),
 * `/api/sysinfo/hostname` (which gateway answers), `/api/_ping` of each gateway (UP/DOWN),
 * `/api/disk/<pool>/<image>` (state, size, snapshots), `/api/clientinfo` (LOGGED-IN),
 * `/api/cluster` (health, pools, topology) and `/api/settings` (control defaults).
 * The calls run in parallel; one that fails leaves its part unknown, never the whole tree.
 */
import type { GatewayConfig } from '../config/schema.js';
import type { ApiClient } from './client.js';

export interface DiskView {
  state: string;
  /** Bytes; undefined when no API call gives it. */
  size?: number;
  snapshots?: string[];
  /** The GET /api/disk answer as is (for `info`). */
  info?: Record<string, unknown>;
}

/** GET /api/cluster (our route; an upstream rbd-target-api has none). */
export interface ClusterView {
  name: string;
  backstore: string;
  health: string;
  checks: string[];
  topology: Record<string, number>;
  version?: string;
  pools: Array<{ name: string; replication: string; committed_bytes: number; used_bytes: number; capacity_bytes: number; images?: string[] }>;
}

/** The parts of GET /api/settings gwcli uses. */
export interface SettingsView {
  target_default_controls?: Record<string, unknown>;
  disk_default_controls?: Record<string, Record<string, unknown>>;
  default_backstore?: string;
  backstores?: string[];
}

export interface TreeState {
  config: GatewayConfig;
  /** The gateway the API runs on ('' if unknown). */
  localGateway: string;
  gatewayUp: Record<string, boolean>;
  disks: Record<string, DiskView>;
  /** key `${targetIqn} ${clientIqn}` */
  loggedIn: Record<string, boolean>;
  /** Absent when the API has no /api/cluster (an upstream gateway) or it failed. */
  cluster?: ClusterView;
  settings?: SettingsView;
}

function pickSize(info: Record<string, unknown>): number | undefined {
  for (const k of ['size', 'size_bytes']) {
    const v = info[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

function diskView(info: Record<string, unknown>): DiskView {
  const st = info['status'];
  const state = typeof st === 'object' && st !== null && typeof (st as { state?: unknown }).state === 'string' ? (st as { state: string }).state : 'Unknown';
  const out: DiskView = { state, info };
  const size = pickSize(info);
  if (size !== undefined) out.size = size;
  const snaps = info['snapshots'];
  if (Array.isArray(snaps)) out.snapshots = snaps.filter((x): x is string => typeof x === 'string');
  return out;
}

/** The API base URL of gateway `gw` (its first portal IP on the local API's scheme and port). */
export function gatewayApiBase(api: ApiClient, state: Pick<TreeState, 'config' | 'localGateway'>, gw: string): string {
  if (gw === state.localGateway) return api.loc.base;
  for (const t of Object.values(state.config.targets)) {
    const portal = t.portals?.[gw];
    const ip = portal?.portal_ip_addresses?.[0] ?? portal?.gateway_ip_list?.[0];
    if (ip !== undefined) {
      const u = new URL(api.loc.base);
      return `${u.protocol}//${ip.includes(':') ? `[${ip}]` : ip}:${u.port}`;
    }
  }
  return api.loc.base;
}

export async function loadState(api: ApiClient): Promise<TreeState> {
  const config = await api.get<GatewayConfig>('/api/config');
  config.targets ??= {};
  config.disks ??= {};
  config.gateways ??= {};
  const [host, cluster, settings] = await Promise.all([
    api.get<{ data?: unknown }>('/api/sysinfo/hostname').catch(() => ({ data: '' })),
    api.get<ClusterView>('/api/cluster').catch(() => undefined),
    api.get<SettingsView>('/api/settings').catch(() => undefined),
  ]);
  const localGateway = typeof host.data === 'string' ? host.data : '';

  const gatewayUp: Record<string, boolean> = {};
  const gateways = new Set<string>();
  for (const t of Object.values(config.targets)) for (const gw of Object.keys(t.portals ?? {})) gateways.add(gw);
  const gwJobs = [...gateways].map((gw) => api.status('/api/_ping', gatewayApiBase(api, { config, localGateway }, gw)).then((s) => void (gatewayUp[gw] = s === 200)));

  const disks: Record<string, DiskView> = {};
  const diskJobs = Object.keys(config.disks).map(async (id) => {
    try {
      disks[id] = diskView(await api.get<Record<string, unknown>>(`/api/disk/${id}`));
    } catch {
      disks[id] = { state: 'Unknown' };
    }
  });
  const loggedIn: Record<string, boolean> = {};
  const clientJobs: Promise<void>[] = [];
  for (const [iqn, t] of Object.entries(config.targets)) {
    for (const c of Object.keys(t.clients ?? {})) {
      clientJobs.push(
        api.get<{ state?: Record<string, string[]> }>(`/api/clientinfo/${iqn}/${c}`).then(
          (r) => void (loggedIn[`${iqn} ${c}`] = (r.state?.['LOGGED_IN']?.length ?? 0) > 0),
          () => undefined,
        ),
      );
    }
  }
  await Promise.all([...gwJobs, ...diskJobs, ...clientJobs]);
  const state: TreeState = { config, localGateway, gatewayUp, disks, loggedIn };
  if (cluster !== undefined && Array.isArray(cluster.pools)) state.cluster = cluster;
  if (settings !== undefined) state.settings = settings;
  return state;
}
