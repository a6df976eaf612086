// SPC handlers: INQUIRY + VPD bytes, REPORT LUNS, MODE SENSE/SELECT, REQUEST SENSE, RSOC, RTPG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiStatus } from '../../../src/scsi/command.js';
import { ScsiOp } from '../../../src/scsi/constants.js';
import { createScsiPort } from '../../../src/scsi/device-server.js';
import { naaDesignator } from '../../../src/scsi/vpd.js';
import { cdb, cdb10, makeLu, makeNexus, mapOf, openPort, run, senseOf, TARGET, WWN } from './helpers.js';

const ILLEGAL = 0x5;

function inquiry(evpd: number, page: number, alloc: number): Buffer {
  return cdb(ScsiOp.INQUIRY, evpd, page, alloc >> 8, alloc & 0xff, 0);
}

test('standard INQUIRY: identity, SPC-4, HiSup, RDF 2, TPGS implicit, CmdQue, version descriptors', async () => {
  const { lu } = makeLu();
  const port = await openPort(lu);
  const r = await run(port, inquiry(0, 0, 255));
  const d = r.dataIn!;
  assert.equal(d.length, 96);
  assert.equal(d[0], 0x00); // connected, direct access
  assert.equal(d[1], 0x00); // not removable
  assert.equal(d[2], 0x06); // SPC-4
  assert.equal(d[3], 0x12); // HISUP | RDF 2
  assert.equal(d[4], d.length - 5); // ADDITIONAL LENGTH
  assert.equal(d[5], 0x18); // TPGS 01b, 3PC 1 (EXTENDED COPY)
  assert.equal(d[7], 0x02); // CMDQUE
  assert.equal(d.toString('latin1', 8, 16), 'LIO-ORG ');
  assert.equal(d.toString('latin1', 16, 32), 'TCMU device     ');
  assert.equal(d.toString('latin1', 32, 36), '0002');
  assert.deepEqual([d.readUInt16BE(58), d.readUInt16BE(60), d.readUInt16BE(62), d.readUInt16BE(64)], [0x00a0, 0x0460, 0x04c0, 0x0960]);
  // allocation length 0 and short
  assert.equal((await run(port, inquiry(0, 0, 0))).dataIn?.length, 0);
  assert.deepEqual((await run(port, inquiry(0, 0, 5))).dataIn, d.subarray(0, 5));
  // EVPD 0 with a page code; CMDDT
  assert.deepEqual(senseOf(await run(port, inquiry(0, 0x80, 255))), [ILLEGAL, 0x24, 0x00]);
  assert.deepEqual(senseOf(await run(port, inquiry(2, 0, 255))), [ILLEGAL, 0x24, 0x00]);
  assert.deepEqual(senseOf(await run(port, inquiry(1, 0x99, 255))), [ILLEGAL, 0x24, 0x00]);
});

test('VPD 00h lists the pages in ascending order; 80h is the wwn', async () => {
  const { lu } = makeLu();
  const port = await openPort(lu);
  const p0 = (await run(port, inquiry(1, 0x00, 255))).dataIn!;
  assert.deepEqual([...p0], [0x00, 0x00, 0x00, 0x07, 0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1, 0xb2]);
  const p8f = (await run(port, inquiry(1, 0x8f, 255))).dataIn!;
  assert.equal(p8f.readUInt16BE(2), p8f.length - 4);
  assert.equal(p8f.readUInt16BE(4), 0x0001); // Supported Commands
  assert.equal(p8f.readUInt16BE(6) % 4, 0);
  assert.deepEqual([...p8f.subarray(8, 9 + p8f[8]!)], [7, 0x83, 1, 0x00, 0x84, 2, 0x00, 0x03]);
  const p80 = (await run(port, inquiry(1, 0x80, 255))).dataIn!;
  assert.equal(p80[1], 0x80);
  assert.equal(p80.readUInt16BE(2), WWN.length);
  assert.equal(p80.toString('latin1', 4), WWN);
});

test('NAA designator: 6001405 + the first 25 hex digits of the wwn (LIO)', () => {
  const naa = naaDesignator('9ca31751-6a69-465c-883a-29603a1b2c3d');
  assert.equal(naa.toString('hex'), '60014059ca317516a69465c883a29603');
  assert.equal(naaDesignator('').toString('hex'), '60014050000000000000000000000000');
});

test('VPD 83h: NAA, T10 vendor id, relative port, port group, SCSI name strings', async () => {
  const { lu } = makeLu();
  const nexus = makeNexus('iqn.1994-05.com.example:init1', 3);
  const port = await openPort(lu, nexus);
  const d = (await run(port, inquiry(1, 0x83, 1024))).dataIn!;
  assert.equal(d[1], 0x83);
  assert.equal(d.readUInt16BE(2), d.length - 4);
  const found: Array<{ b0: number; b1: number; v: Buffer }> = [];
  for (let off = 4; off < d.length; ) {
    const len = d[off + 3]!;
    found.push({ b0: d[off]!, b1: d[off + 1]!, v: d.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  assert.equal(found.length, 6);
  assert.deepEqual([found[0]!.b0, found[0]!.b1, found[0]!.v.toString('hex')], [0x01, 0x03, '60014059ca317516a69465c883a29603']);
  assert.deepEqual([found[1]!.b0, found[1]!.b1, found[1]!.v.toString('latin1')], [0x02, 0x01, `LIO-ORG ${WWN}`]);
  assert.deepEqual([found[2]!.b0, found[2]!.b1, found[2]!.v.readUInt16BE(2)], [0x51, 0x94, 3]);
  assert.deepEqual([found[3]!.b0, found[3]!.b1, found[3]!.v.readUInt16BE(2)], [0x51, 0x95, 3]);
  assert.deepEqual([found[4]!.b0, found[4]!.b1], [0x53, 0x98]);
  assert.equal(found[4]!.v.length % 4, 0);
  assert.equal(found[4]!.v.toString('utf8').replace(/\0+$/, ''), `${TARGET},t,0x0003`);
  assert.deepEqual([found[5]!.b0, found[5]!.b1], [0x53, 0xa8]);
  assert.equal(found[5]!.v.toString('utf8').replace(/\0+$/, ''), TARGET);
});

test('VPD B0h/B1h/B2h: limits, non-rotating, provisioning follows the backstore', async () => {
  const thin = makeLu(8 * 1024 * 1024, { maxTransferBlocks: 2048, maxWriteSameBlocks: 0x2000, maxCompareAndWriteBlocks: 1, physicalBlockSize: 4096 });
  const port = await openPort(thin.lu);
  const b0 = (await run(port, inquiry(1, 0xb0, 255))).dataIn!;
  assert.equal(b0.readUInt16BE(2), 0x3c);
  assert.equal(b0.length, 0x40);
  assert.equal(b0[4]! & 1, 0); // WSNZ
  assert.equal(b0[5], 1); // MAXIMUM COMPARE AND WRITE LENGTH
  assert.equal(b0.readUInt16BE(6), 8); // OPTIMAL TRANSFER LENGTH GRANULARITY
  assert.equal(b0.readUInt32BE(8), 2048);
  assert.ok(b0.readUInt32BE(20) > 0 && b0.readUInt32BE(20) <= 1024 * 1024);
  assert.ok(b0.readUInt32BE(24) > 0);
  assert.equal(b0.readUInt32BE(28), 8);
  assert.equal(b0.readBigUInt64BE(36), 0x2000n);
  const b1 = (await run(port, inquiry(1, 0xb1, 255))).dataIn!;
  assert.equal(b1.readUInt16BE(4), 1);
  const b2 = (await run(port, inquiry(1, 0xb2, 255))).dataIn!;
  assert.equal(b2[5], 0xe4); // LBPU LBPWS LBPWS10 LBPRZ
  assert.equal(b2[6]! & 7, 2); // thin
  const thick = makeLu(8 * 1024 * 1024, {}, { thin: false });
  const tp = await openPort(thick.lu);
  const tb0 = (await run(tp, inquiry(1, 0xb0, 255))).dataIn!;
  assert.equal(tb0.readUInt32BE(20), 0);
  assert.equal(tb0.readUInt32BE(24), 0);
  const tb2 = (await run(tp, inquiry(1, 0xb2, 255))).dataIn!;
  assert.equal(tb2[5], 0);
  assert.equal(tb2[6], 0);
});

test('REPORT LUNS: peripheral below 256, flat above, select report 1 empty, allocation truncation', async () => {
  const a = makeLu();
  const b = makeLu();
  const c = makeLu();
  const port = createScsiPort(makeNexus(), mapOf([[0, a.lu], [7, b.lu], [300, c.lu]]));
  const rl = (sel: number, alloc: number) => {
    const x = Buffer.alloc(12);
    x[0] = ScsiOp.REPORT_LUNS;
    x[2] = sel;
    x.writeUInt32BE(alloc, 6);
    return x;
  };
  const r = await run(port, rl(0, 1024));
  // REPORT LUNS is not blocked by the power-on unit attention
  assert.equal(r.status, ScsiStatus.GOOD);
  const d = r.dataIn!;
  assert.equal(d.readUInt32BE(0), 24);
  assert.equal(d.subarray(8, 16).toString('hex'), '0000000000000000');
  assert.equal(d.subarray(16, 24).toString('hex'), '0007000000000000');
  assert.equal(d.subarray(24, 32).toString('hex'), '412c000000000000');
  const flat = Buffer.alloc(8);
  const { encodeLun } = await import('../../../src/scsi/spc.js');
  encodeLun(16383, flat, 0);
  assert.equal(flat.toString('hex'), '7fff000000000000');
  encodeLun(255, flat, 0);
  assert.equal(flat.toString('hex'), '00ff000000000000');
  const wk = (await run(port, rl(1, 1024))).dataIn!;
  assert.equal(wk.readUInt32BE(0), 0);
  const short = (await run(port, rl(2, 16))).dataIn!;
  assert.equal(short.length, 16);
  assert.equal(short.readUInt32BE(0), 24); // LUN LIST LENGTH is the full length
  assert.deepEqual(senseOf(await run(port, rl(3, 1024))), [ILLEGAL, 0x24, 0x00]);
  // REPORT LUNS through a LUN that is not mapped works too
  const viaMissing = await run(port, rl(0, 1024), { lun: 5 });
  assert.equal(viaMissing.status, ScsiStatus.GOOD);
  assert.equal(viaMissing.dataIn?.readUInt32BE(0), 24);
});

function modeSense6(page: number, pc = 0, dbd = false, alloc = 255, sub = 0): Buffer {
  return cdb(ScsiOp.MODE_SENSE_6, dbd ? 0x08 : 0, (pc << 6) | page, sub, alloc, 0);
}

function pagesOf(d: Buffer, headerLen: number, bdLen: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let off = headerLen + bdLen; off + 2 <= d.length; ) {
    const len = d[off + 1]!;
    out.set(d[off]! & 0x3f, d.subarray(off, off + 2 + len));
    off += 2 + len;
  }
  return out;
}

test('MODE SENSE(6): all pages, block descriptor, DBD, changeable, saved, unknown page', async () => {
  const { lu } = makeLu(8 * 1024 * 1024);
  const port = await openPort(lu);
  const all = (await run(port, modeSense6(0x3f))).dataIn!;
  assert.equal(all[0], all.length - 1); // MODE DATA LENGTH
  assert.equal(all[2]! & 0x10, 0x10); // DPOFUA
  assert.equal(all[2]! & 0x80, 0); // not write protected
  assert.equal(all[3], 8); // one short block descriptor
  assert.equal(all.readUInt32BE(4), 16384);
  assert.equal(all.readUInt32BE(8) & 0xffffff, 512);
  const pages = pagesOf(all, 4, 8);
  assert.deepEqual([...pages.keys()], [0x01, 0x08, 0x0a, 0x1c]);
  assert.equal(pages.get(0x0a)!.length, 12);
  const nodbd = (await run(port, modeSense6(0x0a, 0, true))).dataIn!;
  assert.equal(nodbd[3], 0);
  assert.equal(nodbd.length, 4 + 12);
  const ch = (await run(port, modeSense6(0x0a, 1, true))).dataIn!;
  assert.equal(ch[4 + 2], 0x04); // D_SENSE changeable
  assert.equal(ch[4 + 4], 0x08); // SWP changeable
  assert.deepEqual(senseOf(await run(port, modeSense6(0x0a, 3))), [ILLEGAL, 0x39, 0x00]);
  assert.deepEqual(senseOf(await run(port, modeSense6(0x05))), [ILLEGAL, 0x24, 0x00]);
  assert.deepEqual(senseOf(await run(port, modeSense6(0x0a, 0, false, 255, 1))), [ILLEGAL, 0x24, 0x00]);
  // allocation length truncates; MODE DATA LENGTH still tells the full size
  const t = (await run(port, modeSense6(0x3f, 0, false, 4))).dataIn!;
  assert.equal(t.length, 4);
  assert.equal(t[0], all.length - 1);
});

test('MODE SENSE(10) with LLBAA returns a long block descriptor', async () => {
  const { lu } = makeLu(8 * 1024 * 1024);
  const port = await openPort(lu);
  const c = Buffer.alloc(10);
  c[0] = ScsiOp.MODE_SENSE_10;
  c[1] = 0x10;
  c[2] = 0x08;
  c.writeUInt16BE(512, 7);
  const d = (await run(port, c)).dataIn!;
  assert.equal(d.readUInt16BE(0), d.length - 2);
  assert.equal(d[4]! & 1, 1); // LONGLBA
  assert.equal(d.readUInt16BE(6), 16);
  assert.equal(d.readBigUInt64BE(8), 16384n);
  assert.equal(d.readUInt32BE(20), 512);
  assert.equal(d[24]! & 0x3f, 0x08);
});

function modeSelect6(param: Buffer, pf = true): Buffer {
  return cdb(ScsiOp.MODE_SELECT_6, pf ? 0x10 : 0, 0, 0, param.length, 0);
}

test('MODE SELECT round trip: D_SENSE switches sense to descriptor format; other nexus gets MODE PARAMETERS CHANGED', async () => {
  const { lu } = makeLu();
  const n1 = makeNexus('iqn.1994-05.com.example:a');
  const n2 = makeNexus('iqn.1994-05.com.example:b');
  const p1 = await openPort(lu, n1);
  const p2 = await openPort(lu, n2);
  const cur = (await run(p1, modeSense6(0x0a, 0, true))).dataIn!;
  const param = Buffer.from(cur);
  param[0] = 0; // MODE DATA LENGTH reserved in MODE SELECT
  param[2] = 0; // device-specific parameter
  param[4 + 2]! |= 0x04; // D_SENSE
  const sel = await run(p1, modeSelect6(param), { dataOut: param });
  assert.equal(sel.status, ScsiStatus.GOOD);
  const after = (await run(p1, modeSense6(0x0a, 0, true))).dataIn!;
  assert.equal(after[4 + 2]! & 0x04, 0x04);
  // descriptor-format sense for an error now (READ(16) beyond the end)
  const c16 = Buffer.alloc(16);
  c16[0] = ScsiOp.READ_16;
  c16.writeBigUInt64BE(0xffffffffffffffffn, 2);
  c16.writeUInt32BE(1, 10);
  const e = await run(p1, c16);
  assert.equal(e.sense?.[0], 0x72);
  assert.deepEqual([...e.sense!.subarray(0, 8)], [0x72, 0x05, 0x21, 0x00, 0, 0, 0, 0]);
  // the other nexus first sees MODE PARAMETERS CHANGED
  const ua = await run(p2, cdb(0));
  assert.deepEqual(senseOf(ua), [0x6, 0x2a, 0x01]);
  assert.equal((await run(p2, cdb(0))).status, ScsiStatus.GOOD);
  // the changing nexus did not get one
  assert.equal((await run(p1, cdb(0))).status, ScsiStatus.GOOD);
  // back to fixed
  param[4 + 2]! &= ~0x04;
  await run(p1, modeSelect6(param), { dataOut: param });
  assert.equal((await run(p1, c16)).sense?.[0], 0x70);
});

test('MODE SELECT refuses a non-changeable field, unknown page, bad length, SP; SWP write-protects', async () => {
  const { lu } = makeLu();
  const port = await openPort(lu);
  const cur = (await run(port, modeSense6(0x0a, 0, true))).dataIn!;
  const base = Buffer.from(cur);
  base[0] = 0;
  base[2] = 0;
  const qerr = Buffer.from(base);
  qerr[4 + 3]! |= 0x02; // QERR not changeable
  assert.deepEqual(senseOf(await run(port, modeSelect6(qerr), { dataOut: qerr })), [ILLEGAL, 0x26, 0x00]);
  const unknown = Buffer.from(base);
  unknown[4] = 0x05;
  assert.deepEqual(senseOf(await run(port, modeSelect6(unknown), { dataOut: unknown })), [ILLEGAL, 0x26, 0x00]);
  const badLen = Buffer.from(base);
  badLen[5] = 0x08;
  assert.deepEqual(senseOf(await run(port, modeSelect6(badLen), { dataOut: badLen })), [ILLEGAL, 0x26, 0x00]);
  const sp = cdb(ScsiOp.MODE_SELECT_6, 0x11, 0, 0, base.length, 0);
  assert.deepEqual(senseOf(await run(port, sp, { dataOut: base })), [ILLEGAL, 0x24, 0x00]);
  const swp = Buffer.from(base);
  swp[4 + 4]! |= 0x08;
  assert.equal((await run(port, modeSelect6(swp), { dataOut: swp })).status, ScsiStatus.GOOD);
  const wp = (await run(port, modeSense6(0x3f))).dataIn!;
  assert.equal(wp[2]! & 0x80, 0x80); // WP
  assert.equal((await run(port, cdb10(ScsiOp.READ_10, 0, 1))).status, ScsiStatus.GOOD);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(512) })), [0x7, 0x27, 0x00]);
  swp[4 + 4]! &= ~0x08;
  await run(port, modeSelect6(swp), { dataOut: swp });
  assert.equal((await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(512) })).status, ScsiStatus.GOOD);
});

test('REQUEST SENSE returns the pending unit attention (fixed or descriptor), then NO SENSE', async () => {
  const { lu } = makeLu();
  const port = createScsiPort(makeNexus(), mapOf([[0, lu]]));
  const r = await run(port, cdb(ScsiOp.REQUEST_SENSE, 0, 0, 0, 252, 0));
  assert.equal(r.status, ScsiStatus.GOOD);
  assert.equal(r.dataIn?.length, 18);
  assert.deepEqual(senseOf({ kind: 'result', status: 2, sense: r.dataIn! }), [0x6, 0x29, 0x00]);
  const r2 = await run(port, cdb(ScsiOp.REQUEST_SENSE, 1, 0, 0, 252, 0));
  assert.equal(r2.dataIn?.[0], 0x72);
  assert.deepEqual([...r2.dataIn!.subarray(1, 4)], [0, 0, 0]);
  assert.equal((await run(port, cdb(0))).status, ScsiStatus.GOOD);
  // on a LUN that does not exist: LOGICAL UNIT NOT SUPPORTED as data
  const nl = await run(port, cdb(ScsiOp.REQUEST_SENSE, 0, 0, 0, 252, 0), { lun: 9 });
  assert.equal(nl.status, ScsiStatus.GOOD);
  assert.deepEqual(senseOf({ kind: 'result', status: 2, sense: nl.dataIn! }), [0x5, 0x25, 0x00]);
});

function rsoc(options: number, op = 0, sa = 0, alloc = 65535, rctd = false): Buffer {
  const c = Buffer.alloc(12);
  c[0] = 0xa3;
  c[1] = 0x0c;
  c[2] = (rctd ? 0x80 : 0) | options;
  c[3] = op;
  c.writeUInt16BE(sa, 4);
  c.writeUInt32BE(alloc, 6);
  return c;
}

test('REPORT SUPPORTED OPERATION CODES: all, one command, with service action, RCTD', async () => {
  const { lu } = makeLu();
  const port = await openPort(lu);
  const all = (await run(port, rsoc(0))).dataIn!;
  const len = all.readUInt32BE(0);
  assert.equal(len % 8, 0);
  const descs: Array<[number, number, number, number]> = [];
  for (let off = 4; off < 4 + len; off += 8) descs.push([all[off]!, all.readUInt16BE(off + 2), all[off + 5]!, all.readUInt16BE(off + 6)]);
  const has = (op: number, sa?: number) => descs.some((d) => d[0] === op && (sa === undefined || (d[1] === sa && (d[2] & 1) === 1)));
  for (const op of [0x00, 0x12, 0x28, 0x2a, 0x88, 0x8a, 0x89, 0x42, 0xa0]) assert.ok(has(op), `opcode ${op.toString(16)}`);
  assert.ok(has(0x9e, 0x10) && has(0x9e, 0x12) && has(0xa3, 0x0a) && has(0xa3, 0x0c));
  // SERVACTV clear ⇒ service action 0
  for (const d of descs) if ((d[2] & 1) === 0) assert.equal(d[1], 0);
  // one command without SA
  const one = (await run(port, rsoc(1, 0x28))).dataIn!;
  assert.equal(one[1]! & 7, 3);
  assert.equal(one.readUInt16BE(2), 10);
  assert.equal(one[4], 0x28);
  // options 1 on an opcode with service actions, options 2 on one without: INVALID FIELD IN CDB
  assert.deepEqual(senseOf(await run(port, rsoc(1, 0x9e, 0x10))), [ILLEGAL, 0x24, 0x00]);
  assert.deepEqual(senseOf(await run(port, rsoc(2, 0x28))), [ILLEGAL, 0x24, 0x00]);
  const withSa = (await run(port, rsoc(2, 0x9e, 0x10))).dataIn!;
  assert.equal(withSa[1]! & 7, 3);
  assert.equal(withSa.readUInt16BE(2), 16);
  // unsupported opcode: SUPPORT 001b
  assert.equal((await run(port, rsoc(1, 0xff))).dataIn![1]! & 7, 1);
  // RCTD: every descriptor has CTDP and a 0Ah-long timeouts descriptor
  const t = (await run(port, rsoc(0, 0, 0, 65535, true))).dataIn!;
  const tlen = t.readUInt32BE(0);
  let count = 0;
  for (let off = 4; off < 4 + tlen; off += 20) {
    assert.equal(t[off + 5]! & 2, 2);
    assert.equal(t.readUInt16BE(off + 8), 0x0a);
    count++;
  }
  assert.equal(count, descs.length);
  // UNMAP is not listed for a thick LU
  const thick = makeLu(8 * 1024 * 1024, {}, { thin: false });
  const tp = await openPort(thick.lu);
  const tall = (await run(tp, rsoc(0))).dataIn!;
  for (let off = 4; off < 4 + tall.readUInt32BE(0); off += 8) assert.notEqual(tall[off], 0x42);
});

test('REPORT TARGET PORT GROUPS with two groups, length-only and extended formats', async () => {
  const { lu, groups } = makeLu();
  groups.length = 0;
  groups.push({ id: 2, state: 'active-non-optimized', relativePortIds: [2] }, { id: 1, state: 'active-optimized', relativePortIds: [1] });
  const port = await openPort(lu);
  const c = Buffer.alloc(12);
  c[0] = 0xa3;
  c[1] = 0x0a;
  c.writeUInt32BE(1024, 6);
  const d = (await run(port, c)).dataIn!;
  assert.equal(d.readUInt32BE(0), d.length - 4);
  assert.equal(d.length, 4 + 2 * 12);
  assert.deepEqual([d[4]! & 0x0f, d.readUInt16BE(6), d[11], d.readUInt16BE(14)], [0, 1, 1, 1]);
  assert.deepEqual([d[16]! & 0x0f, d.readUInt16BE(18), d[23], d.readUInt16BE(26)], [1, 2, 1, 2]);
  c[1] = 0x20 | 0x0a;
  const x = (await run(port, c)).dataIn!;
  assert.equal(x[4], 0x10);
  assert.equal(x.readUInt32BE(0), x.length - 4);
  assert.equal(x.length, 8 + 24);
  c[1] = 0x40 | 0x0a;
  assert.deepEqual(senseOf(await run(port, c)), [ILLEGAL, 0x24, 0x00]);
  // allocation length truncation
  c[1] = 0x0a;
  c.writeUInt32BE(8, 6);
  assert.equal((await run(port, c)).dataIn?.length, 8);
});

test('descriptor sense bytes under D_SENSE: MISCOMPARE carries the INFORMATION descriptor', async () => {
  const { lu } = makeLu();
  const port = await openPort(lu);
  lu.mode.dSense = true;
  await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(512, 1) });
  const bad = Buffer.alloc(512, 1);
  bad[300] = 2;
  const r = await run(port, cdb10(ScsiOp.VERIFY_10, 0, 1, 0x02), { dataOut: bad });
  // 72h, MISCOMPARE, 1Dh/00h, ADDITIONAL LENGTH 12, information descriptor (VALID, 300)
  assert.deepEqual([...r.sense!], [0x72, 0x0e, 0x1d, 0x00, 0, 0, 0, 12, 0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x2c]);
  // INVALID FIELD IN CDB with the sense-key specific field pointer descriptor
  const f = await run(port, cdb10(ScsiOp.READ_10, 0, 1, 0x20));
  assert.deepEqual([...f.sense!], [0x72, 0x05, 0x24, 0x00, 0, 0, 0, 8, 0x02, 0x06, 0, 0, 0xcf, 0x00, 0x01, 0]);
});

test('thick LU: RSOC one-command for UNMAP says not supported; INQUIRY EVPD on a missing LUN is refused', async () => {
  const { lu } = makeLu(8 * 1024 * 1024, {}, { thin: false });
  const port = await openPort(lu);
  const c = Buffer.alloc(12);
  c[0] = 0xa3;
  c[1] = 0x0c;
  c[2] = 0x01;
  c[3] = ScsiOp.UNMAP;
  c.writeUInt32BE(64, 6);
  assert.equal((await run(port, c)).dataIn![1]! & 7, 1);
  assert.deepEqual(senseOf(await run(port, inquiry(1, 0x80, 255), { lun: 4 })), [ILLEGAL, 0x24, 0x00]);
});
