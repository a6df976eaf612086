/** /iscsi-targets → <iqn> → disks | gateways | host-groups | hosts → <client> → lun N (anchors §1.5). */
import type { TargetEntry } from '../../config/schema.js';
import type { TreeState } from '../state.js';
import { UiNode, UsageError, bindArgs, type Command } from '../tree.js';
import { CHAP_PARAMS, authKind, chapForm, diskIds, enc, ok, sizeOf, sizeText, totalText } from './common.js';

function simple(name: string, params: Command['params'], syntax: string, description: string, run: (a: Record<string, string>, ctx: Parameters<Command['run']>[2]) => Promise<void>): Command {
  const c: Command = { name, params, syntax, description, run: async (_n, args, ctx) => run(bindArgs(c, args), ctx) };
  return c;
}

export function targetsNode(state: TreeState): UiNode {
  const iqns = Object.keys(state.config.targets).sort();
  const node = new UiNode('iscsi-targets', () => `DiscoveryAuth: ${authKind(state.config.discovery_auth)}, Targets: ${iqns.length}`);
  for (const iqn of iqns) node.add(targetNode(state, iqn, state.config.targets[iqn]!));
  node.command(
    simple('create', [{ name: 'target_iqn', required: true }], '<target_iqn>', 'Create an iSCSI target (PUT /api/target).', async (a, ctx) => {
      await ctx.api.put(`/api/target/${enc(a['target_iqn']!)}`);
      ok(ctx);
    }),
  );
  node.command(
    simple('delete', [{ name: 'target_iqn', required: true, values: () => iqns }], '<target_iqn>', 'Delete an iSCSI target (refused while it has clients or disks).', async (a, ctx) => {
      await ctx.api.delete(`/api/target/${enc(a['target_iqn']!)}`);
      ok(ctx);
    }),
  );
  const discovery: Command = {
    name: 'discovery_auth',
    params: CHAP_PARAMS,
    syntax: 'username=<user> password=<pass> [mutual_username=<user> mutual_password=<pass>] | nochap',
    description: 'Set or clear CHAP for discovery sessions (PUT /api/discoveryauth).',
    run: async (_n, args, ctx) => {
      await ctx.api.put('/api/discoveryauth', chapForm(discovery, args));
      ok(ctx);
    },
  };
  return node.command(discovery);
}

function targetNode(state: TreeState, iqn: string, t: TargetEntry): UiNode {
  const portals = Object.keys(t.portals ?? {}).sort();
  const node = new UiNode(iqn, () => `Auth: ${authKind(t.auth)}, Gateways: ${portals.length}`);
  const auth: Command = {
    name: 'auth',
    params: CHAP_PARAMS,
    syntax: 'username=<user> password=<pass> [mutual_username=<user> mutual_password=<pass>] | nochap',
    description: 'Target-level CHAP (PUT /api/targetauth); exclusive with ACL mode.',
    run: async (_n, args, ctx) => {
      await ctx.api.put(`/api/targetauth/${enc(iqn)}`, chapForm(auth, args));
      ok(ctx);
    },
  };
  node.command(auth);

  // disks
  const tdisks = Object.entries(t.disks ?? {}).sort((a, b) => a[1].lun_id - b[1].lun_id);
  const dn = node.add(new UiNode('disks', () => `Disks: ${tdisks.length}`));
  for (const [id, ref] of tdisks) dn.add(new UiNode(id, () => `Owner: ${state.config.disks[id]?.owner ?? ''}, Lun: ${ref.lun_id}`));
  dn.command(
    simple('add', [{ name: 'disk', required: true, values: () => diskIds(dn, state) }, { name: 'lun_id' }], '<pool/image> [lun_id]', 'Map a disk to the target (PUT /api/targetlun).', async (a, ctx) => {
      const form: Record<string, string> = { disk: a['disk']! };
      if (a['lun_id'] !== undefined) form['lun_id'] = a['lun_id'];
      await ctx.api.put(`/api/targetlun/${enc(iqn)}`, form);
      ok(ctx);
    }),
  );
  dn.command(
    simple('delete', [{ name: 'disk', required: true, values: () => tdisks.map(([id]) => id) }], '<pool/image>', 'Unmap a disk from the target (DELETE /api/targetlun).', async (a, ctx) => {
      await ctx.api.delete(`/api/targetlun/${enc(iqn)}`, { disk: a['disk']! });
      ok(ctx);
    }),
  );

  // gateways
  const up = portals.filter((g) => state.gatewayUp[g] === true).length;
  const nPortals = portals.reduce((n, g) => n + Math.max(1, t.portals[g]!.portal_ip_addresses?.length ?? 0), 0);
  const gn = node.add(new UiNode('gateways', () => `Up: ${up}/${portals.length}, Portals: ${nPortals}`));
  for (const g of portals) {
    const ips = (t.portals[g]!.portal_ip_addresses ?? []).join(',');
    gn.add(new UiNode(g, () => `${ips} (${state.gatewayUp[g] === true ? 'UP' : 'DOWN'})`));
  }
  gn.command(
    simple(
      'create',
      [{ name: 'gateway_name', required: true, values: () => (state.localGateway ? [state.localGateway] : []) }, { name: 'ip_addresses', required: true }, { name: 'nosync' }, { name: 'skipchecks' }],
      '<gateway_name> <ip[,ip...]> [nosync=false] [skipchecks=false]',
      'Add a gateway (portal) to the target (PUT /api/gateway).',
      async (a, ctx) => {
        const form: Record<string, string> = { ip_address: a['ip_addresses']!, skipchecks: a['skipchecks'] ?? 'false' };
        if (a['nosync'] !== undefined) form['nosync'] = a['nosync'];
        await ctx.api.put(`/api/gateway/${enc(iqn)}/${enc(a['gateway_name']!)}`, form);
        ok(ctx);
      },
    ),
  );
  gn.command(
    simple('delete', [{ name: 'gateway_name', required: true, values: () => portals }, { name: 'confirm' }], '<gateway_name> [confirm=true]', 'Remove a gateway from the target (DELETE /api/gateway, force=confirm).', async (a, ctx) => {
      await ctx.api.delete(`/api/gateway/${enc(iqn)}/${enc(a['gateway_name']!)}`, { force: a['confirm'] ?? 'false' });
      ok(ctx);
    }),
  );

  // host-groups
  const groups = Object.keys(t.groups ?? {}).sort();
  const hg = node.add(new UiNode('host-groups', () => `Groups : ${groups.length}`));
  for (const g of groups) {
    const ge = t.groups[g]!;
    const gnode = hg.add(new UiNode(g, () => `Hosts: ${ge.members?.length ?? 0}, Disks: ${Object.keys(ge.disks ?? {}).length}`));
    for (const m of ge.members ?? []) gnode.add(new UiNode(m, () => 'host'));
    for (const d of Object.keys(ge.disks ?? {})) gnode.add(new UiNode(d, () => 'disk'));
  }
  hg.command(
    simple('create', [{ name: 'group_name', required: true }], '<group_name>', 'Create a host group (PUT /api/hostgroup).', async (a, ctx) => {
      await ctx.api.put(`/api/hostgroup/${enc(iqn)}/${enc(a['group_name']!)}`);
      ok(ctx);
    }),
  );
  hg.command(
    simple('delete', [{ name: 'group_name', required: true, values: () => groups }], '<group_name>', 'Delete a host group.', async (a, ctx) => {
      await ctx.api.delete(`/api/hostgroup/${enc(iqn)}/${enc(a['group_name']!)}`);
      ok(ctx);
    }),
  );

  // hosts
  const clients = Object.keys(t.clients ?? {}).sort();
  const anyChap = clients.some((c) => authKind(t.clients[c]!.auth) !== 'None');
  const allChap = clients.every((c) => authKind(t.clients[c]!.auth) !== 'None');
  // Clients.summary: mixing CHAP and no-CHAP clients is MISCONFIG
  const aclText = anyChap && !allChap ? 'MISCONFIG' : t.acl_enabled === false ? 'ACL_DISABLED' : 'ACL_ENABLED';
  const hn = node.add(new UiNode('hosts', () => `Auth: ${aclText}, Hosts: ${clients.length}`));
  for (const c of clients) hn.add(clientNode(state, iqn, t, c));
  hn.command(
    simple('create', [{ name: 'client_iqn', required: true }], '<client_iqn>', 'Define a client (initiator ACL) and cd into it (PUT /api/client).', async (a, ctx) => {
      const client = a['client_iqn']!.toLowerCase();
      await ctx.api.put(`/api/client/${enc(iqn)}/${enc(client)}`);
      ok(ctx);
      ctx.cd(`${hn.path}/${client}`);
    }),
  );
  hn.command(
    simple('delete', [{ name: 'client_iqn', required: true, values: () => clients }], '<client_iqn>', 'Delete a client (DELETE /api/client).', async (a, ctx) => {
      await ctx.api.delete(`/api/client/${enc(iqn)}/${enc(a['client_iqn']!)}`);
      ok(ctx);
    }),
  );
  const hostsAuth: Command = {
    name: 'auth',
    params: [{ name: 'action', required: true, values: () => ['nochap', 'enable_acl', 'disable_acl'] }],
    syntax: 'nochap | enable_acl | disable_acl',
    description: 'nochap clears CHAP on every client; enable_acl/disable_acl switch ACL mode (PUT /api/targetauth action=).',
    run: async (_n, args, ctx) => {
      const a = bindArgs(hostsAuth, args);
      const action = a['action']!;
      if (action === 'nochap') {
        for (const c of clients) await ctx.api.put(`/api/clientauth/${enc(iqn)}/${enc(c)}`, { username: '', password: '', mutual_username: '', mutual_password: '' });
      } else if (action === 'enable_acl' || action === 'disable_acl') {
        await ctx.api.put(`/api/targetauth/${enc(iqn)}`, { action });
      } else throw new UsageError(`unknown action "${action}"`, hostsAuth);
      ok(ctx);
    },
  };
  hn.command(hostsAuth);
  return node;
}

function clientNode(state: TreeState, iqn: string, t: TargetEntry, c: string): UiNode {
  const ce = t.clients[c]!;
  const luns = Object.entries(ce.luns ?? {}).sort((a, b) => a[1].lun_id - b[1].lun_id);
  const logged = state.loggedIn[`${iqn} ${c}`] === true;
  const node = new UiNode(c, () => `${logged ? 'LOGGED-IN, ' : ''}Auth: ${authKind(ce.auth)}, Disks: ${luns.length}(${totalText(state, luns.map(([id]) => id))})`);
  for (const [id, ref] of luns) node.add(new UiNode(`lun ${ref.lun_id}`, () => `${id}(${sizeText(sizeOf(state, id))}), Owner: ${state.config.disks[id]?.owner ?? ''}`));
  const auth: Command = {
    name: 'auth',
    params: CHAP_PARAMS,
    syntax: 'username=<user> password=<pass> [mutual_username=<user> mutual_password=<pass>] | nochap',
    description: 'Set CHAP (or mutual CHAP) for this client, or clear it with nochap (PUT /api/clientauth).\n' +
      'username: 8-64 chars (letters, digits, _ . : @ -); password: 12-16 chars (letters, digits, @ - _ /)',
    run: async (_n, args, ctx) => {
      await ctx.api.put(`/api/clientauth/${enc(iqn)}/${enc(c)}`, chapForm(auth, args));
      ok(ctx);
    },
  };
  const disk: Command = {
    name: 'disk',
    params: [{ name: 'action', required: true, values: () => ['add', 'remove'] }, { name: 'disk', required: true, values: () => diskIds(node, state) }, { name: 'size' }],
    syntax: 'add|remove <pool/image> [size=<n>{M,G,T}]',
    description: 'Give the client a disk (created if unknown and size given, mapped to the target if needed) or take it away (PUT/DELETE /api/clientlun).',
    run: async (_n, args, ctx) => {
      const a = bindArgs(disk, args);
      const id = a['disk']!;
      if (a['action'] === 'add') {
        if (!(id in state.config.disks)) {
          if (a['size'] === undefined) throw new UsageError(`disk ${id} is not defined: give size= to create it`, disk);
          await ctx.api.put(`/api/disk/${enc(id)}`, { mode: 'create', size: a['size'], create_image: 'true', count: '1' });
        }
        if (!(id in (t.disks ?? {}))) await ctx.api.put(`/api/targetlun/${enc(iqn)}`, { disk: id });
        await ctx.api.put(`/api/clientlun/${enc(iqn)}/${enc(c)}`, { disk: id });
      } else if (a['action'] === 'remove') {
        await ctx.api.delete(`/api/clientlun/${enc(iqn)}/${enc(c)}`, { disk: id });
      } else throw new UsageError(`unknown action "${a['action']}"`, disk);
      ok(ctx);
    },
  };
  return node.command(auth).command(disk);
}
