/**
 * Asymmetric logical unit access (SPC-4 "Asymmetric logical unit access"):
 * REPORT TARGET PORT GROUPS data and the access-state gate used by dispatch.
 */
import { AluaAllowed } from './descriptor.js';
import type { AluaGroup, AluaState } from './logical-unit.js';
import type { SenseReason } from './sense.js';

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

/**
 * REPORT TARGET PORT GROUPS parameter data (SPC-4 "REPORT TARGET PORT GROUPS
 * parameter data format"): format 0 = length only, 1 = extended header.
 */
export function reportTargetPortGroups(groups: readonly AluaGroup[], extended: boolean): Buffer {
  const descs: Buffer[] = [];
  for (const g of [...groups].sort((a, b) => a.id - b.id)) {
    const d = Buffer.alloc(8 + 4 * g.relativePortIds.length);
    d.writeUInt8(ASYMMETRIC_ACCESS_STATE[g.state], 0); // PREF 0 | ASYMMETRIC ACCESS STATE
    // T_SUP | U_SUP | S_SUP | AN_SUP | AO_SUP: the states our groups can be in.
    d.writeUInt8(0x80 | 0x08 | 0x04 | 0x02 | 0x01, 1);
    d.writeUInt16BE(g.id & 0xffff, 2); // TARGET PORT GROUP
    d.writeUInt8(0x02, 5); // STATUS CODE: altered by implicit asymmetric access behaviour
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
