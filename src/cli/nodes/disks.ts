/** /disks → <pool> → <image>: gwcli ceph_iscsi_config disk nodes (anchors §1.5). */
import type { TreeState } from '../state.js';
import { UiNode, UsageError, bindArgs, type Command, type CommandContext, type ParsedArgs } from '../tree.js';
import { controlsForm, controlsInfo, diskIds, enc, infoCommand, ok, printInfo, sizeOf, sizeText, totalText } from './common.js';

const NAME_RE = /^[a-zA-Z0-9\-_.]+$/; // lun.py valid_disk
const SIZE_RE = /^\d+[MGT]$/i; // utils.valid_size: integer + M/G/T
const SNAP_RE = /^[^/@]+$/; // valid_snapshot_name

function splitId(cmd: Command, id: string): [string, string] {
  const parts = id.split('/');
  if (parts.length !== 2 || !NAME_RE.test(parts[0]!) || !NAME_RE.test(parts[1]!)) throw new UsageError(`invalid disk "${id}" (pool/image)`, cmd);
  return [parts[0]!, parts[1]!];
}

function checkSize(cmd: Command, size: string): string {
  if (!SIZE_RE.test(size)) throw new UsageError(`invalid size "${size}" (an integer with M, G or T)`, cmd);
  return size.toUpperCase();
}

/** The disk control names (completion, reconfigure checks). */
function diskControlNames(state: TreeState): string[] {
  const d = state.settings?.disk_default_controls;
  const first = d === undefined ? undefined : (d[state.settings?.default_backstore ?? ''] ?? Object.values(d)[0]);
  return Object.keys(first ?? {}).sort();
}

/** gwcli disk info: image, cluster, pool, wwn, size, snapshots, owner, state, backstore, controls. */
export function diskInfo(state: TreeState, id: string): Record<string, unknown> {
  const d = state.config.disks[id];
  const view = state.disks[id];
  if (d === undefined) return { image_id: id, state: 'not defined' };
  const st = view?.info?.['status'];
  const lockOwner = typeof st === 'object' && st !== null ? String((st as { lock_owner?: unknown }).lock_owner ?? '') : '';
  // Device health per gateway (service map counters), as GET /api/disk reports it.
  const perGateway = typeof st === 'object' && st !== null ? (st as { gateways?: unknown }).gateways : undefined;
  const health: Record<string, string> = {};
  if (typeof perGateway === 'object' && perGateway !== null) {
    for (const [gw, c] of Object.entries(perGateway as Record<string, unknown>)) {
      if (typeof c === 'object' && c !== null) health[gw] = Object.entries(c as Record<string, unknown>).map(([k, v]) => `${k} ${String(v)}`).sort().join(', ');
    }
  }
  let mappedTo = '';
  for (const [iqn, t] of Object.entries(state.config.targets)) if (id in (t.disks ?? {})) mappedTo = iqn;
  const backstore = d.backstore ?? state.settings?.default_backstore ?? '';
  return {
    image: d.image,
    ceph_cluster: state.cluster?.name ?? 'ceph',
    pool: d.pool,
    wwn: d.wwn,
    size_h: sizeText(view?.size),
    size: view?.size ?? '',
    snapshots: view?.snapshots ?? [],
    owner: d.owner ?? '',
    lock_owner: lockOwner,
    state: view?.state ?? 'Unknown',
    ...(Object.keys(health).length > 0 ? { gateway_health: health } : {}),
    target: mappedTo,
    backstore,
    backstore_object_name: d.backstore_object_name ?? '',
    control_values: controlsInfo(state.settings?.disk_default_controls?.[backstore] ?? Object.values(state.settings?.disk_default_controls ?? {})[0], d.controls),
  };
}

async function resize(ctx: CommandContext, cmd: Command, id: string, size: string): Promise<void> {
  await ctx.api.put(`/api/disk/${enc(id)}`, { mode: 'resize', size: checkSize(cmd, size) });
  ok(ctx);
}

async function reconfigure(ctx: CommandContext, cmd: Command, state: TreeState, id: string, a: Record<string, string>): Promise<void> {
  await ctx.api.put(`/api/disk/${enc(id)}`, controlsForm(cmd, a, diskControlNames(state)));
  ok(ctx);
}

function imageNode(state: TreeState, id: string): UiNode {
  const image = state.config.disks[id]!.image ?? id.split('/')[1]!;
  const node = new UiNode(image, () => `${id} (${state.disks[id]?.state ?? 'Unknown'}, ${sizeText(sizeOf(state, id))})`);
  const rs: Command = {
    name: 'resize',
    params: [{ name: 'size', required: true }],
    syntax: '<size>{M,G,T}',
    description: 'Grow the image (shrinking is refused); every initiator gets a CAPACITY DATA HAS CHANGED unit attention.',
    run: async (_n, args, ctx) => resize(ctx, rs, id, bindArgs(rs, args)['size']!),
  };
  const rc: Command = {
    name: 'reconfigure',
    params: [{ name: 'attribute', required: true, values: () => diskControlNames(state) }, { name: 'value' }],
    syntax: '<attribute> <value>  (an empty value resets the default)',
    description: 'Change a disk control (PUT /api/disk mode=reconfigure); the disk must be mapped to a target.',
    run: async (_n, args, ctx) => reconfigure(ctx, rc, state, id, bindArgs(rc, args)),
  };
  const snap: Command = {
    name: 'snapshot',
    params: [{ name: 'action', required: true, values: () => ['create', 'delete', 'rollback'] }, { name: 'name', required: true, values: () => state.disks[id]?.snapshots ?? [] }],
    syntax: 'create|delete|rollback <name>',
    description: 'Create, delete or roll back to a snapshot of the image (/api/disksnap). Rollback rewrites the image: it is refused while an initiator is logged in to the target.',
    run: async (_n, args, ctx) => {
      const a = bindArgs(snap, args);
      const name = a['name']!;
      if (!SNAP_RE.test(name)) throw new UsageError(`invalid snapshot name "${name}" (no / or @)`, snap);
      const path = `/api/disksnap/${enc(id)}/${enc(name)}`;
      switch (a['action']) {
        case 'create':
          await ctx.api.put(path, { mode: 'create' });
          break;
        case 'rollback':
          if (!ctx.json) ctx.out(`Rolling back ${id} to ${name}: this might take time`);
          await ctx.api.put(path, { mode: 'rollback' });
          break;
        case 'delete':
          await ctx.api.delete(path);
          break;
        default:
          throw new UsageError(`unknown action "${a['action']}" (create, delete or rollback)`, snap);
      }
      ok(ctx);
    },
  };
  return node.command(rs).command(rc).command(snap).command(infoCommand('Show the disk: image, pool, wwn, size, snapshots, owner, state, controls.', () => diskInfo(state, id)));
}

export function disksNode(state: TreeState): UiNode {
  const ids = Object.keys(state.config.disks).sort();
  const node = new UiNode('disks', () => `${totalText(state, ids)}, Disks: ${ids.length}`);
  const diskPools = [...new Set(ids.map((id) => state.config.disks[id]!.pool ?? id.split('/')[0]!))].sort();
  for (const pool of diskPools) {
    const inPool = ids.filter((id) => (state.config.disks[id]!.pool ?? id.split('/')[0]) === pool);
    const p = node.add(new UiNode(pool, () => `${pool} (${totalText(state, inPool)})`));
    for (const id of inPool) p.add(imageNode(state, id));
  }
  const idParam = { name: 'image_id', required: true, values: () => diskIds(state) };
  /** `pool/image` as the first positional argument → pool and image. */
  const shortForm = (cmd: Command, args: ParsedArgs): ParsedArgs => {
    if (!args.positional[0]?.includes('/')) return args;
    const [pool, image] = splitId(cmd, args.positional[0]);
    return { positional: [pool, image, ...args.positional.slice(1)], kw: args.kw };
  };
  const definedForm = (cmd: Command, a: Record<string, string>): Record<string, string> => {
    if (!NAME_RE.test(a['pool']!) || !NAME_RE.test(a['image']!)) throw new UsageError('pool and image names: letters, digits, -, _ and .', cmd);
    const form: Record<string, string> = {};
    if (a['backstore'] !== undefined) form['backstore'] = a['backstore'];
    if (a['wwn'] !== undefined) form['wwn'] = a['wwn'];
    return form;
  };
  const backstores = (): string[] => state.settings?.backstores ?? [];
  const pools = (): string[] => state.cluster?.pools.map((x) => x.name) ?? [];
  /** Images of the pools that are not disks yet, as pool/image (attach's short form). */
  const freeImages = (): string[] =>
    (state.cluster?.pools ?? []).flatMap((p) => (p.images ?? []).map((i) => `${p.name}/${i}`)).filter((id) => !(id in state.config.disks));

  const create: Command = {
    name: 'create',
    params: [{ name: 'pool', required: true, values: pools }, { name: 'image', required: true }, { name: 'size', required: true }, { name: 'count' }, { name: 'backstore', values: backstores }, { name: 'wwn' }],
    syntax: 'pool=<pool> image=<image> size=<n>{M,G,T} [count=<1-10>] [backstore=] [wwn=]  |  create <pool/image> <size> [count]',
    description: 'Create an image of the given size and define it as a disk (PUT /api/disk mode=create).\nWith count=N, N disks <image>1..<image>N are created.',
    run: async (_n, args, ctx) => {
      const a = bindArgs(create, shortForm(create, args));
      const form = { mode: 'create', size: checkSize(create, a['size']!), create_image: 'true', count: a['count'] ?? '1', ...definedForm(create, a) };
      if (!/^([1-9]|10)$/.test(form.count)) throw new UsageError(`invalid count "${form.count}" (1 to 10)`, create);
      await ctx.api.put(`/api/disk/${enc(a['pool']!)}/${enc(a['image']!)}`, form);
      ok(ctx);
    },
  };
  const attach: Command = {
    name: 'attach',
    params: [{ name: 'pool', required: true, values: () => [...pools(), ...freeImages()] }, { name: 'image', required: true, values: () => freeImages().map((id) => id.split('/')[1]!) }, { name: 'backstore', values: backstores }, { name: 'wwn' }],
    syntax: 'pool=<pool> image=<image> [backstore=] [wwn=]  |  attach <pool/image>',
    description: 'Define an existing image as a disk (PUT /api/disk mode=create create_image=false).',
    run: async (_n, args, ctx) => {
      const a = bindArgs(attach, shortForm(attach, args));
      await ctx.api.put(`/api/disk/${enc(a['pool']!)}/${enc(a['image']!)}`, { mode: 'create', create_image: 'false', ...definedForm(attach, a) });
      ok(ctx);
    },
  };
  const removal = (name: string, preserve: boolean, description: string): Command => {
    const c: Command = {
      name,
      params: [idParam],
      syntax: '<pool/image>',
      description,
      run: async (_n, args, ctx) => {
        const id = bindArgs(c, args)['image_id']!;
        splitId(c, id);
        await ctx.api.delete(`/api/disk/${enc(id)}`, { preserve_image: String(preserve) });
        ok(ctx);
      },
    };
    return c;
  };
  const rs: Command = {
    name: 'resize',
    params: [idParam, { name: 'size', required: true }],
    syntax: '<pool/image> <size>{M,G,T}',
    description: 'Grow a disk (shrinking is refused).',
    run: async (_n, args, ctx) => {
      const a = bindArgs(rs, args);
      splitId(rs, a['image_id']!);
      await resize(ctx, rs, a['image_id']!, a['size']!);
    },
  };
  const rc: Command = {
    name: 'reconfigure',
    params: [idParam, { name: 'attribute', required: true, values: () => diskControlNames(state) }, { name: 'value' }],
    syntax: '<pool/image> <attribute> <value>  (an empty value resets the default)',
    description: 'Change a disk control; the disk must be mapped to a target.',
    run: async (_n, args, ctx) => {
      const a = bindArgs(rc, args);
      splitId(rc, a['image_id']!);
      await reconfigure(ctx, rc, state, a['image_id']!, a);
    },
  };
  const info: Command = {
    name: 'info',
    params: [idParam],
    syntax: '<pool/image>',
    description: 'Show a disk (as info on its node).',
    run: async (_n, args, ctx) => {
      const id = bindArgs(info, args)['image_id']!;
      if (!(id in state.config.disks)) throw new UsageError(`disk ${id} is not defined (disks: ${ids.join(', ') || 'none'})`, info);
      printInfo(ctx, diskInfo(state, id));
    },
  };
  return node
    .command(create)
    .command(attach)
    .command(removal('delete', false, 'Delete the disk and its image (refused while mapped to a target).'))
    .command(removal('detach', true, 'Remove the disk from the configuration, keeping the image.'))
    .command(rs)
    .command(rc)
    .command(info);
}
