/**
 * Clients (initiator ACLs) of a target: /api/clients/<iqn>,
 * /api/client/<iqn>/<client> (PUT create, DELETE), /api/clientauth (CHAP),
 * /api/clientlun (LUN masking) and the internal /api/_clientlun GET.
 * Rules and messages: ceph-iscsi gwcli/utils.py valid_client, client.py GWClient.
 */
import type { FastifyInstance } from 'fastify';
import { emptyChapAuth } from '../../config/schema.js';
import type { ClientEntry } from '../../config/schema.js';
import { peek, plainValues } from '../../config/snapshot.js';
import type { ApiContext } from '../context.js';
import { clientOr404, gatewayNames, lowestFreeId, now, readDisk, targetOr404 } from '../doc.js';
import { badRequest } from '../errors.js';
import { field } from '../params.js';
import { chapFromRequest, storeChap } from './auth.js';
import { diskId, iqnParam } from './common.js';

/** Client LUN ids: 0–255 (client.py lun_id_list = range(256)). */
export const MAX_CLIENT_LUN_ID = 255;

export function clientRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { settings, status } = ctx.deps;

  app.get('/api/clients/:target_iqn', { config: { doc: 'List clients defined to the configuration.' } }, async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const doc = await ctx.load();
    return { clients: Object.keys(targetOr404(doc, iqn).clients) };
  });

  app.get('/api/_clientlun/:target_iqn/:client_iqn', async (req, reply) => {
    const iqn = iqnParam(req, 'target_iqn');
    const clientIqn = iqnParam(req, 'client_iqn');
    const doc = await ctx.load();
    const t = targetOr404(doc, iqn);
    if (t.clients[clientIqn] === undefined) return reply.code(404).send({ message: 'Client does not exist' });
    // Upstream puts the LUN map in "message".
    return { message: clientOr404(t, iqn, clientIqn).luns };
  });

  app.put('/api/client/:target_iqn/:client_iqn', { config: { doc: 'Create (PUT) or delete (DELETE) a client (initiator ACL) of a target' } }, async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const clientIqn = iqnParam(req, 'client_iqn');
    await ctx.mutate((doc) => {
      const t = targetOr404(doc, iqn);
      if (t.clients[clientIqn] !== undefined) throw badRequest(`A client with the name '${clientIqn}' is already defined`);
      // Mixing TPG/target auth with ACLs is not supported (valid_client mode=create).
      if (t.auth.username && t.auth.password) {
        throw badRequest('Cannot create client because target CHAP authentication is enabled');
      }
      const gws = gatewayNames(doc).length;
      if (gws < settings.minimum_gateways) {
        throw badRequest(`Clients can not be defined until a HA configuration has been defined (>${settings.minimum_gateways} gateways)`);
      }
      const entry: ClientEntry = { auth: emptyChapAuth(), luns: {}, group_name: '' };
      t.clients[clientIqn] = entry;
      t.updated = now();
      return true;
    });
    return { message: 'client create/update successful' };
  });

  app.delete('/api/client/:target_iqn/:client_iqn', async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const clientIqn = iqnParam(req, 'client_iqn');
    await ctx.mutate((doc) => {
      const t = targetOr404(doc, iqn);
      const c = clientOr404(t, iqn, clientIqn);
      if (c.group_name) throw badRequest(`Unable to delete '${clientIqn}' - it belongs to group ${c.group_name}`);
      // Upstream checks LOGGED_IN on the local gateway only; so do we (sessions of this gateway).
      if (status.sessions().some((s) => s.targetIqn === iqn && s.initiatorName.toLowerCase() === clientIqn)) {
        throw badRequest(`Client '${clientIqn}' is logged in to ${iqn}- unable to delete until it's logged out`);
      }
      delete t.clients[clientIqn];
      t.updated = now();
      return true;
    });
    return { message: 'client delete successful' };
  });

  app.put(
    '/api/clientauth/:target_iqn/:client_iqn',
    { config: { doc: "Set a client's CHAP credentials\nusername (8-64), password (12-16), mutual_username, mutual_password; all empty = no CHAP" } },
    async (req) => {
      const iqn = iqnParam(req, 'target_iqn');
      const clientIqn = iqnParam(req, 'client_iqn');
      const chap = chapFromRequest(req);
      await ctx.mutate((doc) => {
        const t = targetOr404(doc, iqn);
        const c = clientOr404(t, iqn, clientIqn);
        c.auth = storeChap(ctx, chap);
        t.updated = now();
        return true;
      });
      return { message: 'client auth successful' };
    },
  );

  app.put(
    '/api/clientlun/:target_iqn/:client_iqn',
    { config: { doc: 'Add (PUT) or remove (DELETE) a LUN of a client (LUN masking)\ndisk=<pool>/<image>: the disk must be mapped to the target; the LUN id is the target\'s' } },
    async (req) => {
      const iqn = iqnParam(req, 'target_iqn');
      const clientIqn = iqnParam(req, 'client_iqn');
      const id = diskId(field(req, 'disk'));
      await ctx.mutate((doc) => {
        const t = targetOr404(doc, iqn);
        const c = clientOr404(t, iqn, clientIqn);
        if (c.group_name) throw badRequest(`Unable to manage disks for '${clientIqn}' - it belongs to group ${c.group_name}`);
        // Reads: no copy of the disk maps (only the client's LUN map changes).
        if (readDisk(doc, id) === undefined) throw badRequest(`Disk ${id} is not defined in the configuration`);
        const targetLun = peek(t.disks, id);
        if (targetLun === undefined) throw badRequest(`Disk ${id} is not defined in target ${iqn}`);
        if (id in c.luns) return false; // already masked: idempotent
        // The client sees the disk at the target's LUN id (client.py lun_lookup),
        // or the lowest free id when that one is taken in this client's map.
        const used = new Set(plainValues(c.luns).map((l) => l.lun_id));
        const lunId = lowestFreeId(used, MAX_CLIENT_LUN_ID, targetLun.lun_id);
        if (lunId === undefined) throw badRequest(`No free LUN id for client ${clientIqn}`);
        c.luns[id] = { lun_id: lunId };
        t.updated = now();
        return true;
      });
      return { message: 'client masking update successful' };
    },
  );

  app.delete('/api/clientlun/:target_iqn/:client_iqn', async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const clientIqn = iqnParam(req, 'client_iqn');
    const id = diskId(field(req, 'disk'));
    await ctx.mutate((doc) => {
      const t = targetOr404(doc, iqn);
      const c = clientOr404(t, iqn, clientIqn);
      if (c.group_name) throw badRequest(`Unable to manage disks for '${clientIqn}' - it belongs to group ${c.group_name}`);
      if (!(id in c.luns)) throw badRequest('disk not mapped to client');
      delete c.luns[id];
      t.updated = now();
      return true;
    });
    return { message: 'client masking update successful' };
  });
}
