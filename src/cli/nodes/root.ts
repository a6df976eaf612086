/** `/` and `/cluster`, and the whole tree built from one TreeState. */
import type { TreeState } from '../state.js';
import { UiNode, bindArgs, type Command } from '../tree.js';
import { disksNode } from './disks.js';
import { targetsNode } from './targets.js';
import { totalText } from './common.js';

/** Sorted-keys JSON (gwcli export: json.dumps(config, sort_keys=True, indent=4)). */
export function sortedJson(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort);
    if (typeof x === 'object' && x !== null) return Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort((x as Record<string, unknown>)[k])]));
    return x;
  };
  return JSON.stringify(sort(v), null, 4);
}

function clusterNode(state: TreeState): UiNode {
  // No API gives Ceph health, pool replication or capacity: the cluster node shows the pools the
  // disks live in and their committed size only (figures the REST API does not expose are omitted).
  const node = new UiNode('cluster', () => 'Clusters: 1');
  const name = typeof state.config['cluster_name'] === 'string' ? (state.config['cluster_name'] as string) : 'ceph';
  const c = node.add(new UiNode(name, () => (Object.values(state.gatewayUp).every((u) => u) ? 'HEALTH_OK' : 'HEALTH_WARN')));
  const ids = Object.keys(state.config.disks);
  const pools = [...new Set(ids.map((id) => id.split('/')[0]!))].sort();
  const p = c.add(new UiNode('pools', () => `Pools: ${pools.length}`));
  for (const pool of pools) {
    const inPool = ids.filter((id) => id.startsWith(`${pool}/`));
    p.add(new UiNode(pool, () => `Commit: ${totalText(state, inPool)}, Disks: ${inPool.length}`));
  }
  const gws = new Set<string>();
  for (const t of Object.values(state.config.targets)) for (const g of Object.keys(t.portals ?? {})) gws.add(g);
  c.add(new UiNode('topology', () => `Gateways: ${gws.size}`));
  return node;
}

export function buildTree(state: TreeState): UiNode {
  const root = new UiNode('', () => '...');
  root.add(clusterNode(state));
  root.add(disksNode(state));
  root.add(targetsNode(state));
  const exp: Command = {
    name: 'export',
    params: [{ name: 'mode', values: () => ['copy'] }],
    syntax: '[mode=copy]',
    description: 'Print the configuration (GET /api/config) as sorted JSON.',
    run: async (_n, args, ctx) => {
      bindArgs(exp, args);
      ctx.out(sortedJson(await ctx.api.get('/api/config')));
    },
  };
  const info: Command = {
    name: 'info',
    params: [],
    syntax: '',
    description: 'Show the API endpoint and the gateway it runs on.',
    run: async (_n, args, ctx) => {
      bindArgs(info, args);
      ctx.out(`API endpoint: ${ctx.api.loc.base}`);
      ctx.out(`Local gateway: ${state.localGateway || '(unknown)'}`);
      ctx.out(`Config epoch: ${state.config.epoch}`);
    },
  };
  return root.command(exp).command(info);
}
