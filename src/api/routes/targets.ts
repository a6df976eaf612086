/**
 * Targets: /api/targets, /api/target/<iqn> (PUT create or reconfigure, DELETE)
 * and the internal /api/_target/<iqn> DELETE (gwcli clearconfig, per gateway).
 */
import type { FastifyInstance } from 'fastify';
import { mergeControls, normalizeControls } from '../../config/controls.js';
import { emptyChapAuth } from '../../config/schema.js';
import type { TargetEntry } from '../../config/schema.js';
import { GatewayError } from '../../util/errors.js';
import type { ApiContext } from '../context.js';
import { dropUnusedGateways, now, removePortal, targetOr404 } from '../doc.js';
import { badRequest, notFound } from '../errors.js';
import { controlsField, field } from '../params.js';
import { iqnParam } from './common.js';

/** Runs a controls normalisation; its ERR_CONFIG_INVALID becomes upstream's "Unexpected or invalid controls - ..." 400. */
export function controlsOr400<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof GatewayError && err.code.startsWith('ERR_CONFIG_INVALID')) {
      throw badRequest(`Unexpected or invalid controls - ${err.message}`);
    }
    throw err;
  }
}

/** ceph-iscsi target.py clear_config: "Clients(n) and disks(n) must be removed before the gateways". */
function refuseWhileInUse(t: TargetEntry): void {
  const clients = Object.keys(t.clients).length;
  const disks = Object.keys(t.disks).length;
  if (clients > 0 || disks > 0) {
    throw badRequest(`Clients(${clients}) and disks(${disks}) must be removed before the gateways`);
  }
}

export function targetRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/api/targets', { config: { doc: 'List targets defined in the configuration.' } }, async () => {
    const doc = await ctx.load();
    return { targets: Object.keys(doc.targets ?? {}) };
  });

  app.put(
    '/api/target/:target_iqn',
    {
      config: {
        doc:
          'Define (PUT) or delete (DELETE) an iSCSI target\n' +
          "PUT: mode=reconfigure with controls (JSON) changes the target's controls\n" +
          'DELETE: refused while the target has clients or disks',
      },
    },
    async (req) => {
      const iqn = iqnParam(req, 'target_iqn');
      const mode = field(req, 'mode');
      if (mode !== undefined && mode !== '' && mode !== 'reconfigure') {
        throw badRequest(`Unexpected mode provided for ${iqn} - ${mode}`);
      }
      const raw = controlsField(req);
      const defaults = ctx.deps.settings.target_defaults;
      // Validate the controls before taking the store lock.
      if (raw !== undefined) controlsOr400(() => normalizeControls('target', raw, defaults));

      if (mode === 'reconfigure') {
        await ctx.mutate((doc) => {
          const t = doc.targets[iqn];
          if (t === undefined) throw badRequest(`Target: ${iqn} is not defined.`);
          if (raw === undefined || Object.keys(raw).length === 0) return false;
          const stored = typeof t.controls === 'object' && t.controls !== null ? t.controls : {};
          t.controls = controlsOr400(() => mergeControls('target', stored, raw, defaults));
          t.updated = now();
          return true;
        });
        return { message: 'Target reconfigured.' };
      }

      await ctx.mutate((doc) => {
        // Upstream GWTarget.manage('init'): "target already exists" is skipped, not an error.
        if (doc.targets[iqn] !== undefined) return false;
        const t = now();
        doc.targets[iqn] = {
          acl_enabled: true,
          auth: emptyChapAuth(),
          controls: raw === undefined ? {} : controlsOr400(() => normalizeControls('target', raw, defaults)),
          ip_list: [],
          portals: {},
          disks: {},
          clients: {},
          groups: {},
          created: t,
          updated: t,
        };
        return true;
      });
      return { message: 'Target defined successfully' };
    },
  );

  // Upstream fans `_target` DELETE out to every portal; each one refuses while LIO
  // still has clients or disks and removes its portal, the last one the target.
  // Here the same rule is checked once on the document and the whole target goes.
  app.delete('/api/target/:target_iqn', { config: { doc: 'Delete an iSCSI target (refused while it has clients or disks)' } }, async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    await ctx.mutate((doc) => {
      const t = targetOr404(doc, iqn);
      refuseWhileInUse(t);
      delete doc.targets[iqn];
      dropUnusedGateways(doc);
      return true;
    });
    return { message: 'Target deleted.' };
  });

  // gwcli `clearconfig`: removes THIS gateway's portal from the target (and the
  // target with its last portal), refused while clients or disks exist.
  app.delete('/api/_target/:target_iqn', async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const me = ctx.deps.status.gatewayName;
    await ctx.mutate((doc) => {
      const t = targetOr404(doc, iqn);
      refuseWhileInUse(t);
      if (me in t.portals) {
        if (removePortal(doc, t, me, now())) delete doc.targets[iqn];
      } else if (Object.keys(t.portals).length === 0) {
        delete doc.targets[iqn];
      } else {
        throw notFound(`Gateway ${me} is not a portal of target ${iqn}`);
      }
      dropUnusedGateways(doc);
      return true;
    });
    return { message: 'Gateway removed successfully' };
  });
}
