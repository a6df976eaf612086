/**
 * iSCSI PDU codec (RFC 7143 §11): pure functions over a discriminated union
 * on `opcode`. No sockets, no session state (pg-protocol parser/serializer
 * split). Both directions are decoded and encoded so tests and a test
 * initiator share the codec with the target.
 *
 * Conventions
 * - `lun` is the raw 8-byte LUN field as a bigint; decodeLun()/encodeLun()
 *   convert to/from a flat LU number (SAM single-level addressing).
 * - `isid` is the 6-byte ISID as a number (< 2^48, exact).
 * - `data` is a view: decode never copies it, encode never copies it (the
 *   writer adds padding and digests).
 * - Reserved fields are not checked: RFC 7143 §11.2 "any compliant receiver
 *   MUST ignore any bit not defined and all reserved fields unless specified
 *   otherwise". Decode rejects what would make the PDU meaningless.
 * - PDUs the target sends have optional fields with a zero default on
 *   encode; decode always fills every field.
 */
import { GatewayError } from '../util/errors.js';
import { EMPTY_BUFFER } from '../util/bytes.js';
import {
  AhsType,
  BHS_IMMEDIATE,
  BHS_LENGTH,
  BHS_OPCODE_MASK,
  Flag,
  IscsiOp,
  MAX_DATA_SEGMENT_LENGTH,
  RESERVED_TAG,
  RejectReason,
  opcodeName,
} from './constants.js';

// ---------------------------------------------------------------------------
// Errors

/**
 * A PDU that cannot be decoded. `reason` is the RFC 7143 §11.17.1 Reject
 * reason the session answers with (PROTOCOL_ERROR, INVALID_PDU_FIELD,
 * COMMAND_NOT_SUPPORTED).
 */
export class PduDecodeError extends GatewayError {
  readonly reason: RejectReason;
  constructor(reason: RejectReason, message: string) {
    super('ERR_ISCSI_PDU_DECODE', message);
    this.reason = reason;
  }
}

/** A PDU object that cannot be encoded (a programming error, never wire input). */
export class PduEncodeError extends GatewayError {
  constructor(message: string) {
    super('ERR_ISCSI_PDU_ENCODE', message);
  }
}

// ---------------------------------------------------------------------------
// PDU types: initiator → target (decode fills every field)

/** RFC 7143 §11.18 NOP-Out. */
export interface NopOutPdu {
  opcode: typeof IscsiOp.NOP_OUT;
  immediate: boolean;
  lun: bigint;
  initiatorTaskTag: number;
  targetTransferTag: number;
  cmdSN: number;
  expStatSN: number;
  /** Ping data (echoed in the NOP-In). */
  data: Buffer;
}

/** RFC 7143 §11.3 SCSI Command. */
export interface ScsiCommandPdu {
  opcode: typeof IscsiOp.SCSI_COMMAND;
  immediate: boolean;
  final: boolean;
  read: boolean;
  write: boolean;
  /** ATTR (0-7): TaskAttribute values. */
  taskAttribute: number;
  lun: bigint;
  initiatorTaskTag: number;
  expectedDataTransferLength: number;
  cmdSN: number;
  expStatSN: number;
  /** The CDB: a 16-byte view of the BHS, or the full CDB when an Extended CDB AHS is present. */
  cdb: Buffer;
  /** Bidirectional Read Data Length AHS (RFC 7143 §11.3.6), only when present. */
  bidiReadDataLength?: number;
  /** Immediate data. */
  data: Buffer;
}

/** RFC 7143 §11.5 Task Management Function Request. */
export interface TaskMgmtRequestPdu {
  opcode: typeof IscsiOp.TASK_MGMT_REQUEST;
  immediate: boolean;
  /** TmfFunctionCode (1-8; other values are answered with FUNCTION_REJECTED by the session). */
  function: number;
  lun: bigint;
  initiatorTaskTag: number;
  referencedTaskTag: number;
  cmdSN: number;
  expStatSN: number;
  refCmdSN: number;
  expDataSN: number;
}

/** RFC 7143 §11.12 Login Request. */
export interface LoginRequestPdu {
  opcode: typeof IscsiOp.LOGIN_REQUEST;
  transit: boolean;
  continue: boolean;
  /** Current stage (LoginStage; never 2). */
  csg: number;
  /** Next stage (LoginStage; meaningful only when transit). */
  nsg: number;
  versionMax: number;
  versionMin: number;
  isid: number;
  tsih: number;
  initiatorTaskTag: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
  /** Text key=value pairs (text.ts). */
  data: Buffer;
}

/** RFC 7143 §11.10 Text Request. */
export interface TextRequestPdu {
  opcode: typeof IscsiOp.TEXT_REQUEST;
  immediate: boolean;
  final: boolean;
  continue: boolean;
  lun: bigint;
  initiatorTaskTag: number;
  targetTransferTag: number;
  cmdSN: number;
  expStatSN: number;
  data: Buffer;
}

/** RFC 7143 §11.7 SCSI Data-Out. */
export interface DataOutPdu {
  opcode: typeof IscsiOp.SCSI_DATA_OUT;
  final: boolean;
  lun: bigint;
  initiatorTaskTag: number;
  targetTransferTag: number;
  expStatSN: number;
  dataSN: number;
  bufferOffset: number;
  data: Buffer;
}

/** RFC 7143 §11.14 Logout Request. */
export interface LogoutRequestPdu {
  opcode: typeof IscsiOp.LOGOUT_REQUEST;
  immediate: boolean;
  /** LogoutReason. */
  reasonCode: number;
  initiatorTaskTag: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
}

/** RFC 7143 §11.16 SNACK Request (we run ErrorRecoveryLevel 0: decoded to be rejected). */
export interface SnackRequestPdu {
  opcode: typeof IscsiOp.SNACK_REQUEST;
  /** SnackType. */
  type: number;
  lun: bigint;
  initiatorTaskTag: number;
  /** Target Transfer Tag or SNACK Tag. */
  targetTransferTag: number;
  expStatSN: number;
  begRun: number;
  runLength: number;
}

// ---------------------------------------------------------------------------
// PDU types: target → initiator (optional fields default to 0/false on encode)

/** RFC 7143 §11.19 NOP-In. */
export interface NopInPdu {
  opcode: typeof IscsiOp.NOP_IN;
  lun?: bigint;
  initiatorTaskTag: number;
  targetTransferTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  data?: Buffer;
}

/** RFC 7143 §11.4 SCSI Response. */
export interface ScsiResponsePdu {
  opcode: typeof IscsiOp.SCSI_RESPONSE;
  bidiReadResidualOverflow?: boolean;
  bidiReadResidualUnderflow?: boolean;
  residualOverflow?: boolean;
  residualUnderflow?: boolean;
  /** ScsiResponseCode. */
  response: number;
  /** SAM status. */
  status: number;
  initiatorTaskTag: number;
  snackTag?: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  expDataSN?: number;
  bidiReadResidualCount?: number;
  residualCount?: number;
  /**
   * Sense data (RFC 7143 §11.4.7): encoded as SenseLength (2 bytes) + sense.
   * Absent → empty data segment.
   */
  sense?: Buffer;
}

/** RFC 7143 §11.6 Task Management Function Response. */
export interface TaskMgmtResponsePdu {
  opcode: typeof IscsiOp.TASK_MGMT_RESPONSE;
  /** TmfResponse. */
  response: number;
  initiatorTaskTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

/** RFC 7143 §11.13 Login Response. */
export interface LoginResponsePdu {
  opcode: typeof IscsiOp.LOGIN_RESPONSE;
  transit: boolean;
  continue: boolean;
  csg: number;
  nsg: number;
  versionMax?: number;
  versionActive?: number;
  isid: number;
  tsih: number;
  initiatorTaskTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  statusClass: number;
  statusDetail: number;
  data?: Buffer;
}

/** RFC 7143 §11.11 Text Response. */
export interface TextResponsePdu {
  opcode: typeof IscsiOp.TEXT_RESPONSE;
  final: boolean;
  continue: boolean;
  lun?: bigint;
  initiatorTaskTag: number;
  targetTransferTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  data?: Buffer;
}

/** RFC 7143 §11.7 SCSI Data-In. */
export interface DataInPdu {
  opcode: typeof IscsiOp.SCSI_DATA_IN;
  final: boolean;
  acknowledge?: boolean;
  residualOverflow?: boolean;
  residualUnderflow?: boolean;
  /** S bit: status is carried in this PDU (phase collapse, RFC 7143 §11.7.4). Requires final. */
  statusPresent?: boolean;
  /** SAM status; meaningful only when statusPresent. */
  status?: number;
  lun?: bigint;
  initiatorTaskTag: number;
  /** RESERVED_TAG unless acknowledge (defaults to 0xffffffff on encode). */
  targetTransferTag?: number;
  /** Meaningful only when statusPresent. */
  statSN?: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  bufferOffset: number;
  residualCount?: number;
  data: Buffer;
}

/** RFC 7143 §11.15 Logout Response. */
export interface LogoutResponsePdu {
  opcode: typeof IscsiOp.LOGOUT_RESPONSE;
  /** LogoutResponseCode. */
  response: number;
  initiatorTaskTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  time2Wait?: number;
  time2Retain?: number;
}

/** RFC 7143 §11.8 Ready To Transfer. */
export interface R2tPdu {
  opcode: typeof IscsiOp.R2T;
  lun: bigint;
  initiatorTaskTag: number;
  targetTransferTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  r2tSN: number;
  bufferOffset: number;
  desiredDataTransferLength: number;
}

/** RFC 7143 §11.9 Asynchronous Message. */
export interface AsyncMessagePdu {
  opcode: typeof IscsiOp.ASYNC_MESSAGE;
  lun?: bigint;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  /** AsyncEvent. */
  asyncEvent: number;
  asyncVCode?: number;
  parameter1?: number;
  parameter2?: number;
  parameter3?: number;
  /** Sense data (SCSI async event); data segment = SenseLength + sense + eventData. */
  sense?: Buffer;
  /** iSCSI event data after the sense data. */
  eventData?: Buffer;
}

/** RFC 7143 §11.17 Reject. */
export interface RejectPdu {
  opcode: typeof IscsiOp.REJECT;
  /** RejectReason. */
  reason: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  /** DataSN/R2TSN (only for SNACK rejects); 0 otherwise. */
  dataSN?: number;
  /** The complete header (BHS) of the rejected PDU. */
  data: Buffer;
}

export type InitiatorPdu =
  | NopOutPdu
  | ScsiCommandPdu
  | TaskMgmtRequestPdu
  | LoginRequestPdu
  | TextRequestPdu
  | DataOutPdu
  | LogoutRequestPdu
  | SnackRequestPdu;

export type TargetPdu =
  | NopInPdu
  | ScsiResponsePdu
  | TaskMgmtResponsePdu
  | LoginResponsePdu
  | TextResponsePdu
  | DataInPdu
  | LogoutResponsePdu
  | R2tPdu
  | AsyncMessagePdu
  | RejectPdu;

export type Pdu = InitiatorPdu | TargetPdu;

/** The encoded form: `bhs` is the 48-byte BHS followed by any AHS; `data` excludes padding. */
export interface EncodedPdu {
  bhs: Buffer;
  data: Buffer | undefined;
}

// ---------------------------------------------------------------------------
// BHS helpers (valid on any 48-byte BHS)

/** Opcode (6 bits) of byte 0. */
export function opcodeOf(bhs: Buffer): number {
  return bhs.readUInt8(0) & BHS_OPCODE_MASK;
}

/** I bit (immediate delivery) of byte 0. */
export function isImmediate(bhs: Buffer): boolean {
  return (bhs.readUInt8(0) & BHS_IMMEDIATE) !== 0;
}

/** TotalAHSLength in bytes (the field counts 4-byte words; RFC 7143 §11.2.1.4). */
export function totalAhsLength(bhs: Buffer): number {
  return bhs.readUInt8(4) * 4;
}

/** DataSegmentLength in bytes, excluding padding (RFC 7143 §11.2.1.5). */
export function dataSegmentLength(bhs: Buffer): number {
  return bhs.readUIntBE(5, 3);
}

/** Initiator Task Tag (bytes 16-19) of any BHS. */
export function initiatorTaskTagOf(bhs: Buffer): number {
  return bhs.readUInt32BE(16);
}

// ---------------------------------------------------------------------------
// LUN (SAM-5 "Single level LUN structure")

const LUN_NONE = -1;

/**
 * The LU number of an 8-byte LUN field (bigint or Buffer): peripheral device
 * addressing (00b, bus 0) or flat space addressing (01b), single level.
 * Anything else (other buses, extended/logical unit addressing, second-level
 * bytes) returns -1: the caller answers LOGICAL UNIT NOT SUPPORTED.
 */
export function decodeLun(lun: bigint | Buffer): number {
  let v: bigint;
  if (typeof lun === 'bigint') v = lun;
  else {
    if (lun.length !== 8) return LUN_NONE;
    v = lun.readBigUInt64BE(0);
  }
  if ((v & 0xffffffffffffn) !== 0n) return LUN_NONE; // levels 2-4 must be zero
  const top = Number(v >> 48n) & 0xffff;
  const method = top >>> 14;
  if (method === 0) {
    // SAM-5 "Peripheral device addressing": byte 0 = 00b | BUS IDENTIFIER, byte 1 = TARGET OR LUN
    return (top >>> 8) === 0 ? top & 0xff : LUN_NONE;
  }
  if (method === 1) return top & 0x3fff; // "Flat space addressing": 14-bit LUN
  return LUN_NONE;
}

/**
 * The 8-byte LUN field for LU number n (0..16383): LUN < 256 → peripheral
 * addressing (00b), else flat space addressing (01b), as Linux and LIO do.
 */
export function encodeLun(n: number): bigint {
  if (!Number.isInteger(n) || n < 0 || n > 0x3fff) throw new RangeError(`LUN out of range: ${n}`);
  const top = n < 256 ? n : 0x4000 | n;
  return BigInt(top) << 48n;
}

/** encodeLun() as an 8-byte Buffer. */
export function encodeLunBuffer(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(encodeLun(n), 0);
  return b;
}

// ---------------------------------------------------------------------------
// Decode

const protocolError = (msg: string): PduDecodeError => new PduDecodeError(RejectReason.PROTOCOL_ERROR, msg);
const invalidField = (msg: string): PduDecodeError => new PduDecodeError(RejectReason.INVALID_PDU_FIELD, msg);

/**
 * Decodes one PDU. `bhs` must be 48 bytes, `ahs` the TotalAHSLength bytes
 * after it, `data` the data segment without padding (the framer guarantees
 * the lengths match the header; decode re-checks). Throws PduDecodeError only.
 */
export function decodePdu(bhs: Buffer, ahs: Buffer, data: Buffer): Pdu {
  if (bhs.length !== BHS_LENGTH) throw protocolError(`BHS must be ${BHS_LENGTH} bytes, got ${bhs.length}`);
  if (ahs.length !== totalAhsLength(bhs))
    throw protocolError(`AHS length ${ahs.length} does not match TotalAHSLength ${totalAhsLength(bhs)}`);
  if (data.length !== dataSegmentLength(bhs))
    throw protocolError(`data length ${data.length} does not match DataSegmentLength ${dataSegmentLength(bhs)}`);
  const op = opcodeOf(bhs);
  // RFC 7143 §11.2.1.4: "The TotalAHSLength is only used in PDUs that have an AHS
  // and MUST be 0 in all other PDUs" — only the SCSI Command defines AHS types.
  if (ahs.length !== 0 && op !== IscsiOp.SCSI_COMMAND)
    throw protocolError(`${opcodeName(op)} must not carry an AHS`);
  switch (op) {
    case IscsiOp.NOP_OUT:
      return decodeNopOut(bhs, data);
    case IscsiOp.SCSI_COMMAND:
      return decodeScsiCommand(bhs, ahs, data);
    case IscsiOp.TASK_MGMT_REQUEST:
      return decodeTaskMgmtRequest(bhs, data);
    case IscsiOp.LOGIN_REQUEST:
      return decodeLoginRequest(bhs, data);
    case IscsiOp.TEXT_REQUEST:
      return decodeTextRequest(bhs, data);
    case IscsiOp.SCSI_DATA_OUT:
      return decodeDataOut(bhs, data);
    case IscsiOp.LOGOUT_REQUEST:
      return decodeLogoutRequest(bhs, data);
    case IscsiOp.SNACK_REQUEST:
      return decodeSnackRequest(bhs, data);
    case IscsiOp.NOP_IN:
      return decodeNopIn(bhs, data);
    case IscsiOp.SCSI_RESPONSE:
      return decodeScsiResponse(bhs, data);
    case IscsiOp.TASK_MGMT_RESPONSE:
      return decodeTaskMgmtResponse(bhs, data);
    case IscsiOp.LOGIN_RESPONSE:
      return decodeLoginResponse(bhs, data);
    case IscsiOp.TEXT_RESPONSE:
      return decodeTextResponse(bhs, data);
    case IscsiOp.SCSI_DATA_IN:
      return decodeDataIn(bhs, data);
    case IscsiOp.LOGOUT_RESPONSE:
      return decodeLogoutResponse(bhs, data);
    case IscsiOp.R2T:
      return decodeR2t(bhs, data);
    case IscsiOp.ASYNC_MESSAGE:
      return decodeAsyncMessage(bhs, data);
    case IscsiOp.REJECT:
      return decodeReject(bhs, data);
    default:
      // RFC 7143 §11.17.1: "Command not supported" for an opcode the target does not implement.
      throw new PduDecodeError(RejectReason.COMMAND_NOT_SUPPORTED, `unsupported opcode ${opcodeName(op)}`);
  }
}

function noData(name: string, data: Buffer): void {
  // RFC 7143: the PDU layout has DataSegmentLength 0 for this opcode.
  if (data.length !== 0) throw protocolError(`${name} must not carry a data segment`);
}

function flags(bhs: Buffer): number {
  return bhs.readUInt8(1);
}

export function decodeNopOut(bhs: Buffer, data: Buffer): NopOutPdu {
  return {
    opcode: IscsiOp.NOP_OUT,
    immediate: isImmediate(bhs),
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    targetTransferTag: bhs.readUInt32BE(20),
    cmdSN: bhs.readUInt32BE(24),
    expStatSN: bhs.readUInt32BE(28),
    data,
  };
}

export function decodeScsiCommand(bhs: Buffer, ahs: Buffer, data: Buffer): ScsiCommandPdu {
  const f = flags(bhs);
  let cdb = bhs.subarray(32, 48);
  let bidi: number | undefined;
  // RFC 7143 §11.2.2 AHS: AHSLength (2) | AHSType (1) | AHS-Specific (1) | data, each AHS padded to 4.
  let off = 0;
  while (off < ahs.length) {
    if (ahs.length - off < 4) throw protocolError('truncated AHS');
    const len = ahs.readUInt16BE(off);
    const type = ahs.readUInt8(off + 2) & 0x3f;
    // RFC 7143 §11.2.2.2: AHSLength is "the effective length in bytes of the AHS, excluding AHSType and
    // AHSLength and padding": it counts from the AHS-Specific byte (offset 3) on.
    const end = off + 3 + len;
    if (len === 0 || end > ahs.length) throw protocolError(`AHS length ${len} overruns TotalAHSLength`);
    if (type === AhsType.EXTENDED_CDB) {
      // RFC 7143 §11.3.5: AHSLength = CDB length - 15; the extended part starts at byte 4.
      if (cdb.length !== 16) throw protocolError('duplicate Extended CDB AHS');
      if (len < 2) throw protocolError('empty Extended CDB AHS');
      const ext = ahs.subarray(off + 4, end);
      const full = Buffer.allocUnsafe(16 + ext.length);
      bhs.copy(full, 0, 32, 48);
      ext.copy(full, 16);
      cdb = full;
    } else if (type === AhsType.BIDI_READ_DATA_LENGTH) {
      // RFC 7143 §11.3.6: AHSLength = 0x0005, reserved byte, then 4-byte length.
      if (len !== 5) throw protocolError(`Bidirectional Read Data Length AHS length ${len} != 5`);
      bidi = ahs.readUInt32BE(off + 4);
    } else {
      throw invalidField(`unknown AHS type ${type}`);
    }
    off += (3 + len + 3) & ~3;
  }
  const pdu: ScsiCommandPdu = {
    opcode: IscsiOp.SCSI_COMMAND,
    immediate: isImmediate(bhs),
    final: (f & Flag.FINAL) !== 0,
    read: (f & Flag.READ) !== 0,
    write: (f & Flag.WRITE) !== 0,
    taskAttribute: f & Flag.ATTR_MASK,
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    expectedDataTransferLength: bhs.readUInt32BE(20),
    cmdSN: bhs.readUInt32BE(24),
    expStatSN: bhs.readUInt32BE(28),
    cdb,
    data,
  };
  if (bidi !== undefined) pdu.bidiReadDataLength = bidi;
  return pdu;
}

export function decodeTaskMgmtRequest(bhs: Buffer, data: Buffer): TaskMgmtRequestPdu {
  noData('Task Management Function Request', data);
  return {
    opcode: IscsiOp.TASK_MGMT_REQUEST,
    immediate: isImmediate(bhs),
    function: flags(bhs) & Flag.FUNCTION_MASK,
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    referencedTaskTag: bhs.readUInt32BE(20),
    cmdSN: bhs.readUInt32BE(24),
    expStatSN: bhs.readUInt32BE(28),
    refCmdSN: bhs.readUInt32BE(32),
    expDataSN: bhs.readUInt32BE(36),
  };
}

function loginStages(f: number, name: string): { transit: boolean; continue: boolean; csg: number; nsg: number } {
  const transit = (f & Flag.TRANSIT) !== 0;
  const cont = (f & Flag.CONTINUE) !== 0;
  const csg = (f & Flag.CSG_MASK) >>> 2;
  const nsg = f & Flag.NSG_MASK;
  // RFC 7143 §11.12.2: "If the C bit is set to 1, the T bit MUST be 0."
  if (transit && cont) throw protocolError(`${name}: T and C bits both set`);
  // RFC 7143 §11.12.3: stage 2 is reserved.
  if (csg === 2) throw invalidField(`${name}: reserved CSG 2`);
  if (transit && nsg === 2) throw invalidField(`${name}: reserved NSG 2`);
  return { transit, continue: cont, csg, nsg };
}

export function decodeLoginRequest(bhs: Buffer, data: Buffer): LoginRequestPdu {
  const s = loginStages(flags(bhs), 'Login Request');
  return {
    opcode: IscsiOp.LOGIN_REQUEST,
    transit: s.transit,
    continue: s.continue,
    csg: s.csg,
    nsg: s.nsg,
    versionMax: bhs.readUInt8(2),
    versionMin: bhs.readUInt8(3),
    isid: bhs.readUIntBE(8, 6),
    tsih: bhs.readUInt16BE(14),
    initiatorTaskTag: bhs.readUInt32BE(16),
    cid: bhs.readUInt16BE(20),
    cmdSN: bhs.readUInt32BE(24),
    expStatSN: bhs.readUInt32BE(28),
    data,
  };
}

export function decodeTextRequest(bhs: Buffer, data: Buffer): TextRequestPdu {
  const f = flags(bhs);
  const final = (f & Flag.FINAL) !== 0;
  const cont = (f & Flag.CONTINUE) !== 0;
  // RFC 7143 §11.10.2: "If the C bit is set to 1, the F bit MUST be set to 0."
  if (final && cont) throw protocolError('Text Request: F and C bits both set');
  return {
    opcode: IscsiOp.TEXT_REQUEST,
    immediate: isImmediate(bhs),
    final,
    continue: cont,
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    targetTransferTag: bhs.readUInt32BE(20),
    cmdSN: bhs.readUInt32BE(24),
    expStatSN: bhs.readUInt32BE(28),
    data,
  };
}

export function decodeDataOut(bhs: Buffer, data: Buffer): DataOutPdu {
  return {
    opcode: IscsiOp.SCSI_DATA_OUT,
    final: (flags(bhs) & Flag.FINAL) !== 0,
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    targetTransferTag: bhs.readUInt32BE(20),
    expStatSN: bhs.readUInt32BE(28),
    dataSN: bhs.readUInt32BE(36),
    bufferOffset: bhs.readUInt32BE(40),
    data,
  };
}

export function decodeLogoutRequest(bhs: Buffer, data: Buffer): LogoutRequestPdu {
  noData('Logout Request', data);
  return {
    opcode: IscsiOp.LOGOUT_REQUEST,
    immediate: isImmediate(bhs),
    reasonCode: flags(bhs) & Flag.FUNCTION_MASK,
    initiatorTaskTag: bhs.readUInt32BE(16),
    cid: bhs.readUInt16BE(20),
    cmdSN: bhs.readUInt32BE(24),
    expStatSN: bhs.readUInt32BE(28),
  };
}

export function decodeSnackRequest(bhs: Buffer, data: Buffer): SnackRequestPdu {
  noData('SNACK Request', data);
  return {
    opcode: IscsiOp.SNACK_REQUEST,
    type: flags(bhs) & Flag.SNACK_TYPE_MASK,
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    targetTransferTag: bhs.readUInt32BE(20),
    expStatSN: bhs.readUInt32BE(28),
    begRun: bhs.readUInt32BE(40),
    runLength: bhs.readUInt32BE(44),
  };
}

export function decodeNopIn(bhs: Buffer, data: Buffer): NopInPdu {
  return {
    opcode: IscsiOp.NOP_IN,
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    targetTransferTag: bhs.readUInt32BE(20),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
    data,
  };
}

/** Splits SenseLength (2 bytes) + sense + rest (RFC 7143 §11.4.7.2). */
function splitSense(data: Buffer, name: string): { sense: Buffer | undefined; rest: Buffer } {
  if (data.length === 0) return { sense: undefined, rest: EMPTY_BUFFER };
  if (data.length < 2) throw protocolError(`${name}: data segment too short for SenseLength`);
  const len = data.readUInt16BE(0);
  if (2 + len > data.length) throw protocolError(`${name}: SenseLength ${len} exceeds the data segment`);
  return { sense: data.subarray(2, 2 + len), rest: data.subarray(2 + len) };
}

export function decodeScsiResponse(bhs: Buffer, data: Buffer): ScsiResponsePdu {
  const f = flags(bhs);
  const pdu: ScsiResponsePdu = {
    opcode: IscsiOp.SCSI_RESPONSE,
    bidiReadResidualOverflow: (f & Flag.BIDI_OVERFLOW) !== 0,
    bidiReadResidualUnderflow: (f & Flag.BIDI_UNDERFLOW) !== 0,
    residualOverflow: (f & Flag.OVERFLOW) !== 0,
    residualUnderflow: (f & Flag.UNDERFLOW) !== 0,
    response: bhs.readUInt8(2),
    status: bhs.readUInt8(3),
    initiatorTaskTag: bhs.readUInt32BE(16),
    snackTag: bhs.readUInt32BE(20),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
    expDataSN: bhs.readUInt32BE(36),
    bidiReadResidualCount: bhs.readUInt32BE(40),
    residualCount: bhs.readUInt32BE(44),
  };
  // RFC 7143 §11.4.5.1: "Bits O and U ... are mutually exclusive" (likewise o and u).
  if (pdu.residualOverflow === true && pdu.residualUnderflow === true)
    throw protocolError('SCSI Response: O and U both set');
  if (pdu.bidiReadResidualOverflow === true && pdu.bidiReadResidualUnderflow === true)
    throw protocolError('SCSI Response: o and u both set');
  const { sense } = splitSense(data, 'SCSI Response');
  if (sense !== undefined) pdu.sense = sense;
  return pdu;
}

export function decodeTaskMgmtResponse(bhs: Buffer, data: Buffer): TaskMgmtResponsePdu {
  noData('Task Management Function Response', data);
  return {
    opcode: IscsiOp.TASK_MGMT_RESPONSE,
    response: bhs.readUInt8(2),
    initiatorTaskTag: bhs.readUInt32BE(16),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
  };
}

export function decodeLoginResponse(bhs: Buffer, data: Buffer): LoginResponsePdu {
  const s = loginStages(flags(bhs), 'Login Response');
  return {
    opcode: IscsiOp.LOGIN_RESPONSE,
    transit: s.transit,
    continue: s.continue,
    csg: s.csg,
    nsg: s.nsg,
    versionMax: bhs.readUInt8(2),
    versionActive: bhs.readUInt8(3),
    isid: bhs.readUIntBE(8, 6),
    tsih: bhs.readUInt16BE(14),
    initiatorTaskTag: bhs.readUInt32BE(16),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
    statusClass: bhs.readUInt8(36),
    statusDetail: bhs.readUInt8(37),
    data,
  };
}

export function decodeTextResponse(bhs: Buffer, data: Buffer): TextResponsePdu {
  const f = flags(bhs);
  const final = (f & Flag.FINAL) !== 0;
  const cont = (f & Flag.CONTINUE) !== 0;
  // RFC 7143 §11.11.2: "If the C bit is set to 1, the F bit MUST be set to 0."
  if (final && cont) throw protocolError('Text Response: F and C bits both set');
  return {
    opcode: IscsiOp.TEXT_RESPONSE,
    final,
    continue: cont,
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    targetTransferTag: bhs.readUInt32BE(20),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
    data,
  };
}

export function decodeDataIn(bhs: Buffer, data: Buffer): DataInPdu {
  const f = flags(bhs);
  const final = (f & Flag.FINAL) !== 0;
  const statusPresent = (f & Flag.STATUS) !== 0;
  // RFC 7143 §11.7.4: "If the S bit is set to 1, the F bit MUST also be set to 1."
  if (statusPresent && !final) throw protocolError('Data-In: S bit set without F bit');
  const pdu: DataInPdu = {
    opcode: IscsiOp.SCSI_DATA_IN,
    final,
    acknowledge: (f & Flag.ACKNOWLEDGE) !== 0,
    residualOverflow: (f & Flag.OVERFLOW) !== 0,
    residualUnderflow: (f & Flag.UNDERFLOW) !== 0,
    statusPresent,
    status: bhs.readUInt8(3),
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    targetTransferTag: bhs.readUInt32BE(20),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
    dataSN: bhs.readUInt32BE(36),
    bufferOffset: bhs.readUInt32BE(40),
    residualCount: bhs.readUInt32BE(44),
    data,
  };
  if (pdu.residualOverflow === true && pdu.residualUnderflow === true)
    throw protocolError('Data-In: O and U both set');
  return pdu;
}

export function decodeLogoutResponse(bhs: Buffer, data: Buffer): LogoutResponsePdu {
  noData('Logout Response', data);
  return {
    opcode: IscsiOp.LOGOUT_RESPONSE,
    response: bhs.readUInt8(2),
    initiatorTaskTag: bhs.readUInt32BE(16),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
    time2Wait: bhs.readUInt16BE(40),
    time2Retain: bhs.readUInt16BE(42),
  };
}

export function decodeR2t(bhs: Buffer, data: Buffer): R2tPdu {
  noData('R2T', data);
  return {
    opcode: IscsiOp.R2T,
    lun: bhs.readBigUInt64BE(8),
    initiatorTaskTag: bhs.readUInt32BE(16),
    targetTransferTag: bhs.readUInt32BE(20),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
    r2tSN: bhs.readUInt32BE(36),
    bufferOffset: bhs.readUInt32BE(40),
    desiredDataTransferLength: bhs.readUInt32BE(44),
  };
}

export function decodeAsyncMessage(bhs: Buffer, data: Buffer): AsyncMessagePdu {
  const pdu: AsyncMessagePdu = {
    opcode: IscsiOp.ASYNC_MESSAGE,
    lun: bhs.readBigUInt64BE(8),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
    asyncEvent: bhs.readUInt8(36),
    asyncVCode: bhs.readUInt8(37),
    parameter1: bhs.readUInt16BE(38),
    parameter2: bhs.readUInt16BE(40),
    parameter3: bhs.readUInt16BE(42),
  };
  const { sense, rest } = splitSense(data, 'Async Message');
  if (sense !== undefined) {
    pdu.sense = sense;
    pdu.eventData = rest;
  }
  return pdu;
}

export function decodeReject(bhs: Buffer, data: Buffer): RejectPdu {
  return {
    opcode: IscsiOp.REJECT,
    reason: bhs.readUInt8(2),
    statSN: bhs.readUInt32BE(24),
    expCmdSN: bhs.readUInt32BE(28),
    maxCmdSN: bhs.readUInt32BE(32),
    dataSN: bhs.readUInt32BE(36),
    data,
  };
}

// ---------------------------------------------------------------------------
// Encode
//
// Encoders write straight into a caller's buffer through a DataView (the
// writer's arena: no per-PDU allocation on the hot path); encodePdu() is the
// allocating convenience wrapper. Every field is range-checked: a value that
// does not fit throws PduEncodeError instead of being silently truncated.

const U64_MAX = (1n << 64n) - 1n;
const ISID_LIMIT = 2 ** 48;

function badField(name: string, v: unknown): PduEncodeError {
  return new PduEncodeError(`${name} out of range: ${String(v)}`);
}
function w8(dv: DataView, o: number, v: number, name: string): void {
  if ((v & 0xff) !== v) throw badField(name, v);
  dv.setUint8(o, v);
}
function w16(dv: DataView, o: number, v: number, name: string): void {
  if ((v & 0xffff) !== v) throw badField(name, v);
  dv.setUint16(o, v);
}
function w32(dv: DataView, o: number, v: number, name: string): void {
  if (v >>> 0 !== v) throw badField(name, v);
  dv.setUint32(o, v);
}
function w64(dv: DataView, o: number, v: bigint, name: string): void {
  if (v !== 0n && (v < 0n || v > U64_MAX)) throw badField(name, v);
  dv.setBigUint64(o, v);
}
function w48(dv: DataView, o: number, v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= ISID_LIMIT) throw badField(name, v);
  dv.setUint16(o, Math.floor(v / 0x100000000));
  dv.setUint32(o + 2, v >>> 0);
}

/** Zeroes the header region and sets byte 0, byte 1, TotalAHSLength and DataSegmentLength. */
function start(
  u8: Buffer,
  dv: DataView,
  o: number,
  byte0: number,
  byte1: number,
  dataLength: number,
  ahsBytes: number,
): void {
  // RFC 7143 §11.2.1.5: DataSegmentLength is 24 bits.
  if (dataLength > MAX_DATA_SEGMENT_LENGTH)
    throw new PduEncodeError(`data segment of ${dataLength} bytes exceeds the 24-bit DataSegmentLength`);
  // Word stores instead of Buffer#fill: fill() is a slow generic path for 48 bytes.
  dv.setUint32(o, ((byte0 << 24) | (byte1 << 16)) >>> 0);
  dv.setUint32(o + 4, ((ahsBytes >>> 2) << 24) | dataLength);
  for (let k = o + 8; k < o + BHS_LENGTH; k += 4) dv.setUint32(k, 0);
  if (ahsBytes !== 0) u8.fill(0, o + BHS_LENGTH, o + BHS_LENGTH + ahsBytes);
}

const bit = (cond: boolean | undefined, mask: number): number => (cond === true ? mask : 0);
const imm = (i: boolean): number => (i ? BHS_IMMEDIATE : 0);
const dataOf = (d: Buffer | undefined): Buffer | undefined => (d === undefined || d.length === 0 ? undefined : d);
const dlen = (d: Buffer | undefined): number => (d === undefined ? 0 : d.length);

/** SenseLength (2 bytes) + sense + trailing bytes; undefined when there is no sense (RFC 7143 §11.4.7.2). */
function senseSegment(sense: Buffer | undefined, trailing: Buffer | undefined): Buffer | undefined {
  if (sense === undefined) return undefined;
  if (sense.length > 0xffff) throw badField('SenseLength', sense.length);
  const tl = trailing === undefined ? 0 : trailing.length;
  const b = Buffer.allocUnsafe(2 + sense.length + tl);
  b.writeUInt16BE(sense.length, 0);
  sense.copy(b, 2);
  if (trailing !== undefined) trailing.copy(b, 2 + sense.length);
  return b;
}

/** AHS bytes a SCSI Command needs: Extended CDB (RFC 7143 §11.3.5) and Bidirectional Read Data Length (§11.3.6). */
function scsiCommandAhsLength(p: ScsiCommandPdu): number {
  const ext = p.cdb.length > 16 ? (4 + p.cdb.length - 16 + 3) & ~3 : 0;
  return ext + (p.bidiReadDataLength !== undefined ? 8 : 0);
}

/** Bytes of BHS + AHS that encodePduInto() writes for `pdu` (48 except SCSI Commands with AHS). */
export function headerLength(pdu: Pdu): number {
  return pdu.opcode === IscsiOp.SCSI_COMMAND ? BHS_LENGTH + scsiCommandAhsLength(pdu) : BHS_LENGTH;
}

/** Encodes any PDU into a fresh buffer. Throws PduEncodeError on values that do not fit their fields. */
export function encodePdu(pdu: Pdu): EncodedPdu {
  const b = Buffer.allocUnsafe(headerLength(pdu));
  const data = encodePduInto(pdu, b, 0, new DataView(b.buffer, b.byteOffset, b.length));
  return { bhs: b, data };
}

/** Hot-path wrapper kept for callers that encode one type. */
export function encodeScsiResponse(pdu: ScsiResponsePdu): EncodedPdu {
  return encodePdu(pdu);
}

/** Hot-path wrapper kept for callers that encode one type. `data` stays a view. */
export function encodeDataIn(pdu: DataInPdu): EncodedPdu {
  return encodePdu(pdu);
}

/**
 * Writes the BHS (+ AHS) of `pdu` at `offset` in `target` (headerLength(pdu)
 * bytes; `view` is a DataView over exactly `target`'s bytes) and returns the
 * data segment to send after it: the caller's view, or a small new buffer for
 * sense-bearing PDUs; undefined when there is none. Padding and digests are
 * the writer's job. Throws PduEncodeError (target bytes may then be partly written).
 */
export function encodePduInto(pdu: Pdu, target: Buffer, offset: number, view: DataView): Buffer | undefined {
  const u8 = target;
  const dv = view;
  const o = offset;
  switch (pdu.opcode) {
    case IscsiOp.NOP_OUT: {
      const data = dataOf(pdu.data);
      start(u8, dv, o, imm(pdu.immediate) | IscsiOp.NOP_OUT, Flag.FINAL, dlen(data), 0);
      w64(dv, o + 8, pdu.lun, 'LUN');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 20, pdu.targetTransferTag, 'TTT');
      w32(dv, o + 24, pdu.cmdSN, 'CmdSN');
      w32(dv, o + 28, pdu.expStatSN, 'ExpStatSN');
      return data;
    }
    case IscsiOp.SCSI_COMMAND:
      return encodeScsiCommandInto(pdu, u8, dv, o);
    case IscsiOp.TASK_MGMT_REQUEST: {
      if ((pdu.function & 0x7f) !== pdu.function) throw badField('Function', pdu.function);
      start(u8, dv, o, imm(pdu.immediate) | IscsiOp.TASK_MGMT_REQUEST, Flag.FINAL | pdu.function, 0, 0);
      w64(dv, o + 8, pdu.lun, 'LUN');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 20, pdu.referencedTaskTag, 'Referenced Task Tag');
      w32(dv, o + 24, pdu.cmdSN, 'CmdSN');
      w32(dv, o + 28, pdu.expStatSN, 'ExpStatSN');
      w32(dv, o + 32, pdu.refCmdSN, 'RefCmdSN');
      w32(dv, o + 36, pdu.expDataSN, 'ExpDataSN');
      return undefined;
    }
    case IscsiOp.LOGIN_REQUEST: {
      const data = dataOf(pdu.data);
      // RFC 7143 §11.12.1: the I bit is always 1 on a Login Request.
      start(u8, dv, o, BHS_IMMEDIATE | IscsiOp.LOGIN_REQUEST, loginFlags(pdu), dlen(data), 0);
      w8(dv, o + 2, pdu.versionMax, 'Version-max');
      w8(dv, o + 3, pdu.versionMin, 'Version-min');
      w48(dv, o + 8, pdu.isid, 'ISID');
      w16(dv, o + 14, pdu.tsih, 'TSIH');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w16(dv, o + 20, pdu.cid, 'CID');
      w32(dv, o + 24, pdu.cmdSN, 'CmdSN');
      w32(dv, o + 28, pdu.expStatSN, 'ExpStatSN');
      return data;
    }
    case IscsiOp.TEXT_REQUEST: {
      const data = dataOf(pdu.data);
      const f = bit(pdu.final, Flag.FINAL) | bit(pdu.continue, Flag.CONTINUE);
      start(u8, dv, o, imm(pdu.immediate) | IscsiOp.TEXT_REQUEST, f, dlen(data), 0);
      w64(dv, o + 8, pdu.lun, 'LUN');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 20, pdu.targetTransferTag, 'TTT');
      w32(dv, o + 24, pdu.cmdSN, 'CmdSN');
      w32(dv, o + 28, pdu.expStatSN, 'ExpStatSN');
      return data;
    }
    case IscsiOp.SCSI_DATA_OUT: {
      const data = dataOf(pdu.data);
      start(u8, dv, o, IscsiOp.SCSI_DATA_OUT, bit(pdu.final, Flag.FINAL), dlen(data), 0);
      w64(dv, o + 8, pdu.lun, 'LUN');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 20, pdu.targetTransferTag, 'TTT');
      w32(dv, o + 28, pdu.expStatSN, 'ExpStatSN');
      w32(dv, o + 36, pdu.dataSN, 'DataSN');
      w32(dv, o + 40, pdu.bufferOffset, 'Buffer Offset');
      return data;
    }
    case IscsiOp.LOGOUT_REQUEST: {
      if ((pdu.reasonCode & 0x7f) !== pdu.reasonCode) throw badField('Reason Code', pdu.reasonCode);
      start(u8, dv, o, imm(pdu.immediate) | IscsiOp.LOGOUT_REQUEST, Flag.FINAL | pdu.reasonCode, 0, 0);
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w16(dv, o + 20, pdu.cid, 'CID');
      w32(dv, o + 24, pdu.cmdSN, 'CmdSN');
      w32(dv, o + 28, pdu.expStatSN, 'ExpStatSN');
      return undefined;
    }
    case IscsiOp.SNACK_REQUEST: {
      if ((pdu.type & 0x0f) !== pdu.type) throw badField('SNACK Type', pdu.type);
      start(u8, dv, o, IscsiOp.SNACK_REQUEST, Flag.FINAL | pdu.type, 0, 0);
      w64(dv, o + 8, pdu.lun, 'LUN');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 20, pdu.targetTransferTag, 'TTT/SNACK Tag');
      w32(dv, o + 28, pdu.expStatSN, 'ExpStatSN');
      w32(dv, o + 40, pdu.begRun, 'BegRun');
      w32(dv, o + 44, pdu.runLength, 'RunLength');
      return undefined;
    }
    case IscsiOp.NOP_IN: {
      const data = dataOf(pdu.data);
      start(u8, dv, o, IscsiOp.NOP_IN, Flag.FINAL, dlen(data), 0);
      w64(dv, o + 8, pdu.lun ?? 0n, 'LUN');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 20, pdu.targetTransferTag, 'TTT');
      w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      return data;
    }
    case IscsiOp.SCSI_RESPONSE: {
      const data = senseSegment(pdu.sense, undefined);
      const f =
        Flag.FINAL |
        bit(pdu.bidiReadResidualOverflow, Flag.BIDI_OVERFLOW) |
        bit(pdu.bidiReadResidualUnderflow, Flag.BIDI_UNDERFLOW) |
        bit(pdu.residualOverflow, Flag.OVERFLOW) |
        bit(pdu.residualUnderflow, Flag.UNDERFLOW);
      start(u8, dv, o, IscsiOp.SCSI_RESPONSE, f, dlen(data), 0);
      w8(dv, o + 2, pdu.response, 'Response');
      w8(dv, o + 3, pdu.status, 'Status');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      if (pdu.snackTag !== undefined) w32(dv, o + 20, pdu.snackTag, 'SNACK Tag');
      w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      if (pdu.expDataSN !== undefined) w32(dv, o + 36, pdu.expDataSN, 'ExpDataSN');
      if (pdu.bidiReadResidualCount !== undefined)
        w32(dv, o + 40, pdu.bidiReadResidualCount, 'Bidirectional Read Residual Count');
      if (pdu.residualCount !== undefined) w32(dv, o + 44, pdu.residualCount, 'Residual Count');
      return data;
    }
    case IscsiOp.TASK_MGMT_RESPONSE: {
      start(u8, dv, o, IscsiOp.TASK_MGMT_RESPONSE, Flag.FINAL, 0, 0);
      w8(dv, o + 2, pdu.response, 'Response');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      return undefined;
    }
    case IscsiOp.LOGIN_RESPONSE: {
      const data = dataOf(pdu.data);
      start(u8, dv, o, IscsiOp.LOGIN_RESPONSE, loginFlags(pdu), dlen(data), 0);
      w8(dv, o + 2, pdu.versionMax ?? 0, 'Version-max');
      w8(dv, o + 3, pdu.versionActive ?? 0, 'Version-active');
      w48(dv, o + 8, pdu.isid, 'ISID');
      w16(dv, o + 14, pdu.tsih, 'TSIH');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      w8(dv, o + 36, pdu.statusClass, 'Status-Class');
      w8(dv, o + 37, pdu.statusDetail, 'Status-Detail');
      return data;
    }
    case IscsiOp.TEXT_RESPONSE: {
      const data = dataOf(pdu.data);
      const f = bit(pdu.final, Flag.FINAL) | bit(pdu.continue, Flag.CONTINUE);
      start(u8, dv, o, IscsiOp.TEXT_RESPONSE, f, dlen(data), 0);
      w64(dv, o + 8, pdu.lun ?? 0n, 'LUN');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 20, pdu.targetTransferTag, 'TTT');
      w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      return data;
    }
    case IscsiOp.SCSI_DATA_IN: {
      const data = dataOf(pdu.data);
      const f =
        bit(pdu.final, Flag.FINAL) |
        bit(pdu.acknowledge, Flag.ACKNOWLEDGE) |
        bit(pdu.residualOverflow, Flag.OVERFLOW) |
        bit(pdu.residualUnderflow, Flag.UNDERFLOW) |
        bit(pdu.statusPresent, Flag.STATUS);
      start(u8, dv, o, IscsiOp.SCSI_DATA_IN, f, dlen(data), 0);
      if (pdu.status !== undefined) w8(dv, o + 3, pdu.status, 'Status');
      if (pdu.lun !== undefined) w64(dv, o + 8, pdu.lun, 'LUN');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      // RFC 7143 §11.7.3: TTT is 0xffffffff unless the A bit asks for a DataACK.
      w32(dv, o + 20, pdu.targetTransferTag ?? RESERVED_TAG, 'TTT');
      if (pdu.statSN !== undefined) w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      w32(dv, o + 36, pdu.dataSN, 'DataSN');
      w32(dv, o + 40, pdu.bufferOffset, 'Buffer Offset');
      if (pdu.residualCount !== undefined) w32(dv, o + 44, pdu.residualCount, 'Residual Count');
      return data;
    }
    case IscsiOp.LOGOUT_RESPONSE: {
      start(u8, dv, o, IscsiOp.LOGOUT_RESPONSE, Flag.FINAL, 0, 0);
      w8(dv, o + 2, pdu.response, 'Response');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      w16(dv, o + 40, pdu.time2Wait ?? 0, 'Time2Wait');
      w16(dv, o + 42, pdu.time2Retain ?? 0, 'Time2Retain');
      return undefined;
    }
    case IscsiOp.R2T: {
      start(u8, dv, o, IscsiOp.R2T, Flag.FINAL, 0, 0);
      w64(dv, o + 8, pdu.lun, 'LUN');
      w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
      w32(dv, o + 20, pdu.targetTransferTag, 'TTT');
      w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      w32(dv, o + 36, pdu.r2tSN, 'R2TSN');
      w32(dv, o + 40, pdu.bufferOffset, 'Buffer Offset');
      w32(dv, o + 44, pdu.desiredDataTransferLength, 'Desired Data Transfer Length');
      return undefined;
    }
    case IscsiOp.ASYNC_MESSAGE: {
      const data = senseSegment(pdu.sense, pdu.eventData);
      start(u8, dv, o, IscsiOp.ASYNC_MESSAGE, Flag.FINAL, dlen(data), 0);
      w64(dv, o + 8, pdu.lun ?? 0n, 'LUN');
      // RFC 7143 §11.9: the Initiator Task Tag "MUST be set to 0xffffffff".
      dv.setUint32(o + 16, RESERVED_TAG);
      w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      w8(dv, o + 36, pdu.asyncEvent, 'AsyncEvent');
      w8(dv, o + 37, pdu.asyncVCode ?? 0, 'AsyncVCode');
      w16(dv, o + 38, pdu.parameter1 ?? 0, 'Parameter1');
      w16(dv, o + 40, pdu.parameter2 ?? 0, 'Parameter2');
      w16(dv, o + 42, pdu.parameter3 ?? 0, 'Parameter3');
      return data;
    }
    case IscsiOp.REJECT: {
      const data = dataOf(pdu.data);
      start(u8, dv, o, IscsiOp.REJECT, Flag.FINAL, dlen(data), 0);
      w8(dv, o + 2, pdu.reason, 'Reason');
      // RFC 7143 §11.17: Initiator Task Tag is 0xffffffff.
      dv.setUint32(o + 16, RESERVED_TAG);
      w32(dv, o + 24, pdu.statSN, 'StatSN');
      w32(dv, o + 28, pdu.expCmdSN, 'ExpCmdSN');
      w32(dv, o + 32, pdu.maxCmdSN, 'MaxCmdSN');
      if (pdu.dataSN !== undefined) w32(dv, o + 36, pdu.dataSN, 'DataSN/R2TSN');
      return data;
    }
    default: {
      const never: never = pdu;
      throw new PduEncodeError(`unknown opcode ${String((never as { opcode: unknown }).opcode)}`);
    }
  }
}

function loginFlags(p: LoginRequestPdu | LoginResponsePdu): number {
  if ((p.csg & 3) !== p.csg || p.csg === 2) throw badField('CSG', p.csg);
  if ((p.nsg & 3) !== p.nsg) throw badField('NSG', p.nsg);
  return bit(p.transit, Flag.TRANSIT) | bit(p.continue, Flag.CONTINUE) | (p.csg << 2) | p.nsg;
}

function encodeScsiCommandInto(pdu: ScsiCommandPdu, u8: Buffer, dv: DataView, o: number): Buffer | undefined {
  const data = dataOf(pdu.data);
  const cdbLen = pdu.cdb.length;
  // RFC 7143 §11.3.5 Extended CDB AHS: AHSLength = CDB length - 15 (16 bits).
  if (cdbLen > 0xffff + 15) throw new PduEncodeError(`CDB of ${cdbLen} bytes is too long`);
  const ahsBytes = scsiCommandAhsLength(pdu);
  // RFC 7143 §11.2.1.4: TotalAHSLength is 8 bits of 4-byte words.
  if (ahsBytes > 255 * 4) throw new PduEncodeError(`AHS of ${ahsBytes} bytes is too long`);
  if ((pdu.taskAttribute & 7) !== pdu.taskAttribute) throw badField('ATTR', pdu.taskAttribute);
  const f = bit(pdu.final, Flag.FINAL) | bit(pdu.read, Flag.READ) | bit(pdu.write, Flag.WRITE) | pdu.taskAttribute;
  start(u8, dv, o, imm(pdu.immediate) | IscsiOp.SCSI_COMMAND, f, dlen(data), ahsBytes);
  w64(dv, o + 8, pdu.lun, 'LUN');
  w32(dv, o + 16, pdu.initiatorTaskTag, 'ITT');
  w32(dv, o + 20, pdu.expectedDataTransferLength, 'Expected Data Transfer Length');
  w32(dv, o + 24, pdu.cmdSN, 'CmdSN');
  w32(dv, o + 28, pdu.expStatSN, 'ExpStatSN');
  pdu.cdb.copy(u8, o + 32, 0, Math.min(16, cdbLen));
  let a = o + BHS_LENGTH;
  if (cdbLen > 16) {
    dv.setUint16(a, cdbLen - 15);
    u8[a + 2] = AhsType.EXTENDED_CDB;
    pdu.cdb.copy(u8, a + 4, 16);
    a += (4 + cdbLen - 16 + 3) & ~3;
  }
  if (pdu.bidiReadDataLength !== undefined) {
    dv.setUint16(a, 5);
    u8[a + 2] = AhsType.BIDI_READ_DATA_LENGTH;
    w32(dv, a + 4, pdu.bidiReadDataLength, 'Bidirectional Read Data Length');
  }
  return data;
}
