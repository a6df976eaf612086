/**
 * Host groups: /api/hostgroups/<iqn>, /api/hostgroup/<iqn>/<group>
 * (GET, PUT action=add|remove with members/disks comma lists, DELETE).
 * Rules and messages: ceph-iscsi group.py Group (apply/_valid_client/_valid_disk/purge).
 * Members of a group see exactly the group's disks; a client belongs to one group.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GroupEntry } from '../../config/schema.js';
import { INVALID_GROUP_NAME_MESSAGE, normalizeIqn, validGroupName } from '../../config/validate.js';
import type { ApiContext } from '../context.js';
import { peek } from '../../config/snapshot.js';
import { groupOf, lowestFreeId, now, targetOr404 } from '../doc.js';
import { ApiError, badRequest, notFound } from '../errors.js';
import { field, listField, pathParam } from '../params.js';
import { iqnParam } from './common.js';
import { MAX_CLIENT_LUN_ID } from './clients.js';

/** action is checked on every method, as upstream does (form default 'add'); anything else → 405. */
function actionOf(req: FastifyRequest): 'add' | 'remove' {
  const a = (field(req, 'action') ?? 'add').toLowerCase();
  if (a !== 'add' && a !== 'remove') throw new ApiError(405, 'Invalid hostgroup action specified');
  return a;
}

function groupNameParam(req: FastifyRequest): string {
  const name = pathParam(req, 'group_name');
  if (!validGroupName(name)) throw badRequest(INVALID_GROUP_NAME_MESSAGE);
  return name;
}

export function hostgroupRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/api/hostgroups/:target_iqn', { config: { doc: 'Return the hostgroup names defined to the configuration' } }, async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const doc = await ctx.load();
    return { groups: Object.keys(targetOr404(doc, iqn).groups) };
  });

  app.get(
    '/api/hostgroup/:target_iqn/:group_name',
    { config: { doc: 'Show (GET), create or change (PUT) or delete (DELETE) a host group\nPUT: action=add|remove (default add), members=<iqn,...>, disks=<pool/image,...>' } },
    async (req) => {
      const iqn = iqnParam(req, 'target_iqn');
      const name = pathParam(req, 'group_name');
      actionOf(req);
      const doc = await ctx.load();
      const g = groupOf(targetOr404(doc, iqn), name);
      if (g === undefined) throw notFound('Group name does not exist');
      return g;
    },
  );

  app.put('/api/hostgroup/:target_iqn/:group_name', async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const action = actionOf(req);
    const name = groupNameParam(req);
    const changedMembers = listField(req, 'members').map((m) => {
      try {
        return normalizeIqn(m);
      } catch {
        throw badRequest(`Invalid iqn ${m} - WWN not valid as: iqn`);
      }
    });
    const changedDisks = listField(req, 'disks');

    await ctx.mutate((doc) => {
      const t = targetOr404(doc, iqn);
      const existing = groupOf(t, name);
      const isNew = existing === undefined;
      // (Upstream would create an empty group here.)
      if (isNew && action === 'remove') throw notFound('Group name does not exist');
      if (isNew && new Set(changedMembers).size !== changedMembers.length) {
        throw badRequest('Member must contain unique clients - no duplication');
      }
      const group: GroupEntry = existing ?? { members: [], disks: {} };
      const current = group.members;
      const currentDisks = Object.keys(group.disks);

      let members: string[];
      let disks: string[];
      if (action === 'add') {
        members = [...new Set([...current, ...changedMembers])];
        disks = [...new Set([...currentDisks, ...changedDisks])];
      } else {
        members = current.filter((m) => !changedMembers.includes(m));
        disks = currentDisks.filter((d) => !changedDisks.includes(d));
      }
      const addedMembers = members.filter((m) => !current.includes(m));
      const removedMembers = current.filter((m) => !members.includes(m));
      const addedDisks = disks.filter((d) => !currentDisks.includes(d));
      const removedDisks = currentDisks.filter((d) => !disks.includes(d));
      if (!isNew && addedMembers.length + removedMembers.length + addedDisks.length + removedDisks.length === 0) return false;

      // group.py valid_request (the specific reason, then upstream's summary text).
      const fail = (why: string): never => {
        throw badRequest(`Group request failed validation - ${why}`);
      };
      for (const m of addedMembers) {
        const c = t.clients[m];
        // (Group membership is checked before the LUN map, unlike group.py: a member of
        // another group always has LUNs, and "already assigned" is the useful answer.)
        if (c === undefined) fail(`client '${m}' doesn't exist`);
        else if (c.group_name) {
          fail(`Client already assigned to ${c.group_name} - a client can only belong to one host group`);
        } else if (Object.keys(c.luns ?? {}).length > 0) {
          fail(`Client '${m}' already has luns. Only clients without prior lun maps can be added to a group`);
        }
      }
      for (const d of addedDisks) if (!(d in t.disks)) fail(`disk '${d}' doesn't exist`);

      // Disks: the target's LUN id when free in the group, else the lowest free (group.py _next_lun).
      const groupDisks = { ...group.disks };
      for (const d of removedDisks) delete groupDisks[d];
      for (const d of addedDisks) {
        const used = new Set(Object.values(groupDisks).map((l) => l.lun_id));
        const lunId = lowestFreeId(used, MAX_CLIENT_LUN_ID, peek(t.disks, d)?.lun_id);
        if (lunId === undefined) fail(`no free LUN id for disk '${d}'`);
        else groupDisks[d] = { lun_id: lunId };
      }

      // Members see exactly the group's disks; removed members leave the group
      // and keep their current LUN map (group.py remove_client).
      for (const m of members) {
        const c = t.clients[m];
        if (c === undefined) continue;
        c.group_name = name;
        c.luns = Object.fromEntries(Object.entries(groupDisks).map(([d, l]) => [d, { lun_id: l.lun_id }]));
      }
      for (const m of removedMembers) {
        const c = t.clients[m];
        if (c !== undefined) c.group_name = '';
      }
      const stamp = now();
      // No created/updated on groups: config v10 dropped them (common.py _upgrade_config).
      t.groups[name] = { ...group, members, disks: groupDisks };
      t.updated = stamp;
      return true;
    });
    return { message: 'hostgroup create/update successful' };
  });

  // Upstream: only purges the group from the config; members keep their LUN maps.
  app.delete('/api/hostgroup/:target_iqn/:group_name', async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    actionOf(req);
    const name = pathParam(req, 'group_name');
    await ctx.mutate((doc) => {
      const t = targetOr404(doc, iqn);
      const g = groupOf(t, name);
      if (g === undefined) throw notFound(`Group name '${name}' not found`);
      for (const m of g.members) {
        const c = t.clients[m];
        if (c !== undefined) c.group_name = '';
      }
      delete t.groups[name];
      t.updated = now();
      return true;
    });
    return { message: `Group definition '${name}' deleted` };
  });
}
