/**
 * Asymmetric logical unit access (SPC-4 "Asymmetric logical unit access"):
 * REPORT TARGET PORT GROUPS data, SET TARGET PORT GROUPS (explicit ALUA) and
 * the access-state gate used by dispatch.
 */
import { checkControl, invalidField, invalidParam } from './cdb.js';
import { AluaAllowed, parsed, type ExecContext, type Parsed } from './descriptor.js';
import type { AluaAccess, AluaGroup, AluaState, AluaStatus, SettableAccessState, TargetPortGroupRequest } from './logical-unit.js';
import { ScsiError, type SenseReason } from './sense.js';

/** SPC-4 "ASYMMETRIC ACCESS STATE field". */
export const ASYMMETRIC_ACCESS_STATE: Record<AluaState, number> = {
  'active-optimized': 0x0,
  'active-non-optimized': 0x1,
  standby: 0x2,
  unavailable: 0x3,
  transitioning: 0xf,
};

/** Implicit transition time reported in the extended header (seconds; ceph-iscsi: osd_op_timeout + 15). */
export const IMPLICIT_TRANSITION_SECONDS = 45;

// SPC-4 "Target port group descriptor format", byte 1.
const T_SUP = 0x80;
const U_SUP = 0x08;
const S_SUP = 0x04;
const AN_SUP = 0x02;
const AO_SUP = 0x01;

const SUPPORT_BIT: Record<AluaState, number> = {
  'active-optimized': AO_SUP,
  'active-non-optimized': AN_SUP,
  standby: S_SUP,
  unavailable: U_SUP,
  transitioning: T_SUP,
};

/** SPC-4 "STATUS CODE field". */
const STATUS_CODE: Record<AluaStatus, number> = { none: 0x00, explicit: 0x01, implicit: 0x02 };

/**
 * The T_SUP .. AO_SUP bits: implicit failover moves groups between active/optimized and
 * active/non-optimized through transitioning (unavailable when a gateway is cut off);
 * explicit ALUA adds standby, which SET TARGET PORT GROUPS may ask for. A state a group is
 * in is always reported as supported. O_SUP and LBD_SUP stay 0 (no offline, no referrals).
 */
function supportedStates(groups: readonly AluaGroup[], access: AluaAccess): number {
  let bits = T_SUP | U_SUP | AN_SUP | AO_SUP | (access === 'explicit' ? S_SUP : 0);
  for (const g of groups) bits |= SUPPORT_BIT[g.state];
  return bits;
}

/**
 * REPORT TARGET PORT GROUPS parameter data (SPC-4 "REPORT TARGET PORT GROUPS
 * parameter data format"): format 0 = length only, 1 = extended header.
 */
export function reportTargetPortGroups(groups: readonly AluaGroup[], extended: boolean, access: AluaAccess = 'implicit'): Buffer {
  const supported = supportedStates(groups, access);
  const descs: Buffer[] = [];
  for (const g of [...groups].sort((a, b) => a.id - b.id)) {
    const d = Buffer.alloc(8 + 4 * g.relativePortIds.length);
    d.writeUInt8((g.preferred === true ? 0x80 : 0) | ASYMMETRIC_ACCESS_STATE[g.state], 0); // PREF | ASYMMETRIC ACCESS STATE
    d.writeUInt8(supported, 1); // T_SUP | O_SUP | LBD_SUP | U_SUP | S_SUP | AN_SUP | AO_SUP
    d.writeUInt16BE(g.id & 0xffff, 2); // TARGET PORT GROUP
    d.writeUInt8(STATUS_CODE[g.status ?? 'implicit'], 5); // STATUS CODE
    d.writeUInt8(Math.min(0xff, g.relativePortIds.length), 7); // TARGET PORT COUNT
    g.relativePortIds.forEach((id, i) => d.writeUInt16BE(id & 0xffff, 8 + 4 * i + 2));
    descs.push(d);
  }
  const body = Buffer.concat(descs);
  const head = Buffer.alloc(extended ? 8 : 4);
  head.writeUInt32BE(body.length + head.length - 4, 0); // RETURN DATA LENGTH
  if (extended) {
    head.writeUInt8(0x10, 4); // FORMAT TYPE 001b
    head.writeUInt8(IMPLICIT_TRANSITION_SECONDS, 5); // IMPLICIT TRANSITION TIME
  }
  return Buffer.concat([head, body]);
}

// ---- SET TARGET PORT GROUPS ---------------------------------------------------

/** Set target port group descriptors accepted in one parameter list (one per group is all that makes sense). */
export const STPG_MAX_DESCRIPTORS = 256;

/**
 * SPC-4 "SET TARGET PORT GROUPS command": PARAMETER LIST LENGTH 0 transfers nothing and changes
 * nothing; otherwise it must be the 4-byte header plus whole 4-byte descriptors. "If the
 * parameter list length violates the vendor specific length requirements, the command shall be
 * terminated with ... INVALID FIELD IN CDB."
 */
export function parseSetTargetPortGroups(cdb: Buffer): Parsed {
  checkControl(cdb, 11);
  const length = cdb.readUInt32BE(6);
  if (length !== 0 && (length < 4 || length % 4 !== 0 || length > 4 + 4 * STPG_MAX_DESCRIPTORS)) throw invalidField(6);
  return parsed(length, 0);
}

/**
 * The descriptors of a SET TARGET PORT GROUPS parameter list (SPC-4 "Set target port group
 * descriptor parameter list"), each group once. INVALID FIELD IN PARAMETER LIST (SPC-4: "attempts
 * to establish an invalid combination of target port asymmetric access states or ... an
 * unsupported target port asymmetric access state") for: a state other than active/optimized,
 * active/non-optimized or standby (unavailable, logical block dependent, offline, Fh, reserved);
 * a TARGET PORT GROUP that is not one of `groups`; one group asked for two different states.
 */
export function decodeSetTargetPortGroups(param: Buffer, groups: readonly AluaGroup[]): TargetPortGroupRequest[] {
  const out: TargetPortGroupRequest[] = [];
  for (let off = 4; off + 4 <= param.length; off += 4) {
    const state = param.readUInt8(off) & 0x0f; // ASYMMETRIC ACCESS STATE
    if (state > 0x2) throw invalidParam(off, 3);
    const groupId = param.readUInt16BE(off + 2); // TARGET PORT GROUP OR TARGET PORT
    if (!groups.some((g) => g.id === groupId)) throw invalidParam(off + 2);
    const earlier = out.find((r) => r.groupId === groupId);
    if (earlier === undefined) out.push({ groupId, state: state as SettableAccessState });
    else if (earlier.state !== state) throw invalidParam(off, 3);
  }
  return out;
}

/**
 * Validates the parameter list, then hands it to the LU's handler (the HA layer). On success
 * the other I_T nexuses of this LU get ASYMMETRIC ACCESS STATE CHANGED (SPC-4 "Transitions
 * between target port asymmetric access states": "for the initiator port associated with every
 * I_T nexus other than the I_T nexus on which the SET TARGET PORT GROUPS command was received").
 */
export async function executeSetTargetPortGroups(ctx: ExecContext): Promise<undefined> {
  const { lu, nexus } = ctx;
  const length = ctx.p.dataOutLength;
  const handler = lu.setTargetPortGroups;
  if (length === 0 || handler === undefined) return undefined;
  const param = ctx.req.dataOut ?? Buffer.alloc(0);
  // Less Data-Out than the PARAMETER LIST LENGTH (EDTL too small): a descriptor is cut off.
  if (param.length < length) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
  const requests = decodeSetTargetPortGroups(param.subarray(0, length), lu.aluaGroups());
  if (requests.length === 0) return undefined;
  let refused: SenseReason | undefined;
  try {
    refused = await handler(requests, nexus);
  } catch {
    // SPC-4: "if a failure occurred before the transition was completed ... HARDWARE ERROR ...
    // SET TARGET PORT GROUPS COMMAND FAILED".
    refused = 'SET_TARGET_PORT_GROUPS_COMMAND_FAILED';
  }
  if (refused !== undefined) throw new ScsiError(refused);
  lu.aluaChanged(nexus.key);
  return undefined;
}

/**
 * The sense reason that refuses a command in an ALUA state, or undefined when
 * the command may run (LIO core_alua_state_standby/unavailable/transition).
 */
export function aluaGate(state: AluaState, allowed: AluaAllowed): SenseReason | undefined {
  switch (state) {
    case 'active-optimized':
    case 'active-non-optimized':
      return undefined;
    case 'standby':
      return allowed >= AluaAllowed.STANDBY ? undefined : 'ALUA_STANDBY';
    case 'unavailable':
      return allowed >= AluaAllowed.UNAVAILABLE ? undefined : 'ALUA_UNAVAILABLE';
    case 'transitioning':
      return allowed >= AluaAllowed.TRANSITIONING ? undefined : 'ALUA_TRANSITION';
  }
}
