/**
 * Disks (RBD images registered with the gateways) and their mapping to
 * targets: /api/disks, /api/disk/<pool>/<image>, /api/disksnap/<pool>/<image>/<name>,
 * /api/targetlun/<iqn>. Rules and messages: ceph-iscsi lun.py LUN.valid_disk,
 * map_lun/unmap_lun, rbd-target-api.py disk()/target_disk()/disksnap().
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { mergeControls, normalizeControls } from '../../config/controls.js';
import type { DiskEntry, GatewayConfig } from '../../config/schema.js';
import { plain, plainValues } from '../../config/snapshot.js';
import {
  INVALID_IMAGE_NAME_MESSAGE,
  INVALID_POOL_NAME_MESSAGE,
  INVALID_SIZE_MESSAGE,
  humanSize,
  parseSize,
  validImageName,
  validPoolName,
  validSnapshotName,
} from '../../config/validate.js';
import type { ApiContext } from '../context.js';
import {
  backstoreObjectNames,
  diskOf,
  ensureDocShape,
  ensureGateway,
  groupOf,
  lowestFreeId,
  now,
  pickOwner,
  poolIdFor,
  readDisk,
  releaseOwner,
  targetOfDisk,
  targetOr404,
} from '../doc.js';
import { ApiError, badRequest, isBackstoreError, notFound } from '../errors.js';
import { boolField, controlsField, field, pathParam } from '../params.js';
import { BACKSTORES, DEFAULT_BACKSTORE, diskId, iqnParam } from './common.js';
import { controlsOr400 } from './targets.js';

/** Highest LUN id we hand out (SAM-5 flat space addressing covers 0–16383). */
export const MAX_LUN_ID = 16383;

function sizeOr400(s: string): number {
  try {
    const n = parseSize(s);
    if (n <= 0) throw badRequest(INVALID_SIZE_MESSAGE);
    return n;
  } catch {
    throw badRequest(INVALID_SIZE_MESSAGE);
  }
}

/** Reads a form body sent with a GET (upstream `/api/disks` reads `config` from the form). */
async function readGetForm(req: FastifyRequest): Promise<URLSearchParams | undefined> {
  const raw: IncomingMessage = req.raw;
  const len = Number(raw.headers['content-length'] ?? '0');
  if (!(len > 0) || len > 64 * 1024 || raw.readableEnded) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of raw) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Disks mapped to a target and to clients of any target (lun.py valid_disk mode=delete). */
function usersOf(doc: GatewayConfig, id: string): { targets: string[]; clients: string[] } {
  const targets: string[] = [];
  const clients: string[] = [];
  for (const [iqn, t] of Object.entries(doc.targets)) {
    if (id in (t.disks ?? {})) targets.push(iqn);
    for (const [c, entry] of Object.entries(t.clients ?? {})) if (id in (entry.luns ?? {})) clients.push(c);
  }
  return { targets, clients };
}

function backstoreMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function diskRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { backstore, settings, status } = ctx.deps;
  /** Images whose disk entry is gone but whose removal is still running (DELETE without preserve_image). */
  const removing = new Set<string>();

  app.get('/api/disks', { config: { doc: 'Show the rbd disks defined to the gateways\nconfig=yes returns every disk with its settings' } }, async (req) => {
    const form = await readGetForm(req);
    const conf = (form?.get('config') ?? field(req, 'config') ?? 'no').toLowerCase();
    const doc = ensureDocShape(await ctx.load());
    return { disks: conf === 'yes' || conf === 'true' ? doc.disks : Object.keys(doc.disks) };
  });

  app.get('/api/disk/:pool/:image', { config: { doc: 'Create (PUT mode=create), resize, reconfigure, show (GET) or delete (DELETE) a disk\nPUT: mode, size (M/G/T), count (1-10), backstore (user:rbd), wwn, controls (JSON), create_image (default true)\nDELETE: preserve_image=true keeps the image' } }, async (req) => {
    const id = `${pathParam(req, 'pool')}/${pathParam(req, 'image')}`;
    const doc = ensureDocShape(await ctx.load());
    const disk = diskOf(doc, id);
    if (disk === undefined) throw notFound(`rbd image ${id} not found`);
    const size = await backstore.imageSize(disk.pool, disk.image).catch(() => undefined);
    // With a service map (rbd): upstream's device health, Unknown until the map has the disk.
    // Without: Online = mapped to a target (served by its portals) and the image is there.
    const online = disk.owner !== undefined && size !== undefined && targetOfDisk(doc, id) !== undefined;
    const health = status.deviceStatus !== undefined ? (status.deviceStatus(id) ?? { state: 'Unknown' }) : undefined;
    // size and snapshots are ours (upstream gwcli reads them from librbd); absent when unknown.
    const snapshots = size !== undefined && backstore.snapshot !== undefined ? await backstore.snapshot.list(disk.pool, disk.image).catch(() => undefined) : undefined;
    return {
      ...disk,
      ...(size !== undefined ? { size } : {}),
      ...(snapshots !== undefined ? { snapshots } : {}),
      status: health ?? (online ? { state: 'Online', lock_owner: disk.owner ?? '', gateways: {} } : { state: 'Unknown' }),
    };
  });

  app.put('/api/disk/:pool/:image', async (req) => {
    const pool = pathParam(req, 'pool');
    const image = pathParam(req, 'image');
    const id = `${pool}/${image}`;
    const mode = field(req, 'mode');
    if (mode !== 'create' && mode !== 'resize' && mode !== 'reconfigure') {
      throw badRequest(`disk operation mode '${mode ?? 'None'}' is invalid`);
    }
    const raw = controlsField(req);
    const defaults = settings.disk_defaults;
    if (raw !== undefined) controlsOr400(() => normalizeControls('disk', raw, defaults));

    if (mode === 'create') {
      const backstoreName = field(req, 'backstore') || DEFAULT_BACKSTORE;
      if (!BACKSTORES.includes(backstoreName)) {
        throw badRequest(`Invalid '${backstoreName}' backstore - Supported backstores: ${BACKSTORES.join(',')}`);
      }
      if (!validPoolName(pool)) throw badRequest(INVALID_POOL_NAME_MESSAGE);
      if (!validImageName(image)) throw badRequest(INVALID_IMAGE_NAME_MESSAGE);
      const sizeField = field(req, 'size');
      const sizeBytes = sizeField === undefined || sizeField === '' ? undefined : sizeOr400(sizeField);
      const countField = field(req, 'count') ?? '1';
      if (!/^[0-9]+$/.test(countField) || Number(countField) < 1 || Number(countField) > 10) {
        throw badRequest('invalid count specified, must be an integer (1-10)');
      }
      const count = Number(countField);
      const wwnField = field(req, 'wwn');
      const wwn = wwnField === undefined || wwnField === '' ? undefined : wwnField;
      if (wwn !== undefined && count > 1) throw badRequest('WWN cannot be specified when count > 1');
      // The unit serial goes into VPD 0x80/0x83: printable ASCII, no blanks.
      if (wwn !== undefined && !/^[\x21-\x7e]{1,128}$/.test(wwn)) throw badRequest(`Invalid wwn ${wwn}`);
      const createImage = boolField(req, 'create_image', true);
      if (!(await backstore.poolExists(pool))) throw badRequest(`Pool '${pool}' does not exist. Unable to continue`);
      const images = count === 1 ? [image] : Array.from({ length: count }, (_, i) => `${image}${i + 1}`);

      // No 256-disk limit (upstream's came from old kernels, ceph-iscsi#270).
      await ctx.mutate(async (doc) => {
        ensureDocShape(doc);
        if (wwn !== undefined) {
          const disks = plain(doc.disks);
          for (const other of Object.keys(disks)) {
            if (disks[other]!.wwn === wwn) throw badRequest(`WWN ${wwn} is already in use by ${other}`);
          }
        }
        if (images.some((img) => `${pool}/${img}` in doc.disks)) {
          throw badRequest('at least one rbd image(s) with that name/prefix is already defined');
        }
        const busy = images.find((img) => removing.has(`${pool}/${img}`));
        if (busy !== undefined) throw badRequest(`rbd image ${pool}/${busy} is being deleted, retry later`);
        // Images first (under the store lock, so two requests cannot race on one name);
        // on a failure the images this request created are removed again.
        const created: string[] = [];
        try {
          for (const img of images) {
            const existing = await backstore.imageSize(pool, img);
            if (existing !== undefined) {
              // lun.py LUN.allocate → RBDDev.rbd_size: an existing image grows to a larger
              // requested size; it never shrinks.
              // Features, and not exported by another gateway group (rbd).
              await backstore.claimImage?.(pool, img);
              if (sizeBytes !== undefined && sizeBytes > existing) await backstore.resizeImage(pool, img, sizeBytes);
              continue;
            }
            if (!createImage) throw badRequest(`Image ${pool}/${img} does not exist`);
            if (sizeBytes === undefined) throw badRequest('Size parameter is required when creating a new image');
            await backstore.createImage(pool, img, sizeBytes);
            created.push(img);
            await backstore.claimImage?.(pool, img);
          }
        } catch (err) {
          for (const img of created) await backstore.removeImage(pool, img).catch(() => undefined);
          if (err instanceof ApiError) throw err;
          if (isBackstoreError(err)) throw badRequest(`failed to create rbd image ${pool}/${images.join(',')}: ${backstoreMessage(err)}`);
          throw err;
        }
        const t = now();
        const controls = raw === undefined ? {} : controlsOr400(() => normalizeControls('disk', raw, defaults));
        const poolId = poolIdFor(doc, pool);
        const objectNames = backstoreObjectNames(doc, pool, images);
        for (const [i, img] of images.entries()) {
          const entry: DiskEntry = {
            pool,
            image: img,
            pool_id: poolId,
            wwn: wwn ?? randomUUID(),
            backstore: backstoreName,
            backstore_object_name: objectNames[i]!,
            allocating_host: status.gatewayName,
            controls: { ...controls },
            created: t,
            updated: t,
          };
          doc.disks[`${pool}/${img}`] = entry;
        }
        return true;
      });
      return { message: 'disk create/update successful' };
    }

    if (mode === 'resize') {
      const sizeField = field(req, 'size');
      if (sizeField === undefined || sizeField === '') throw badRequest(INVALID_SIZE_MESSAGE);
      const sizeBytes = sizeOr400(sizeField);
      await ctx.mutate(async (doc) => {
        const disk = diskOf(ensureDocShape(doc), id);
        if (disk === undefined) throw notFound(`rbd ${id} is not defined to the configuration`);
        const current = await backstore.imageSize(disk.pool, disk.image);
        if (current === undefined) throw badRequest(`failed to get current size: image ${id} does not exist`);
        // Growing only (lun.py valid_disk mode=resize).
        if (sizeBytes <= current) {
          throw badRequest(`resize value must be larger than the current size (${humanSize(current)}/${current})`);
        }
        try {
          await backstore.resizeImage(disk.pool, disk.image, sizeBytes);
        } catch (err) {
          if (isBackstoreError(err)) throw badRequest(`rbd image resize failed for ${id}: ${backstoreMessage(err)}`);
          throw err;
        }
        // Touching the entry moves the epoch: every gateway reconciles, sees the new
        // size and raises CAPACITY DATA HAS CHANGED (SBC-4) on its LUNs.
        disk.updated = now();
        return true;
      });
      return { message: 'disk create/update successful' };
    }

    // reconfigure: refused until the disk is mapped (gwcli storage.py
    // "Cannot reconfigure until disk assigned to target"; _disk activate
    // "Disk <pool>/<image> must be assigned to a target").
    await ctx.mutate((doc) => {
      const disk = diskOf(ensureDocShape(doc), id);
      if (disk === undefined) throw notFound(`rbd image ${id} not found`);
      if (disk.owner === undefined || targetOfDisk(doc, id) === undefined) {
        throw badRequest(`Cannot reconfigure until disk assigned to target - Disk ${id} must be assigned to a target`);
      }
      if (raw === undefined || Object.keys(raw).length === 0) return false;
      const stored = typeof disk.controls === 'object' && disk.controls !== null ? disk.controls : {};
      disk.controls = controlsOr400(() => mergeControls('disk', stored, raw, defaults));
      disk.updated = now();
      return true;
    });
    return { message: 'lun reconfigured: successful' };
  });

  app.delete('/api/disk/:pool/:image', async (req) => {
    const pool = pathParam(req, 'pool');
    const image = pathParam(req, 'image');
    const id = `${pool}/${image}`;
    const preserve = boolField(req, 'preserve_image', false);
    let claimed = false;
    const removed = await ctx.mutate((doc) => {
      const disk = diskOf(ensureDocShape(doc), id);
      if (disk === undefined) throw notFound(`rbd ${id} is not defined to the configuration`);
      const users = usersOf(doc, id);
      if (users.clients.length > 0) throw badRequest(`Unable to delete ${id}. Allocated to: ${users.clients.join(',')}`);
      if (users.targets.length > 0) throw badRequest(`Unable to delete ${id}. Mapped to: ${users.targets.join(',')}`);
      delete doc.disks[id];
      // Claimed under the store lock, so a create of the same name cannot slip in
      // between this write and the image removal below.
      if (!preserve) {
        removing.add(id);
        claimed = true;
      }
      return { pool: disk.pool, image: disk.image };
    }).catch((err: unknown) => {
      if (claimed) removing.delete(id); // the write failed: nothing to remove
      throw err;
    });
    // The document no longer has the disk and this gateway has closed it
    // (mutate() reconciled); only now is the image itself removed.
    if (!preserve) {
      try {
        await backstore.removeImage(removed.pool, removed.image);
      } catch (err) {
        if (!(isBackstoreError(err) && err.code === 'ERR_BACKSTORE_NOT_FOUND')) {
          throw badRequest(`disk map deletion failed - Unable to delete the underlying rbd image ${id}: ${backstoreMessage(err)}`);
        }
      } finally {
        removing.delete(id);
      }
    }
    return { message: 'disk map deletion successful' };
  });

  // ---- snapshots --------------------------------------------------------
  const snapshotGuard = async (req: FastifyRequest): Promise<{ pool: string; image: string; name: string; id: string }> => {
    const pool = pathParam(req, 'pool');
    const image = pathParam(req, 'image');
    const name = pathParam(req, 'name');
    if (!validSnapshotName(name)) throw badRequest('snapshot name is invalid');
    const id = `${pool}/${image}`;
    const doc = ensureDocShape(await ctx.load());
    if (diskOf(doc, id) === undefined) throw notFound(`rbd image ${id} not found`);
    if (backstore.snapshot === undefined) throw badRequest(`snapshots are not supported by the ${backstore.kind} backstore`);
    return { pool, image, name, id };
  };

  const snapError = (err: unknown, name: string, what: string): never => {
    if (isBackstoreError(err)) {
      if (err.code === 'ERR_BACKSTORE_EXISTS') throw badRequest(`snapshot ${name} already exists`);
      if (err.code === 'ERR_BACKSTORE_NOT_FOUND') throw notFound(`snapshot ${name} does not exist`);
      throw badRequest(`failed to ${what} snapshot: ${err.message}`);
    }
    throw err;
  };

  app.put('/api/disksnap/:pool/:image/:name', { config: { doc: 'Create (PUT mode=create), roll back (PUT mode=rollback) or delete (DELETE) a disk snapshot' } }, async (req) => {
    const { pool, image, name, id } = await snapshotGuard(req);
    const snap = backstore.snapshot;
    if (snap === undefined) throw badRequest(`snapshots are not supported by the ${backstore.kind} backstore`);
    const mode = field(req, 'mode');
    if (mode === 'create') {
      await snap.create(pool, image, name).catch((err: unknown) => snapError(err, name, 'create'));
      return { message: 'disk snapshot snapshot created' };
    }
    if (mode === 'rollback') {
      // Upstream deactivates the LUN on every gateway first and fails with
      // "LUN <image> in-use" while a session is logged in to it.
      const doc = ensureDocShape(await ctx.load());
      const iqn = targetOfDisk(doc, id);
      if (iqn !== undefined && status.sessions().some((s) => s.targetIqn === iqn)) {
        throw badRequest(`failed to deactivate disk: LUN ${image} in-use`);
      }
      await snap.rollback(pool, image, name).catch((err: unknown) => snapError(err, name, 'rollback'));
      // Every gateway re-reads the image (cached data and size) on reconcile.
      await ctx.mutate((d) => {
        const disk = diskOf(ensureDocShape(d), id);
        if (disk === undefined) return false;
        disk.updated = now();
        return true;
      });
      return { message: 'disk snapshot rolled back to snapshot' };
    }
    throw badRequest('mode is invalid');
  });

  app.delete('/api/disksnap/:pool/:image/:name', async (req) => {
    const { pool, image, name } = await snapshotGuard(req);
    const snap = backstore.snapshot;
    if (snap === undefined) throw badRequest(`snapshots are not supported by the ${backstore.kind} backstore`);
    await snap.remove(pool, image, name).catch((err: unknown) => snapError(err, name, 'delete'));
    return { message: 'disk snapshot snapshot deleted' };
  });

  // ---- target LUNs --------------------------------------------------------
  app.put(
    '/api/targetlun/:target_iqn',
    { config: { doc: 'Add (PUT) or remove (DELETE) a disk (LUN) of a target\nPUT: disk=<pool>/<image>, lun_id (optional: lowest free)\nDELETE: disk=<pool>/<image>' } },
    async (req) => {
      const iqn = iqnParam(req, 'target_iqn');
      const id = diskId(field(req, 'disk'));
      const lunField = field(req, 'lun_id');
      let lunId: number | undefined;
      if (lunField !== undefined && lunField !== '') {
        if (!/^[0-9]+$/.test(lunField.trim())) throw badRequest('Lun id must be a number');
        lunId = Number(lunField.trim());
        if (lunId > MAX_LUN_ID) throw badRequest(`Lun id ${lunId} is out of range (0-${MAX_LUN_ID})`);
      }
      await ctx.mutate(async (doc) => {
        const t = targetOr404(doc, iqn);
        const portals = Object.keys(t.portals).length;
        if (portals < settings.minimum_gateways) {
          throw badRequest(`at least ${settings.minimum_gateways} gateways must exist before disk mapping operations are permitted`);
        }
        const disk = diskOf(doc, id);
        if (disk === undefined) throw badRequest(`Disk ${id} is not defined in the configuration`);
        const mappedOn = targetOfDisk(doc, id);
        if (mappedOn !== undefined) throw badRequest(`Disk ${id} cannot be used because it is already mapped on target ${mappedOn}`);
        if ((await backstore.imageSize(disk.pool, disk.image)) === undefined) throw badRequest(`Image ${id} not found`);
        const used = new Set(plainValues(t.disks).map((d) => d.lun_id));
        if (lunId !== undefined && used.has(lunId)) throw badRequest(`Lun id ${lunId} already in use`);
        const chosen = lunId ?? lowestFreeId(used, MAX_LUN_ID);
        if (chosen === undefined) throw badRequest(`No free LUN id in target ${iqn}`);
        const owner = pickOwner(doc, t);
        const stamp = now();
        if (owner !== undefined) {
          const gw = ensureGateway(doc, owner, stamp);
          gw.active_luns += 1;
          gw.updated = stamp;
          disk.owner = owner;
        }
        disk.updated = stamp;
        t.disks[id] = { lun_id: chosen };
        t.updated = stamp;
        return true;
      });
      return { message: 'Target LUN mapping updated successfully' };
    },
  );

  app.delete('/api/targetlun/:target_iqn', async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const id = diskId(field(req, 'disk'));
    await ctx.mutate((doc) => {
      const t = targetOr404(doc, iqn);
      if (readDisk(doc, id) === undefined) throw badRequest(`Disk ${id} is not defined in the configuration`);
      if (!(id in t.disks)) throw badRequest(`Disk ${id} is not defined in target ${iqn}`);
      for (const name of Object.keys(t.groups)) {
        const g = groupOf(t, name);
        if (g !== undefined && id in g.disks) throw badRequest(`Disk ${id} belongs to group ${name}`);
      }
      for (const [c, entry] of Object.entries(t.clients)) {
        if (id in (entry.luns ?? {})) throw badRequest(`Unable to delete ${id} - allocated to ${c}`);
      }
      const stamp = now();
      delete t.disks[id];
      t.updated = stamp;
      releaseOwner(doc, id, stamp);
      return true;
    });
    return { message: 'Target LUN mapping updated successfully' };
  });
}
