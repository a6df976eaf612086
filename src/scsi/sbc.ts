/**
 * Block commands (SBC-4): capacity, READ/WRITE 6/10/12/16, WRITE AND VERIFY,
 * VERIFY, ORWRITE, PRE-FETCH, SYNCHRONIZE CACHE, WRITE SAME, UNMAP, GET LBA
 * STATUS, COMPARE AND WRITE. parse() does every CDB check and the range check
 * once (LIO sbc_parse_cdb); execute() only moves data.
 */
import {
  checkControl,
  checkLbaRange,
  checkReserved,
  decodeRw10,
  decodeRw12,
  decodeRw16,
  decodeRw6,
  invalidField,
  invalidParam,
  readLba64,
  type LbaRange,
} from './cdb.js';
import { ScsiOp, ServiceActionIn16 } from './constants.js';
import { AluaAllowed, parsed, type CommandDescriptor, type ExecContext, type Parsed } from './descriptor.js';
import type { LogicalUnit } from './logical-unit.js';
import { ScsiError } from './sense.js';
import { ioBuffers } from '../util/buffer-pool.js';

/** Parsed.flags bits. */
const F_FUA = 0x01;
const F_BYTCHK = 0x02; // compare Data-Out with the medium (BYTCHK 01b)
const F_BYTCHK_ONE = 0x04; // BYTCHK 11b: one block of Data-Out compared with every block
const F_UNMAP = 0x08;
const F_NDOB = 0x10;

// ---- shared parse helpers ------------------------------------------------------

/**
 * Transfer-length limit then range check (SBC-4 "READ (10)": "If the TRANSFER
 * LENGTH exceeds the MAXIMUM TRANSFER LENGTH in the Block Limits VPD page → INVALID
 * FIELD IN CDB"; LBA + TRANSFER LENGTH beyond capacity → LBA OUT OF RANGE).
 */
function rangeFor(lu: LogicalUnit, r: LbaRange, lengthByte: number, maxBlocks: number): void {
  checkLbaRange(r.lba, r.blocks, lu.capacityBlocks);
  if (r.blocks > maxBlocks) throw invalidField(lengthByte);
}

/** RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT (byte 1 bits 7-5): no protection information → must be 0. */
function checkProtect(cdb: Buffer): void {
  if ((cdb.readUInt8(1) & 0xe0) !== 0) throw invalidField(1, 7);
}

function readParse(decode: (cdb: Buffer) => LbaRange, lengthByte: number, control: number) {
  return (cdb: Buffer, lu: LogicalUnit): Parsed => {
    checkProtect(cdb);
    checkControl(cdb, control);
    const r = decode(cdb);
    rangeFor(lu, r, lengthByte, lu.maxTransferBlocks);
    return parsed(0, r.blocks * lu.blockSize, r.lba, r.blocks, 0);
  };
}

function writeParse(decode: (cdb: Buffer) => LbaRange, lengthByte: number, control: number) {
  return (cdb: Buffer, lu: LogicalUnit): Parsed => {
    checkProtect(cdb);
    checkControl(cdb, control);
    const r = decode(cdb);
    rangeFor(lu, r, lengthByte, lu.maxTransferBlocks);
    const fua = (cdb.readUInt8(1) & 0x08) !== 0 ? F_FUA : 0;
    return parsed(r.blocks * lu.blockSize, 0, r.lba, r.blocks, fua);
  };
}

function parseRead6(cdb: Buffer, lu: LogicalUnit): Parsed {
  checkControl(cdb, 5);
  const r = decodeRw6(cdb);
  rangeFor(lu, r, 4, lu.maxTransferBlocks);
  return parsed(0, r.blocks * lu.blockSize, r.lba, r.blocks, 0);
}

function parseWrite6(cdb: Buffer, lu: LogicalUnit): Parsed {
  checkControl(cdb, 5);
  const r = decodeRw6(cdb);
  rangeFor(lu, r, 4, lu.maxTransferBlocks);
  return parsed(r.blocks * lu.blockSize, 0, r.lba, r.blocks, 0);
}

function dataOut(ctx: ExecContext): Buffer {
  const d = ctx.req.dataOut;
  if (d === null || d.length < ctx.p.dataOutLength) {
    // The initiator's Expected Data Transfer Length was shorter than the CDB asks for
    // (FCP-4 / SAM-5 overflow, option b): nothing is written, the transport reports the residual.
    throw new ScsiError('INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT');
  }
  return d.length === ctx.p.dataOutLength ? d : d.subarray(0, ctx.p.dataOutLength);
}

/**
 * Data-Out of a WRITE / WRITE AND VERIFY whose Expected Data Transfer Length may be
 * shorter than the CDB's transfer length. FCP-4 / SAM-5 overflow, option (a), as
 * iscsi-test-cu 1.19 expects: process the command normally but write only the data
 * that was transferred (whole blocks; the transport reports the overflow residual).
 * A partial block cannot be written: option (b), INVALID FIELD IN COMMAND INFORMATION UNIT.
 */
function writeData(ctx: ExecContext): { data: Buffer; blocks: number } {
  const want = ctx.p.dataOutLength;
  const d = ctx.req.dataOut ?? EMPTY;
  if (d.length >= want) return { data: d.length === want ? d : d.subarray(0, want), blocks: ctx.p.blocks };
  const bs = ctx.lu.blockSize;
  if (d.length % bs !== 0) throw new ScsiError('INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT');
  return { data: d, blocks: d.length / bs };
}

const EMPTY = Buffer.alloc(0);

/** Shared range hold: synchronous (no extra await) unless a COMPARE AND WRITE overlaps. */
function sharedLock(lu: LogicalUnit, lba: number, blocks: number): (() => void) | Promise<() => void> {
  return lu.rangeLock.acquireShared(lba, lba + blocks);
}

/** First differing byte offset, or -1 (SBC-4 "MISCOMPARE": INFORMATION = offset in the Data-Out buffer). */
function firstMismatch(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

// ---- READ / WRITE ------------------------------------------------------------

async function executeRead(ctx: ExecContext): Promise<Buffer | undefined> {
  const { lu, p } = ctx;
  if (p.blocks === 0) return undefined;
  // One Data-In buffer per command, filled in place by the store, from the shared pool (the
  // transport gives it back once it is on the wire: ScsiResult.dataIn). Even 4 KiB: a fresh
  // ArrayBuffer per read cost ~3 µs to allocate plus a page fault when the store fills it.
  const n = p.blocks * lu.blockSize;
  const buf = ioBuffers.acquire(n);
  await lu.backstore.read(p.lba * lu.blockSize, buf);
  return buf;
}

async function executeWrite(ctx: ExecContext): Promise<undefined> {
  const { lu, p } = ctx;
  if (p.blocks === 0) return undefined;
  const { data, blocks } = writeData(ctx);
  if (blocks === 0) return undefined;
  const held = sharedLock(lu, p.lba, blocks);
  const release = typeof held === 'function' ? held : await held;
  try {
    // WCE 0: every write completes on stable storage (SBC-4 "Caching mode page").
    await lu.backstore.write(p.lba * lu.blockSize, data, (p.flags & F_FUA) !== 0 || !lu.mode.wce);
  } finally {
    release();
  }
  return undefined;
}

// ---- VERIFY / WRITE AND VERIFY ------------------------------------------------

function verifyParse(decode: (cdb: Buffer) => LbaRange, lengthByte: number, control: number) {
  return (cdb: Buffer, lu: LogicalUnit): Parsed => {
    checkProtect(cdb);
    checkControl(cdb, control);
    const bytchk = (cdb.readUInt8(1) >> 1) & 0x03;
    // SBC-4 "VERIFY (10)": BYTCHK 00b medium check, 01b compare, 10b reserved, 11b one block pattern.
    if (bytchk === 0x02) throw invalidField(1, 2);
    const r = decode(cdb);
    rangeFor(lu, r, lengthByte, lu.maxTransferBlocks);
    if (bytchk === 0) return parsed(0, 0, r.lba, r.blocks, 0);
    if (bytchk === 0x01) return parsed(r.blocks * lu.blockSize, 0, r.lba, r.blocks, F_BYTCHK);
    return parsed(r.blocks === 0 ? 0 : lu.blockSize, 0, r.lba, r.blocks, F_BYTCHK_ONE);
  };
}

async function executeVerify(ctx: ExecContext): Promise<undefined> {
  const { lu, p } = ctx;
  if (p.blocks === 0 || (p.flags & (F_BYTCHK | F_BYTCHK_ONE)) === 0) return undefined;
  const bs = lu.blockSize;
  const data = dataOut(ctx);
  const cur = Buffer.allocUnsafe(p.blocks * bs);
  await lu.backstore.read(p.lba * bs, cur);
  if ((p.flags & F_BYTCHK) !== 0) {
    const off = firstMismatch(cur, data);
    if (off >= 0) throw new ScsiError('MISCOMPARE_DURING_VERIFY', { information: off });
  } else {
    for (let b = 0; b < p.blocks; b++) {
      const off = firstMismatch(cur.subarray(b * bs, (b + 1) * bs), data);
      if (off >= 0) throw new ScsiError('MISCOMPARE_DURING_VERIFY', { information: b * bs + off });
    }
  }
  return undefined;
}

function writeVerifyParse(decode: (cdb: Buffer) => LbaRange, lengthByte: number, control: number) {
  return (cdb: Buffer, lu: LogicalUnit): Parsed => {
    checkProtect(cdb);
    checkControl(cdb, control);
    const bytchk = (cdb.readUInt8(1) >> 1) & 0x03;
    // SBC-4 "WRITE AND VERIFY (10)": BYTCHK 00b and 01b; the others are reserved.
    if (bytchk > 1) throw invalidField(1, 2);
    const r = decode(cdb);
    rangeFor(lu, r, lengthByte, lu.maxTransferBlocks);
    return parsed(r.blocks * lu.blockSize, 0, r.lba, r.blocks, bytchk ? F_BYTCHK : 0);
  };
}

async function executeWriteVerify(ctx: ExecContext): Promise<undefined> {
  const { lu, p } = ctx;
  if (p.blocks === 0) return undefined;
  const { data, blocks } = writeData(ctx);
  if (blocks === 0) return undefined;
  const held = sharedLock(lu, p.lba, blocks);
  const release = typeof held === 'function' ? held : await held;
  try {
    // The verification is against the medium: write through.
    await lu.backstore.write(p.lba * lu.blockSize, data, true);
    if ((p.flags & F_BYTCHK) !== 0) {
      const back = Buffer.allocUnsafe(data.length);
      await lu.backstore.read(p.lba * lu.blockSize, back);
      const off = firstMismatch(back, data);
      if (off >= 0) throw new ScsiError('MISCOMPARE_DURING_VERIFY', { information: off });
    }
  } finally {
    release();
  }
  return undefined;
}

// ---- ORWRITE ----------------------------------------------------------------

async function executeOrWrite(ctx: ExecContext): Promise<undefined> {
  const { lu, p } = ctx;
  if (p.blocks === 0) return undefined;
  const bs = lu.blockSize;
  const data = dataOut(ctx);
  // SBC-4 "ORWRITE (16)": read, OR, write as one operation: exclusive against other writes.
  const release = await lu.rangeLock.acquireExclusive(p.lba, p.lba + p.blocks);
  try {
    const cur = Buffer.allocUnsafe(p.blocks * bs);
    await lu.backstore.read(p.lba * bs, cur);
    for (let i = 0; i < cur.length; i++) cur[i] = cur[i]! | data[i]!;
    await lu.backstore.write(p.lba * bs, cur, (p.flags & F_FUA) !== 0 || !lu.mode.wce);
  } finally {
    release();
  }
  return undefined;
}

// ---- PRE-FETCH / SYNCHRONIZE CACHE --------------------------------------------

function parsePrefetch10(cdb: Buffer, lu: LogicalUnit): Parsed {
  checkReserved(cdb, 1, 0xfd);
  checkControl(cdb, 9);
  const r = decodeRw10(cdb);
  checkLbaRange(r.lba, r.blocks, lu.capacityBlocks);
  return parsed(0, 0, r.lba, r.blocks);
}

function parsePrefetch16(cdb: Buffer, lu: LogicalUnit): Parsed {
  checkReserved(cdb, 1, 0xfd);
  checkControl(cdb, 15);
  const r = decodeRw16(cdb);
  checkLbaRange(r.lba, r.blocks, lu.capacityBlocks);
  return parsed(0, 0, r.lba, r.blocks);
}

function parseSync10(cdb: Buffer, lu: LogicalUnit): Parsed {
  checkReserved(cdb, 1, 0xf9);
  checkControl(cdb, 9);
  const r = decodeRw10(cdb);
  // SBC-4 "SYNCHRONIZE CACHE (10)": NUMBER OF LOGICAL BLOCKS 0 = through the last LBA.
  checkLbaRange(r.lba, r.blocks, lu.capacityBlocks);
  return parsed(0, 0, r.lba, r.blocks);
}

function parseSync16(cdb: Buffer, lu: LogicalUnit): Parsed {
  checkReserved(cdb, 1, 0xf9);
  checkControl(cdb, 15);
  const r = decodeRw16(cdb);
  checkLbaRange(r.lba, r.blocks, lu.capacityBlocks);
  return parsed(0, 0, r.lba, r.blocks);
}

async function executeSync(ctx: ExecContext): Promise<undefined> {
  await ctx.lu.backstore.flush();
  return undefined;
}

// ---- WRITE SAME -----------------------------------------------------------------

function writeSameParse(sixteen: boolean) {
  return (cdb: Buffer, lu: LogicalUnit): Parsed => {
    checkProtect(cdb);
    checkControl(cdb, sixteen ? 15 : 9);
    const b1 = cdb.readUInt8(1);
    // SBC-4 "WRITE SAME (16)": ANCHOR with ANC_SUP 0 → INVALID FIELD IN CDB.
    if ((b1 & 0x10) !== 0) throw invalidField(1, 4);
    // Reserved bits 2-1; bit 0 is NDOB in (16), obsolete LBDATA/PBDATA-era bit in (10).
    if ((b1 & 0x06) !== 0 || (!sixteen && (b1 & 0x01) !== 0)) throw invalidField(1, (b1 & 0x04) !== 0 ? 2 : (b1 & 0x02) !== 0 ? 1 : 0);
    const unmap = (b1 & 0x08) !== 0;
    const ndob = sixteen && (b1 & 0x01) !== 0;
    // LBPWS/LBPWS10 are 0 on a thick LU: UNMAP cannot be honoured.
    if (unmap && !lu.thin) throw invalidField(1, 3);
    const r = sixteen ? decodeRw16(cdb) : decodeRw10(cdb);
    const cap = lu.capacityBlocks;
    if (r.lba > cap) throw new ScsiError('LBA_OUT_OF_RANGE');
    // WSNZ 0: NUMBER OF LOGICAL BLOCKS 0 means "through the last LBA", bounded by MAXIMUM WRITE SAME LENGTH.
    const blocks = r.blocks === 0 ? cap - r.lba : r.blocks;
    checkLbaRange(r.lba, blocks, cap);
    if (blocks > lu.maxWriteSameBlocks) throw invalidField(sixteen ? 10 : 7);
    return parsed(ndob ? 0 : lu.blockSize, 0, r.lba, blocks, (unmap ? F_UNMAP : 0) | (ndob ? F_NDOB : 0));
  };
}

async function executeWriteSame(ctx: ExecContext): Promise<undefined> {
  const { lu, p } = ctx;
  if (p.blocks === 0) return undefined;
  const bs = lu.blockSize;
  const pattern = (p.flags & F_NDOB) !== 0 ? Buffer.alloc(bs) : dataOut(ctx);
  const offset = p.lba * bs;
  const length = p.blocks * bs;
  const held = sharedLock(lu, p.lba, p.blocks);
  const release = typeof held === 'function' ? held : await held;
  try {
    // SBC-4 "WRITE SAME (10)": UNMAP 1 asks for the LBAs to be unmapped; a deallocated LBA
    // reads back as zeroes (LBPRZ 1) whatever the pattern was (LIO sbc_execute_write_same_unmap;
    // iscsi-test-cu WriteSame10.UnmapUntilEnd sends a non-zero pattern and expects zeroes).
    if ((p.flags & F_UNMAP) !== 0 && lu.backstore.discard !== undefined) {
      await lu.backstore.discard(offset, length);
    } else if (lu.backstore.writeSame !== undefined) {
      await lu.backstore.writeSame(offset, length, pattern);
    } else {
      const per = Math.max(1, Math.min(p.blocks, Math.floor((1024 * 1024) / bs)));
      const chunk = Buffer.allocUnsafe(per * bs);
      for (let i = 0; i < per; i++) pattern.copy(chunk, i * bs);
      for (let done = 0; done < length; done += chunk.length) {
        const n = Math.min(chunk.length, length - done);
        await lu.backstore.write(offset + done, n === chunk.length ? chunk : chunk.subarray(0, n), !lu.mode.wce);
      }
    }
  } finally {
    release();
  }
  return undefined;
}

// ---- UNMAP -------------------------------------------------------------------------

function parseUnmap(cdb: Buffer): Parsed {
  // ANCHOR with ANC_SUP 0 → INVALID FIELD IN CDB (SBC-4 "UNMAP command").
  checkReserved(cdb, 1, 0xff);
  checkControl(cdb, 9);
  return parsed(cdb.readUInt16BE(7), 0);
}

async function executeUnmap(ctx: ExecContext): Promise<undefined> {
  const { lu } = ctx;
  if (ctx.p.dataOutLength === 0) return undefined; // SBC-4: zero length list is not an error
  const param = dataOut(ctx);
  // SBC-4 "UNMAP parameter list": 8-byte header, 16-byte block descriptors.
  if (param.length < 8) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
  const bdLength = param.readUInt16BE(2);
  const count = Math.floor(Math.min(bdLength, param.length - 8) / 16);
  if (count > lu.maxUnmapDescriptors) throw invalidParam(2);
  const cap = lu.capacityBlocks;
  const ranges: LbaRange[] = [];
  for (let i = 0; i < count; i++) {
    const off = 8 + 16 * i;
    const lba = readLba64(param, off);
    const blocks = param.readUInt32BE(off + 8);
    if (blocks > lu.maxUnmapBlocks) throw invalidParam(off + 8);
    checkLbaRange(lba, blocks, cap);
    if (blocks > 0) ranges.push({ lba, blocks });
  }
  const discard = lu.backstore.discard;
  if (discard === undefined) throw new ScsiError('INVALID_COMMAND_OPCODE');
  const bs = lu.blockSize;
  await Promise.all(
    ranges.map(async (r) => {
      const held = sharedLock(lu, r.lba, r.blocks);
      const release = typeof held === 'function' ? held : await held;
      try {
        await discard.call(lu.backstore, r.lba * bs, r.blocks * bs);
      } finally {
        release();
      }
    }),
  );
  return undefined;
}

// ---- READ CAPACITY / GET LBA STATUS --------------------------------------------------

function parseReadCapacity10(cdb: Buffer): Parsed {
  checkReserved(cdb, 1, 0xff);
  checkControl(cdb, 9);
  // SBC-3 "READ CAPACITY (10)": PMI 0 with a non-zero LOGICAL BLOCK ADDRESS → INVALID FIELD IN CDB.
  if ((cdb.readUInt8(8) & 0x01) === 0 && cdb.readUInt32BE(2) !== 0) throw invalidField(2);
  return parsed(0, 8);
}

function executeReadCapacity10(ctx: ExecContext): Buffer {
  const { lu } = ctx;
  const b = Buffer.alloc(8);
  const last = lu.capacityBlocks - 1;
  // SBC-4: RETURNED LOGICAL BLOCK ADDRESS FFFFFFFFh when the capacity needs READ CAPACITY (16).
  b.writeUInt32BE(last > 0xfffffffe ? 0xffffffff : Math.max(0, last), 0);
  b.writeUInt32BE(lu.blockSize, 4);
  return b;
}

function parseReadCapacity16(cdb: Buffer): Parsed {
  checkControl(cdb, 15);
  return parsed(0, cdb.readUInt32BE(10));
}

function executeReadCapacity16(ctx: ExecContext): Buffer {
  const { lu } = ctx;
  const b = Buffer.alloc(32);
  b.writeBigUInt64BE(BigInt(Math.max(0, lu.capacityBlocks - 1)), 0); // RETURNED LOGICAL BLOCK ADDRESS
  b.writeUInt32BE(lu.blockSize, 8); // LOGICAL BLOCK LENGTH IN BYTES
  b.writeUInt8(0x00, 12); // P_TYPE / PROT_EN 0
  b.writeUInt8(lu.lbppbExponent & 0x0f, 13); // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT
  // LBPME | LBPRZ when thin; LOWEST ALIGNED LOGICAL BLOCK ADDRESS 0.
  b.writeUInt8(lu.thin ? 0xc0 : 0x00, 14);
  return b;
}

function parseGetLbaStatus(cdb: Buffer, lu: LogicalUnit): Parsed {
  checkControl(cdb, 15);
  const lba = readLba64(cdb, 2);
  // SBC-4 "GET LBA STATUS": STARTING LBA beyond the last LBA → LBA OUT OF RANGE.
  if (lba >= lu.capacityBlocks) throw new ScsiError('LBA_OUT_OF_RANGE');
  return parsed(0, cdb.readUInt32BE(10), lba, 0);
}

/** First span asked of mapAllocation; it grows 4x per round up to the limit (bounded work on fragmented stores). */
const LBA_STATUS_FIRST_WINDOW_BYTES = 8 * 1024 * 1024;
/** Most bytes one GET LBA STATUS looks at. */
const LBA_STATUS_LIMIT_BYTES = 1024 * 1024 * 1024;

interface LbaStatusDescriptor {
  lba: number;
  blocks: number;
  /** PROVISIONING STATUS: 0 mapped, 1 deallocated. */
  status: number;
}

/** Appends [start, end) with a status, merging with the previous descriptor; a block partly mapped counts as mapped. */
function appendStatus(descs: LbaStatusDescriptor[], start: number, end: number, status: number): void {
  let last = descs[descs.length - 1];
  if (last !== undefined && last.lba + last.blocks > start) {
    if (status === 0 && last.status !== 0) {
      last.blocks = start - last.lba;
      if (last.blocks <= 0) descs.pop();
      last = descs[descs.length - 1];
    } else {
      start = last.lba + last.blocks;
    }
  }
  if (end <= start) return;
  if (last !== undefined && last.status === status && last.lba + last.blocks === start) last.blocks += end - start;
  else descs.push({ lba: start, blocks: end - start, status });
}

/**
 * SBC-4 "GET LBA STATUS": LBA status descriptors from the STARTING LBA on. The
 * backstore's allocation map is asked for growing windows until the allocation
 * length is filled (one more descriptor proves the last one complete) or the limit is reached.
 */
async function executeGetLbaStatus(ctx: ExecContext): Promise<Buffer> {
  const { lu, p } = ctx;
  const bs = lu.blockSize;
  const maxDescriptors = Math.max(1, Math.min(1024, Math.floor((p.dataInLength - 8) / 16)));
  const endLba = p.lba + Math.min(lu.capacityBlocks - p.lba, Math.floor(LBA_STATUS_LIMIT_BYTES / bs), 0xffffffff);
  const descs: LbaStatusDescriptor[] = [];
  const map = lu.backstore.mapAllocation;
  if (map === undefined) {
    descs.push({ lba: p.lba, blocks: endLba - p.lba, status: 0 });
  } else {
    let pos = p.lba;
    let window = Math.max(1, Math.floor(LBA_STATUS_FIRST_WINDOW_BYTES / bs));
    while (pos < endLba && descs.length <= maxDescriptors) {
      const n = Math.min(window, endLba - pos);
      const extents = await map.call(lu.backstore, pos * bs, n * bs);
      for (const e of extents) {
        if (e.allocated) appendStatus(descs, Math.floor(e.offset / bs), Math.ceil((e.offset + e.length) / bs), 0);
        else appendStatus(descs, Math.ceil(e.offset / bs), Math.floor((e.offset + e.length) / bs), 1);
      }
      pos += n;
      window *= 4;
    }
  }
  const n = Math.min(descs.length, maxDescriptors);
  const b = Buffer.alloc(8 + 16 * n);
  b.writeUInt32BE(4 + 16 * n, 0); // PARAMETER DATA LENGTH (n - 3)
  for (let i = 0; i < n; i++) {
    const d = descs[i]!;
    const off = 8 + 16 * i;
    b.writeBigUInt64BE(BigInt(d.lba), off); // LOGICAL BLOCK ADDRESS
    b.writeUInt32BE(d.blocks, off + 8); // NUMBER OF LOGICAL BLOCKS
    b.writeUInt8(d.status, off + 12); // PROVISIONING STATUS
  }
  return b;
}

// ---- READ DEFECT DATA -------------------------------------------------------------------

/**
 * SBC-4 "READ DEFECT DATA (10)/(12)": a virtual medium has no defects. The header
 * echoes the requested DEFECT LIST FORMAT with PLISTV/GLISTV 0 and an empty list.
 */
function parseReadDefectData10(cdb: Buffer): Parsed {
  checkControl(cdb, 9);
  return parsed(0, cdb.readUInt16BE(7), 0, 0, cdb.readUInt8(2) & 0x07);
}

function parseReadDefectData12(cdb: Buffer): Parsed {
  checkControl(cdb, 11);
  return parsed(0, cdb.readUInt32BE(6), 0, 0, cdb.readUInt8(1) & 0x07);
}

function executeReadDefectData(ctx: ExecContext, twelve: boolean): Buffer {
  const b = Buffer.alloc(twelve ? 8 : 4);
  b.writeUInt8(ctx.p.flags & 0x07, 1); // PLISTV 0 | GLISTV 0 | DEFECT LIST FORMAT
  return b; // DEFECT LIST LENGTH 0
}

// ---- COMPARE AND WRITE -----------------------------------------------------------------

function parseCompareAndWrite(cdb: Buffer, lu: LogicalUnit): Parsed {
  checkProtect(cdb);
  checkControl(cdb, 15);
  const lba = readLba64(cdb, 2);
  const blocks = cdb.readUInt8(13);
  checkLbaRange(lba, blocks, lu.capacityBlocks);
  // SBC-4 "COMPARE AND WRITE": NUMBER OF LOGICAL BLOCKS above MAXIMUM COMPARE AND WRITE LENGTH → INVALID FIELD IN CDB.
  if (blocks > lu.maxCompareAndWriteBlocks) throw invalidField(13);
  const fua = (cdb.readUInt8(1) & 0x08) !== 0 ? F_FUA : 0;
  return parsed(2 * blocks * lu.blockSize, 0, lba, blocks, fua);
}

async function executeCompareAndWrite(ctx: ExecContext): Promise<undefined> {
  const { lu, p } = ctx;
  if (p.blocks === 0) return undefined; // SBC-4: zero blocks is not an error
  const bs = lu.blockSize;
  const data = dataOut(ctx);
  const len = p.blocks * bs;
  const verify = data.subarray(0, len);
  const write = data.subarray(len, 2 * len);
  const native = lu.backstore.compareAndWrite;
  let mismatch: number;
  if (native !== undefined) {
    const release = await lu.rangeLock.acquireExclusive(p.lba, p.lba + p.blocks);
    try {
      mismatch = await native.call(lu.backstore, p.lba * bs, verify, write);
    } finally {
      release();
    }
  } else {
    const release = await lu.rangeLock.acquireExclusive(p.lba, p.lba + p.blocks);
    try {
      const cur = Buffer.allocUnsafe(len);
      await lu.backstore.read(p.lba * bs, cur);
      mismatch = firstMismatch(cur, verify);
      if (mismatch < 0) await lu.backstore.write(p.lba * bs, write, (p.flags & F_FUA) !== 0 || !lu.mode.wce);
    } finally {
      release();
    }
  }
  // SBC-4: MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION, INFORMATION = offset of the first differing byte.
  if (mismatch >= 0) throw new ScsiError('MISCOMPARE_DURING_VERIFY', { information: mismatch });
  return undefined;
}

// ---- WRITE ATOMIC (16) -----------------------------------------------------------------

/** Largest atomic write, and the alignment every atomic write starts on (bytes). */
const ATOMIC_BYTES = 128 * 1024;
/** Atomic transfer lengths are whole 4 KiB units (the allocation unit of RBD and of file systems). */
const ATOMIC_GRANULE_BYTES = 4096;

/** Block Limits VPD atomic fields, in logical blocks (SBC-4 "Block Limits VPD page"). */
export interface AtomicLimits {
  /** MAXIMUM ATOMIC TRANSFER LENGTH. */
  maxBlocks: number;
  /** ATOMIC ALIGNMENT. */
  alignment: number;
  /** ATOMIC TRANSFER LENGTH GRANULARITY. */
  granularity: number;
}

/**
 * An atomic write starts on a 128 KiB boundary and is at most 128 KiB, so it never
 * crosses an RBD object (4 MiB or any power of two above 128 KiB): the image applies it
 * as one object operation, all or nothing. Between commands atomicity comes from the
 * exclusive range lock, as COMPARE AND WRITE.
 */
export function atomicLimits(lu: LogicalUnit): AtomicLimits {
  const bs = lu.blockSize;
  const maxBlocks = Math.max(1, Math.min(lu.maxTransferBlocks, Math.floor(ATOMIC_BYTES / bs)));
  return { maxBlocks, alignment: maxBlocks, granularity: Math.max(1, Math.min(maxBlocks, Math.floor(ATOMIC_GRANULE_BYTES / bs))) };
}

function parseWriteAtomic16(cdb: Buffer, lu: LogicalUnit): Parsed {
  checkProtect(cdb);
  checkControl(cdb, 15);
  // SBC-4 "WRITE ATOMIC (16)": byte 1 WRPROTECT | DPO | FUA, bits 2-0 reserved; bytes 10-11 ATOMIC BOUNDARY
  // (MAXIMUM ATOMIC BOUNDARY SIZE 0: any non-zero value is INVALID FIELD IN CDB); bytes 12-13 TRANSFER LENGTH.
  checkReserved(cdb, 1, 0x07);
  if (cdb.readUInt16BE(10) !== 0) throw invalidField(10);
  const lba = readLba64(cdb, 2);
  const blocks = cdb.readUInt16BE(12);
  // Range first (LBA OUT OF RANGE), then the atomic limits (INVALID FIELD IN CDB), as READ/WRITE.
  checkLbaRange(lba, blocks, lu.capacityBlocks);
  const lim = atomicLimits(lu);
  if (blocks > lim.maxBlocks) throw invalidField(12);
  if (blocks % lim.granularity !== 0) throw invalidField(12);
  if (lba % lim.alignment !== 0) throw invalidField(2);
  const fua = (cdb.readUInt8(1) & 0x08) !== 0 ? F_FUA : 0;
  return parsed(blocks * lu.blockSize, 0, lba, blocks, fua);
}

async function executeWriteAtomic(ctx: ExecContext): Promise<undefined> {
  const { lu, p } = ctx;
  if (p.blocks === 0) return undefined;
  // All or nothing: a short Data-Out writes nothing (no overflow option (a) here).
  const data = dataOut(ctx);
  const release = await lu.rangeLock.acquireExclusive(p.lba, p.lba + p.blocks);
  try {
    await lu.backstore.write(p.lba * lu.blockSize, data, (p.flags & F_FUA) !== 0 || !lu.mode.wce);
  } finally {
    release();
  }
  return undefined;
}

// ---- the table -------------------------------------------------------------------------

const RW6 = (op: number) => [op, 0x1f, 0xff, 0xff, 0xff, 0x00];
const RW10 = (op: number, b1: number) => [op, b1, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x00];
const RW12 = (op: number, b1: number) => [op, b1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00];
const RW16 = (op: number, b1: number) => [op, b1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00];

export const SBC_COMMANDS: readonly CommandDescriptor[] = [
  { op: ScsiOp.READ_CAPACITY_10, name: 'READ CAPACITY(10)', usage: [0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0], alua: AluaAllowed.ACTIVE, parse: parseReadCapacity10, execute: executeReadCapacity10 },
  {
    op: ScsiOp.SERVICE_ACTION_IN_16,
    sa: ServiceActionIn16.READ_CAPACITY_16,
    name: 'READ CAPACITY(16)',
    usage: [0x9e, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    alua: AluaAllowed.STANDBY,
    parse: parseReadCapacity16,
    execute: executeReadCapacity16,
  },
  {
    op: ScsiOp.SERVICE_ACTION_IN_16,
    sa: ServiceActionIn16.GET_LBA_STATUS,
    name: 'GET LBA STATUS',
    usage: [0x9e, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0],
    alua: AluaAllowed.ACTIVE,
    parse: parseGetLbaStatus,
    execute: executeGetLbaStatus,
  },
  { op: ScsiOp.READ_6, name: 'READ(6)', usage: RW6(0x08), alua: AluaAllowed.ACTIVE, parse: parseRead6, execute: executeRead },
  { op: ScsiOp.READ_10, name: 'READ(10)', usage: RW10(0x28, 0xfa), alua: AluaAllowed.ACTIVE, parse: readParse(decodeRw10, 7, 9), execute: executeRead },
  { op: ScsiOp.READ_12, name: 'READ(12)', usage: RW12(0xa8, 0xfa), alua: AluaAllowed.ACTIVE, parse: readParse(decodeRw12, 6, 11), execute: executeRead },
  { op: ScsiOp.READ_16, name: 'READ(16)', usage: RW16(0x88, 0xfa), alua: AluaAllowed.ACTIVE, parse: readParse(decodeRw16, 10, 15), execute: executeRead },
  { op: ScsiOp.WRITE_6, name: 'WRITE(6)', usage: RW6(0x0a), alua: AluaAllowed.ACTIVE, write: true, parse: parseWrite6, execute: executeWrite },
  { op: ScsiOp.WRITE_10, name: 'WRITE(10)', usage: RW10(0x2a, 0xfa), alua: AluaAllowed.ACTIVE, write: true, parse: writeParse(decodeRw10, 7, 9), execute: executeWrite },
  { op: ScsiOp.WRITE_12, name: 'WRITE(12)', usage: RW12(0xaa, 0xfa), alua: AluaAllowed.ACTIVE, write: true, parse: writeParse(decodeRw12, 6, 11), execute: executeWrite },
  { op: ScsiOp.WRITE_16, name: 'WRITE(16)', usage: RW16(0x8a, 0xfa), alua: AluaAllowed.ACTIVE, write: true, parse: writeParse(decodeRw16, 10, 15), execute: executeWrite },
  { op: ScsiOp.WRITE_AND_VERIFY_10, name: 'WRITE AND VERIFY(10)', usage: RW10(0x2e, 0xf2), alua: AluaAllowed.ACTIVE, write: true, parse: writeVerifyParse(decodeRw10, 7, 9), execute: executeWriteVerify },
  { op: ScsiOp.WRITE_AND_VERIFY_12, name: 'WRITE AND VERIFY(12)', usage: RW12(0xae, 0xf2), alua: AluaAllowed.ACTIVE, write: true, parse: writeVerifyParse(decodeRw12, 6, 11), execute: executeWriteVerify },
  { op: ScsiOp.WRITE_AND_VERIFY_16, name: 'WRITE AND VERIFY(16)', usage: RW16(0x8e, 0xf2), alua: AluaAllowed.ACTIVE, write: true, parse: writeVerifyParse(decodeRw16, 10, 15), execute: executeWriteVerify },
  { op: ScsiOp.VERIFY_10, name: 'VERIFY(10)', usage: RW10(0x2f, 0xf6), alua: AluaAllowed.ACTIVE, parse: verifyParse(decodeRw10, 7, 9), execute: executeVerify },
  { op: ScsiOp.VERIFY_12, name: 'VERIFY(12)', usage: RW12(0xaf, 0xf6), alua: AluaAllowed.ACTIVE, parse: verifyParse(decodeRw12, 6, 11), execute: executeVerify },
  { op: ScsiOp.VERIFY_16, name: 'VERIFY(16)', usage: RW16(0x8f, 0xf6), alua: AluaAllowed.ACTIVE, parse: verifyParse(decodeRw16, 10, 15), execute: executeVerify },
  { op: ScsiOp.ORWRITE_16, name: 'ORWRITE(16)', usage: RW16(0x8b, 0xf8), alua: AluaAllowed.ACTIVE, write: true, parse: writeParse(decodeRw16, 10, 15), execute: executeOrWrite },
  { op: ScsiOp.PRE_FETCH_10, name: 'PRE-FETCH(10)', usage: RW10(0x34, 0x02), alua: AluaAllowed.ACTIVE, parse: parsePrefetch10, execute: () => undefined },
  { op: ScsiOp.PRE_FETCH_16, name: 'PRE-FETCH(16)', usage: RW16(0x90, 0x02), alua: AluaAllowed.ACTIVE, parse: parsePrefetch16, execute: () => undefined },
  { op: ScsiOp.SYNCHRONIZE_CACHE_10, name: 'SYNCHRONIZE CACHE(10)', usage: RW10(0x35, 0x06), alua: AluaAllowed.ACTIVE, parse: parseSync10, execute: executeSync },
  { op: ScsiOp.SYNCHRONIZE_CACHE_16, name: 'SYNCHRONIZE CACHE(16)', usage: RW16(0x91, 0x06), alua: AluaAllowed.ACTIVE, parse: parseSync16, execute: executeSync },
  { op: ScsiOp.WRITE_SAME_10, name: 'WRITE SAME(10)', usage: RW10(0x41, 0xe8), alua: AluaAllowed.ACTIVE, write: true, parse: writeSameParse(false), execute: executeWriteSame },
  { op: ScsiOp.WRITE_SAME_16, name: 'WRITE SAME(16)', usage: RW16(0x93, 0xe9), alua: AluaAllowed.ACTIVE, write: true, parse: writeSameParse(true), execute: executeWriteSame },
  { op: ScsiOp.READ_DEFECT_DATA_10, name: 'READ DEFECT DATA(10)', usage: [0x37, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0], alua: AluaAllowed.ACTIVE, parse: parseReadDefectData10, execute: (ctx) => executeReadDefectData(ctx, false) },
  { op: ScsiOp.READ_DEFECT_DATA_12, name: 'READ DEFECT DATA(12)', usage: [0xb7, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0], alua: AluaAllowed.ACTIVE, parse: parseReadDefectData12, execute: (ctx) => executeReadDefectData(ctx, true) },
  { op: ScsiOp.UNMAP, name: 'UNMAP', usage: [0x42, 0, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0], alua: AluaAllowed.ACTIVE, write: true, parse: parseUnmap, execute: executeUnmap },
  {
    op: ScsiOp.WRITE_ATOMIC_16,
    name: 'WRITE ATOMIC(16)',
    usage: [0x9c, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0],
    alua: AluaAllowed.ACTIVE,
    write: true,
    parse: parseWriteAtomic16,
    execute: executeWriteAtomic,
  },
  {
    op: ScsiOp.COMPARE_AND_WRITE,
    name: 'COMPARE AND WRITE',
    usage: [0x89, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0x1f, 0],
    alua: AluaAllowed.ACTIVE,
    write: true,
    parse: parseCompareAndWrite,
    execute: executeCompareAndWrite,
  },
];

/** Commands that exist only when the backstore can deallocate (capability by presence, STYLE.md §4.6). */
export const THIN_ONLY_OPS: ReadonlySet<number> = new Set([ScsiOp.UNMAP, ScsiOp.SANITIZE]);

/** Commands whose Data-Out size must equal the iSCSI Expected Data Transfer Length (LIO checks the same). */
export const STRICT_DATA_OUT_OPS: ReadonlySet<number> = new Set([ScsiOp.WRITE_SAME_10, ScsiOp.WRITE_SAME_16, ScsiOp.COMPARE_AND_WRITE]);
