/**
 * Gateways (portals) of a target: /api/gateways/<iqn>, /api/gateway/<iqn>/<name>
 * (PUT add, DELETE remove), the internal /api/_gateway/<iqn>/<name> GET, and the answering
 * gateway's maintenance mode /api/maintenance (ours; upstream has none).
 */
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { defaultResolveHost } from '../access.js';
import { settingsHash } from '../../config/settings.js';
import type { ApiContext } from '../context.js';
import type { PeerInfo } from '../peers.js';
import { addPortal, dropUnusedGateways, gatewayNames, now, removePortal, targetOr404 } from '../doc.js';
import { ApiError, badRequest, notFound } from '../errors.js';
import { boolField, field, listField, pathParam } from '../params.js';
import { iqnParam } from './common.js';

// Host names (RFC 1123 labels, '_' tolerated as in container names), or an IP literal.
const GATEWAY_NAME_RE = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$/;

export function validGatewayName(name: string): boolean {
  return GATEWAY_NAME_RE.test(name) || isIP(name) !== 0;
}

function checkIps(name: string, ips: readonly string[], available: readonly string[]): void {
  for (const ip of ips) {
    if (!available.includes(ip)) throw badRequest(`IP address of ${ip} is not available on ${name}. Valid IPs are :${available.join(',')}`);
  }
}

/** gwcli utils.py valid_gateway, the part that asks the new gateway's API (upstream messages). */
async function checkRemoteGateway(sysinfo: NonNullable<PeerInfo['sysinfo']>, name: string, ips: readonly string[], localHash: string): Promise<void> {
  const addrs = await sysinfo(name, 'ip_addresses');
  if (addrs === undefined || addrs.status !== 200) {
    throw badRequest(`ip_addresses query to ${name} failed - check rbd-target-api log. Is the API server running and in the right mode (http/https)?`);
  }
  const data = (addrs.body as { data?: unknown } | undefined)?.data;
  if (!Array.isArray(data)) throw badRequest('Malformed REST API response');
  checkIps(name, ips, data.filter((x): x is string => typeof x === 'string'));
  const conf = await sysinfo(name, 'checkconf');
  if (conf === undefined || conf.status !== 200) throw badRequest(`checkconf API call to ${name} failed with code ${conf?.status ?? 0}`);
  if ((conf.body as { data?: unknown } | undefined)?.data !== localHash) {
    throw badRequest(`/etc/ceph/iscsi-gateway.cfg on ${name} does not match the local version. Correct and retry request`);
  }
  const versions = await sysinfo(name, 'checkversions');
  if (versions === undefined || versions.status !== 200) {
    const errors = (versions?.body as { data?: unknown } | undefined)?.data;
    if (!Array.isArray(errors)) throw badRequest('Malformed REST API response');
    throw badRequest(`${name} failed package validation checks - ${errors.map(String).join(',')}`);
  }
}

export function gatewayRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const resolveHost = ctx.deps.resolveHost ?? defaultResolveHost;

  app.get('/api/maintenance', async () => {
    const status = ctx.deps.status;
    return { gateway: status.gatewayName, maintenance: status.inMaintenance?.() ?? false };
  });

  app.put(
    '/api/maintenance',
    {
      config: {
        doc:
          'Maintenance mode of the gateway answering (GET shows it)\n' +
          'PUT: state (on: hand every LUN to a peer and ask the initiators to log out, portals kept; off: serve again)',
      },
    },
    async (req) => {
      const state = field(req, 'state');
      if (state !== 'on' && state !== 'off') throw badRequest(`Invalid state '${state ?? ''}': use on or off`);
      const status = ctx.deps.status;
      if (status.setMaintenance === undefined) throw new ApiError(501, 'Maintenance mode is not supported by this gateway');
      const report = await status.setMaintenance(state === 'on');
      return { gateway: status.gatewayName, ...report, message: state === 'on' ? 'Gateway in maintenance' : 'Gateway serving' };
    },
  );

  app.get('/api/gateways/:target_iqn', { config: { doc: "Return the target's portals (gateways) as stored in the configuration" } }, async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const doc = await ctx.load();
    return targetOr404(doc, iqn).portals;
  });

  app.get('/api/_gateway/:target_iqn/:gateway_name', async (req, reply) => {
    const iqn = iqnParam(req, 'target_iqn');
    const name = pathParam(req, 'gateway_name');
    const doc = await ctx.load();
    const portal = targetOr404(doc, iqn).portals[name];
    if (portal === undefined) return reply.code(404).send({ message: "Gateway doesn't exist in the configuration" });
    return portal;
  });

  app.put(
    '/api/gateway/:target_iqn/:gateway_name',
    {
      config: {
        doc:
          'Define (PUT) or delete (DELETE) an iSCSI gateway (portal) of a target\n' +
          'PUT: ip_address (comma list; appended to the target ip_list = TPG order), skipchecks (true: no checks of name/IPs), nosync (accepted, ignored)\n' +
          'DELETE: force (needed to drop the last gateway of a target that still has disks or clients)',
      },
    },
    async (req) => {
      const iqn = iqnParam(req, 'target_iqn');
      const name = pathParam(req, 'gateway_name');
      if (!validGatewayName(name)) throw badRequest(`Invalid gateway name ${name}`);
      // "[v6]" as in URLs is accepted; a %scope (link-local IPv6) is kept: the portal binds with it.
      const ips = listField(req, 'ip_address').map((s) => s.replace(/^\[(.*)\]$/, '$1'));
      if (ips.length === 0) throw badRequest('ip_address is required');
      const skipchecks = boolField(req, 'skipchecks', false);
      boolField(req, 'nosync', false); // validated; every gateway reconciles everything anyway
      for (const ip of ips) {
        if (isIP(ip) === 0) {
          throw badRequest("IP address provided is not usable (name doesn't resolve, or not a valid IPv4/IPv6 address)");
        }
      }
      if (new Set(ips).size !== ips.length) throw badRequest('IP address already defined to the configuration');

      // Without skipchecks (gwcli utils.py valid_gateway): the name resolves, the IPs are
      // on that host, its settings hash equals ours and its OS passes. For this gateway
      // that is answered locally; another gateway is asked through its API
      // (/api/sysinfo/ip_addresses, checkconf, checkversions) when peers are wired.
      if (!skipchecks) {
        if (name === ctx.deps.status.gatewayName) {
          checkIps(name, ips, ctx.deps.status.ipAddresses());
        } else {
          if (isIP(name) === 0) {
            const known = gatewayNames(await ctx.load()).includes(name);
            if (!known && (await resolveHost(name)).length === 0) {
              throw badRequest(`Gateway '${name}' is not resolvable to an IP address`);
            }
          }
          if (ctx.peers?.sysinfo !== undefined) await checkRemoteGateway(ctx.peers.sysinfo.bind(ctx.peers), name, ips, settingsHash(ctx.deps.settings));
        }
      }

      await ctx.mutate((doc) => {
        const t = targetOr404(doc, iqn);
        if (name in t.portals) throw badRequest('Gateway already exists in configuration');
        for (const ip of ips) {
          if (t.ip_list.includes(ip)) throw badRequest('IP address already defined to the configuration');
          // One IP belongs to one gateway: another gateway of another target must not claim it.
          for (const [otherIqn, other] of Object.entries(doc.targets)) {
            for (const [gw, p] of Object.entries(other.portals ?? {})) {
              if (gw !== name && (p.portal_ip_addresses ?? []).includes(ip)) {
                throw badRequest(`IP address ${ip} is already used by gateway ${gw} of target ${otherIqn}`);
              }
            }
          }
        }
        addPortal(doc, t, name, ips, now());
        return true;
      });
      return { message: 'Gateway creation successful' };
    },
  );

  app.delete('/api/gateway/:target_iqn/:gateway_name', async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const name = pathParam(req, 'gateway_name');
    const force = boolField(req, 'force', false);
    await ctx.mutate((doc) => {
      const t = targetOr404(doc, iqn);
      if (!(name in t.portals)) throw notFound('Gateway does not exist in configuration');
      const disks = Object.keys(t.disks).length;
      const clients = Object.keys(t.clients).length;
      // Upstream drops the target's disks, clients and groups with its last gateway
      // (gateway.py remove_from_config); we ask for force=true before doing that.
      if (Object.keys(t.portals).length === 1 && disks + clients > 0 && !force) {
        throw badRequest(
          `${name} is the last gateway of ${iqn}, which still has ${disks} disk(s) and ${clients} client(s): ` +
            'removing it also removes them (use force=true)',
        );
      }
      removePortal(doc, t, name, now());
      dropUnusedGateways(doc);
      return true;
    });
    return { message: 'Gateway deletion successful' };
  });
}
