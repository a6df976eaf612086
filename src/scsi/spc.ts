/**
 * Primary commands (SPC-4) handled by the device server: INQUIRY, TEST UNIT
 * READY, REQUEST SENSE, REPORT LUNS, MODE SENSE/SELECT, REPORT and SET TARGET
 * PORT GROUPS, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, RESERVE/RELEASE(6),
 * PERSISTENT RESERVE IN/OUT. REPORT SUPPORTED OPERATION CODES lives in
 * dispatch.ts because it is built from the whole table.
 */
import { ScsiStatus, type ScsiResult } from './command.js';
import { checkControl, checkReserved, invalidField } from './cdb.js';
import { MaintenanceIn, MaintenanceOut, ScsiOp, VpdPage } from './constants.js';
import { AluaAllowed, parsed, type CommandDescriptor, type ExecContext } from './descriptor.js';
import { modeSelect, modeSense } from './mode-pages.js';
import { executeSetTargetPortGroups, parseSetTargetPortGroups, reportTargetPortGroups } from './alua.js';
import { sanitizeGate } from './sanitize.js';
import { encodeSense, type SenseFormat, type SenseReason } from './sense.js';
import {
  standardInquiry,
  vpdBlockDeviceCharacteristics,
  vpdBlockLimits,
  vpdDeviceIdentification,
  vpdLogicalBlockProvisioning,
  vpdSupportedPages,
  vpdThirdPartyCopy,
  vpdUnitSerial,
} from './vpd.js';

const RESERVATION_CONFLICT: ScsiResult = Object.freeze({ kind: 'result', status: ScsiStatus.RESERVATION_CONFLICT });

// ---- INQUIRY ------------------------------------------------------------

/** SPC-4 "INQUIRY command": EVPD bit, PAGE CODE, ALLOCATION LENGTH. */
export function parseInquiry(cdb: Buffer): ReturnType<typeof parsed> {
  checkReserved(cdb, 1, 0xfe); // CMDDT (obsolete) and reserved bits
  checkControl(cdb, 5);
  const evpd = cdb.readUInt8(1) & 0x01;
  // SPC-4: "If the EVPD bit is set to zero and the PAGE CODE field is not set to zero → INVALID FIELD IN CDB".
  if (evpd === 0 && cdb.readUInt8(2) !== 0) throw invalidField(2);
  return parsed(0, cdb.readUInt16BE(3), 0, 0, evpd);
}

function executeInquiry(ctx: ExecContext): Buffer {
  const { lu, req, nexus } = ctx;
  if (ctx.p.flags === 0) return standardInquiry(lu);
  const page = req.cdb.readUInt8(2);
  switch (page) {
    case VpdPage.SUPPORTED_VPD_PAGES:
      return vpdSupportedPages();
    case VpdPage.UNIT_SERIAL_NUMBER:
      return vpdUnitSerial(lu);
    case VpdPage.DEVICE_IDENTIFICATION:
      return vpdDeviceIdentification(lu, nexus);
    case VpdPage.THIRD_PARTY_COPY:
      return vpdThirdPartyCopy();
    case VpdPage.BLOCK_LIMITS:
      return vpdBlockLimits(lu);
    case VpdPage.BLOCK_DEVICE_CHARACTERISTICS:
      return vpdBlockDeviceCharacteristics();
    case VpdPage.LOGICAL_BLOCK_PROVISIONING:
      return vpdLogicalBlockProvisioning(lu);
    default:
      throw invalidField(2);
  }
}

/** INQUIRY addressed to a LUN that does not exist (SPC-4: PERIPHERAL QUALIFIER 011b, type 1Fh). */
export function inquiryNoLun(cdb: Buffer): Buffer {
  const p = parseInquiry(cdb);
  if (p.flags !== 0) throw invalidField(1, 0);
  const data = standardInquiry(undefined);
  return data.length > p.dataInLength ? data.subarray(0, p.dataInLength) : data;
}

// ---- REQUEST SENSE -------------------------------------------------------

function parseRequestSense(cdb: Buffer): ReturnType<typeof parsed> {
  checkReserved(cdb, 1, 0xfe);
  checkControl(cdb, 5);
  return parsed(0, cdb.readUInt8(4), 0, 0, cdb.readUInt8(1) & 0x01);
}

/**
 * SPC-4 "REQUEST SENSE command": returns the pending unit attention (and clears
 * it), the sanitize state, or NO SENSE, in the format the DESC bit asks for.
 */
function executeRequestSense(ctx: ExecContext): Buffer {
  // SBC-4 "Sanitize operations": REQUEST SENSE reports SANITIZE IN PROGRESS (or a failed sanitize) when no UA is pending.
  const reason: SenseReason = ctx.lu.ua.take(ctx.nexus.key) ?? sanitizeGate(ctx.lu, ScsiOp.REQUEST_SENSE) ?? 'NO_SENSE';
  return encodeSense(reason, {}, ctx.p.flags ? 'descriptor' : 'fixed');
}

/** REQUEST SENSE to a LUN that does not exist: GOOD with LOGICAL UNIT NOT SUPPORTED sense data. */
export function requestSenseNoLun(cdb: Buffer): Buffer {
  const p = parseRequestSense(cdb);
  const format: SenseFormat = p.flags ? 'descriptor' : 'fixed';
  const data = encodeSense('LUN_NOT_SUPPORTED', {}, format);
  return data.length > p.dataInLength ? data.subarray(0, p.dataInLength) : data;
}

// ---- REPORT LUNS ---------------------------------------------------------

export function parseReportLuns(cdb: Buffer): ReturnType<typeof parsed> {
  const select = cdb.readUInt8(2);
  // SPC-4 "SELECT REPORT field": 00h, 01h, 02h (10h-12h administrative: none here).
  if (select > 0x02 && !(select >= 0x10 && select <= 0x12)) throw invalidField(2);
  checkControl(cdb, 11);
  return parsed(0, cdb.readUInt32BE(6), 0, 0, select);
}

/** SAM-5 "Single level LUN structure": peripheral device addressing below 256, flat space above. */
export function encodeLun(lun: number, out: Buffer, offset: number): void {
  if (lun < 256) {
    out.writeUInt8(0x00, offset);
    out.writeUInt8(lun, offset + 1);
  } else {
    out.writeUInt8(0x40 | ((lun >> 8) & 0x3f), offset);
    out.writeUInt8(lun & 0xff, offset + 1);
  }
}

/** SPC-4 "REPORT LUNS parameter data format". */
export function reportLunsData(select: number, luns: readonly number[]): Buffer {
  // 01h: well known LUs only (we have none); 10h-12h: administrative LUs (none).
  let list: readonly number[] = select === 0x00 || select === 0x02 ? luns : [];
  // SPC-4: LUN 0 must be reported when no other LU is accessible (SAM-5 "LUN 0"): LIO reports it too.
  if (list.length === 0 && (select === 0x00 || select === 0x02)) list = [0];
  const b = Buffer.alloc(8 + 8 * list.length);
  b.writeUInt32BE(8 * list.length, 0); // LUN LIST LENGTH
  list.forEach((lun, i) => encodeLun(lun, b, 8 + 8 * i));
  return b;
}

function executeReportLuns(ctx: ExecContext): Buffer {
  // SPC-4: REPORT LUNS clears a REPORTED LUNS DATA HAS CHANGED unit attention for the nexus.
  ctx.lu.ua.clear(ctx.nexus.key, 'REPORTED_LUNS_DATA_HAS_CHANGED');
  return reportLunsData(ctx.p.flags, ctx.port.luns());
}

// ---- MODE SENSE / MODE SELECT ---------------------------------------------

function parseModeSense6(cdb: Buffer) {
  checkReserved(cdb, 1, 0xf7);
  checkControl(cdb, 5);
  return parsed(0, cdb.readUInt8(4));
}

function parseModeSense10(cdb: Buffer) {
  checkReserved(cdb, 1, 0xe7);
  checkControl(cdb, 9);
  return parsed(0, cdb.readUInt16BE(7));
}

function parseModeSelect6(cdb: Buffer) {
  checkReserved(cdb, 1, 0xee);
  checkControl(cdb, 5);
  return parsed(cdb.readUInt8(4), 0);
}

function parseModeSelect10(cdb: Buffer) {
  checkReserved(cdb, 1, 0xee);
  checkControl(cdb, 9);
  return parsed(cdb.readUInt16BE(7), 0);
}

function executeModeSelect(ctx: ExecContext, ten: boolean): undefined {
  const param = ctx.req.dataOut ?? Buffer.alloc(0);
  if (modeSelect(ctx.lu, ctx.nexus, ctx.req.cdb, param, ten)) {
    // SPC-4 "Mode parameters changed": other I_T nexuses get MODE PARAMETERS CHANGED.
    ctx.lu.ua.establishAll('MODE_PARAMETERS_CHANGED', ctx.nexus.key);
  }
  return undefined;
}

// ---- REPORT TARGET PORT GROUPS --------------------------------------------

function parseRtpg(cdb: Buffer) {
  // SPC-4 "REPORT TARGET PORT GROUPS": PARAMETER DATA FORMAT 000b (length only) or 001b (extended header).
  const format = cdb.readUInt8(1) >> 5;
  if (format > 1) throw invalidField(1, 7);
  checkControl(cdb, 11);
  return parsed(0, cdb.readUInt32BE(6), 0, 0, format);
}

// ---- START STOP UNIT / PREVENT ALLOW MEDIUM REMOVAL ------------------------

function parseStartStop(cdb: Buffer) {
  checkReserved(cdb, 1, 0xfe);
  checkControl(cdb, 5);
  return parsed(0, 0);
}

function parsePreventAllow(cdb: Buffer) {
  checkReserved(cdb, 4, 0xfc);
  checkControl(cdb, 5);
  return parsed(0, 0);
}

// ---- RESERVE(6) / RELEASE(6) / PERSISTENT RESERVE IN/OUT --------------------

function parseReserveRelease6(cdb: Buffer) {
  // SPC-2 "RESERVE(6)": third-party and extent reservations are not supported.
  checkReserved(cdb, 1, 0x1f);
  checkControl(cdb, 5);
  return parsed(0, 0);
}

function parsePrIn(cdb: Buffer) {
  checkControl(cdb, 9);
  return parsed(0, cdb.readUInt16BE(7));
}

function parsePrOut(cdb: Buffer) {
  checkControl(cdb, 9);
  return parsed(cdb.readUInt32BE(5), 0);
}

function parseNoData6(cdb: Buffer) {
  checkControl(cdb, 5);
  return parsed(0, 0);
}

function testUnitReady(ctx: ExecContext): undefined {
  void ctx;
  return undefined;
}

function usage(op: number, len: number, ...bytes: number[]): number[] {
  const u = new Array<number>(len).fill(0);
  u[0] = op;
  bytes.forEach((b, i) => (u[i + 1] = b));
  return u;
}

export const SPC_COMMANDS: readonly CommandDescriptor[] = [
  {
    op: ScsiOp.TEST_UNIT_READY,
    name: 'TEST UNIT READY',
    usage: usage(ScsiOp.TEST_UNIT_READY, 6),
    alua: AluaAllowed.ACTIVE,
    parse: parseNoData6,
    execute: testUnitReady,
  },
  {
    op: ScsiOp.REQUEST_SENSE,
    name: 'REQUEST SENSE',
    usage: usage(ScsiOp.REQUEST_SENSE, 6, 0x01, 0, 0, 0xff, 0),
    alua: AluaAllowed.TRANSITIONING,
    pr: false,
    uaExempt: true,
    parse: parseRequestSense,
    execute: executeRequestSense,
  },
  {
    op: ScsiOp.INQUIRY,
    name: 'INQUIRY',
    usage: usage(ScsiOp.INQUIRY, 6, 0x01, 0xff, 0xff, 0xff, 0),
    alua: AluaAllowed.TRANSITIONING,
    pr: false,
    uaExempt: true,
    parse: parseInquiry,
    execute: executeInquiry,
  },
  {
    op: ScsiOp.REPORT_LUNS,
    name: 'REPORT LUNS',
    usage: usage(ScsiOp.REPORT_LUNS, 12, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
    alua: AluaAllowed.TRANSITIONING,
    pr: false,
    uaExempt: true,
    parse: parseReportLuns,
    execute: executeReportLuns,
  },
  {
    op: ScsiOp.MODE_SENSE_6,
    name: 'MODE SENSE(6)',
    usage: usage(ScsiOp.MODE_SENSE_6, 6, 0x08, 0xff, 0xff, 0xff, 0),
    alua: AluaAllowed.UNAVAILABLE,
    parse: parseModeSense6,
    execute: (ctx) => modeSense(ctx.lu, ctx.req.cdb, false),
  },
  {
    op: ScsiOp.MODE_SENSE_10,
    name: 'MODE SENSE(10)',
    usage: usage(ScsiOp.MODE_SENSE_10, 10, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0),
    alua: AluaAllowed.UNAVAILABLE,
    parse: parseModeSense10,
    execute: (ctx) => modeSense(ctx.lu, ctx.req.cdb, true),
  },
  {
    op: ScsiOp.MODE_SELECT_6,
    name: 'MODE SELECT(6)',
    usage: usage(ScsiOp.MODE_SELECT_6, 6, 0x11, 0, 0, 0xff, 0),
    alua: AluaAllowed.UNAVAILABLE,
    parse: parseModeSelect6,
    execute: (ctx) => executeModeSelect(ctx, false),
  },
  {
    op: ScsiOp.MODE_SELECT_10,
    name: 'MODE SELECT(10)',
    usage: usage(ScsiOp.MODE_SELECT_10, 10, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0),
    alua: AluaAllowed.UNAVAILABLE,
    parse: parseModeSelect10,
    execute: (ctx) => executeModeSelect(ctx, true),
  },
  {
    op: ScsiOp.MAINTENANCE_IN,
    sa: MaintenanceIn.REPORT_TARGET_PORT_GROUPS,
    name: 'REPORT TARGET PORT GROUPS',
    usage: usage(ScsiOp.MAINTENANCE_IN, 12, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
    alua: AluaAllowed.TRANSITIONING,
    pr: false,
    parse: parseRtpg,
    execute: (ctx) => reportTargetPortGroups(ctx.lu.aluaGroups(), ctx.p.flags === 1, ctx.lu.aluaAccess),
  },
  {
    op: ScsiOp.MAINTENANCE_OUT,
    sa: MaintenanceOut.SET_TARGET_PORT_GROUPS,
    name: 'SET TARGET PORT GROUPS',
    usage: usage(ScsiOp.MAINTENANCE_OUT, 12, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
    // SPC-4 "Standby state" and "Unavailable state" list it; "Transitions between target port
    // asymmetric access states" does not (LIO core_alua_state_transition refuses it too).
    alua: AluaAllowed.UNAVAILABLE,
    // Reservations: SPC-4 table "SPC commands that are allowed in the presence of various
    // reservations" has it conflict like a write (reservations.ts accessOf).
    available: (lu) => lu.aluaAccess === 'explicit',
    parse: parseSetTargetPortGroups,
    execute: executeSetTargetPortGroups,
  },
  {
    op: ScsiOp.START_STOP_UNIT,
    name: 'START STOP UNIT',
    usage: usage(ScsiOp.START_STOP_UNIT, 6, 0x01, 0, 0x0f, 0xf7, 0),
    alua: AluaAllowed.ACTIVE,
    // SBC-4: a non-removable medium has nothing to load or eject; stopping is a no-op for a virtual disk.
    parse: parseStartStop,
    execute: () => undefined,
  },
  {
    op: ScsiOp.PREVENT_ALLOW_MEDIUM_REMOVAL,
    name: 'PREVENT ALLOW MEDIUM REMOVAL',
    usage: usage(ScsiOp.PREVENT_ALLOW_MEDIUM_REMOVAL, 6, 0, 0, 0, 0x03, 0),
    alua: AluaAllowed.ACTIVE,
    // Non-removable medium: accepted and ignored (tgt); iscsi-test-cu PreventAllow skips when RMB=0.
    parse: parsePreventAllow,
    execute: () => undefined,
  },
  {
    op: ScsiOp.RESERVE_6,
    name: 'RESERVE(6)',
    usage: usage(ScsiOp.RESERVE_6, 6),
    alua: AluaAllowed.ACTIVE,
    parse: parseReserveRelease6,
    execute: (ctx) => (ctx.lu.pr.reserve6(ctx.nexus) === 'GOOD' ? undefined : RESERVATION_CONFLICT),
  },
  {
    op: ScsiOp.RELEASE_6,
    name: 'RELEASE(6)',
    usage: usage(ScsiOp.RELEASE_6, 6),
    alua: AluaAllowed.ACTIVE,
    parse: parseReserveRelease6,
    execute: (ctx) => {
      ctx.lu.pr.release6(ctx.nexus);
      return undefined;
    },
  },
  {
    op: ScsiOp.PERSISTENT_RESERVE_IN,
    name: 'PERSISTENT RESERVE IN',
    usage: usage(ScsiOp.PERSISTENT_RESERVE_IN, 10, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0),
    alua: AluaAllowed.STANDBY,
    parse: parsePrIn,
    execute: (ctx) => ctx.lu.pr.persistentReserveIn(ctx.nexus, ctx.req.cdb),
  },
  {
    op: ScsiOp.PERSISTENT_RESERVE_OUT,
    name: 'PERSISTENT RESERVE OUT',
    usage: usage(ScsiOp.PERSISTENT_RESERVE_OUT, 10, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0),
    alua: AluaAllowed.STANDBY,
    parse: parsePrOut,
    execute: async (ctx) => {
      const r = await ctx.lu.pr.persistentReserveOut(ctx.nexus, ctx.req.cdb, ctx.req.dataOut ?? Buffer.alloc(0));
      return r === 'GOOD' ? undefined : RESERVATION_CONFLICT;
    },
  },
];
