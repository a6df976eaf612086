/**
 * What the composition layer (gateway) gives the iSCSI layer: targets, their
 * access rules and limits, discovery answers. Answers may change at any time
 * (config reconcile): the iSCSI layer reads them at login / per use and never
 * caches them across logins.
 */
import type { Nexus, ScsiPort } from '../scsi/command.js';

export interface ChapSecret {
  username: string;
  password: string;
}

/** initiator: what the initiator must prove (CHAP_N/CHAP_R); target: the target's own secret for mutual CHAP. */
export interface ChapPolicy {
  initiator: ChapSecret;
  target?: ChapSecret;
}

export type InitiatorAccess =
  | { allowed: true; chap: ChapPolicy | null } // null: no authentication (AuthMethod=None accepted)
  | { allowed: false; reason: 'not-authorized' }; // -> login status 0x0202 AUTHORIZATION_FAILURE

/** The target controls (ceph-iscsi names) used as the target's limits. */
export interface TargetLimits {
  /** MaxCmdSN - ExpCmdSN + 1 window per session (default 128). */
  cmdsnDepth: number;
  immediateData: boolean;
  initialR2T: boolean;
  maxOutstandingR2T: number;
  firstBurstLength: number;
  maxBurstLength: number;
  maxRecvDataSegmentLength: number;
  maxXmitDataSegmentLength: number;
  /** Send a NOP-In ping after this idle time (default 5). */
  nopinTimeoutSec: number;
  /** Drop the connection when the ping is not answered (default 5). */
  nopinResponseTimeoutSec: number;
  /** Drop when solicited Data-Out does not arrive (default 20). */
  dataoutTimeoutSec: number;
}

/** ceph-iscsi defaults (gateway_setting.py TGT_SETTINGS). */
export const DEFAULT_TARGET_LIMITS: Readonly<TargetLimits> = {
  cmdsnDepth: 128,
  immediateData: true,
  initialR2T: true,
  maxOutstandingR2T: 1,
  firstBurstLength: 262144,
  maxBurstLength: 524288,
  maxRecvDataSegmentLength: 262144,
  maxXmitDataSegmentLength: 262144,
  nopinTimeoutSec: 5,
  nopinResponseTimeoutSec: 5,
  dataoutTimeoutSec: 20,
};

export interface IscsiTargetNode {
  /** Target IQN. */
  readonly name: string;
  readonly alias: string;
  /** TPG tag of this target on the portal with this local address, or undefined if not served there. */
  tpgtFor(localAddress: string, localPort: number): number | undefined;
  access(initiatorName: string): InitiatorAccess;
  limits(): TargetLimits;
  /** The SCSI device server for one I_T nexus (LUN masking applied by the gateway). */
  openPort(nexus: Nexus): ScsiPort;
}

/** addresses: "ip:port,tpgt" (IPv6: "[ip]:port,tpgt"). */
export interface SendTargetsEntry {
  name: string;
  addresses: string[];
}

export interface IscsiTargetRegistry {
  /** undefined -> login status 0x0203 NOT_FOUND. */
  findTarget(name: string): IscsiTargetNode | undefined;
  /** SendTargets=All (or =<name>) for a discovery session of this initiator that arrived on this local address. */
  sendTargets(initiatorName: string, localAddress: string, localPort: number, which: 'All' | string): SendTargetsEntry[];
  /** Discovery-session CHAP; null = none required. */
  discoveryChap(): ChapPolicy | null;
}
