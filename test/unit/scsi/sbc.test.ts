// SBC handlers over the memory backstore: SPDK scsi_bdev_ut-style boundary tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiStatus } from '../../../src/scsi/command.js';
import { ScsiOp } from '../../../src/scsi/constants.js';
import { cdb, cdb10, cdb16, makeLu, openPort, run, senseOf } from './helpers.js';

const BS = 512;
const SIZE = 8 * 1024 * 1024;
const CAP = SIZE / BS;
const ILLEGAL = 0x5;

function pattern(blocks: number, seed: number): Buffer {
  const b = Buffer.alloc(blocks * BS);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

test('READ/WRITE (10) range boundaries: cap-1, cap, beyond, 2^31, -1, zero length', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  const cases: Array<[string, number, number, 'good' | 'oob']> = [
    ['last block', CAP - 1, 1, 'good'],
    ['zero blocks at cap', CAP, 0, 'good'],
    ['zero blocks past cap', CAP + 1, 0, 'oob'],
    ['one block at cap', CAP, 1, 'oob'],
    ['two blocks at cap-1', CAP - 1, 2, 'oob'],
    ['lba 2^31', 0x80000000, 1, 'oob'],
    ['lba -1', 0xffffffff, 1, 'oob'],
    ['zero blocks at 0', 0, 0, 'good'],
  ];
  for (const [name, lba, blocks, want] of cases) {
    for (const op of [ScsiOp.READ_10, ScsiOp.WRITE_10]) {
      const r = await run(port, cdb10(op, lba, blocks), { dataOut: Buffer.alloc(blocks * BS) });
      if (want === 'good') assert.equal(r.status, ScsiStatus.GOOD, `${name} op ${op}`);
      else assert.deepEqual(senseOf(r), [ILLEGAL, 0x21, 0x00], `${name} op ${op}`);
    }
  }
});

test('READ (16) with LBA 2^64-1 and 2^63 is LBA OUT OF RANGE, not a crash', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  for (const lba of [0xffffffffffffffffn, 0x8000000000000000n, BigInt(CAP)]) {
    const r = await run(port, cdb16(ScsiOp.READ_16, lba, 1));
    assert.deepEqual(senseOf(r), [ILLEGAL, 0x21, 0x00]);
  }
  // wrap: lba + length overflows 64 bits
  const r = await run(port, cdb16(ScsiOp.READ_16, 0xfffffffffffffff0n, 0x20));
  assert.deepEqual(senseOf(r), [ILLEGAL, 0x21, 0x00]);
});

test('READ (6) transfer length 0 means 256 blocks', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  const r = await run(port, cdb(ScsiOp.READ_6, 0, 0, 0, 0, 0));
  assert.equal(r.status, ScsiStatus.GOOD);
  assert.equal(r.dataIn?.length, 256 * BS);
});

test('WRITE then READ round trip for every CDB size, data lands at the right offset', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  const sizes: Array<[number, (lba: number, n: number) => Buffer]> = [
    [ScsiOp.WRITE_6, (lba, n) => cdb(ScsiOp.WRITE_6, (lba >> 16) & 0x1f, lba >> 8, lba, n, 0)],
    [ScsiOp.WRITE_10, (lba, n) => cdb10(ScsiOp.WRITE_10, lba, n)],
    [ScsiOp.WRITE_12, (lba, n) => {
      const b = Buffer.alloc(12);
      b[0] = ScsiOp.WRITE_12;
      b.writeUInt32BE(lba, 2);
      b.writeUInt32BE(n, 6);
      return b;
    }],
    [ScsiOp.WRITE_16, (lba, n) => cdb16(ScsiOp.WRITE_16, lba, n)],
  ];
  let seed = 1;
  for (const [, make] of sizes) {
    const lba = 100 * seed;
    const data = pattern(3, seed);
    const w = await run(port, make(lba, 3), { dataOut: data });
    assert.equal(w.status, ScsiStatus.GOOD);
    const direct = Buffer.alloc(3 * BS);
    await store.read(lba * BS, direct);
    assert.deepEqual(direct, data);
    const r = await run(port, cdb16(ScsiOp.READ_16, lba, 3));
    assert.deepEqual(r.dataIn, data);
    seed++;
  }
});

test('transfer length over MAXIMUM TRANSFER LENGTH is INVALID FIELD IN CDB', async () => {
  const { lu } = makeLu(SIZE, { maxTransferBlocks: 64 });
  const port = await openPort(lu);
  const r = await run(port, cdb10(ScsiOp.READ_10, 0, 65));
  assert.deepEqual(senseOf(r), [ILLEGAL, 0x24, 0x00]);
  const ok = await run(port, cdb10(ScsiOp.READ_10, 0, 64));
  assert.equal(ok.status, ScsiStatus.GOOD);
});

test('RDPROTECT/WRPROTECT non-zero is INVALID FIELD IN CDB; DPO/FUA accepted and FUA reaches the store', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_10, 0, 1, 0x20))), [ILLEGAL, 0x24, 0x00]);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.WRITE_10, 0, 1, 0x40), { dataOut: Buffer.alloc(BS) })), [ILLEGAL, 0x24, 0x00]);
  let sawFua: boolean | undefined;
  const orig = store.write.bind(store);
  store.write = (off, src, fua) => {
    sawFua = fua;
    return orig(off, src, fua);
  };
  lu.mode.wce = true;
  assert.equal((await run(port, cdb10(ScsiOp.WRITE_10, 0, 1, 0x18), { dataOut: Buffer.alloc(BS) })).status, ScsiStatus.GOOD);
  assert.equal(sawFua, true);
  assert.equal((await run(port, cdb10(ScsiOp.WRITE_10, 0, 1, 0x10), { dataOut: Buffer.alloc(BS) })).status, ScsiStatus.GOOD);
  assert.equal(sawFua, false);
  // WCE 0: every write is durable
  lu.mode.wce = false;
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(BS) });
  assert.equal(sawFua, true);
});

test('READ CAPACITY (10) and (16): last LBA, block size, LBPME/LBPRZ only when thin, exponent', async () => {
  const thin = makeLu(SIZE);
  const port = await openPort(thin.lu);
  const r10 = await run(port, cdb10(ScsiOp.READ_CAPACITY_10, 0, 0));
  assert.equal(r10.dataIn?.readUInt32BE(0), CAP - 1);
  assert.equal(r10.dataIn?.readUInt32BE(4), BS);
  const c16 = cdb16(ScsiOp.SERVICE_ACTION_IN_16, 0, 32, 0x10);
  const r16 = await run(port, c16);
  assert.equal(r16.dataIn?.length, 32);
  assert.equal(r16.dataIn?.readBigUInt64BE(0), BigInt(CAP - 1));
  assert.equal(r16.dataIn?.readUInt32BE(8), BS);
  assert.equal(r16.dataIn?.readUInt8(13), 0); // LIO default: exponent 0
  assert.equal(r16.dataIn?.readUInt8(14), 0xc0);
  // allocation length truncates
  const short = await run(port, cdb16(ScsiOp.SERVICE_ACTION_IN_16, 0, 12, 0x10));
  assert.equal(short.dataIn?.length, 12);
  const thick = makeLu(SIZE, { physicalBlockSize: 4096 }, { thin: false });
  const p2 = await openPort(thick.lu);
  const t16 = await run(p2, c16);
  assert.equal(t16.dataIn?.readUInt8(14), 0x00);
  assert.equal(t16.dataIn?.readUInt8(13), 3); // 4096 / 512 = 2^3
  // PMI 0 with a non-zero LBA
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_CAPACITY_10, 5, 0))), [ILLEGAL, 0x24, 0x00]);
});

test('READ CAPACITY (10) reports FFFFFFFFh when the capacity needs (16)', async () => {
  const big = 0x1_0000_0001 * BS;
  // A fake store that only reports the size (no I/O happens).
  const { lu } = makeLu(SIZE);
  Object.defineProperty(lu.backstore, 'sizeBytes', { get: () => big });
  const port = await openPort(lu);
  const r10 = await run(port, cdb10(ScsiOp.READ_CAPACITY_10, 0, 0));
  assert.equal(r10.dataIn?.readUInt32BE(0), 0xffffffff);
  const r16 = await run(port, cdb16(ScsiOp.SERVICE_ACTION_IN_16, 0, 32, 0x10));
  assert.equal(r16.dataIn?.readBigUInt64BE(0), 0x1_0000_0000n);
});

test('VERIFY: BYTCHK 0 checks the range only, BYTCHK 1 compares and reports the miscompare offset', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  const data = pattern(4, 9);
  await run(port, cdb10(ScsiOp.WRITE_10, 10, 4), { dataOut: data });
  assert.equal((await run(port, cdb10(ScsiOp.VERIFY_10, 10, 4))).status, ScsiStatus.GOOD);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.VERIFY_10, CAP - 1, 2))), [ILLEGAL, 0x21, 0x00]);
  assert.equal((await run(port, cdb10(ScsiOp.VERIFY_10, 10, 4, 0x02), { dataOut: data })).status, ScsiStatus.GOOD);
  const bad = Buffer.from(data);
  bad[1234] = bad[1234]! ^ 0x58;
  const r = await run(port, cdb10(ScsiOp.VERIFY_10, 10, 4, 0x02), { dataOut: bad });
  assert.equal(r.status, ScsiStatus.CHECK_CONDITION);
  assert.deepEqual(senseOf(r), [0xe, 0x1d, 0x00]);
  assert.equal(r.sense?.readUInt8(0), 0xf0); // VALID | fixed current
  assert.equal(r.sense?.readUInt32BE(3), 1234); // INFORMATION
  // BYTCHK 10b is reserved
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.VERIFY_10, 10, 4, 0x04))), [ILLEGAL, 0x24, 0x00]);
  // BYTCHK 11b: one block compared with each block
  const same = Buffer.alloc(BS, 0x33);
  await run(port, cdb10(ScsiOp.WRITE_10, 20, 3), { dataOut: Buffer.alloc(3 * BS, 0x33) });
  const r11 = await run(port, cdb10(ScsiOp.VERIFY_10, 20, 3, 0x06), { dataOut: same });
  assert.equal(r11.dataOutLength, BS);
  assert.equal(r11.status, ScsiStatus.GOOD);
});

test('WRITE AND VERIFY writes through and accepts BYTCHK 1', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  const data = pattern(2, 3);
  const r = await run(port, cdb10(ScsiOp.WRITE_AND_VERIFY_10, 7, 2, 0x02), { dataOut: data });
  assert.equal(r.status, ScsiStatus.GOOD);
  const back = Buffer.alloc(2 * BS);
  await store.read(7 * BS, back);
  assert.deepEqual(back, data);
});

test('ORWRITE ORs the Data-Out into the medium', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(BS, 0x0f) });
  await run(port, cdb16(ScsiOp.ORWRITE_16, 0, 1), { dataOut: Buffer.alloc(BS, 0x30) });
  const r = await run(port, cdb10(ScsiOp.READ_10, 0, 1));
  assert.deepEqual(r.dataIn, Buffer.alloc(BS, 0x3f));
});

test('PRE-FETCH and SYNCHRONIZE CACHE: GOOD in range, LBA OUT OF RANGE beyond; sync flushes', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  assert.equal((await run(port, cdb10(ScsiOp.PRE_FETCH_10, CAP - 1, 1))).status, ScsiStatus.GOOD);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.PRE_FETCH_10, CAP, 1))), [ILLEGAL, 0x21, 0x00]);
  assert.deepEqual(senseOf(await run(port, cdb16(ScsiOp.PRE_FETCH_16, 0xffffffffffffffffn, 1))), [ILLEGAL, 0x21, 0x00]);
  const before = store.stats.flushes;
  assert.equal((await run(port, cdb10(ScsiOp.SYNCHRONIZE_CACHE_10, 0, 0))).status, ScsiStatus.GOOD);
  assert.equal((await run(port, cdb16(ScsiOp.SYNCHRONIZE_CACHE_16, 0, 0))).status, ScsiStatus.GOOD);
  assert.equal(store.stats.flushes, before + 2);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.SYNCHRONIZE_CACHE_10, CAP + 1, 0))), [ILLEGAL, 0x21, 0x00]);
});

test('WRITE SAME: pattern written, 0 blocks bounded by MAXIMUM WRITE SAME LENGTH, beyond EOL', async () => {
  const { lu } = makeLu(SIZE, { maxWriteSameBlocks: 0x100 });
  const port = await openPort(lu);
  const blk = Buffer.alloc(BS, 0xa6);
  assert.equal((await run(port, cdb10(ScsiOp.WRITE_SAME_10, 5, 3), { dataOut: blk })).status, ScsiStatus.GOOD);
  const r = await run(port, cdb10(ScsiOp.READ_10, 5, 3));
  assert.deepEqual(r.dataIn, Buffer.alloc(3 * BS, 0xa6));
  // 0 blocks at LBA 0 means "to the end": more than the maximum
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.WRITE_SAME_10, 0, 0), { dataOut: blk })), [ILLEGAL, 0x24, 0x00]);
  // max+1 from the end: INVALID FIELD; max from the end: GOOD; 0 blocks there too
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.WRITE_SAME_10, CAP - 0x101, 0x101), { dataOut: blk })), [ILLEGAL, 0x24, 0x00]);
  assert.equal((await run(port, cdb10(ScsiOp.WRITE_SAME_10, CAP - 0x100, 0x100), { dataOut: blk })).status, ScsiStatus.GOOD);
  assert.equal((await run(port, cdb10(ScsiOp.WRITE_SAME_10, CAP - 0x10, 0), { dataOut: blk })).status, ScsiStatus.GOOD);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.WRITE_SAME_10, CAP + 1, 0), { dataOut: blk })), [ILLEGAL, 0x21, 0x00]);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.WRITE_SAME_10, 0x80000000, 0), { dataOut: blk })), [ILLEGAL, 0x21, 0x00]);
  // ANCHOR without ANC_SUP
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.WRITE_SAME_10, 0, 1, 0x18), { dataOut: blk })), [ILLEGAL, 0x24, 0x00]);
  // Data-Out size other than one block (EDTL mismatch) is refused before data moves
  const half = await run(port, cdb10(ScsiOp.WRITE_SAME_10, 0, 1), { dataOut: Buffer.alloc(BS / 2), edtl: BS / 2 });
  assert.equal(half.prepared, false);
  assert.deepEqual(senseOf(half), [ILLEGAL, 0x24, 0x00]);
});

test('WRITE SAME with UNMAP then GET LBA STATUS shows a hole; UNMAP on a thick LU is refused', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 64), { dataOut: Buffer.alloc(64 * BS, 1) });
  const ws = await run(port, cdb16(ScsiOp.WRITE_SAME_16, 16, 16, 0x08), { dataOut: Buffer.alloc(BS) });
  assert.equal(ws.status, ScsiStatus.GOOD);
  const gls = await run(port, cdb16(ScsiOp.SERVICE_ACTION_IN_16, 0, 1024, 0x12));
  const d = gls.dataIn!;
  const n = (d.readUInt32BE(0) - 4) / 16;
  const descs = Array.from({ length: n }, (_, i) => [Number(d.readBigUInt64BE(8 + 16 * i)), d.readUInt32BE(16 + 16 * i), d.readUInt8(20 + 16 * i)]);
  assert.deepEqual(descs.slice(0, 3), [
    [0, 16, 0],
    [16, 16, 1],
    [32, 32, 0],
  ]);
  // reads back zero
  const r = await run(port, cdb10(ScsiOp.READ_10, 16, 16));
  assert.ok(r.dataIn?.equals(Buffer.alloc(16 * BS)));
  // UNMAP with a non-zero pattern still deallocates (LIO; WriteSame10.UnmapUntilEnd)
  await run(port, cdb10(ScsiOp.WRITE_10, 48, 8), { dataOut: Buffer.alloc(8 * BS, 0xff) });
  assert.equal((await run(port, cdb10(ScsiOp.WRITE_SAME_10, 48, 8, 0x08), { dataOut: Buffer.alloc(BS, 0xff) })).status, ScsiStatus.GOOD);
  assert.ok((await run(port, cdb10(ScsiOp.READ_10, 48, 8))).dataIn?.equals(Buffer.alloc(8 * BS)));
  // NDOB: no Data-Out, zeroes
  const nd = await run(port, cdb16(ScsiOp.WRITE_SAME_16, 40, 8, 0x09));
  assert.equal(nd.dataOutLength, 0);
  assert.equal(nd.status, ScsiStatus.GOOD);
  const thick = makeLu(SIZE, {}, { thin: false });
  const tp = await openPort(thick.lu);
  assert.deepEqual(senseOf(await run(tp, cdb10(ScsiOp.WRITE_SAME_10, 0, 1, 0x08), { dataOut: Buffer.alloc(BS) })), [ILLEGAL, 0x24, 0x00]);
  const um = Buffer.alloc(10);
  um[0] = ScsiOp.UNMAP;
  assert.deepEqual(senseOf(await run(tp, um)), [ILLEGAL, 0x20, 0x00]);
});

function unmapList(ranges: Array<[number | bigint, number]>): Buffer {
  const b = Buffer.alloc(8 + 16 * ranges.length);
  b.writeUInt16BE(6 + 16 * ranges.length, 0);
  b.writeUInt16BE(16 * ranges.length, 2);
  ranges.forEach(([lba, n], i) => {
    b.writeBigUInt64BE(BigInt(lba), 8 + 16 * i);
    b.writeUInt32BE(n, 16 + 16 * i);
  });
  return b;
}

function unmapCdb(len: number, anchor = false): Buffer {
  const c = Buffer.alloc(10);
  c[0] = ScsiOp.UNMAP;
  c[1] = anchor ? 1 : 0;
  c.writeUInt16BE(len, 7);
  return c;
}

test('UNMAP: descriptors deallocate, checks run before anything is unmapped', async () => {
  const { lu, store } = makeLu(SIZE, { maxUnmapDescriptors: 4, maxUnmapBlocks: 1024 });
  const port = await openPort(lu);
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 256), { dataOut: Buffer.alloc(256 * BS, 0x61) });
  const before = store.allocatedBytes;
  const good = unmapList([[0, 8], [64, 64]]);
  assert.equal((await run(port, unmapCdb(good.length), { dataOut: good })).status, ScsiStatus.GOOD);
  assert.equal(store.allocatedBytes, before - 72 * BS);
  // zero-length parameter list: GOOD, nothing happens
  assert.equal((await run(port, unmapCdb(0))).status, ScsiStatus.GOOD);
  // short parameter list
  assert.deepEqual(senseOf(await run(port, unmapCdb(4), { dataOut: Buffer.alloc(4) })), [ILLEGAL, 0x1a, 0x00]);
  // beyond end of medium: nothing unmapped, not even the valid first descriptor
  const mixed = unmapList([[128, 8], [CAP - 1, 2]]);
  const allocated = store.allocatedBytes;
  assert.deepEqual(senseOf(await run(port, unmapCdb(mixed.length), { dataOut: mixed })), [ILLEGAL, 0x21, 0x00]);
  assert.equal(store.allocatedBytes, allocated);
  // too many descriptors / too many blocks
  const many = unmapList([[0, 1], [1, 1], [2, 1], [3, 1], [4, 1]]);
  assert.deepEqual(senseOf(await run(port, unmapCdb(many.length), { dataOut: many })), [ILLEGAL, 0x26, 0x00]);
  const big = unmapList([[0, 1025]]);
  assert.deepEqual(senseOf(await run(port, unmapCdb(big.length), { dataOut: big })), [ILLEGAL, 0x26, 0x00]);
  // ANCHOR without ANC_SUP
  assert.deepEqual(senseOf(await run(port, unmapCdb(good.length, true), { dataOut: good })), [ILLEGAL, 0x24, 0x00]);
  // an LBA of 2^64-1 in the list
  const wrap = unmapList([[0xffffffffffffffffn, 1]]);
  assert.deepEqual(senseOf(await run(port, unmapCdb(wrap.length), { dataOut: wrap })), [ILLEGAL, 0x21, 0x00]);
});

test('GET LBA STATUS: first descriptor starts at the requested LBA; beyond EOL is LBA OUT OF RANGE', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 32), { dataOut: Buffer.alloc(32 * BS, 1) });
  for (const lba of [0, 3, 9, 31, 32, 33, CAP - 1]) {
    const r = await run(port, cdb16(ScsiOp.SERVICE_ACTION_IN_16, lba, 24, 0x12));
    assert.equal(r.status, ScsiStatus.GOOD);
    assert.equal(r.dataIn?.length, 24);
    assert.equal(Number(r.dataIn?.readBigUInt64BE(8)), lba);
    assert.equal(r.dataIn?.readUInt8(20), lba < 32 ? 0 : 1);
  }
  assert.deepEqual(senseOf(await run(port, cdb16(ScsiOp.SERVICE_ACTION_IN_16, CAP, 24, 0x12))), [ILLEGAL, 0x21, 0x00]);
  assert.deepEqual(senseOf(await run(port, cdb16(ScsiOp.SERVICE_ACTION_IN_16, 0xffffffffffffffffn, 24, 0x12))), [ILLEGAL, 0x21, 0x00]);
});

function caw(lba: number, blocks: number, b1 = 0): Buffer {
  const c = Buffer.alloc(16);
  c[0] = ScsiOp.COMPARE_AND_WRITE;
  c[1] = b1;
  c.writeBigUInt64BE(BigInt(lba), 2);
  c[13] = blocks;
  return c;
}

for (const native of [false, true]) {
  test(`COMPARE AND WRITE match / miscompare (native=${native})`, async () => {
    const { lu, store } = makeLu(SIZE, { maxCompareAndWriteBlocks: 4 }, { nativeCompareAndWrite: native });
    const port = await openPort(lu);
    await run(port, cdb10(ScsiOp.WRITE_10, 8, 2), { dataOut: Buffer.alloc(2 * BS, 0x41) });
    const ok = Buffer.concat([Buffer.alloc(2 * BS, 0x41), Buffer.alloc(2 * BS, 0x42)]);
    const r = await run(port, caw(8, 2), { dataOut: ok });
    assert.equal(r.dataOutLength, 4 * BS);
    assert.equal(r.status, ScsiStatus.GOOD);
    const now = Buffer.alloc(2 * BS);
    await store.read(8 * BS, now);
    assert.deepEqual(now, Buffer.alloc(2 * BS, 0x42));
    // miscompare: first differing byte offset in INFORMATION, medium unchanged
    const verify = Buffer.alloc(2 * BS, 0x42);
    verify[700] = 0;
    const bad = Buffer.concat([verify, Buffer.alloc(2 * BS, 0x43)]);
    const m = await run(port, caw(8, 2), { dataOut: bad });
    assert.deepEqual(senseOf(m), [0xe, 0x1d, 0x00]);
    assert.equal(m.sense?.readUInt32BE(3), 700);
    await store.read(8 * BS, now);
    assert.deepEqual(now, Buffer.alloc(2 * BS, 0x42));
    // over the maximum; zero blocks; beyond EOL
    assert.deepEqual(senseOf(await run(port, caw(0, 5), { dataOut: Buffer.alloc(10 * BS) })), [ILLEGAL, 0x24, 0x00]);
    assert.equal((await run(port, caw(0, 0))).status, ScsiStatus.GOOD);
    assert.deepEqual(senseOf(await run(port, caw(CAP - 1, 2), { dataOut: Buffer.alloc(4 * BS) })), [ILLEGAL, 0x21, 0x00]);
  });
}

test('COMPARE AND WRITE is atomic against a concurrent overlapping WRITE (gated backstore)', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(BS, 0x41) });
  // Gate the store's read so the CAW stalls between its compare read and its write.
  let openGate!: () => void;
  const gate = new Promise<void>((r) => (openGate = r));
  let readStarted!: () => void;
  const started = new Promise<void>((r) => (readStarted = r));
  const origRead = store.read.bind(store);
  store.read = async (off, dest) => {
    readStarted();
    await gate;
    return origRead(off, dest);
  };
  const order: string[] = [];
  const origWrite = store.write.bind(store);
  store.write = async (off, src, fua) => {
    order.push(`write:${src[0]!.toString(16)}`);
    return origWrite(off, src, fua);
  };
  const cawP = run(port, caw(0, 1), { dataOut: Buffer.concat([Buffer.alloc(BS, 0x41), Buffer.alloc(BS, 0x42)]) });
  await started;
  const wP = run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(BS, 0x43) });
  // Non-overlapping writes are not held up by the CAW.
  const other = await run(port, cdb10(ScsiOp.WRITE_10, 100, 1), { dataOut: Buffer.alloc(BS, 0x44) });
  assert.equal(other.status, ScsiStatus.GOOD);
  assert.deepEqual(order, ['write:44']);
  openGate();
  const [c, w] = await Promise.all([cawP, wP]);
  assert.equal(c.status, ScsiStatus.GOOD);
  assert.equal(w.status, ScsiStatus.GOOD);
  // The overlapping WRITE waited for the CAW's write: CAW's data, then the plain write.
  assert.deepEqual(order, ['write:44', 'write:42', 'write:43']);
  store.read = origRead;
  const final = await run(port, cdb10(ScsiOp.READ_10, 0, 1));
  assert.deepEqual(final.dataIn, Buffer.alloc(BS, 0x43));
});

test('backstore errors map to MEDIUM ERROR (read), WRITE ERROR (write), NOT READY (timeout)', async () => {
  const { BackstoreError } = await import('../../../src/backstore/backstore.js');
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  store.read = () => Promise.reject(new BackstoreError('ERR_BACKSTORE_IO', 'boom', 'read'));
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_10, 0, 1))), [0x3, 0x11, 0x00]);
  store.write = () => Promise.reject(new BackstoreError('ERR_BACKSTORE_IO', 'boom', 'write'));
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(BS) })), [0x3, 0x0c, 0x00]);
  store.flush = () => Promise.reject(new BackstoreError('ERR_BACKSTORE_TIMEOUT', 'slow'));
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.SYNCHRONIZE_CACHE_10, 0, 0))), [0x2, 0x04, 0x00]);
});

test('WRITE with fewer Data-Out bytes than the CDB asks for (EDTL overflow): only the transferred whole blocks are written', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  const back = Buffer.alloc(2 * BS);
  for (const op of [ScsiOp.WRITE_10, ScsiOp.WRITE_AND_VERIFY_10]) {
    await run(port, cdb10(ScsiOp.WRITE_10, 0, 2), { dataOut: Buffer.alloc(2 * BS, 0x61) });
    // EDTL 0: GOOD, nothing written (iscsi-test-cu 1.19 Write10Residuals)
    const none = await run(port, cdb10(op, 0, 2), { dataOut: Buffer.alloc(0), edtl: 0, allowShort: true });
    assert.equal(none.status, ScsiStatus.GOOD);
    assert.equal(none.dataOutLength, 2 * BS); // the transport computes the overflow residual from this
    // a partial block cannot be written: INVALID FIELD IN COMMAND INFORMATION UNIT, nothing written
    const partial = await run(port, cdb10(op, 0, 2), { dataOut: Buffer.alloc(200, 0x62), edtl: 200, allowShort: true });
    assert.deepEqual(senseOf(partial), [ILLEGAL, 0x0e, 0x03]);
    await store.read(0, back);
    assert.ok(back.equals(Buffer.alloc(2 * BS, 0x61)));
    // one block of two: the first block is written, the second is not
    const one = await run(port, cdb10(op, 0, 2), { dataOut: Buffer.alloc(BS, 0x62), edtl: BS, allowShort: true });
    assert.equal(one.status, ScsiStatus.GOOD);
    await store.read(0, back);
    assert.ok(back.subarray(0, BS).equals(Buffer.alloc(BS, 0x62)));
    assert.ok(back.subarray(BS).equals(Buffer.alloc(BS, 0x61)));
  }
  // commands whose Data-Out is a parameter or compare buffer still need all of it
  const shortCaw = Buffer.alloc(16);
  shortCaw[0] = ScsiOp.COMPARE_AND_WRITE;
  shortCaw[13] = 1;
  const r = await run(port, shortCaw, { dataOut: Buffer.alloc(BS), edtl: BS, allowShort: true });
  assert.deepEqual(senseOf(r), [ILLEGAL, 0x24, 0x00]);
});

test('GET LBA STATUS: unaligned extents (a block partly mapped counts as mapped), windows grow until the descriptors are complete', async () => {
  const { lu, store } = makeLu(64 * 1024 * 1024);
  const port = await openPort(lu);
  const calls: Array<[number, number]> = [];
  // A fake map: bytes [0, 1000) mapped, [1000, 40 MiB) hole, the rest mapped.
  const HOLE_END = 40 * 1024 * 1024;
  store.mapAllocation = (off, len) => {
    calls.push([off, len]);
    const out: Array<{ offset: number; length: number; allocated: boolean }> = [];
    const end = off + len;
    const cut = (a: number, b: number, allocated: boolean) => {
      const s = Math.max(a, off);
      const e = Math.min(b, end);
      if (e > s) out.push({ offset: s, length: e - s, allocated });
    };
    cut(0, 1000, true);
    cut(1000, HOLE_END, false);
    cut(HOLE_END, 64 * 1024 * 1024, true);
    return Promise.resolve(out);
  };
  const r = await run(port, cdb16(ScsiOp.SERVICE_ACTION_IN_16, 0, 8 + 16 * 2, 0x12));
  const d = r.dataIn!;
  assert.equal(d.readUInt32BE(0), 4 + 32);
  // block 0 and 1 are (partly) mapped: bytes 0..999
  assert.deepEqual([Number(d.readBigUInt64BE(8)), d.readUInt32BE(16), d[20]], [0, 2, 0]);
  assert.deepEqual([Number(d.readBigUInt64BE(24)), d.readUInt32BE(32), d[36]], [2, HOLE_END / BS - 2, 1]);
  // 8 MiB, then 32 MiB, then the rest: stopped once a third descriptor proved the second complete
  assert.deepEqual(calls.map((c) => c[1] / (1024 * 1024)), [8, 32, 24]);
  // one descriptor asked, hole found in the first window is still extended to its real end
  calls.length = 0;
  const one = (await run(port, cdb16(ScsiOp.SERVICE_ACTION_IN_16, 10, 24, 0x12))).dataIn!;
  assert.deepEqual([Number(one.readBigUInt64BE(8)), one.readUInt32BE(16), one[20]], [10, HOLE_END / BS - 10, 1]);
});

test('READ DEFECT DATA (10)/(12): empty defect list, format echoed', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  const c10 = Buffer.alloc(10);
  c10[0] = ScsiOp.READ_DEFECT_DATA_10;
  c10[2] = 0x18 | 0x05;
  c10.writeUInt16BE(32, 7);
  const r10 = await run(port, c10);
  assert.deepEqual([...r10.dataIn!], [0, 0x05, 0, 0]);
  const c12 = Buffer.alloc(12);
  c12[0] = ScsiOp.READ_DEFECT_DATA_12;
  c12[1] = 0x04;
  c12.writeUInt32BE(2, 6);
  const r12 = await run(port, c12);
  assert.deepEqual([...r12.dataIn!], [0, 0x04]);
});
