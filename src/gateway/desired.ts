/**
 * Pure functions from the config document to what this gateway should run:
 * its portals, the targets it serves, the disks to open, each initiator's LUN
 * map and the ALUA groups of each disk. The reconciler diffs these against the
 * running state; keeping them pure makes the mapping rules testable without
 * sockets or files.
 *
 * DesiredStates computes the same from one epoch to the next without redoing
 * what did not change: documents are frozen and share the objects of unchanged
 * parts (config/snapshot.ts), so a disk whose inputs are the same objects as
 * last time keeps the same DesiredDisk object, and the reconciler skips it by
 * identity.
 */
import type { ChapAuth, DiskEntry, GatewayConfig, LunRef, PortalEntry, TargetEntry } from '../config/schema.js';

export interface DesiredPortal {
  ip: string;
  port: number;
}

export type AluaStateName = 'active-optimized' | 'active-non-optimized';

export interface DesiredGroup {
  /** TPG tag = index in ip_list + 1 (ceph-iscsi target.py: same order on every gateway). */
  id: number;
  state: AluaStateName;
  relativePortIds: number[];
}

export interface DesiredDisk {
  id: string;
  pool: string;
  image: string;
  wwn: string;
  target: string;
  lunId: number;
  owner: string | undefined;
  controls: Record<string, unknown>;
  groups: DesiredGroup[];
  /** The document's entry this was made from: another object means the disk's entry changed. */
  source: DiskEntry;
}

export interface DesiredState {
  portals: DesiredPortal[];
  /** Targets this gateway serves (it has a portal entry in them). */
  targets: string[];
  disks: Map<string, DesiredDisk>;
}

/** ceph-iscsi keeps portal IPs as strings; IPv6 ones may carry brackets. */
export function bareIp(ip: string): string {
  const s = ip.trim();
  return s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
}

export function tpgTag(target: TargetEntry, ip: string): number | undefined {
  const i = target.ip_list.findIndex((x) => bareIp(x) === bareIp(ip));
  return i < 0 ? undefined : i + 1;
}

/** ALUA groups of a disk inside its target: AO on the owner's portals, ANO elsewhere (ceph-iscsi alua.py, implicit). */
export function aluaGroups(target: TargetEntry, owner: string | undefined): DesiredGroup[] {
  const ownerIps = new Set((owner !== undefined ? target.portals[owner]?.portal_ip_addresses ?? [] : []).map(bareIp));
  return target.ip_list.map((ip, i) => ({
    id: i + 1,
    state: ownerIps.has(bareIp(ip)) ? 'active-optimized' : 'active-non-optimized',
    relativePortIds: [i + 1],
  }));
}

export function desiredState(doc: GatewayConfig, gatewayName: string, iscsiPort: number): DesiredState {
  return new DesiredStates(gatewayName, iscsiPort).compute(doc);
}

/** What a DesiredDisk was made from (all compared by identity). */
interface DiskInputs {
  entry: DiskEntry;
  ref: LunRef;
  target: string;
  portals: Record<string, PortalEntry>;
  ipList: string[];
  disk: DesiredDisk;
}

/** The desired disks of one target, and the parts of the document they were made from. */
interface TargetDisks {
  refs: TargetEntry['disks'];
  /** How many LUN references `refs` has (those without a disk entry are not in `disks`). */
  refCount: number;
  portals: Record<string, PortalEntry>;
  ipList: string[];
  docDisks: GatewayConfig['disks'];
  disks: Map<string, DesiredDisk>;
}

/**
 * desiredState() across epochs: a disk whose document entry, LUN reference and target portals
 * are the same objects as in the previous document keeps its DesiredDisk (same object); a
 * target whose LUN map, portals and the document's disk map are all unchanged keeps its whole
 * result (a change of the target's other fields, its clients for one, walks no disk), one whose
 * disk map alone changed checks its disks' entries by identity (a disk created: no walk), and a
 * walk that finds every disk unchanged keeps the previous map, so that `disks` is the same Map
 * as last time whenever no desired disk changed (the reconciler then skips its disk loops).
 */
export class DesiredStates {
  #byDisk = new Map<string, DiskInputs>();
  #byTarget = new Map<string, TargetDisks>();
  #disks = new Map<string, DesiredDisk>();

  constructor(
    readonly gatewayName: string,
    readonly iscsiPort: number,
  ) {}

  compute(doc: GatewayConfig): DesiredState {
    const portals = new Map<string, DesiredPortal>();
    const targets: string[] = [];
    const byTarget = new Map<string, TargetDisks>();
    const results: Map<string, DesiredDisk>[] = [];
    for (const [iqn, t] of Object.entries(doc.targets)) {
      const mine = t.portals[this.gatewayName];
      if (mine === undefined) continue;
      targets.push(iqn);
      for (const ip of mine.portal_ip_addresses) {
        const b = bareIp(ip);
        portals.set(`${b}:${this.iscsiPort}`, { ip: b, port: this.iscsiPort });
      }
      let td = this.#byTarget.get(iqn);
      if (td === undefined || td.portals !== t.portals || td.ipList !== t.ip_list) {
        td = this.#targetDisks(doc, iqn, t, td?.disks);
      } else if (td.refs !== t.disks) {
        // Another LUN map (a LUN mapped or unmapped): the disks whose reference or entry is
        // another object than last time are made again, the Map is a copy with those changed.
        td = this.#updateTargetDisks(td, doc, iqn, t);
      } else if (td.docDisks !== doc.disks) {
        // Another disk map, the same LUN map (a disk created elsewhere, one entry changed): one
        // lookup per disk tells whether any of this target's entries changed.
        td = sameEntries(td, doc.disks) ? { ...td, docDisks: doc.disks } : this.#updateTargetDisks(td, doc, iqn, t);
      }
      byTarget.set(iqn, td);
      results.push(td.disks);
    }
    this.#byTarget = byTarget;
    this.#disks = mergeDisks(results, this.#disks);
    const disks = this.#disks;
    if (this.#byDisk.size > disks.size) for (const id of this.#byDisk.keys()) if (!disks.has(id)) this.#byDisk.delete(id);
    return { portals: [...portals.values()], targets, disks };
  }

  /**
   * #targetDisks for a target whose portals are those of `td`: the disks whose LUN reference
   * and disk entry are the objects `td` was made from keep their DesiredDisk without a Map
   * insert; the result is `td.disks` itself when nothing changed, else a copy of it with the
   * changes (a LUN added: ~1,000 identity checks, one insert).
   */
  #updateTargetDisks(td: TargetDisks, doc: GatewayConfig, iqn: string, t: TargetEntry): TargetDisks {
    const ids = Object.keys(t.disks);
    let out: Map<string, DesiredDisk> | undefined;
    let withEntry = 0;
    for (const diskId of ids) {
      const ref = t.disks[diskId]!;
      const entry = doc.disks[diskId];
      const before = td.disks.get(diskId);
      if (entry !== undefined) withEntry++;
      if (before !== undefined ? before.source === entry && td.refs[diskId] === ref : entry === undefined) continue;
      out ??= new Map(td.disks);
      if (entry === undefined) out.delete(diskId);
      else out.set(diskId, this.#desiredDisk(diskId, ref, entry, iqn, t));
    }
    // References removed (their disks are still in the copy).
    if (withEntry !== (out ?? td.disks).size) {
      out ??= new Map(td.disks);
      for (const diskId of out.keys()) if (!Object.hasOwn(t.disks, diskId) || doc.disks[diskId] === undefined) out.delete(diskId);
    }
    return { refs: t.disks, refCount: ids.length, portals: t.portals, ipList: t.ip_list, docDisks: doc.disks, disks: out ?? td.disks };
  }

  /** The DesiredDisk of these inputs: the one made last time when they are the same objects. */
  #desiredDisk(diskId: string, ref: LunRef, entry: DiskEntry, iqn: string, t: TargetEntry): DesiredDisk {
    const memo = this.#byDisk.get(diskId);
    if (memo !== undefined && memo.entry === entry && memo.ref === ref && memo.target === iqn && memo.portals === t.portals && memo.ipList === t.ip_list) {
      return memo.disk;
    }
    const disk: DesiredDisk = {
      id: diskId,
      pool: entry.pool,
      image: entry.image,
      wwn: entry.wwn,
      target: iqn,
      lunId: ref.lun_id,
      owner: entry.owner,
      controls: entry.controls,
      groups: aluaGroups(t, entry.owner),
      source: entry,
    };
    this.#byDisk.set(diskId, { entry, ref, target: iqn, portals: t.portals, ipList: t.ip_list, disk });
    return disk;
  }

  /** The target's desired disks; `prev` itself when every one is the same object as in it. */
  #targetDisks(doc: GatewayConfig, iqn: string, t: TargetEntry, prev: Map<string, DesiredDisk> | undefined): TargetDisks {
    const out = new Map<string, DesiredDisk>();
    let same = prev !== undefined;
    const ids = Object.keys(t.disks);
    for (const diskId of ids) {
      const ref = t.disks[diskId]!;
      const entry = doc.disks[diskId];
      if (entry === undefined) continue;
      const disk = this.#desiredDisk(diskId, ref, entry, iqn, t);
      if (same && prev!.get(diskId) !== disk) same = false;
      out.set(diskId, disk);
    }
    const disks = same && out.size === prev!.size ? prev! : out;
    return { refs: t.disks, refCount: ids.length, portals: t.portals, ipList: t.ip_list, docDisks: doc.disks, disks };
  }
}

/** Every LUN reference of the target had a disk entry, and each is the entry its desired disk was made from. */
function sameEntries(td: TargetDisks, docDisks: GatewayConfig['disks']): boolean {
  if (td.disks.size !== td.refCount) return false;
  for (const [id, disk] of td.disks) if (docDisks[id] !== disk.source) return false;
  return true;
}

/**
 * The disks of every served target in one map (a disk belongs to one target; should a
 * document list it twice, the first target wins). One target: its map. `prev` when the result
 * has the same disks as it.
 */
function mergeDisks(results: readonly Map<string, DesiredDisk>[], prev: Map<string, DesiredDisk>): Map<string, DesiredDisk> {
  if (results.length === 1) return results[0]!;
  const disks = new Map<string, DesiredDisk>();
  for (const m of results) for (const [id, disk] of m) if (!disks.has(id)) disks.set(id, disk);
  if (disks.size !== prev.size) return disks;
  for (const [id, disk] of disks) if (prev.get(id) !== disk) return disks;
  return prev;
}

/**
 * LUN map of one initiator on one target: lun id -> disk id.
 * ACL mode: the client's own LUNs plus its host group's; ACL disabled
 * (generate_node_acls): every LUN of the target.
 */
export function lunMapFor(target: TargetEntry, initiatorName: string): Map<number, string> {
  const out = new Map<number, string>();
  if (!target.acl_enabled) {
    for (const [diskId, ref] of Object.entries(target.disks)) out.set(ref.lun_id, diskId);
    return out;
  }
  const client = findClient(target, initiatorName);
  if (client === undefined) return out;
  for (const [diskId, ref] of Object.entries(client.luns)) out.set(ref.lun_id, diskId);
  if (client.group_name !== '') {
    const g = target.groups[client.group_name];
    if (g !== undefined) for (const [diskId, ref] of Object.entries(g.disks)) out.set(ref.lun_id, diskId);
  }
  return out;
}

/** Initiator names are case-insensitive for iqn (RFC 3722 normalises them to lower case). */
export function findClient(target: TargetEntry, initiatorName: string) {
  const direct = target.clients[initiatorName];
  if (direct !== undefined) return direct;
  const lower = initiatorName.toLowerCase();
  for (const [name, c] of Object.entries(target.clients)) if (name.toLowerCase() === lower) return c;
  return undefined;
}

export function hasChap(a: ChapAuth | undefined): boolean {
  return a !== undefined && a.username !== '' && a.password !== '';
}
