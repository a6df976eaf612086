// SANITIZE (SBC-4): CDB checks, BLOCK ERASE, EXIT FAILURE MODE, the in-progress gate, RSOC and VPD B1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiStatus } from '../../../src/scsi/command.js';
import { ScsiOp } from '../../../src/scsi/constants.js';
import { sanitizeInProgress, sanitizeSettled } from '../../../src/scsi/sanitize.js';
import { cdb, cdb10, makeLu, makeNexus, openPort, run, senseOf } from './helpers.js';

const BS = 512;
const SIZE = 1024 * 1024;
const ILLEGAL = 0x5;

function sanitizeCdb(sa: number, paramLen: number, immed = false): Buffer {
  return cdb(ScsiOp.SANITIZE, (immed ? 0x80 : 0) | sa, 0, 0, 0, 0, 0, paramLen >> 8, paramLen & 0xff, 0);
}

function overwriteParam(count: number, pattern: Buffer, invert = false): Buffer {
  const p = Buffer.alloc(4 + pattern.length);
  p.writeUInt8((invert ? 0x80 : 0) | count, 0);
  p.writeUInt16BE(pattern.length, 2);
  pattern.copy(p, 4);
  return p;
}

async function readAll(port: Awaited<ReturnType<typeof openPort>>, lba: number, blocks: number): Promise<Buffer> {
  const r = await run(port, cdb10(ScsiOp.READ_10, lba, blocks));
  assert.equal(r.status, ScsiStatus.GOOD);
  return r.dataIn!;
}

test('SANITIZE OVERWRITE and CRYPTO ERASE are not offered: INVALID FIELD IN CDB', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(BS, 0x61) });
  const param = Buffer.alloc(BS + 4, 0xaa);
  param.writeUInt8(0x01, 0);
  param.writeUInt16BE(BS, 2);
  assert.deepEqual(senseOf(await run(port, sanitizeCdb(0x01, param.length), { dataOut: param, allowShort: true })), [ILLEGAL, 0x24, 0x00]);
  assert.deepEqual(senseOf(await run(port, sanitizeCdb(0x03, 0))), [ILLEGAL, 0x24, 0x00]);
  assert.equal(store.stats.discards, 0);
  assert.ok((await readAll(port, 0, 1)).every((b) => b === 0x61));
});

test('SANITIZE BLOCK ERASE deallocates everything on a thin LU; a parameter list is refused', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 8), { dataOut: Buffer.alloc(8 * BS, 0x61) });
  assert.equal((await run(port, sanitizeCdb(0x02, 0))).status, ScsiStatus.GOOD);
  assert.ok((await readAll(port, 0, 8)).every((b) => b === 0));
  // GET LBA STATUS: the first descriptor is deallocated.
  const g = await run(port, cdb(0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0));
  assert.equal(g.status, ScsiStatus.GOOD);
  assert.equal(g.dataIn!.readUInt8(8 + 12) & 0x0f, 1);
  for (const sa of [0x02, 0x1f]) {
    const r = await run(port, sanitizeCdb(sa, 8), { dataOut: Buffer.alloc(8) });
    assert.deepEqual(senseOf(r), [ILLEGAL, 0x24, 0x00], `sa ${sa}`);
  }
});

test('SANITIZE reserved bits/bytes and unsupported service actions are INVALID FIELD IN CDB', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  const c = sanitizeCdb(0x02, 0);
  c[1] = c[1]! | 0x40;
  assert.deepEqual(senseOf(await run(port, c)), [ILLEGAL, 0x24, 0x00]);
  for (let i = 2; i <= 6; i++) {
    const d = sanitizeCdb(0x02, 0);
    d[i] = i;
    assert.deepEqual(senseOf(await run(port, d)), [ILLEGAL, 0x24, 0x00], `byte ${i}`);
  }
  for (const sa of [0x00, 0x03, 0x04, 0x1e]) {
    assert.deepEqual(senseOf(await run(port, sanitizeCdb(sa, 0))), [ILLEGAL, 0x24, 0x00], `sa ${sa}`);
  }
});

test('while a sanitize runs: NOT READY / SANITIZE IN PROGRESS, INQUIRY still answers; IMMED returns at once', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(BS, 0x61) });
  // An in-flight write holds its range: the erase waits for it (exclusive over every LBA).
  const held = lu.rangeLock.acquireShared(0, 1);
  const release = typeof held === 'function' ? held : await held;
  const r = await run(port, sanitizeCdb(0x02, 0, true));
  assert.equal(r.status, ScsiStatus.GOOD);
  assert.equal(sanitizeInProgress(lu), true);
  assert.deepEqual(senseOf(await run(port, cdb(0x00))), [0x2, 0x04, 0x1b]);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_10, 0, 1))), [0x2, 0x04, 0x1b]);
  assert.deepEqual(senseOf(await run(port, sanitizeCdb(0x1f, 0))), [0x2, 0x04, 0x1b]);
  assert.equal((await run(port, cdb(0x12, 0, 0, 0, 96, 0))).status, ScsiStatus.GOOD);
  const rs = await run(port, cdb(0x03, 0, 0, 0, 18, 0));
  assert.equal(rs.status, ScsiStatus.GOOD);
  assert.deepEqual([rs.dataIn!.readUInt8(2) & 0x0f, rs.dataIn!.readUInt8(12), rs.dataIn!.readUInt8(13)], [0x2, 0x04, 0x1b]);
  release();
  await sanitizeSettled(lu);
  assert.equal(sanitizeInProgress(lu), false);
  assert.equal((await run(port, cdb(0x00))).status, ScsiStatus.GOOD);
  assert.ok((await readAll(port, 0, 1)).every((b) => b === 0));
});

test('SANITIZE does not exist on a thick LU (no deallocation): INVALID COMMAND OPERATION CODE', async () => {
  const { lu } = makeLu(SIZE, {}, { thin: false });
  const port = await openPort(lu);
  assert.deepEqual(senseOf(await run(port, sanitizeCdb(0x02, 0))), [ILLEGAL, 0x20, 0x00]);
});

test('RSOC lists BLOCK ERASE and EXIT FAILURE MODE, not OVERWRITE or CRYPTO ERASE; VPD B1 WABEREQ 01b', async () => {
  const { lu } = makeLu(SIZE);
  const port = await openPort(lu);
  const one = async (sa: number) => {
    const r = await run(port, cdb(0xa3, 0x0c, 0x02, ScsiOp.SANITIZE, 0, sa, 0, 0, 1, 0, 0, 0));
    assert.equal(r.status, ScsiStatus.GOOD);
    return r.dataIn!.readUInt8(1) & 0x07;
  };
  assert.equal(await one(0x01), 0x01);
  assert.equal(await one(0x02), 0x03);
  assert.equal(await one(0x1f), 0x03);
  assert.equal(await one(0x03), 0x01);
  const v = await run(port, cdb(0x12, 0x01, 0xb1, 0, 0xff, 0));
  assert.equal(v.dataIn!.readUInt8(7) >> 6, 1);
});

test('SANITIZE is WRITE PROTECTED on a read-only LU', async () => {
  const { lu } = makeLu(SIZE, { readOnly: true });
  const port = await openPort(lu);
  assert.deepEqual(senseOf(await run(port, sanitizeCdb(0x02, 0))), [0x7, 0x27, 0x00]);
});

test('a failed BLOCK ERASE leaves the LU in failure mode until EXIT FAILURE MODE', async () => {
  const { lu, store } = makeLu(SIZE);
  const port = await openPort(lu);
  const discard = store.discard!;
  store.discard = async () => {
    throw new Error('simulated discard failure');
  };
  assert.deepEqual(senseOf(await run(port, sanitizeCdb(0x02, 0))), [0x3, 0x31, 0x03]);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_10, 0, 1))), [0x3, 0x31, 0x03]);
  assert.deepEqual(senseOf(await run(port, cdb(0x00))), [0x3, 0x31, 0x03]);
  assert.equal((await run(port, sanitizeCdb(0x1f, 0))).status, ScsiStatus.GOOD);
  assert.equal((await run(port, cdb10(ScsiOp.READ_10, 0, 1))).status, ScsiStatus.GOOD);
  // A later good sanitize also ends the failure mode.
  store.discard = async () => {
    throw new Error('simulated discard failure');
  };
  assert.deepEqual(senseOf(await run(port, sanitizeCdb(0x02, 0))), [0x3, 0x31, 0x03]);
  store.discard = discard;
  assert.equal((await run(port, sanitizeCdb(0x02, 0))).status, ScsiStatus.GOOD);
  assert.equal((await run(port, cdb(0x00))).status, ScsiStatus.GOOD);
});

test('SANITIZE from another I_T nexus while RESERVE(6) is held is RESERVATION CONFLICT; the holder may sanitize', async () => {
  const { lu, store } = makeLu(SIZE);
  const holder = await openPort(lu, makeNexus('iqn.1994-05.com.example:init1'));
  const other = await openPort(lu, makeNexus('iqn.1994-05.com.example:init2', 1, '0x23d000000002'));
  assert.equal((await run(holder, cdb(0x16, 0, 0, 0, 0, 0))).status, ScsiStatus.GOOD);
  assert.equal((await run(other, sanitizeCdb(0x02, 0))).status, ScsiStatus.RESERVATION_CONFLICT);
  assert.equal(store.stats.discards, 0);
  assert.equal((await run(holder, sanitizeCdb(0x02, 0))).status, ScsiStatus.GOOD);
  assert.ok(store.stats.discards > 0);
});
