/**
 * Sense data: one table of reasons (LIO sense_detail_table idea) and one
 * encoder for fixed (0x70) and descriptor (0x72) formats.
 * Handlers throw `new ScsiError('LBA_OUT_OF_RANGE')`; dispatch is the only catch.
 */
import { ScsiStatus } from './command.js';

export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  BLANK_CHECK: 0x8,
  VENDOR_SPECIFIC: 0x9,
  COPY_ABORTED: 0xa,
  ABORTED_COMMAND: 0xb,
  VOLUME_OVERFLOW: 0xd,
  MISCOMPARE: 0xe,
} as const;
export type SenseKey = (typeof SenseKey)[keyof typeof SenseKey];

export interface SenseTriple {
  key: SenseKey;
  asc: number;
  ascq: number;
}

// SPC-4 Annex D "ASC and ASCQ assignments".
export const SENSE = {
  NO_SENSE: { key: SenseKey.NO_SENSE, asc: 0x00, ascq: 0x00 },
  // NOT READY
  NOT_READY_CAUSE_NOT_REPORTABLE: { key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x00 },
  NOT_READY_INITIALIZING_COMMAND_REQUIRED: { key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x02 },
  ALUA_TRANSITION: { key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x0a },
  ALUA_STANDBY: { key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x0b },
  ALUA_UNAVAILABLE: { key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x0c },
  MEDIUM_NOT_PRESENT: { key: SenseKey.NOT_READY, asc: 0x3a, ascq: 0x00 },
  SANITIZE_IN_PROGRESS: { key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x1b },
  // MEDIUM ERROR
  UNRECOVERED_READ_ERROR: { key: SenseKey.MEDIUM_ERROR, asc: 0x11, ascq: 0x00 },
  WRITE_ERROR: { key: SenseKey.MEDIUM_ERROR, asc: 0x0c, ascq: 0x00 },
  SANITIZE_COMMAND_FAILED: { key: SenseKey.MEDIUM_ERROR, asc: 0x31, ascq: 0x03 },
  // HARDWARE ERROR
  INTERNAL_TARGET_FAILURE: { key: SenseKey.HARDWARE_ERROR, asc: 0x44, ascq: 0x00 },
  LOGICAL_UNIT_COMMUNICATION_FAILURE: { key: SenseKey.HARDWARE_ERROR, asc: 0x08, ascq: 0x00 },
  SET_TARGET_PORT_GROUPS_COMMAND_FAILED: { key: SenseKey.HARDWARE_ERROR, asc: 0x67, ascq: 0x0a },
  // ILLEGAL REQUEST
  PARAMETER_LIST_LENGTH_ERROR: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x1a, ascq: 0x00 },
  INVALID_COMMAND_OPCODE: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x20, ascq: 0x00 },
  LBA_OUT_OF_RANGE: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x21, ascq: 0x00 },
  INVALID_FIELD_IN_CDB: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x24, ascq: 0x00 },
  INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x0e, ascq: 0x03 },
  LUN_NOT_SUPPORTED: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x25, ascq: 0x00 },
  INVALID_FIELD_IN_PARAMETER_LIST: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0x00 },
  INVALID_RELEASE_OF_PERSISTENT_RESERVATION: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0x04 },
  TOO_MANY_TARGET_DESCRIPTORS: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0x06 },
  UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0x07 },
  TOO_MANY_SEGMENT_DESCRIPTORS: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0x08 },
  UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0x09 },
  SAVING_PARAMETERS_NOT_SUPPORTED: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x39, ascq: 0x00 },
  MEDIUM_REMOVAL_PREVENTED: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x53, ascq: 0x02 },
  INSUFFICIENT_REGISTRATION_RESOURCES: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x55, ascq: 0x04 },
  // UNIT ATTENTION
  POWER_ON_RESET: { key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0x00 },
  BUS_DEVICE_RESET: { key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0x03 },
  I_T_NEXUS_LOSS: { key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0x07 },
  MODE_PARAMETERS_CHANGED: { key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x01 },
  RESERVATIONS_PREEMPTED: { key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x03 },
  RESERVATIONS_RELEASED: { key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x04 },
  REGISTRATIONS_PREEMPTED: { key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x05 },
  ASYMMETRIC_ACCESS_STATE_CHANGED: { key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x06 },
  CAPACITY_DATA_HAS_CHANGED: { key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x09 },
  COMMANDS_CLEARED_BY_ANOTHER_INITIATOR: { key: SenseKey.UNIT_ATTENTION, asc: 0x2f, ascq: 0x00 },
  INQUIRY_DATA_HAS_CHANGED: { key: SenseKey.UNIT_ATTENTION, asc: 0x3f, ascq: 0x03 },
  REPORTED_LUNS_DATA_HAS_CHANGED: { key: SenseKey.UNIT_ATTENTION, asc: 0x3f, ascq: 0x0e },
  // DATA PROTECT
  WRITE_PROTECTED: { key: SenseKey.DATA_PROTECT, asc: 0x27, ascq: 0x00 },
  // ABORTED COMMAND
  ABORTED_COMMAND: { key: SenseKey.ABORTED_COMMAND, asc: 0x00, ascq: 0x00 },
  INITIATOR_DETECTED_ERROR: { key: SenseKey.ABORTED_COMMAND, asc: 0x48, ascq: 0x00 },
  DATA_PHASE_ERROR: { key: SenseKey.ABORTED_COMMAND, asc: 0x4b, ascq: 0x00 },
  // COPY ABORTED (EXTENDED COPY)
  COPY_TARGET_DEVICE_NOT_REACHABLE: { key: SenseKey.COPY_ABORTED, asc: 0x0d, ascq: 0x02 },
  // MISCOMPARE
  MISCOMPARE_DURING_VERIFY: { key: SenseKey.MISCOMPARE, asc: 0x1d, ascq: 0x00 },
} as const satisfies Record<string, SenseTriple>;
export type SenseReason = keyof typeof SENSE;

/** Sense-key-specific field pointer (SPC-4 "Field pointer sense key specific data"). */
export interface FieldPointer {
  /** true: the error is in the CDB; false: in the parameter list (Data-Out). */
  inCdb: boolean;
  /** Byte index of the faulty field. */
  byte: number;
  /** Bit index (0-7) of the faulty field's most significant bit, when known. */
  bit?: number;
}

export interface SenseDetail {
  /** INFORMATION field (LBA of the error, miscompare offset, ...). Sets VALID. */
  information?: number | bigint;
  field?: FieldPointer;
}

export class ScsiError extends Error {
  readonly reason: SenseReason;
  readonly detail: SenseDetail;
  constructor(reason: SenseReason, detail: SenseDetail = {}) {
    super(reason);
    this.name = 'ScsiError';
    this.reason = reason;
    this.detail = detail;
  }
}

export type SenseFormat = 'fixed' | 'descriptor';

function senseKeySpecific(field: FieldPointer | undefined): Buffer | undefined {
  if (field === undefined) return undefined;
  const sks = Buffer.alloc(3);
  // SKSV | C/D | BPV | BIT POINTER
  sks.writeUInt8(0x80 | (field.inCdb ? 0x40 : 0) | (field.bit !== undefined ? 0x08 | (field.bit & 7) : 0), 0);
  sks.writeUInt16BE(field.byte & 0xffff, 1);
  return sks;
}

/**
 * SPC-4 "Fixed format sense data" (18 bytes) or "Descriptor format sense data".
 * Descriptor format is used when asked (D_SENSE) or when INFORMATION does not fit 32 bits.
 */
export function encodeSense(reason: SenseReason, detail: SenseDetail = {}, format: SenseFormat = 'fixed'): Buffer {
  const t = SENSE[reason];
  const info = detail.information !== undefined ? BigInt(detail.information) : undefined;
  const sks = senseKeySpecific(detail.field);
  if (format === 'descriptor' || (info !== undefined && info > 0xffffffffn)) {
    const descriptors: Buffer[] = [];
    if (info !== undefined) {
      const d = Buffer.alloc(12);
      d.writeUInt8(0x00, 0); // DESCRIPTOR TYPE: information
      d.writeUInt8(0x0a, 1); // ADDITIONAL LENGTH
      d.writeUInt8(0x80, 2); // VALID
      d.writeBigUInt64BE(info, 4);
      descriptors.push(d);
    }
    if (sks !== undefined) {
      const d = Buffer.alloc(8);
      d.writeUInt8(0x02, 0); // DESCRIPTOR TYPE: sense key specific
      d.writeUInt8(0x06, 1);
      sks.copy(d, 4);
      descriptors.push(d);
    }
    const body = Buffer.concat(descriptors);
    const head = Buffer.alloc(8);
    head.writeUInt8(0x72, 0); // RESPONSE CODE: current, descriptor
    head.writeUInt8(t.key, 1);
    head.writeUInt8(t.asc, 2);
    head.writeUInt8(t.ascq, 3);
    head.writeUInt8(body.length, 7); // ADDITIONAL SENSE LENGTH
    return Buffer.concat([head, body]);
  }
  const b = Buffer.alloc(18);
  b.writeUInt8(0x70 | (info !== undefined ? 0x80 : 0), 0); // VALID | RESPONSE CODE: current, fixed
  b.writeUInt8(t.key, 2);
  if (info !== undefined) b.writeUInt32BE(Number(info), 3); // INFORMATION
  b.writeUInt8(10, 7); // ADDITIONAL SENSE LENGTH
  b.writeUInt8(t.asc, 12);
  b.writeUInt8(t.ascq, 13);
  if (sks !== undefined) sks.copy(b, 15);
  return b;
}

/** CHECK CONDITION result for a reason. */
export function checkCondition(reason: SenseReason, detail: SenseDetail = {}, format: SenseFormat = 'fixed') {
  return { kind: 'result' as const, status: ScsiStatus.CHECK_CONDITION, sense: encodeSense(reason, detail, format) };
}
