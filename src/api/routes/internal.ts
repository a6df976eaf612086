/**
 * Upstream's per-gateway `/api/_...` routes, for a mixed fleet (an upstream
 * ceph-iscsi gateway next to ours, e.g. during a migration).
 *
 * Upstream's public routes validate, commit the change to gateway.conf from the
 * committing host, and call `/api/_<thing>` on every other gateway so that it
 * applies the change to its LIO. We never apply anything from request
 * parameters: the config document is the truth and this gateway reconciles from
 * it (its store watch picks up commits that land after the call, such as the
 * deletes upstream commits last). So these routes just reconcile now and answer
 * what upstream answers. One exception: `_gateway` DELETE for THIS gateway is
 * where upstream removes the gateway from the config (gateway.py
 * remove_from_config), so it does that.
 *
 * Our own gwcli-facing internal routes (`_ping`, `_target` DELETE, `_gateway` GET,
 * `_targetinfo`, `_clientinfo`, `_clientlun` GET) live with their resources.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../context.js';
import { clientOr404, diskOf, dropUnusedGateways, ensureDocShape, groupOf, now, removePortal, targetOr404 } from '../doc.js';
import { notFound } from '../errors.js';
import { field, pathParam } from '../params.js';
import { iqnParam } from './common.js';

export function internalRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { status, logger } = ctx.deps;

  const applyLocally = async (): Promise<void> => {
    try {
      await status.reconcileNow();
    } catch (err) {
      logger.error({ err }, 'applying the configuration for an upstream peer failed');
    }
  };
  const ack = (message: string) => async (): Promise<{ message: string }> => {
    await applyLocally();
    return { message };
  };

  app.put('/api/_target/:target_iqn', ack('Target reconfigured successfully'));
  app.put('/api/_gateway/:target_iqn/:gateway_name', ack('Gateway defined/mapped'));
  app.delete('/api/_gateway/:target_iqn/:gateway_name', async (req: FastifyRequest) => {
    const iqn = iqnParam(req, 'target_iqn');
    const name = pathParam(req, 'gateway_name');
    if (name === status.gatewayName) {
      await ctx.mutate((doc) => {
        ensureDocShape(doc);
        if (doc.targets[iqn] === undefined) return false;
        const t = targetOr404(doc, iqn);
        if (name in t.portals) removePortal(doc, t, name, now());
        dropUnusedGateways(doc);
        return true;
      });
    } else {
      await applyLocally();
    }
    return { message: 'Gateway deleted.' };
  });
  app.put('/api/_targetlun/:target_iqn', ack('LUN mapped'));
  app.delete('/api/_targetlun/:target_iqn', ack('LUN mapped'));
  app.put('/api/_disk/:pool/:image', async (req: FastifyRequest) => {
    const mode = field(req, 'mode') ?? '';
    const messages: Record<string, string> = { create: 'LUN created', resize: 'LUN resized', activate: 'LUN activated', deactivate: 'LUN deactivated' };
    await applyLocally();
    return { message: messages[mode] ?? 'LUN created' };
  });
  app.delete('/api/_disk/:pool/:image', ack('LUN removed'));
  app.get('/api/_disk/:pool/:image', async (req: FastifyRequest) => {
    const id = `${pathParam(req, 'pool')}/${pathParam(req, 'image')}`;
    const disk = diskOf(ensureDocShape(await ctx.load()), id);
    if (disk === undefined) throw notFound(`rbd image ${id} not found`);
    return disk;
  });
  app.put('/api/_discoveryauth', ack('OK'));
  app.put('/api/_targetauth/:target_iqn', ack('OK'));
  app.put('/api/_clientauth/:target_iqn/:client_iqn', ack('Client configured successfully'));
  app.put('/api/_clientlun/:target_iqn/:client_iqn', ack('Client configured successfully'));
  app.put('/api/_client/:target_iqn/:client_iqn', ack('Client configured successfully'));
  app.delete('/api/_client/:target_iqn/:client_iqn', ack('Client deleted ok'));
  app.get('/api/_client/:target_iqn/:client_iqn', async (req: FastifyRequest, reply: FastifyReply) => {
    const iqn = iqnParam(req, 'target_iqn');
    const clientIqn = iqnParam(req, 'client_iqn');
    const t = targetOr404(await ctx.load(), iqn);
    if (t.clients[clientIqn] === undefined) return reply.code(404).send({ message: 'Client does not exist' });
    return clientOr404(t, iqn, clientIqn);
  });
  app.put('/api/_hostgroup/:target_iqn/:group_name', ack('Group created/updated'));
  app.delete('/api/_hostgroup/:target_iqn/:group_name', async (req: FastifyRequest) => {
    await applyLocally();
    return { message: `Group '${pathParam(req, 'group_name')}' removed` };
  });
  app.get('/api/_hostgroup/:target_iqn/:group_name', async (req: FastifyRequest) => {
    const iqn = iqnParam(req, 'target_iqn');
    const g = groupOf(targetOr404(await ctx.load(), iqn), pathParam(req, 'group_name'));
    if (g === undefined) throw notFound('Group name does not exist');
    return g;
  });
}
