/**
 * Who is active/optimized for a disk, from facts every gateway sees alike (the config document
 * and the membership board): pure functions, so RTPG gives the same answer on every path.
 *
 * - The holder of the disk's exclusive lock, when it is alive and its hold has settled, is AO
 *   (the data path is there). A hold settles when the holder took the lock as the designated
 *   gateway (takeover, preference, failback), for SET TARGET PORT GROUPS, or after holding it
 *   SETTLE_MS: a lock moved for a short burst of writes through another path does not move AO
 *   back and forth, so initiators are not flooded with ASYMMETRIC ACCESS STATE CHANGED.
 * - Otherwise: the designated gateway: the config's `owner` (the preference) when
 *   alive, else one of the alive gateways of the target chosen by a hash of the disk id (so
 *   the LUNs of a dead gateway spread over the survivors, and all agree on who takes which).
 * - Other alive gateways are active/non-optimized; dead ones unavailable; this gateway while
 *   fenced (its lease lapsed) transitioning.
 */
import type { TargetEntry } from '../../config/schema.js';
import type { AluaGroup } from '../../scsi/logical-unit.js';
import { bareIp } from '../desired.js';

export interface ClusterView {
  /** Gateways up with a valid lease (not leaving, not fenced). */
  alive: ReadonlySet<string>;
  /** Disk id -> the alive gateway holding its lock, its hold settled (what ALUA reports). */
  holders: ReadonlyMap<string, string>;
  /** Disk id -> the alive gateway holding its lock, settled or not (absent: as `holders`). */
  locks?: ReadonlyMap<string, string>;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** The gateway that should serve the disk when nobody alive holds it. */
export function designatedGateway(target: TargetEntry, diskId: string, owner: string | undefined, alive: ReadonlySet<string>): string | undefined {
  if (owner !== undefined && alive.has(owner) && target.portals[owner] !== undefined) return owner;
  const candidates = Object.keys(target.portals)
    .filter((g) => alive.has(g))
    .sort();
  return candidates.length === 0 ? undefined : candidates[hash(diskId) % candidates.length];
}

export function activeGateway(target: TargetEntry, diskId: string, owner: string | undefined, view: ClusterView): string | undefined {
  const holder = view.holders.get(diskId);
  if (holder !== undefined && view.alive.has(holder)) return holder;
  return designatedGateway(target, diskId, owner, view.alive);
}

/**
 * The disk's ALUA groups (TPG tag = index in ip_list + 1, as desired.ts numbers them).
 * `pref`: set the PREF bit on the config owner's group (explicit ALUA, as upstream does). Not in
 * implicit mode: dm-multipath's `exclusive_pref_bit` would then keep initiators on the preferred
 * gateway after a failover and make the lock bounce.
 */
export function haAluaGroups(target: TargetEntry, diskId: string, owner: string | undefined, view: ClusterView, self: string, pref = false): AluaGroup[] {
  const active = activeGateway(target, diskId, owner, view);
  const gatewayOf = new Map<string, string>();
  for (const [name, p] of Object.entries(target.portals)) for (const ip of p.portal_ip_addresses) gatewayOf.set(bareIp(ip), name);
  return target.ip_list.map((ip, i) => {
    const gw = gatewayOf.get(bareIp(ip));
    let state: AluaGroup['state'];
    if (gw !== undefined && gw === active) state = 'active-optimized';
    else if (gw !== undefined && view.alive.has(gw)) state = 'active-non-optimized';
    else if (gw === self) state = 'transitioning';
    else state = 'unavailable';
    // PREF: the config owner's group (the preference failback returns to).
    return { id: i + 1, state, relativePortIds: [i + 1], ...(pref && gw !== undefined && gw === owner ? { preferred: true } : {}) };
  });
}
