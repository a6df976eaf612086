/** `/` and `/cluster`, and the whole tree built from one TreeState. */
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../../config/schema.js';
import { describeStep, planImport, validateExport } from '../import.js';
import type { TreeState } from '../state.js';
import { UiNode, UsageError, bindArgs, humanSize, type Command } from '../tree.js';
import { disksNode } from './disks.js';
import { targetsNode } from './targets.js';
import { infoCommand, printInfo, refreshCommand } from './common.js';

/** Sorted-keys JSON (gwcli export: json.dumps(config, sort_keys=True, indent=4)). */
export function sortedJson(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort);
    if (typeof x === 'object' && x !== null) return Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort((x as Record<string, unknown>)[k])]));
    return x;
  };
  return JSON.stringify(sort(v), null, 4);
}

/** gwcli's pool summary: `(x3), Commit: 8G/20G (40%), Used: 5K` (EC pools: `(2+1)`). */
export function poolSummary(p: { replication: string; committed_bytes: number; used_bytes: number; capacity_bytes: number }): string {
  const pct = p.capacity_bytes > 0 ? Math.round((p.committed_bytes / p.capacity_bytes) * 100) : 0;
  return `(${p.replication}), Commit: ${humanSize(p.committed_bytes)}/${humanSize(p.capacity_bytes)} (${pct}%), Used: ${humanSize(p.used_bytes)}`;
}

function clusterNode(state: TreeState): UiNode {
  const node = new UiNode('cluster', () => 'Clusters: 1');
  node.command(refreshCommand('the cluster state'));
  const cl = state.cluster;
  const name = cl?.name ?? 'ceph';
  if (cl === undefined) {
    // An API without /api/cluster (an upstream rbd-target-api): only what the document says.
    node.add(new UiNode(name, () => 'HEALTH_UNKNOWN')).command(infoCommand('Show the cluster.', () => ({ name, health: 'unknown: the API has no /api/cluster' })));
    return node;
  }
  const c = node.add(new UiNode(name, () => cl.health));
  const pools = c.add(new UiNode('pools', () => `Pools: ${cl.pools.length}`));
  for (const p of cl.pools) {
    pools.add(new UiNode(p.name, () => poolSummary(p))).command(
      infoCommand('Show the pool.', () => ({ pool: p.name, replication: p.replication, committed: humanSize(p.committed_bytes), capacity: humanSize(p.capacity_bytes), used: humanSize(p.used_bytes) })),
    );
  }
  // Upstream writes `OSDs: 3,MONs: 3` (no blank after the comma): kept for its QA greps.
  c.add(new UiNode('topology', () => Object.entries(cl.topology).map(([k, v]) => `${k}: ${v}`).join(',') || `Backstore: ${cl.backstore}`));
  c.command(refreshCommand('the cluster state')).command(
    infoCommand('Show the cluster: name, health and its reasons, backstore, version, topology.', () => ({
      name: cl.name,
      health: cl.health,
      health_checks: cl.checks,
      backstore: cl.backstore,
      version: cl.version ?? '',
      topology: cl.topology,
    })),
  );
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
    description: 'Print the configuration (GET /api/config) as sorted JSON, CHAP passwords in clear,\nso that `import` can restore it. Keep the file safe.',
    run: async (_n, args, ctx) => {
      const a = bindArgs(exp, args);
      if (a['mode'] !== undefined && a['mode'] !== 'copy') throw new UsageError(`unknown mode "${a['mode']}" (copy is the only mode)`, exp);
      ctx.out(sortedJson(await ctx.api.get('/api/config', { decrypt_passwords: 'true' })));
    },
  };
  const imp: Command = {
    name: 'import',
    params: [{ name: 'file', required: true }, { name: 'dryrun', values: () => ['true', 'false'] }],
    syntax: 'file=<export.json> [dryrun=true]',
    description:
      'Restore a configuration written by `export`: creates what is missing and changes what differs,\n' +
      'through the same API calls as the other commands; deletes nothing. dryrun=true prints the plan only.\n' +
      'Disks are attached to their existing images (import restores configuration, not data).',
    run: async (_n, args, ctx) => {
      const a = bindArgs(imp, args);
      let wanted: unknown;
      try {
        wanted = JSON.parse(readFileSync(a['file']!, 'utf8'));
      } catch (e) {
        throw new UsageError(`cannot read ${a['file']}: ${(e as Error).message}`, imp);
      }
      const errs = validateExport(wanted);
      if (errs.length > 0) throw new UsageError(`${a['file']} is not a valid export:\n  ${errs.join('\n  ')}`, imp);
      const current = await ctx.api.get<GatewayConfig>('/api/config', { decrypt_passwords: 'true' });
      const plan = planImport({ targets: current.targets ?? {}, disks: current.disks ?? {}, discovery_auth: current.discovery_auth }, wanted as GatewayConfig);
      const dry = a['dryrun'] !== undefined && a['dryrun'].toLowerCase() === 'true';
      if (ctx.json) {
        ctx.out(JSON.stringify({ dryrun: dry, ...plan, steps: plan.steps.map(describeStep) }, null, 2));
      } else {
        for (const w of plan.warnings) ctx.out(`warning: ${w}`);
        for (const k of plan.kept) ctx.out(`kept (not in the file): ${k}`);
        if (plan.steps.length === 0) ctx.out('nothing to change: the configuration already matches the file');
        else if (dry) {
          ctx.out(`${plan.steps.length} change(s) would be made:`);
          plan.steps.forEach((s, i) => ctx.out(`  ${i + 1}. ${describeStep(s)}`));
        }
      }
      if (dry) return;
      for (const [i, s] of plan.steps.entries()) {
        try {
          if (s.method === 'PUT') await ctx.api.put(s.path, s.form);
          else await ctx.api.delete(s.path, s.form);
        } catch (e) {
          throw new Error(`import stopped at step ${i + 1}/${plan.steps.length} (${s.what}): ${(e as Error).message}\n(steps 1-${i} were applied; fix the cause and import again: done steps are skipped)`);
        }
        if (!ctx.json) ctx.out(`  ${i + 1}/${plan.steps.length} ${s.what}: ok`);
      }
      if (!ctx.json) ctx.out('ok');
    },
  };
  const info: Command = {
    name: 'info',
    params: [],
    syntax: '',
    description: 'Show the API endpoint, the gateway it runs on, the cluster and the configuration epoch.',
    run: async (_n, args, ctx) => {
      bindArgs(info, args);
      const u = new URL(ctx.api.loc.base);
      printInfo(ctx, {
        http_mode: u.protocol.replace(':', ''),
        api_endpoint: ctx.api.loc.base,
        api_port: u.port || (u.protocol === 'https:' ? '443' : '80'),
        local_gateway: state.localGateway || '(unknown)',
        ceph_cluster: state.cluster?.name ?? 'ceph',
        backstore: state.cluster?.backstore ?? state.settings?.default_backstore ?? '',
        config_epoch: state.config.epoch,
      });
    },
  };
  const maint: Command = {
    name: 'maintenance',
    params: [{ name: 'state', values: () => ['on', 'off'] }],
    syntax: '[state=on|off]',
    description:
      'Maintenance of the gateway this gwcli talks to (its API endpoint): on hands every LUN to a peer\n' +
      'gateway and asks the initiators to log out, the portals staying up; off serves again.\n' +
      'Without a state, shows it.',
    run: async (_n, args, ctx) => {
      const a = bindArgs(maint, args);
      const st = a['state'];
      if (st === undefined) {
        const r = await ctx.api.get<{ gateway: string; maintenance: boolean }>('/api/maintenance');
        ctx.out(ctx.json ? JSON.stringify(r) : `${r.gateway}: ${r.maintenance ? 'in maintenance' : 'serving'}`);
        return;
      }
      if (st !== 'on' && st !== 'off') throw new UsageError(`unknown state "${st}" (on or off)`, maint);
      const r = await ctx.api.put<{ gateway: string; logoutsRequested: number; locksHeld: number; message: string }>('/api/maintenance', { state: st });
      ctx.out(ctx.json ? JSON.stringify(r) : st === 'on' ? `${r.gateway}: in maintenance (${r.logoutsRequested} session(s) asked to log out, ${r.locksHeld} lock(s) still held)` : `${r.gateway}: serving`);
    },
  };
  return root.command(exp).command(imp).command(info).command(maint);
}
