/**
 * The iSCSI layer's view of the configuration: which targets exist on which
 * portal, who may log in with which CHAP secrets, and the SCSI device server
 * each I_T nexus talks to. Answers are computed from the latest applied config
 * document at each call, so a reconcile takes effect at the next login without
 * touching running sessions.
 */
import type { ChapAuth, GatewayConfig, TargetEntry } from '../config/schema.js';
import { effectiveControls } from '../config/controls.js';
import type {
  ChapPolicy,
  InitiatorAccess,
  IscsiTargetNode,
  IscsiTargetRegistry,
  SendTargetsEntry,
  TargetLimits,
} from '../iscsi/registry.js';
import type { Nexus, ScsiPort } from '../scsi/command.js';
import { bareIp, findClient, hasChap, tpgTag } from './desired.js';

export interface RegistryContext {
  /** The config document currently applied. */
  doc(): GatewayConfig;
  gatewayName: string;
  iscsiPort: number;
  targetDefaults: Record<string, number | boolean>;
  openPort(targetIqn: string, nexus: Nexus): ScsiPort;
}

function chapPolicy(auth: ChapAuth): ChapPolicy | null {
  if (!hasChap(auth)) return null;
  const policy: ChapPolicy = { initiator: { username: auth.username, password: auth.password } };
  if (auth.mutual_username !== '' && auth.mutual_password !== '') {
    policy.target = { username: auth.mutual_username, password: auth.mutual_password };
  }
  return policy;
}

function formatAddress(ip: string, port: number, tpgt: number): string {
  const b = bareIp(ip);
  return b.includes(':') ? `[${b}]:${port},${tpgt}` : `${b}:${port},${tpgt}`;
}

export function targetLimits(t: TargetEntry, defaults: Record<string, number | boolean>): TargetLimits {
  const c = effectiveControls('target', t.controls, defaults);
  const num = (k: string, d: number): number => (typeof c[k] === 'number' ? (c[k] as number) : d);
  const bool = (k: string, d: boolean): boolean => (typeof c[k] === 'boolean' ? (c[k] as boolean) : d);
  return {
    cmdsnDepth: num('cmdsn_depth', 128),
    immediateData: bool('immediate_data', true),
    initialR2T: bool('initial_r2t', true),
    maxOutstandingR2T: num('max_outstanding_r2t', 1),
    firstBurstLength: num('first_burst_length', 262144),
    maxBurstLength: num('max_burst_length', 524288),
    maxRecvDataSegmentLength: num('max_recv_data_segment_length', 262144),
    maxXmitDataSegmentLength: num('max_xmit_data_segment_length', 262144),
    nopinTimeoutSec: num('nopin_timeout', 5),
    nopinResponseTimeoutSec: num('nopin_response_timeout', 5),
    dataoutTimeoutSec: num('dataout_timeout', 20),
  };
}

export class GatewayIscsiRegistry implements IscsiTargetRegistry {
  readonly #ctx: RegistryContext;
  constructor(ctx: RegistryContext) {
    this.#ctx = ctx;
  }

  /** Local portal IPs of this gateway for a target. */
  #localIps(t: TargetEntry): Set<string> {
    return new Set((t.portals[this.#ctx.gatewayName]?.portal_ip_addresses ?? []).map(bareIp));
  }

  findTarget(name: string): IscsiTargetNode | undefined {
    const doc = this.#ctx.doc();
    const iqn = name.toLowerCase();
    const t = doc.targets[name] ?? doc.targets[iqn];
    if (t === undefined || t.portals[this.#ctx.gatewayName] === undefined) return undefined;
    const ctx = this.#ctx;
    const localIps = this.#localIps(t);
    const targetName = doc.targets[name] !== undefined ? name : iqn;
    return {
      name: targetName,
      alias: '',
      tpgtFor: (localAddress: string, localPort: number) => {
        if (localPort !== ctx.iscsiPort) return undefined;
        const ip = bareIp(localAddress.replace(/^::ffff:/, ''));
        if (!localIps.has(ip)) return undefined;
        return tpgTag(t, ip);
      },
      access: (initiatorName: string): InitiatorAccess => {
        const cur = ctx.doc().targets[targetName];
        if (cur === undefined) return { allowed: false, reason: 'not-authorized' };
        if (!cur.acl_enabled) return { allowed: true, chap: chapPolicy(cur.auth) };
        const client = findClient(cur, initiatorName);
        if (client === undefined) return { allowed: false, reason: 'not-authorized' };
        return { allowed: true, chap: chapPolicy(client.auth) };
      },
      limits: () => targetLimits(ctx.doc().targets[targetName] ?? t, ctx.targetDefaults),
      openPort: (nexus: Nexus) => ctx.openPort(targetName, nexus),
    };
  }

  sendTargets(_initiatorName: string, _localAddress: string, localPort: number, which: string): SendTargetsEntry[] {
    const doc = this.#ctx.doc();
    const out: SendTargetsEntry[] = [];
    for (const [iqn, t] of Object.entries(doc.targets)) {
      if (t.portals[this.#ctx.gatewayName] === undefined) continue;
      if (which !== 'All' && which !== '' && which.toLowerCase() !== iqn) continue;
      // LIO lists every enabled target regardless of NodeACLs; the ACL is enforced at login
      // (status 0x0202), which tells an administrator more than an empty discovery answer.
      const port = localPort === this.#ctx.iscsiPort ? localPort : this.#ctx.iscsiPort;
      // Every portal of every gateway, with its TPG tag (ceph-iscsi: disabled remote TPGs are listed too).
      out.push({ name: iqn, addresses: t.ip_list.map((ip, i) => formatAddress(ip, port, i + 1)) });
    }
    return out;
  }

  discoveryChap(): ChapPolicy | null {
    return chapPolicy(this.#ctx.doc().discovery_auth);
  }
}
