/**
 * Third-party copy (SPC-4 "EXTENDED COPY (LID1)", "RECEIVE COPY RESULTS"): the
 * copy manager for VMware VAAI XCOPY and friends. Supported: Identification
 * Descriptor target descriptors (E4h) naming an LU of this nexus by its NAA
 * designator, and block device to block device segment descriptors (02h), as LIO
 * target_core_xcopy does. No inline or held data.
 */
import { checkControl, invalidField, invalidParam, readLba64 } from './cdb.js';
import { ScsiStatus, type ScsiResult } from './command.js';
import { ScsiOp } from './constants.js';
import { AluaAllowed, parsed, type CommandDescriptor, type ExecContext, type PortContext } from './descriptor.js';
import type { LogicalUnit } from './logical-unit.js';
import { ScsiError } from './sense.js';
import { naaDesignator } from './vpd.js';

/** RECEIVE COPY RESULTS service actions (SPC-4). */
export const CopyResultsSa = { COPY_STATUS: 0x00, OPERATING_PARAMETERS: 0x03 } as const;

/** Copy manager limits reported by OPERATING PARAMETERS (LIO uses the same small numbers). */
export const XCOPY_LIMITS = {
  maxTargetDescriptors: 2,
  maxSegmentDescriptors: 1,
  maxDescriptorListLength: 1024,
  /** Bytes per segment (the 16-bit NUMBER OF BLOCKS of 512-byte blocks bounds it anyway). */
  maxSegmentLength: 0xffff * 512,
} as const;

const TARGET_DESCRIPTOR_LENGTH = 32;
const TYPE_IDENTIFICATION_TARGET = 0xe4;
const TYPE_BLOCK_TO_BLOCK = 0x02;
const HEADER_LENGTH = 16;
/** Bytes moved per backstore call while copying. */
const COPY_CHUNK_BYTES = 1024 * 1024;

function parseExtendedCopy(cdb: Buffer) {
  checkControl(cdb, 15);
  return parsed(cdb.readUInt32BE(10), 0);
}

/** The LU named by an Identification Descriptor target descriptor, among the LUs this nexus can reach. */
function resolveTarget(d: Buffer, port: PortContext): LogicalUnit {
  // Byte 1: LU ID TYPE (ignored in SPC-4), NUL (obsolete), PERIPHERAL DEVICE TYPE (must be a block device).
  if ((d.readUInt8(1) & 0x1f) !== 0) throw new ScsiError('COPY_TARGET_DEVICE_NOT_REACHABLE');
  // Bytes 4-27: a designation descriptor; we match the NAA designator of VPD page 83h.
  const desigType = d.readUInt8(5) & 0x0f;
  if (((d.readUInt8(5) >> 4) & 0x03) !== 0) throw new ScsiError('COPY_TARGET_DEVICE_NOT_REACHABLE'); // ASSOCIATION: logical unit
  const desigLen = d.readUInt8(7);
  if (desigType !== 0x3 || desigLen !== 16) throw new ScsiError('COPY_TARGET_DEVICE_NOT_REACHABLE');
  const wanted = d.subarray(8, 8 + desigLen);
  for (const lun of port.luns()) {
    const lu = port.logicalUnit(lun);
    if (lu !== undefined && naaDesignator(lu.wwn).equals(wanted)) {
      // DISK BLOCK LENGTH (bytes 29-31), when given, must match the LU.
      const blockLength = d.readUIntBE(29, 3);
      if (blockLength !== 0 && blockLength !== lu.blockSize) throw new ScsiError('COPY_TARGET_DEVICE_NOT_REACHABLE');
      return lu;
    }
  }
  throw new ScsiError('COPY_TARGET_DEVICE_NOT_REACHABLE');
}

interface Segment {
  src: number;
  dst: number;
  blocks: number;
  srcLba: number;
  dstLba: number;
}

async function copyBlocks(src: LogicalUnit, dst: LogicalUnit, seg: Segment): Promise<number> {
  const bs = src.blockSize;
  const total = seg.blocks * bs;
  const chunkLen = Math.min(total, COPY_CHUNK_BYTES);
  const chunk = Buffer.allocUnsafe(chunkLen);
  // Overlapping ranges of one LU with the destination after the source: copy from the
  // end (memmove), so no block is overwritten before it was read.
  const backwards = src === dst && seg.dstLba > seg.srcLba && seg.dstLba < seg.srcLba + seg.blocks;
  const chunks = Math.ceil(total / chunkLen);
  for (let k = 0; k < chunks; k++) {
    const i = backwards ? chunks - 1 - k : k;
    const done = i * chunkLen;
    const n = Math.min(chunkLen, total - done);
    const view = n === chunkLen ? chunk : chunk.subarray(0, n);
    await src.backstore.read(seg.srcLba * bs + done, view);
    const dstOff = seg.dstLba * bs + done;
    const held = dst.rangeLock.acquireShared(dstOff / bs, (dstOff + n) / bs);
    const release = typeof held === 'function' ? held : await held;
    try {
      await dst.backstore.write(dstOff, view, !dst.mode.wce);
    } finally {
      release();
    }
  }
  return total;
}

/**
 * SPC-4 "EXTENDED COPY (LID1) parameter list": header, target descriptors,
 * segment descriptors. Everything is validated before the first block moves.
 */
/** CDBs used to ask another LU's reservations whether this nexus may read / write it. */
const PROBE_READ = Buffer.from([ScsiOp.READ_16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
const PROBE_WRITE = Buffer.from([ScsiOp.WRITE_16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
const RESERVATION_CONFLICT: ScsiResult = Object.freeze({ kind: 'result', status: ScsiStatus.RESERVATION_CONFLICT });

async function executeExtendedCopy(ctx: ExecContext): Promise<ScsiResult | undefined> {
  if (ctx.p.dataOutLength === 0) return undefined; // SPC-4: zero PARAMETER LIST LENGTH is not an error
  const param = ctx.req.dataOut ?? Buffer.alloc(0);
  if (param.length < HEADER_LENGTH) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
  const listId = param.readUInt8(0);
  const listIdUsage = (param.readUInt8(1) >> 3) & 0x03;
  const tdLength = param.readUInt16BE(2);
  const sdLength = param.readUInt32BE(8);
  const inlineLength = param.readUInt32BE(12);
  if (listIdUsage === 0x03 && listId !== 0) throw invalidParam(0); // 11b: LIST IDENTIFIER must be zero
  if (inlineLength !== 0) throw invalidParam(12); // no inline data (MAXIMUM INLINE DATA LENGTH 0)
  // "MAXIMUM DESCRIPTOR LIST LENGTH" and the list itself must fit the parameter data.
  if (tdLength + sdLength > XCOPY_LIMITS.maxDescriptorListLength) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
  if (HEADER_LENGTH + tdLength + sdLength > param.length) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
  if (tdLength % TARGET_DESCRIPTOR_LENGTH !== 0) throw invalidParam(2);
  const targetCount = tdLength / TARGET_DESCRIPTOR_LENGTH;
  if (targetCount > XCOPY_LIMITS.maxTargetDescriptors) throw new ScsiError('TOO_MANY_TARGET_DESCRIPTORS');
  // Segment descriptors: count first (TOO MANY SEGMENT DESCRIPTORS), then types.
  const segOffsets: number[] = [];
  for (let off = HEADER_LENGTH + tdLength; off < HEADER_LENGTH + tdLength + sdLength; ) {
    if (off + 4 > param.length) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
    segOffsets.push(off);
    off += 4 + param.readUInt16BE(off + 2);
  }
  if (segOffsets.length > XCOPY_LIMITS.maxSegmentDescriptors) throw new ScsiError('TOO_MANY_SEGMENT_DESCRIPTORS');
  for (let i = 0; i < targetCount; i++) {
    if (param.readUInt8(HEADER_LENGTH + i * TARGET_DESCRIPTOR_LENGTH) !== TYPE_IDENTIFICATION_TARGET) {
      throw new ScsiError('UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE');
    }
  }
  const segments: Segment[] = [];
  for (const off of segOffsets) {
    if (param.readUInt8(off) !== TYPE_BLOCK_TO_BLOCK) throw new ScsiError('UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE');
    if (param.readUInt16BE(off + 2) !== 0x18 || off + 28 > param.length) throw invalidParam(off + 2);
    segments.push({
      src: param.readUInt16BE(off + 4),
      dst: param.readUInt16BE(off + 6),
      blocks: param.readUInt16BE(off + 10),
      srcLba: readLba64(param, off + 12),
      dstLba: readLba64(param, off + 20),
    });
  }
  const targets: LogicalUnit[] = [];
  for (let i = 0; i < targetCount; i++) {
    const off = HEADER_LENGTH + i * TARGET_DESCRIPTOR_LENGTH;
    targets.push(resolveTarget(param.subarray(off, off + TARGET_DESCRIPTOR_LENGTH), ctx.port));
  }
  // Segment checks: indexes name a target, ranges lie inside both devices (LIO answers
  // COPY ABORTED / COPY TARGET DEVICE NOT REACHABLE for both), destination writable.
  for (const s of segments) {
    const src = targets[s.src];
    const dst = targets[s.dst];
    if (src === undefined || dst === undefined || src.blockSize !== dst.blockSize) {
      throw new ScsiError('COPY_TARGET_DEVICE_NOT_REACHABLE');
    }
    if (s.srcLba + s.blocks > src.capacityBlocks || s.dstLba + s.blocks > dst.capacityBlocks) {
      throw new ScsiError('COPY_TARGET_DEVICE_NOT_REACHABLE');
    }
    if (dst.readOnly || dst.mode.swp) throw new ScsiError('WRITE_PROTECTED');
    // The copy manager reads and writes on behalf of this nexus: another LU's reservations apply too.
    if ((src !== ctx.lu && src.pr.conflicts(ctx.nexus, PROBE_READ)) || (dst !== ctx.lu && dst.pr.conflicts(ctx.nexus, PROBE_WRITE))) {
      return RESERVATION_CONFLICT;
    }
  }
  const status = { status: 1 as 1 | 2, segmentsProcessed: 0, transferredBytes: 0 };
  try {
    for (const s of segments) {
      if (s.blocks > 0) status.transferredBytes += await copyBlocks(targets[s.src]!, targets[s.dst]!, s);
      status.segmentsProcessed++;
    }
  } catch (err) {
    status.status = 2;
    if (listIdUsage <= 0x01) ctx.port.copyResults.set(listId, status);
    if (err instanceof ScsiError) throw err;
    throw new ScsiError('COPY_TARGET_DEVICE_NOT_REACHABLE');
  }
  // LIST ID USAGE 00b/01b: the copy manager holds the status for RECEIVE COPY RESULTS.
  if (listIdUsage <= 0x01) ctx.port.copyResults.set(listId, status);
  return undefined;
}

function parseReceiveCopyResults(cdb: Buffer) {
  const sa = cdb.readUInt8(1) & 0x1f;
  if (sa !== CopyResultsSa.COPY_STATUS && sa !== CopyResultsSa.OPERATING_PARAMETERS) throw invalidField(1, 4);
  checkControl(cdb, 15);
  return parsed(0, cdb.readUInt32BE(10), 0, 0, sa);
}

/** SPC-4 "OPERATING PARAMETERS service action" parameter data. */
function operatingParameters(lu: LogicalUnit): Buffer {
  const types = [TYPE_BLOCK_TO_BLOCK, TYPE_IDENTIFICATION_TARGET];
  const b = Buffer.alloc(44 + types.length);
  b.writeUInt32BE(b.length - 4, 0); // AVAILABLE DATA
  b.writeUInt8(0x01, 4); // SNLID: list identifiers are per I_T nexus
  b.writeUInt16BE(XCOPY_LIMITS.maxTargetDescriptors, 8); // MAXIMUM TARGET DESCRIPTOR COUNT
  b.writeUInt16BE(XCOPY_LIMITS.maxSegmentDescriptors, 10); // MAXIMUM SEGMENT DESCRIPTOR COUNT
  b.writeUInt32BE(XCOPY_LIMITS.maxDescriptorListLength, 12); // MAXIMUM DESCRIPTOR LIST LENGTH
  b.writeUInt32BE(XCOPY_LIMITS.maxSegmentLength, 16); // MAXIMUM SEGMENT LENGTH
  b.writeUInt32BE(0, 20); // MAXIMUM INLINE DATA LENGTH
  b.writeUInt32BE(0, 24); // HELD DATA LIMIT
  b.writeUInt32BE(0, 28); // MAXIMUM STREAM DEVICE TRANSFER SIZE
  b.writeUInt16BE(1, 34); // TOTAL CONCURRENT COPIES
  b.writeUInt8(1, 36); // MAXIMUM CONCURRENT COPIES
  b.writeUInt8(Math.log2(lu.blockSize), 37); // DATA SEGMENT GRANULARITY (log2 bytes)
  b.writeUInt8(0, 38); // INLINE DATA GRANULARITY
  b.writeUInt8(0, 39); // HELD DATA GRANULARITY
  b.writeUInt8(types.length, 43); // IMPLEMENTED DESCRIPTOR LIST LENGTH
  types.forEach((t, i) => b.writeUInt8(t, 44 + i));
  return b;
}

function executeReceiveCopyResults(ctx: ExecContext): Buffer {
  if (ctx.p.flags === CopyResultsSa.OPERATING_PARAMETERS) return operatingParameters(ctx.lu);
  // SPC-4 "COPY STATUS service action": an unknown (or not held) LIST IDENTIFIER → INVALID FIELD IN CDB.
  const st = ctx.port.copyResults.get(ctx.req.cdb.readUInt8(2));
  if (st === undefined) throw invalidField(2);
  const b = Buffer.alloc(12);
  b.writeUInt32BE(8, 0); // AVAILABLE DATA
  b.writeUInt8(st.status, 4); // HDD 0 | COPY MANAGER STATUS
  b.writeUInt16BE(Math.min(st.segmentsProcessed, 0xffff), 5); // SEGMENTS PROCESSED
  // TRANSFER COUNT UNITS: 00h bytes, 01h KiB when bytes do not fit 32 bits.
  const kib = st.transferredBytes > 0xffffffff;
  b.writeUInt8(kib ? 0x01 : 0x00, 7);
  b.writeUInt32BE(kib ? Math.floor(st.transferredBytes / 1024) : st.transferredBytes, 8); // TRANSFER COUNT
  return b;
}

export const XCOPY_COMMANDS: readonly CommandDescriptor[] = [
  {
    op: ScsiOp.EXTENDED_COPY,
    sa: 0x00,
    name: 'EXTENDED COPY(LID1)',
    usage: [0x83, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    alua: AluaAllowed.ACTIVE,
    write: true,
    timeoutSec: 60,
    parse: parseExtendedCopy,
    execute: executeExtendedCopy,
  },
  {
    op: ScsiOp.RECEIVE_COPY_RESULTS,
    sa: CopyResultsSa.COPY_STATUS,
    name: 'RECEIVE COPY RESULTS(COPY STATUS)',
    usage: [0x84, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    alua: AluaAllowed.ACTIVE,
    parse: parseReceiveCopyResults,
    execute: executeReceiveCopyResults,
  },
  {
    op: ScsiOp.RECEIVE_COPY_RESULTS,
    sa: CopyResultsSa.OPERATING_PARAMETERS,
    name: 'RECEIVE COPY RESULTS(OPERATING PARAMETERS)',
    usage: [0x84, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    alua: AluaAllowed.ACTIVE,
    parse: parseReceiveCopyResults,
    execute: executeReceiveCopyResults,
  },
];
