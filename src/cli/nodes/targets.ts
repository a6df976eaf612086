/** /iscsi-targets → <iqn> → disks | gateways | host-groups | hosts → <client> → lun N (anchors §1.5). */
import type { TargetEntry } from '../../config/schema.js';
import { gatewayApiBase, type TreeState } from '../state.js';
import { UiNode, UsageError, bindArgs, type Command, type CommandContext } from '../tree.js';
import { CHAP_PARAMS, CHAP_RULES, CHAP_SYNTAX, authInfo, authKind, chapForm, controlsForm, controlsInfo, diskIds, enc, infoCommand, ok, refreshCommand, sizeOf, sizeText, totalText } from './common.js';
import { diskInfo } from './disks.js';

function simple(name: string, params: Command['params'], syntax: string, description: string, run: (a: Record<string, string>, ctx: CommandContext) => Promise<void>): Command {
  const c: Command = { name, params, syntax, description, run: async (_n, args, ctx) => run(bindArgs(c, args), ctx) };
  return c;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['true', 'yes', '1', 'on'].includes(v.toLowerCase());
}

const CLEAR = { username: '', password: '', mutual_username: '', mutual_password: '' };

/** Every client IQN of every target (completion of host-group members). */
function clientsOf(t: TargetEntry): string[] {
  return Object.keys(t.clients ?? {}).sort();
}

/**
 * Empties one target through the API, in the order the API's rules allow: groups, client LUNs,
 * clients, target LUNs; then its disks leave the configuration (images kept: preserve_image).
 */
async function purgeTarget(ctx: CommandContext, iqn: string, t: TargetEntry): Promise<void> {
  for (const g of Object.keys(t.groups ?? {})) await ctx.api.delete(`/api/hostgroup/${enc(iqn)}/${enc(g)}`);
  for (const [c, ce] of Object.entries(t.clients ?? {})) {
    if (ce.group_name) continue; // its LUNs went with the group
    for (const id of Object.keys(ce.luns ?? {})) await ctx.api.delete(`/api/clientlun/${enc(iqn)}/${enc(c)}`, { disk: id });
  }
  for (const c of Object.keys(t.clients ?? {})) await ctx.api.delete(`/api/client/${enc(iqn)}/${enc(c)}`);
  for (const id of Object.keys(t.disks ?? {})) {
    await ctx.api.delete(`/api/targetlun/${enc(iqn)}`, { disk: id });
    await ctx.api.delete(`/api/disk/${enc(id)}`, { preserve_image: 'true' });
  }
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
  node.command(
    simple(
      'clearconfig',
      [{ name: 'confirm', values: () => ['true'] }, { name: 'purge', values: () => ['true'] }],
      'confirm=true [purge=true]',
      'Delete every target and its gateways. Refused while a target has clients or disks, unless purge=true:\n' +
        'then host groups, clients and LUN mappings are removed first and the disks leave the configuration\n' +
        '(their images are kept, so `import` can restore an `export`). Discovery CHAP is kept.',
      async (a, ctx) => {
        if (!truthy(a['confirm'])) throw new UsageError('clearconfig deletes every target: add confirm=true', node.commands.get('clearconfig'));
        for (const iqn of iqns) {
          const t = state.config.targets[iqn]!;
          const used = Object.keys(t.clients ?? {}).length + Object.keys(t.disks ?? {}).length;
          if (used > 0 && !truthy(a['purge'])) {
            throw new UsageError(`target ${iqn} has ${Object.keys(t.clients ?? {}).length} client(s) and ${Object.keys(t.disks ?? {}).length} disk(s): remove them first, or add purge=true`);
          }
        }
        for (const iqn of iqns) {
          if (truthy(a['purge'])) await purgeTarget(ctx, iqn, state.config.targets[iqn]!);
          await ctx.api.delete(`/api/target/${enc(iqn)}`);
        }
        if (truthy(a['purge'])) {
          // Disks defined but never mapped go too (images kept).
          for (const id of Object.keys(state.config.disks)) {
            if (!iqns.some((iqn) => id in (state.config.targets[iqn]!.disks ?? {}))) await ctx.api.delete(`/api/disk/${enc(id)}`, { preserve_image: 'true' });
          }
        }
        ok(ctx);
      },
    ),
  );
  const discovery: Command = {
    name: 'discovery_auth',
    params: CHAP_PARAMS,
    syntax: CHAP_SYNTAX,
    description: `Set or clear CHAP for discovery sessions (PUT /api/discoveryauth).\n${CHAP_RULES}`,
    run: async (_n, args, ctx) => {
      await ctx.api.put('/api/discoveryauth', chapForm(discovery, args));
      ok(ctx);
    },
  };
  return node.command(discovery);
}

function targetControlNames(state: TreeState): string[] {
  return Object.keys(state.settings?.target_default_controls ?? {}).sort();
}

function targetNode(state: TreeState, iqn: string, t: TargetEntry): UiNode {
  const portals = Object.keys(t.portals ?? {}).sort();
  const node = new UiNode(iqn, () => `Auth: ${authKind(t.auth)}, Gateways: ${portals.length}`);
  const auth: Command = {
    name: 'auth',
    params: CHAP_PARAMS,
    syntax: CHAP_SYNTAX,
    description: `Target-level CHAP (PUT /api/targetauth); exclusive with ACL mode (hosts auth disable_acl first).\n${CHAP_RULES}`,
    run: async (_n, args, ctx) => {
      await ctx.api.put(`/api/targetauth/${enc(iqn)}`, chapForm(auth, args));
      ok(ctx);
    },
  };
  const reconf: Command = {
    name: 'reconfigure',
    params: [{ name: 'attribute', required: true, values: () => targetControlNames(state) }, { name: 'value' }],
    syntax: '<attribute> <value>  (an empty value resets the default)',
    description: 'Change a target control, e.g. cmdsn_depth, immediate_data, nopin_timeout (PUT /api/target mode=reconfigure).',
    run: async (_n, args, ctx) => {
      await ctx.api.put(`/api/target/${enc(iqn)}`, controlsForm(reconf, bindArgs(reconf, args), targetControlNames(state)));
      ok(ctx);
    },
  };
  node.command(auth).command(reconf);
  node.command(
    infoCommand('Show the target: auth, ACL mode, gateways, disks, clients, controls and sessions.', async (ctx) => {
      const sessions = await ctx.api.get<{ num_sessions?: number }>(`/api/targetinfo/${enc(iqn)}`).then((r) => r.num_sessions ?? 0, () => '?');
      return {
        target_iqn: iqn,
        auth: authInfo(t.auth),
        acl_enabled: t.acl_enabled !== false,
        gateways: portals.map((g) => `${g} (${(t.portals[g]!.portal_ip_addresses ?? []).join(',')})`),
        disks: Object.entries(t.disks ?? {}).map(([id, l]) => `${id} lun ${l.lun_id}`),
        clients: clientsOf(t),
        num_sessions: sessions,
        control_values: controlsInfo(state.settings?.target_default_controls, t.controls),
      };
    }),
  );

  // disks
  const tdisks = Object.entries(t.disks ?? {}).sort((a, b) => a[1].lun_id - b[1].lun_id);
  const dn = node.add(new UiNode('disks', () => `Disks: ${tdisks.length}`));
  for (const [id, ref] of tdisks) {
    dn.add(new UiNode(id, () => `Owner: ${state.config.disks[id]?.owner ?? ''}, Lun: ${ref.lun_id}`)).command(infoCommand('Show the disk.', () => diskInfo(state, id)));
  }
  dn.command(
    simple('add', [{ name: 'disk', required: true, values: () => diskIds(state).filter((id) => !(id in (t.disks ?? {}))) }, { name: 'lun_id' }], '<pool/image> [lun_id]', 'Map a disk to the target (PUT /api/targetlun); lun_id defaults to the lowest free one.', async (a, ctx) => {
      const form: Record<string, string> = { disk: a['disk']! };
      if (a['lun_id'] !== undefined) form['lun_id'] = a['lun_id'];
      await ctx.api.put(`/api/targetlun/${enc(iqn)}`, form);
      ok(ctx);
    }),
  );
  dn.command(
    simple('delete', [{ name: 'disk', required: true, values: () => tdisks.map(([id]) => id) }], '<pool/image>', 'Unmap a disk from the target (DELETE /api/targetlun); refused while a client has it.', async (a, ctx) => {
      await ctx.api.delete(`/api/targetlun/${enc(iqn)}`, { disk: a['disk']! });
      ok(ctx);
    }),
  );

  // gateways
  const up = portals.filter((g) => state.gatewayUp[g] === true).length;
  const nPortals = portals.reduce((n, g) => n + Math.max(1, t.portals[g]!.portal_ip_addresses?.length ?? 0), 0);
  const gn = node.add(new UiNode('gateways', () => `Up: ${up}/${portals.length}, Portals: ${nPortals}`));
  const gatewayInfo = (ctx: CommandContext, g: string): Record<string, unknown> => {
    const p = t.portals[g]!;
    return {
      name: g,
      api: gatewayApiBase(ctx.api, state, g),
      gateway_ip_list: p.gateway_ip_list ?? [],
      portal_ip_addresses: p.portal_ip_addresses ?? [],
      inactive_portal_ips: p.inactive_portal_ips ?? [],
      tpgs: p.tpgs ?? 0,
      service_state: state.gatewayUp[g] === true ? 'UP' : 'DOWN',
      owned_disks: Object.keys(t.disks ?? {}).filter((id) => state.config.disks[id]?.owner === g),
    };
  };
  for (const g of portals) {
    const ips = (t.portals[g]!.portal_ip_addresses ?? []).join(',');
    gn.add(new UiNode(g, () => `${ips} (${state.gatewayUp[g] === true ? 'UP' : 'DOWN'})`))
      .command(refreshCommand(`the state of ${g}`))
      .command(infoCommand('Show the gateway: IPs, portals, TPGs, service state.', (ctx) => gatewayInfo(ctx, g)));
  }
  gn.command(
    simple(
      'create',
      [{ name: 'gateway_name', required: true, values: () => (state.localGateway ? [state.localGateway] : []) }, { name: 'ip_addresses', required: true }, { name: 'nosync' }, { name: 'skipchecks', values: () => ['true', 'false'] }],
      '<gateway_name> <ip[,ip...]> [nosync=false] [skipchecks=false]',
      'Add a gateway (portal) to the target (PUT /api/gateway). The first gateway must be the local machine.\n' +
        'skipchecks=true skips the OS and package checks (and the check that the IPs are on that host).',
      async (a, ctx) => {
        const name = a['gateway_name']!;
        if (portals.length === 0 && state.localGateway !== '' && name !== state.localGateway) {
          throw new UsageError(`The first gateway defined must be the local machine (${state.localGateway})`, gn.commands.get('create'));
        }
        const form: Record<string, string> = { ip_address: a['ip_addresses']!, skipchecks: a['skipchecks'] ?? 'false' };
        if (a['nosync'] !== undefined) form['nosync'] = a['nosync'];
        await ctx.api.put(`/api/gateway/${enc(iqn)}/${enc(name)}`, form);
        ok(ctx);
      },
    ),
  );
  gn.command(
    simple('delete', [{ name: 'gateway_name', required: true, values: () => portals }, { name: 'confirm', values: () => ['true'] }], '<gateway_name> [confirm=true]', 'Remove a gateway from the target (DELETE /api/gateway, force=confirm). confirm=true is needed for the last gateway or one that is down.', async (a, ctx) => {
      await ctx.api.delete(`/api/gateway/${enc(iqn)}/${enc(a['gateway_name']!)}`, { force: a['confirm'] ?? 'false' });
      ok(ctx);
    }),
  );
  gn.command(refreshCommand('the gateways and their state'));
  gn.command(infoCommand('Show every gateway of the target.', (ctx) => Object.fromEntries(portals.map((g) => [g, `${(t.portals[g]!.portal_ip_addresses ?? []).join(',')} ${gatewayInfo(ctx, g)['service_state'] as string}`]))));

  // host-groups
  const groups = Object.keys(t.groups ?? {}).sort();
  const hg = node.add(new UiNode('host-groups', () => `Groups : ${groups.length}`));
  for (const g of groups) hg.add(groupNode(state, iqn, t, g));
  hg.command(
    simple('create', [{ name: 'group_name', required: true }], '<group_name>', 'Create a host group (PUT /api/hostgroup): 1-32 letters, digits, @ - _.', async (a, ctx) => {
      if (!/^[\w@-]{1,32}$/.test(a['group_name']!)) throw new UsageError(`invalid group name "${a['group_name']}" (1-32 letters, digits, @ - _)`, hg.commands.get('create'));
      await ctx.api.put(`/api/hostgroup/${enc(iqn)}/${enc(a['group_name']!)}`);
      ok(ctx);
      ctx.cd(`${hg.path}/${a['group_name']!}`);
    }),
  );
  hg.command(
    simple('delete', [{ name: 'group_name', required: true, values: () => groups }], '<group_name>', 'Delete a host group (its members keep their LUN masking).', async (a, ctx) => {
      await ctx.api.delete(`/api/hostgroup/${enc(iqn)}/${enc(a['group_name']!)}`);
      ok(ctx);
    }),
  );

  // hosts
  const clients = clientsOf(t);
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
    simple('delete', [{ name: 'client_iqn', required: true, values: () => clients }], '<client_iqn>', 'Delete a client (DELETE /api/client); refused while it is in a host group.', async (a, ctx) => {
      await ctx.api.delete(`/api/client/${enc(iqn)}/${enc(a['client_iqn']!)}`);
      ok(ctx);
    }),
  );
  const hostsAuth: Command = {
    name: 'auth',
    params: [{ name: 'action', required: true, values: () => ['nochap', 'enable_acl', 'disable_acl'] }],
    syntax: 'nochap | enable_acl | disable_acl',
    description: 'nochap clears CHAP on every client; enable_acl/disable_acl switch ACL mode (PUT /api/targetauth action=).\n' +
      'With the ACL disabled any initiator may log in (use target-level CHAP: auth on the target node).',
    run: async (_n, args, ctx) => {
      const a = bindArgs(hostsAuth, args);
      const action = a['action']!;
      if (action === 'nochap') {
        for (const c of clients) await ctx.api.put(`/api/clientauth/${enc(iqn)}/${enc(c)}`, CLEAR);
      } else if (action === 'enable_acl' || action === 'disable_acl') {
        await ctx.api.put(`/api/targetauth/${enc(iqn)}`, { action });
      } else throw new UsageError(`unknown action "${action}"`, hostsAuth);
      ok(ctx);
    },
  };
  hn.command(hostsAuth);
  return node;
}

function groupNode(state: TreeState, iqn: string, t: TargetEntry, g: string): UiNode {
  const ge = t.groups[g]!;
  const node = new UiNode(g, () => `Hosts: ${ge.members?.length ?? 0}, Disks: ${Object.keys(ge.disks ?? {}).length}`);
  for (const m of ge.members ?? []) node.add(new UiNode(m, () => 'host'));
  for (const d of Object.keys(ge.disks ?? {})) node.add(new UiNode(d, () => 'disk'));
  const path = `/api/hostgroup/${enc(iqn)}/${enc(g)}`;
  const host: Command = {
    name: 'host',
    params: [{ name: 'action', required: true, values: () => ['add', 'remove'] }, { name: 'client_iqn', required: true, values: () => clientsOf(t) }],
    syntax: 'add|remove <client_iqn>',
    description: 'Add a client to the group (it must have no LUNs of its own) or remove it.',
    run: async (_n, args, ctx) => {
      const a = bindArgs(host, args);
      if (a['action'] !== 'add' && a['action'] !== 'remove') throw new UsageError(`unknown action "${a['action']}" (add or remove)`, host);
      await ctx.api.put(path, { action: a['action'], members: a['client_iqn']!.toLowerCase() });
      ok(ctx);
    },
  };
  const disk: Command = {
    name: 'disk',
    params: [{ name: 'action', required: true, values: () => ['add', 'remove'] }, { name: 'disk', required: true, values: () => diskIds(state) }],
    syntax: 'add|remove <pool/image>',
    description: 'Give the group a disk (mapped to the target first if needed) or take it away; every member sees the group\'s disks.',
    run: async (_n, args, ctx) => {
      const a = bindArgs(disk, args);
      const id = a['disk']!;
      if (a['action'] === 'add') {
        if (!(id in (t.disks ?? {}))) await ctx.api.put(`/api/targetlun/${enc(iqn)}`, { disk: id });
      } else if (a['action'] !== 'remove') throw new UsageError(`unknown action "${a['action']}" (add or remove)`, disk);
      await ctx.api.put(path, { action: a['action'], disks: id });
      ok(ctx);
    },
  };
  return node.command(host).command(disk).command(
    infoCommand('Show the group: members and disks.', () => ({
      group_name: g,
      members: ge.members ?? [],
      disks: Object.entries(ge.disks ?? {}).map(([id, l]) => `${id} lun ${l.lun_id}`),
    })),
  );
}

function clientNode(state: TreeState, iqn: string, t: TargetEntry, c: string): UiNode {
  const ce = t.clients[c]!;
  const luns = Object.entries(ce.luns ?? {}).sort((a, b) => a[1].lun_id - b[1].lun_id);
  const logged = state.loggedIn[`${iqn} ${c}`] === true;
  const node = new UiNode(c, () => `${logged ? 'LOGGED-IN, ' : ''}Auth: ${authKind(ce.auth)}, Disks: ${luns.length}(${totalText(state, luns.map(([id]) => id))})`);
  for (const [id, ref] of luns) {
    node.add(new UiNode(`lun ${ref.lun_id}`, () => `${id}(${sizeText(sizeOf(state, id))}), Owner: ${state.config.disks[id]?.owner ?? ''}`)).command(
      infoCommand('Show the disk behind this LUN.', () => ({ lun_id: ref.lun_id, ...diskInfo(state, id) })),
    );
  }
  const auth: Command = {
    name: 'auth',
    params: CHAP_PARAMS,
    syntax: CHAP_SYNTAX,
    description: `Set CHAP (or mutual CHAP) for this client, or clear it with nochap (PUT /api/clientauth).\n${CHAP_RULES}`,
    run: async (_n, args, ctx) => {
      await ctx.api.put(`/api/clientauth/${enc(iqn)}/${enc(c)}`, chapForm(auth, args));
      ok(ctx);
    },
  };
  const disk: Command = {
    name: 'disk',
    params: [{ name: 'action', required: true, values: () => ['add', 'remove'] }, { name: 'disk', required: true, values: () => diskIds(state) }, { name: 'size' }],
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
  const info = infoCommand('Show the client: IP addresses, alias, login state, auth, group and LUNs.', async (ctx) => {
    const ci = await ctx.api.get<{ alias?: string; ip_address?: string[]; state?: Record<string, string[]> }>(`/api/clientinfo/${enc(iqn)}/${enc(c)}`).catch(() => undefined);
    const loggedOn = ci?.state?.['LOGGED_IN'] ?? [];
    return {
      client_iqn: c,
      ip_address: ci?.ip_address ?? [],
      alias: ci?.alias ?? '',
      logged_in: loggedOn.length > 0 ? `LOGGED_IN (${loggedOn.join(', ')})` : '',
      auth: authInfo(ce.auth),
      group_name: ce.group_name ?? '',
      luns: Object.fromEntries(luns.map(([id, l]) => [id, `lun_id=${l.lun_id}`])),
    };
  });
  return node.command(auth).command(disk).command(info);
}
