/**
 * What the tree shows, read from the REST API only: `GET /api/config` (the document),
 * `/api/sysinfo/hostname` (which gateway answers), `/api/_ping` of each gateway (UP/DOWN),
 * `/api/disk/<pool>/<image>` (state, size when the API gives it) and `/api/clientinfo` (LOGGED-IN).
 */
import type { GatewayConfig } from '../config/schema.js';
import type { ApiClient } from './client.js';

export interface DiskView {
  state: string;
  /** Bytes; undefined when no API call gives it. */
  size?: number;
}

export interface TreeState {
  config: GatewayConfig;
  /** The gateway the API runs on ('' if unknown). */
  localGateway: string;
  gatewayUp: Record<string, boolean>;
  disks: Record<string, DiskView>;
  /** key `${targetIqn} ${clientIqn}` */
  loggedIn: Record<string, boolean>;
}

function pickSize(info: Record<string, unknown>): number | undefined {
  for (const k of ['size', 'size_bytes']) {
    const v = info[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  const st = info['status'];
  if (typeof st === 'object' && st !== null) {
    const v = (st as Record<string, unknown>)['size'];
    if (typeof v === 'number') return v;
  }
  return undefined;
}

export async function loadState(api: ApiClient): Promise<TreeState> {
  const config = await api.get<GatewayConfig>('/api/config');
  config.targets ??= {};
  config.disks ??= {};
  config.gateways ??= {};
  const host = await api.get<{ data?: unknown }>('/api/sysinfo/hostname').catch(() => ({ data: '' }));
  const localGateway = typeof host.data === 'string' ? host.data : '';

  const gatewayUp: Record<string, boolean> = {};
  const apiUrl = new URL(api.loc.base);
  const gwJobs: Promise<void>[] = [];
  const seen = new Set<string>();
  for (const t of Object.values(config.targets)) {
    for (const [gw, portal] of Object.entries(t.portals ?? {})) {
      if (seen.has(gw)) continue;
      seen.add(gw);
      const ip = portal.portal_ip_addresses?.[0] ?? portal.gateway_ip_list?.[0];
      const base = gw === localGateway || ip === undefined ? api.loc.base : `${apiUrl.protocol}//${ip.includes(':') ? `[${ip}]` : ip}:${apiUrl.port}`;
      gwJobs.push(api.status('/api/_ping', base).then((s) => void (gatewayUp[gw] = s === 200)));
    }
  }
  const disks: Record<string, DiskView> = {};
  const diskJobs = Object.keys(config.disks).map(async (id) => {
    try {
      const info = await api.get<Record<string, unknown>>(`/api/disk/${id}`);
      const st = info['status'];
      const state = typeof st === 'object' && st !== null && typeof (st as { state?: unknown }).state === 'string' ? (st as { state: string }).state : 'Unknown';
      const size = pickSize(info);
      disks[id] = size === undefined ? { state } : { state, size };
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
  return { config, localGateway, gatewayUp, disks, loggedIn };
}
