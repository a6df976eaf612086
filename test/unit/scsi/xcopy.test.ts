// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS over memory LUs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiStatus } from '../../../src/scsi/command.js';
import { ScsiOp } from '../../../src/scsi/constants.js';
import { createScsiPort } from '../../../src/scsi/device-server.js';
import { naaDesignator } from '../../../src/scsi/vpd.js';
import { makeLu, makeNexus, mapOf, run, senseOf } from './helpers.js';

const BS = 512;

function targetDescriptor(wwn: string, type = 0xe4, blockLength = BS): Buffer {
  const d = Buffer.alloc(32);
  d[0] = type;
  d[4] = 0x01; // code set binary
  d[5] = 0x03; // association LU, designator type NAA
  d[7] = 16;
  naaDesignator(wwn).copy(d, 8);
  d.writeUIntBE(blockLength, 29, 3);
  return d;
}

function b2b(src: number, dst: number, blocks: number, srcLba: number, dstLba: number, type = 0x02): Buffer {
  const s = Buffer.alloc(28);
  s[0] = type;
  s.writeUInt16BE(0x18, 2);
  s.writeUInt16BE(src, 4);
  s.writeUInt16BE(dst, 6);
  s.writeUInt16BE(blocks, 10);
  s.writeBigUInt64BE(BigInt(srcLba), 12);
  s.writeBigUInt64BE(BigInt(dstLba), 20);
  return s;
}

function paramList(listId: number, usage: number, targets: Buffer[], segments: Buffer[]): Buffer {
  const h = Buffer.alloc(16);
  h[0] = listId;
  h[1] = (usage & 3) << 3;
  const td = Buffer.concat(targets);
  const sd = Buffer.concat(segments);
  h.writeUInt16BE(td.length, 2);
  h.writeUInt32BE(sd.length, 8);
  return Buffer.concat([h, td, sd]);
}

function xcopyCdb(len: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = ScsiOp.EXTENDED_COPY;
  c.writeUInt32BE(len, 10);
  return c;
}

function rcr(sa: number, listId: number, alloc = 1024): Buffer {
  const c = Buffer.alloc(16);
  c[0] = ScsiOp.RECEIVE_COPY_RESULTS;
  c[1] = sa;
  c[2] = listId;
  c.writeUInt32BE(alloc, 10);
  return c;
}

async function setup() {
  const a = makeLu(4 * 1024 * 1024);
  const b = makeLu(4 * 1024 * 1024, { wwn: '11111111-2222-3333-4444-555555555555' });
  const port = createScsiPort(makeNexus(), mapOf([[0, a.lu], [1, b.lu]]));
  await run(port, Buffer.alloc(6)); // power-on UA
  await run(port, Buffer.alloc(6), { lun: 1 });
  return { a, b, port };
}

test('INQUIRY reports 3PC; OPERATING PARAMETERS give the limits and descriptor types', async () => {
  const { port } = await setup();
  const inq = await run(port, Buffer.from([0x12, 0, 0, 0, 96, 0]));
  assert.equal(inq.dataIn![5]! & 0x08, 0x08);
  const op = (await run(port, rcr(0x03, 0))).dataIn!;
  assert.equal(op.readUInt32BE(0), op.length - 4);
  assert.equal(op.readUInt16BE(8), 2); // MAXIMUM TARGET DESCRIPTOR COUNT
  assert.equal(op.readUInt16BE(10), 1); // MAXIMUM SEGMENT DESCRIPTOR COUNT
  assert.equal(op.readUInt32BE(12), 1024);
  assert.equal(op[43], 2);
  assert.deepEqual([op[44], op[45]], [0x02, 0xe4]);
  assert.deepEqual(senseOf(await run(port, rcr(0x01, 0))), [0x5, 0x24, 0x00]);
});

test('EXTENDED COPY copies blocks within one LU and across LUs; COPY STATUS held per list id', async () => {
  const { a, b, port } = await setup();
  const data = Buffer.alloc(64 * BS);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
  await a.store.write(0, data);
  // no status yet for list 7
  assert.deepEqual(senseOf(await run(port, rcr(0x00, 7))), [0x5, 0x24, 0x00]);
  const same = paramList(7, 0, [targetDescriptor(a.lu.wwn)], [b2b(0, 0, 64, 0, 1000)]);
  const r = await run(port, xcopyCdb(same.length), { dataOut: same });
  assert.equal(r.status, ScsiStatus.GOOD);
  const back = Buffer.alloc(64 * BS);
  await a.store.read(1000 * BS, back);
  assert.deepEqual(back, data);
  const st = (await run(port, rcr(0x00, 7))).dataIn!;
  assert.equal(st.readUInt32BE(0), 8);
  assert.equal(st[4], 1); // completed without errors
  assert.equal(st.readUInt16BE(5), 1);
  assert.equal(st[7], 0);
  assert.equal(st.readUInt32BE(8), 64 * BS);
  // across LUs (source LU 0, destination LU 1), list id usage 10b: status not held
  const cross = paramList(8, 2, [targetDescriptor(a.lu.wwn), targetDescriptor(b.lu.wwn)], [b2b(0, 1, 64, 0, 5)]);
  assert.equal((await run(port, xcopyCdb(cross.length), { dataOut: cross })).status, ScsiStatus.GOOD);
  await b.store.read(5 * BS, back);
  assert.deepEqual(back, data);
  assert.deepEqual(senseOf(await run(port, rcr(0x00, 8))), [0x5, 0x24, 0x00]);
  // a zero-length parameter list does nothing
  assert.equal((await run(port, xcopyCdb(0))).status, ScsiStatus.GOOD);
});

test('EXTENDED COPY validation: lengths, counts, descriptor types, unreachable targets, ranges', async () => {
  const { a, port } = await setup();
  const t = targetDescriptor(a.lu.wwn);
  const ok = paramList(1, 0, [t], [b2b(0, 0, 8, 0, 100)]);
  const expect = async (param: Buffer, sense: [number, number, number], len = param.length) => {
    const r = await run(port, xcopyCdb(len), { dataOut: param.subarray(0, len), allowShort: true });
    assert.deepEqual(senseOf(r), sense);
  };
  // truncated parameter list
  await expect(ok, [0x5, 0x1a, 0x00], 16 + 31);
  await expect(ok, [0x5, 0x1a, 0x00], ok.length - 1);
  // too many target / segment descriptors
  await expect(paramList(1, 0, [t, t, t], [b2b(0, 0, 8, 0, 100)]), [0x5, 0x26, 0x06]);
  await expect(paramList(1, 0, [t], [b2b(0, 0, 8, 0, 100), b2b(0, 0, 8, 0, 200)]), [0x5, 0x26, 0x08]);
  // descriptor list longer than MAXIMUM DESCRIPTOR LIST LENGTH
  const many = Array.from({ length: 40 }, () => b2b(0, 0, 1, 0, 1));
  await expect(paramList(1, 0, [t, t, t], many), [0x5, 0x1a, 0x00]);
  // unsupported types
  await expect(paramList(1, 0, [targetDescriptor(a.lu.wwn, 0xe0)], [b2b(0, 0, 8, 0, 100)]), [0x5, 0x26, 0x07]);
  await expect(paramList(1, 0, [t], [b2b(0, 0, 8, 0, 100, 0x03)]), [0x5, 0x26, 0x09]);
  // unknown NAA, bad destination index, beyond the end: COPY ABORTED
  await expect(paramList(1, 0, [targetDescriptor('ffffffff-0000-0000-0000-000000000000')], [b2b(0, 0, 8, 0, 100)]), [0xa, 0x0d, 0x02]);
  await expect(paramList(1, 0, [t], [b2b(0, 1, 8, 0, 100)]), [0xa, 0x0d, 0x02]);
  await expect(paramList(1, 0, [t], [b2b(0, 0, 8, 0, a.lu.capacityBlocks - 1)]), [0xa, 0x0d, 0x02]);
  // nothing was written by the refused commands
  const z = Buffer.alloc(8 * BS, 1);
  await a.store.read(100 * BS, z);
  assert.ok(z.equals(Buffer.alloc(8 * BS)));
  // SWP on: WRITE PROTECTED before any data moves
  a.lu.mode.swp = true;
  const wp = await run(port, xcopyCdb(ok.length), { dataOut: ok });
  assert.equal(wp.prepared, false);
  assert.deepEqual(senseOf(wp), [0x7, 0x27, 0x00]);
  a.lu.mode.swp = false;
  assert.equal((await run(port, xcopyCdb(ok.length), { dataOut: ok })).status, ScsiStatus.GOOD);
  // LID4 service action is not supported
  const lid4 = xcopyCdb(0);
  lid4[1] = 0x01;
  assert.deepEqual(senseOf(await run(port, lid4)), [0x5, 0x24, 0x00]);
});

test('copy results are per I_T nexus and dropped with it', async () => {
  const { a, port } = await setup();
  const p = paramList(3, 0, [targetDescriptor(a.lu.wwn)], [b2b(0, 0, 1, 0, 10)]);
  await run(port, xcopyCdb(p.length), { dataOut: p });
  assert.equal((await run(port, rcr(0x00, 3))).status, ScsiStatus.GOOD);
  const other = createScsiPort(makeNexus('iqn.1994-05.com.example:other'), mapOf([[0, a.lu]]));
  await run(other, Buffer.alloc(6));
  assert.deepEqual(senseOf(await run(other, rcr(0x00, 3))), [0x5, 0x24, 0x00]);
});

test('EXTENDED COPY into another LU reserved by another initiator: RESERVATION CONFLICT', async () => {
  const { a, b, port } = await setup();
  await b.lu.open();
  const other = createScsiPort(makeNexus('iqn.1994-05.com.example:holder'), mapOf([[0, b.lu]]));
  await run(other, Buffer.alloc(6));
  const reserve = Buffer.from([ScsiOp.RESERVE_6, 0, 0, 0, 0, 0]);
  assert.equal((await run(other, reserve)).status, ScsiStatus.GOOD);
  const cross = paramList(9, 2, [targetDescriptor(a.lu.wwn), targetDescriptor(b.lu.wwn)], [b2b(0, 1, 4, 0, 5)]);
  assert.equal((await run(port, xcopyCdb(cross.length), { dataOut: cross })).status, ScsiStatus.RESERVATION_CONFLICT);
});

test('EXTENDED COPY of overlapping ranges in one LU behaves like memmove', async () => {
  const { a, port } = await setup();
  const blocks = 4096; // 2 MiB: more than one copy chunk
  const data = Buffer.alloc(blocks * BS);
  for (let b = 0; b < blocks; b++) data.writeUInt32BE(b, b * BS);
  await a.store.write(0, data);
  const p = paramList(4, 2, [targetDescriptor(a.lu.wwn)], [b2b(0, 0, blocks, 0, 100)]);
  assert.equal((await run(port, xcopyCdb(p.length), { dataOut: p })).status, ScsiStatus.GOOD);
  const back = Buffer.alloc(blocks * BS);
  await a.store.read(100 * BS, back);
  assert.ok(back.equals(data));
});
