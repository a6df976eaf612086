/**
 * CDB field decoders shared by the command handlers (LIO sbc_parse_cdb helpers).
 * All multi-byte fields are big-endian (SPC-4 "Bit and byte ordering").
 */
import { ScsiError } from './sense.js';

/** SPC-4 "Operation code": group code → CDB length (3 = variable / reserved). */
export function cdbLength(opcode: number): number {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 16;
  }
}

/**
 * SAM-5 "CONTROL byte": NACA (bit 2) and the obsolete LINK bit (bit 0) are not
 * supported, so a 1 there is INVALID FIELD IN CDB.
 */
export function checkControl(cdb: Buffer, index: number): void {
  const control = cdb.readUInt8(index);
  if ((control & 0x05) !== 0) {
    throw new ScsiError('INVALID_FIELD_IN_CDB', { field: { inCdb: true, byte: index, bit: control & 0x04 ? 2 : 0 } });
  }
}

/** Fails when any bit of `mask` is set in byte `index` (reserved fields). */
export function checkReserved(cdb: Buffer, index: number, mask: number): void {
  const v = cdb.readUInt8(index) & mask;
  if (v !== 0) {
    throw new ScsiError('INVALID_FIELD_IN_CDB', { field: { inCdb: true, byte: index, bit: 31 - Math.clz32(v) } });
  }
}

export function invalidField(byte: number, bit?: number): ScsiError {
  return new ScsiError('INVALID_FIELD_IN_CDB', bit === undefined ? { field: { inCdb: true, byte } } : { field: { inCdb: true, byte, bit } });
}

export function invalidParam(byte: number, bit?: number): ScsiError {
  return new ScsiError(
    'INVALID_FIELD_IN_PARAMETER_LIST',
    bit === undefined ? { field: { inCdb: false, byte } } : { field: { inCdb: false, byte, bit } },
  );
}

/** Logical block address and transfer length of a block command. */
export interface LbaRange {
  lba: number;
  blocks: number;
}

const TWO_32 = 0x1_0000_0000;
/** Upper 32-bit word at or above this value means LBA ≥ 2^53: beyond any capacity we can hold. */
const HI_WORD_LIMIT = 0x20_0000;

/**
 * Reads a 64-bit LBA. Returns +Infinity when it does not fit a safe integer,
 * which every range check then rejects as LBA OUT OF RANGE (equivalent to the
 * bigint comparison because capacity in blocks is < 2^53).
 */
export function readLba64(cdb: Buffer, index: number): number {
  const hi = cdb.readUInt32BE(index);
  if (hi >= HI_WORD_LIMIT) return Number.POSITIVE_INFINITY;
  return hi * TWO_32 + cdb.readUInt32BE(index + 4);
}

/** SBC-4 "READ (6)": 21-bit LBA, TRANSFER LENGTH 0 means 256 blocks. */
export function decodeRw6(cdb: Buffer): LbaRange {
  const lba = ((cdb.readUInt8(1) & 0x1f) << 16) | cdb.readUInt16BE(2);
  const len = cdb.readUInt8(4);
  return { lba, blocks: len === 0 ? 256 : len };
}

export function decodeRw10(cdb: Buffer): LbaRange {
  return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7) };
}

export function decodeRw12(cdb: Buffer): LbaRange {
  return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt32BE(6) };
}

export function decodeRw16(cdb: Buffer): LbaRange {
  return { lba: readLba64(cdb, 2), blocks: cdb.readUInt32BE(10) };
}

/**
 * SBC-4 "Logical block address": LBA OUT OF RANGE when LBA + length exceeds the
 * capacity. A zero-length transfer at LBA == capacity passes; one beyond it does not
 * (iscsi-test-cu Read10.ZeroBlocks).
 */
export function checkLbaRange(lba: number, blocks: number, capacityBlocks: number): void {
  if (lba > capacityBlocks || lba + blocks > capacityBlocks) {
    throw new ScsiError('LBA_OUT_OF_RANGE');
  }
}
