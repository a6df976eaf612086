/**
 * GET /api/cluster: the storage cluster as gwcli's `/cluster` node shows it (name, health,
 * pools with replication, commit, use and image names, topology). Upstream gwcli asks librados itself;
 * ours talks only to the API, so this route (not in rbd-target-api) answers for it, on every
 * backstore: RADOS pools on Ceph, data_dir directories on the embedded default.
 */
import type { FastifyInstance } from 'fastify';
import type { ClusterInfo, PoolStats } from '../../backstore/backstore.js';
import { isBackstoreError } from '../errors.js';
import type { ApiContext } from '../context.js';

/** A pool as the API shows it; "x3" for replicated pools, "2+1" for erasure-coded ones (gwcli's notation). */
type PoolView = Record<'name' | 'replication', string> & Record<'committed_bytes' | 'used_bytes' | 'capacity_bytes', number> & { images: string[] };

function poolView(s: PoolStats, images: string[]): PoolView {
  return {
    images,
    name: s.name,
    replication: s.ec !== undefined ? `${s.ec.k}+${s.ec.m}` : `x${s.replicas}`,
    committed_bytes: s.committedBytes,
    used_bytes: s.usedBytes,
    capacity_bytes: s.capacityBytes,
  };
}

export function clusterRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { backstore, settings } = ctx.deps;
  app.get('/api/cluster', { config: { doc: 'Storage cluster view for gwcli /cluster: name, health, pools (replication, commit, used), topology\n(not in rbd-target-api: upstream gwcli asks librados directly)' } }, async () => {
    let info: ClusterInfo;
    let pools: string[];
    try {
      [info, pools] = await Promise.all([
        backstore.clusterInfo?.() ?? Promise.resolve<ClusterInfo>({ health: 'HEALTH_OK', checks: [], topology: {} }),
        backstore.listPools(),
      ]);
    } catch (err) {
      // The storage does not answer: that is its health, not an API failure.
      const why = err instanceof Error ? err.message : String(err);
      return { name: settings.cluster_name, backstore: backstore.kind, health: 'HEALTH_ERR', checks: [`storage unreachable: ${why}`], topology: {}, pools: [] };
    }
    const stats: PoolView[] = [];
    const checks = [...info.checks];
    for (const pool of pools) {
      try {
        const [st, images] = await Promise.all([backstore.poolStats(pool), backstore.listImages(pool)]);
        stats.push(poolView(st, images));
      } catch (err) {
        // A pool that vanished between the list and the stat is not an error of the cluster.
        if (isBackstoreError(err) && err.code === 'ERR_BACKSTORE_NOT_FOUND') continue;
        checks.push(`pool ${pool}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const health = checks.length > info.checks.length && info.health === 'HEALTH_OK' ? 'HEALTH_WARN' : info.health;
    return { name: settings.cluster_name, backstore: backstore.kind, health, checks, topology: info.topology, ...(info.version !== undefined ? { version: info.version } : {}), pools: stats };
  });
}
