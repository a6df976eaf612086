/**
 * Pure operations on the config document (gateway.conf v11) that the routes
 * share: lookups that answer 404, portal add/remove with TPG bookkeeping,
 * ALUA owner choice, LUN id allocation. They mirror what ceph-iscsi does in
 * ceph_iscsi_config (target.py manage('target'/'clearconfig'),
 * gateway.py remove_from_config, lun.py get_owner/reassign_owners/map_lun),
 * but run on one fresh document inside one store.update().
 */
import { configTime, emptyChapAuth, isGatewayEntry } from '../config/schema.js';
import { peek, plainValues } from '../config/snapshot.js';
import type { ClientEntry, DiskEntry, GatewayConfig, GatewayEntry, GroupEntry, TargetEntry } from '../config/schema.js';
import { notFound } from './errors.js';

export const now = (): string => configTime();

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Fills in what a document written by an older or hand-edited upstream may
 * lack, so the routes can rely on the v11 shape. Only ever adds keys.
 */
export function ensureTargetShape(t: TargetEntry): TargetEntry {
  const r = t as unknown as Record<string, unknown>;
  if (typeof r['acl_enabled'] !== 'boolean') r['acl_enabled'] = true;
  if (!isObject(r['auth'])) r['auth'] = emptyChapAuth();
  if (!isObject(r['controls'])) r['controls'] = {};
  if (!Array.isArray(r['ip_list'])) r['ip_list'] = [];
  for (const k of ['portals', 'disks', 'clients', 'groups']) if (!isObject(r[k])) r[k] = {};
  return t;
}

export function ensureDocShape(doc: GatewayConfig): GatewayConfig {
  const r = doc as unknown as Record<string, unknown>;
  for (const k of ['gateways', 'disks', 'targets']) if (!isObject(r[k])) r[k] = {};
  if (!isObject(r['discovery_auth'])) r['discovery_auth'] = emptyChapAuth();
  return doc;
}

export function targetOr404(doc: GatewayConfig, iqn: string): TargetEntry {
  ensureDocShape(doc);
  const t = doc.targets[iqn];
  if (t === undefined || !isObject(t)) throw notFound(`Target ${iqn} does not exist`);
  return ensureTargetShape(t);
}

export function clientOr404(target: TargetEntry, iqn: string, clientIqn: string): ClientEntry {
  const c = target.clients[clientIqn];
  if (c === undefined || !isObject(c)) throw notFound(`Client ${clientIqn} does not exist in target ${iqn}`);
  const r = c as unknown as Record<string, unknown>;
  if (!isObject(r['luns'])) r['luns'] = {};
  if (!isObject(r['auth'])) r['auth'] = emptyChapAuth();
  if (typeof r['group_name'] !== 'string') r['group_name'] = '';
  return c;
}

export function groupOf(target: TargetEntry, name: string): GroupEntry | undefined {
  const g = target.groups[name];
  if (g === undefined || !isObject(g)) return undefined;
  const r = g as unknown as Record<string, unknown>;
  if (!Array.isArray(r['members'])) r['members'] = [];
  if (!isObject(r['disks'])) r['disks'] = {};
  return g;
}

export function diskOf(doc: GatewayConfig, id: string): DiskEntry | undefined {
  const d = doc.disks[id];
  return d !== undefined && isObject(d) ? d : undefined;
}

/** diskOf for reading only: inside a mutator, no copy of the disk map (snapshot.ts peek). */
export function readDisk(doc: GatewayConfig, id: string): Readonly<DiskEntry> | undefined {
  const d = peek(doc.disks, id);
  return d !== undefined && isObject(d) ? d : undefined;
}

/** Names of the real gateway entries (upstream leaves strings such as "created" in this dict). */
export function gatewayNames(doc: GatewayConfig): string[] {
  return Object.keys(doc.gateways).filter((k) => isGatewayEntry(doc.gateways[k]));
}

export function gatewayEntry(doc: GatewayConfig, name: string): GatewayEntry | undefined {
  const g = doc.gateways[name];
  if (!isGatewayEntry(g)) return undefined;
  if (typeof g.active_luns !== 'number') g.active_luns = 0;
  return g;
}

/** The gateway entry, created with active_luns 0 when missing. */
export function ensureGateway(doc: GatewayConfig, name: string, t: string): GatewayEntry {
  const existing = gatewayEntry(doc, name);
  if (existing !== undefined) return existing;
  const g: GatewayEntry = { active_luns: 0, created: t, updated: t };
  doc.gateways[name] = g;
  return g;
}

/**
 * ceph_iscsi_config lun.py LUN.get_owner: the portal with the fewest
 * active_luns (a stable sort over the portals' order, so ties go to the
 * earlier portal). This spreads the ALUA active/optimized paths over gateways.
 */
export function pickOwner(doc: GatewayConfig, target: TargetEntry): string | undefined {
  let best: string | undefined;
  let bestCount = Infinity;
  for (const name of Object.keys(target.portals)) {
    const count = gatewayEntry(doc, name)?.active_luns ?? 0;
    if (count < bestCount) {
      best = name;
      bestCount = count;
    }
  }
  return best;
}

function without(list: readonly string[], remove: readonly string[]): string[] {
  return list.filter((x) => !remove.includes(x));
}

/**
 * ceph_iscsi_config target.py manage('target'): the new gateway's IPs are
 * appended to ip_list (index i = TPG tag i+1 on every gateway); every portal's
 * gateway_ip_list / inactive_portal_ips / tpgs follow the new list.
 */
export function addPortal(doc: GatewayConfig, target: TargetEntry, name: string, ips: readonly string[], t: string): void {
  const ipList = [...target.ip_list, ...ips];
  target.ip_list = ipList;
  for (const portal of Object.values(target.portals)) {
    portal.gateway_ip_list = [...ipList];
    portal.inactive_portal_ips = without(ipList, portal.portal_ip_addresses ?? []);
    portal.tpgs = ipList.length;
  }
  target.portals[name] = {
    portal_ip_addresses: [...ips],
    gateway_ip_list: [...ipList],
    inactive_portal_ips: without(ipList, ips),
    tpgs: ipList.length,
  };
  ensureGateway(doc, name, t);
  target.updated = t;
}

/**
 * ceph_iscsi_config gateway.py remove_from_config: drops the portal and its IPs
 * from ip_list and from every other portal. When no portal is left, everything
 * under the TPGs goes too (disks, clients, controls, groups), as upstream does.
 * Owners of this target's disks that pointed at the removed gateway move to the
 * remaining portal with the fewest active LUNs (lun.py reassign_owners).
 * Returns true when the target itself should be deleted (no portal/IP left).
 */
export function removePortal(doc: GatewayConfig, target: TargetEntry, name: string, t: string): boolean {
  const portal = target.portals[name];
  const ips = portal?.portal_ip_addresses ?? [];
  delete target.portals[name];
  target.ip_list = without(target.ip_list, ips);
  for (const p of Object.values(target.portals)) {
    p.gateway_ip_list = [...target.ip_list];
    p.inactive_portal_ips = without(target.ip_list, p.portal_ip_addresses ?? []);
    p.tpgs = target.ip_list.length;
  }
  target.updated = t;
  if (Object.keys(target.portals).length === 0) {
    for (const diskId of Object.keys(target.disks)) releaseOwner(doc, diskId, t);
    target.disks = {};
    target.clients = {};
    target.controls = {};
    target.groups = {};
  } else {
    reassignOwners(doc, target, name, t);
  }
  return Object.keys(target.portals).length === 0 || target.ip_list.length === 0;
}

/** Moves the ALUA owner of this target's disks away from `gone` (lun.py reassign_owners). */
export function reassignOwners(doc: GatewayConfig, target: TargetEntry, gone: string, t: string): void {
  for (const diskId of Object.keys(target.disks)) {
    // Read first: a draft only of the disks that move (not of every disk of the target).
    if (readDisk(doc, diskId)?.owner !== gone) continue;
    const disk = diskOf(doc, diskId);
    if (disk === undefined) continue;
    releaseOwner(doc, diskId, t);
    const owner = pickOwner(doc, target);
    if (owner === undefined) continue;
    disk.owner = owner;
    ensureGateway(doc, owner, t).active_luns += 1;
    disk.updated = t;
  }
}

/** Clears a disk's owner and decrements that gateway's active_luns (lun.py unmap_lun). */
export function releaseOwner(doc: GatewayConfig, diskId: string, t: string): void {
  if (readDisk(doc, diskId)?.owner === undefined) return;
  const disk = diskOf(doc, diskId);
  if (disk === undefined || disk.owner === undefined) return;
  const gw = gatewayEntry(doc, disk.owner);
  if (gw !== undefined && gw.active_luns > 0) {
    gw.active_luns -= 1;
    gw.updated = t;
  }
  delete disk.owner;
  disk.updated = t;
}

/** Deletes gateway entries that are no longer a portal of any target (gateway.py remove_from_config). */
export function dropUnusedGateways(doc: GatewayConfig): void {
  for (const name of gatewayNames(doc)) {
    const used = Object.values(doc.targets).some((t) => isObject(t) && isObject(t.portals) && name in t.portals);
    if (!used) delete doc.gateways[name];
  }
}

/** Lowest id in [0, max] not in `used`, trying `preferred` first; undefined when all are taken. */
export function lowestFreeId(used: ReadonlySet<number>, max: number, preferred?: number): number | undefined {
  if (preferred !== undefined && preferred >= 0 && preferred <= max && !used.has(preferred)) return preferred;
  for (let i = 0; i <= max; i++) if (!used.has(i)) return i;
  return undefined;
}

/** The target that maps `diskId`, if any (a disk belongs to at most one target). */
export function targetOfDisk(doc: GatewayConfig, diskId: string): string | undefined {
  for (const [iqn, t] of Object.entries(doc.targets)) {
    if (isObject(t) && isObject(t.disks) && diskId in t.disks) return iqn;
  }
  return undefined;
}

/**
 * lun.py get_backstore_object_name: "<pool>.<image>", de-duplicated with
 * ".1", ".2"... ("a.b/c" and "a/b.c" would otherwise collide).
 */
export function backstoreObjectName(doc: GatewayConfig, pool: string, image: string): string {
  return backstoreObjectNames(doc, pool, [image])[0]!;
}

/**
 * backstoreObjectName for several new disks of one request, in order, each name taken for the
 * next: one scan of the disk map, before the mutator adds any (plain() of a map the mutator
 * changed is a copy of it).
 */
export function backstoreObjectNames(doc: GatewayConfig, pool: string, images: readonly string[]): string[] {
  // plainValues(): inside a mutator, the scan must not make a draft of every disk entry. Only
  // names that start like one of the new ones can collide with them.
  const bases = images.map((image) => `${pool}.${image}`);
  const taken = new Set<string>();
  for (const d of plainValues(doc.disks)) {
    if (!isObject(d)) continue;
    const name = d.backstore_object_name;
    if (typeof name === 'string' && bases.some((b) => name.startsWith(b))) taken.add(name);
  }
  return images.map((image) => {
    const base = `${pool}.${image}`;
    let candidate = base;
    for (let n = 1; taken.has(candidate); n++) candidate = `${base}.${n}`;
    taken.add(candidate);
    return candidate;
  });
}

/**
 * A stable number per pool for `pool_id`: the id other disks of the same pool
 * already carry, else one more than the largest id in use (starting at 1).
 * (Upstream stores the RADOS pool id; a store without pool ids gets a stable substitute.)
 */
export function poolIdFor(doc: GatewayConfig, pool: string): number {
  let max = 0;
  for (const d of plainValues(doc.disks)) {
    if (!isObject(d)) continue;
    if (d.pool === pool && typeof d.pool_id === 'number') return d.pool_id;
    if (typeof d.pool_id === 'number' && d.pool_id > max) max = d.pool_id;
  }
  return max + 1;
}
