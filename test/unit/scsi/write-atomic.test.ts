// WRITE ATOMIC (16) (SBC-4): Block Limits atomic fields, range/limit order, alignment, granularity, exclusivity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiStatus } from '../../../src/scsi/command.js';
import { ScsiOp } from '../../../src/scsi/constants.js';
import { cdb, cdb10, makeLu, openPort, run, senseOf } from './helpers.js';

const BS = 512;
const SIZE = 8 * 1024 * 1024;
const CAP = SIZE / BS;
const ILLEGAL = 0x5;

function wa16(lba: bigint | number, blocks: number, b1 = 0, boundary = 0): Buffer {
  const c = Buffer.alloc(16);
  c[0] = ScsiOp.WRITE_ATOMIC_16;
  c[1] = b1;
  c.writeBigUInt64BE(BigInt.asUintN(64, BigInt(lba)), 2);
  c.writeUInt16BE(boundary, 10);
  c.writeUInt16BE(blocks, 12);
  return c;
}

test('Block Limits VPD: MAXIMUM ATOMIC TRANSFER LENGTH / ATOMIC ALIGNMENT / GRANULARITY, within MAXIMUM TRANSFER LENGTH', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  const v = await run(port, cdb(0x12, 0x01, 0xb0, 0, 0xff, 0));
  const b = v.dataIn!;
  assert.equal(b.length, 64);
  const max = b.readUInt32BE(44);
  assert.equal(max, 256); // 128 KiB of 512-byte blocks
  assert.equal(b.readUInt32BE(48), 256);
  assert.equal(b.readUInt32BE(52), 8);
  assert.ok(max <= b.readUInt32BE(8));
  assert.equal(b.readUInt32BE(56), 0);
  assert.equal(b.readUInt32BE(60), 0);
});

test('WRITE ATOMIC (16) writes aligned, granular transfers; the data reads back', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  for (const [lba, blocks] of [[0, 8], [0, 256], [CAP - 256, 256], [256, 0]] as const) {
    const data = Buffer.alloc(blocks * BS, (lba + blocks) & 0xff);
    const r = await run(port, wa16(lba, blocks, 0x18), { dataOut: data });
    assert.equal(r.status, ScsiStatus.GOOD, `lba ${lba} blocks ${blocks}`);
    if (blocks > 0) assert.ok((await run(port, cdb10(ScsiOp.READ_10, lba, blocks))).dataIn!.equals(data));
  }
});

test('WRITE ATOMIC (16): LBA OUT OF RANGE before the atomic limits; misaligned / ungranular / too long / boundary / WRPROTECT are INVALID FIELD IN CDB', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  const oob: Array<[bigint | number, number]> = [[CAP + 256, 0], [0x8000000000000000n, 8], [-256, 8], [CAP - 8, 512], [CAP - 8, 16]];
  for (const [lba, blocks] of oob) {
    assert.deepEqual(senseOf(await run(port, wa16(lba, blocks), { dataOut: Buffer.alloc(blocks * BS), allowShort: true })), [ILLEGAL, 0x21, 0x00], `oob ${lba}+${blocks}`);
  }
  const before = store.stats.writes;
  const bad: Array<[string, Buffer]> = [
    ['misaligned', wa16(1, 8)],
    ['not a granule multiple', wa16(0, 1)],
    ['longer than the maximum', wa16(0, 264)],
    ['atomic boundary', wa16(0, 8, 0, 8)],
    ['WRPROTECT', wa16(0, 8, 0x20)],
    ['reserved bit', wa16(0, 8, 0x04)],
  ];
  for (const [name, c] of bad) {
    assert.deepEqual(senseOf(await run(port, c, { dataOut: Buffer.alloc(c.readUInt16BE(12) * BS), allowShort: true })), [ILLEGAL, 0x24, 0x00], name);
  }
  assert.equal(store.stats.writes, before);
});

test('WRITE ATOMIC (16) waits for an overlapping command holding the range', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  const held = lu.rangeLock.acquireShared(4, 5);
  const release = typeof held === 'function' ? held : await held;
  let done = false;
  const p = run(port, wa16(0, 8), { dataOut: Buffer.alloc(8 * BS, 0x33) }).then((r) => {
    done = true;
    return r;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false);
  release();
  assert.equal((await p).status, ScsiStatus.GOOD);
});

test('RSOC one-command for WRITE ATOMIC (16): supported, DPO/FUA in the CDB usage data', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  const r = await run(port, cdb(0xa3, 0x0c, 0x01, ScsiOp.WRITE_ATOMIC_16, 0, 0, 0, 0, 1, 0, 0, 0));
  assert.equal(r.dataIn!.readUInt8(1) & 0x07, 0x03);
  assert.equal(r.dataIn!.readUInt8(4), ScsiOp.WRITE_ATOMIC_16);
  assert.equal(r.dataIn!.readUInt8(5) & 0x18, 0x18);
});

test('WRITE ATOMIC (16) with a short Data-Out writes nothing', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  const before = store.stats.writes;
  const r = await run(port, wa16(0, 16), { dataOut: Buffer.alloc(8 * BS, 0x44), edtl: 8 * BS, allowShort: true });
  assert.equal(r.status, ScsiStatus.CHECK_CONDITION);
  assert.equal(store.stats.writes, before);
  assert.ok((await run(port, cdb10(ScsiOp.READ_10, 0, 8))).dataIn!.every((b) => b === 0));
});
