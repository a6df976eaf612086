/** /disks → <pool> → <image>: gwcli ceph_iscsi_config disk nodes (anchors §1.5). */
import type { TreeState } from '../state.js';
import { UiNode, UsageError, bindArgs, type Command } from '../tree.js';
import { diskIds, enc, ok, sizeOf, sizeText, totalText } from './common.js';

const NAME_RE = /^[a-zA-Z0-9\-_.]+$/; // lun.py valid_disk
const SIZE_RE = /^\d+[MGT]$/i; // utils.valid_size: integer + M/G/T

function splitId(cmd: Command, id: string): [string, string] {
  const parts = id.split('/');
  if (parts.length !== 2 || !NAME_RE.test(parts[0]!) || !NAME_RE.test(parts[1]!)) throw new UsageError(`invalid disk "${id}" (pool/image)`, cmd);
  return [parts[0]!, parts[1]!];
}

export function disksNode(state: TreeState): UiNode {
  const ids = Object.keys(state.config.disks).sort();
  const node = new UiNode('disks', () => `${totalText(state, ids)}, Disks: ${ids.length}`);
  const pools = [...new Set(ids.map((id) => state.config.disks[id]!.pool ?? id.split('/')[0]!))].sort();
  for (const pool of pools) {
    const inPool = ids.filter((id) => (state.config.disks[id]!.pool ?? id.split('/')[0]) === pool);
    const p = node.add(new UiNode(pool, () => `${pool} (${totalText(state, inPool)})`));
    for (const id of inPool) {
      const image = state.config.disks[id]!.image ?? id.split('/')[1]!;
      p.add(new UiNode(image, () => `${id} (${state.disks[id]?.state ?? 'Unknown'}, ${sizeText(sizeOf(state, id))})`)).command({
        name: 'resize',
        params: [{ name: 'size', required: true }],
        syntax: 'size=<n>{M,G,T}',
        description: 'Grow the image (shrinking is refused).',
        run: async (_n, args, ctx) => {
          const a = bindArgs(resizeSpec, args);
          await ctx.api.put(`/api/disk/${enc(id)}`, { mode: 'resize', size: a['size']! });
          ok(ctx);
        },
      });
    }
  }

  const create: Command = {
    name: 'create',
    params: [{ name: 'pool', required: true }, { name: 'image', required: true }, { name: 'size', required: true }, { name: 'count' }, { name: 'backstore' }, { name: 'wwn' }],
    syntax: 'pool=<pool> image=<image> size=<n>{M,G,T} [count=<1-10>] [backstore=] [wwn=]  |  create <pool/image> <size> [count]',
    description: 'Create an image of the given size and define it as a disk (PUT /api/disk mode=create).',
    run: async (_n, args, ctx) => {
      // short form: create pool/image size [count]
      if (args.positional[0]?.includes('/')) {
        const [pool, image] = splitId(create, args.positional[0]);
        args = { positional: [pool, image, ...args.positional.slice(1)], kw: args.kw };
      }
      const a = bindArgs(create, args);
      if (!NAME_RE.test(a['pool']!) || !NAME_RE.test(a['image']!)) throw new UsageError('pool and image names: letters, digits, -, _ and .', create);
      if (!SIZE_RE.test(a['size']!)) throw new UsageError(`invalid size "${a['size']}" (an integer with M, G or T)`, create);
      const form: Record<string, string> = { mode: 'create', size: a['size']!.toUpperCase(), create_image: 'true', count: a['count'] ?? '1' };
      if (a['backstore'] !== undefined) form['backstore'] = a['backstore'];
      if (a['wwn'] !== undefined) form['wwn'] = a['wwn'];
      await ctx.api.put(`/api/disk/${enc(a['pool']!)}/${enc(a['image']!)}`, form);
      ok(ctx);
    },
  };
  const del: Command = {
    name: 'delete',
    params: [{ name: 'image_id', required: true, values: () => diskIds(node, state) }],
    syntax: '<pool/image>',
    description: 'Delete the disk and its image (refused while mapped to a target).',
    run: async (_n, args, ctx) => {
      const a = bindArgs(del, args);
      splitId(del, a['image_id']!);
      await ctx.api.delete(`/api/disk/${enc(a['image_id']!)}`, { preserve_image: 'false' });
      ok(ctx);
    },
  };
  const detach: Command = {
    ...del,
    name: 'detach',
    description: 'Remove the disk from the configuration, keeping the image.',
    run: async (_n, args, ctx) => {
      const a = bindArgs(detach, args);
      splitId(detach, a['image_id']!);
      await ctx.api.delete(`/api/disk/${enc(a['image_id']!)}`, { preserve_image: 'true' });
      ok(ctx);
    },
  };
  return node.command(create).command(del).command(detach);
}

const resizeSpec: Command = { name: 'resize', params: [{ name: 'size', required: true }], syntax: 'size=<n>{M,G,T}', description: '', run: async () => undefined };
