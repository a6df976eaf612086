// Generic gates of the dispatcher: LUN, unit attention order, reservations, ALUA, write protect, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiStatus, TmfFunction } from '../../../src/scsi/command.js';
import { ScsiOp } from '../../../src/scsi/constants.js';
import { createScsiPort, notifyLunMapChanged } from '../../../src/scsi/device-server.js';
import { COMMANDS, lookup } from '../../../src/scsi/dispatch.js';
import { cdb, cdb10, makeLu, makeNexus, mapOf, openPort, run, senseOf } from './helpers.js';

const TUR = () => cdb(ScsiOp.TEST_UNIT_READY);

test('first command on a new nexus: POWER ON RESET once, then GOOD', async () => {
  const { lu } = makeLu();
  const port = createScsiPort(makeNexus(), mapOf([[0, lu]]));
  const first = await run(port, TUR());
  assert.equal(first.status, ScsiStatus.CHECK_CONDITION);
  assert.deepEqual(senseOf(first), [0x6, 0x29, 0x00]);
  // exact fixed-format bytes
  assert.deepEqual([...first.sense!], [0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0, 0, 0, 0, 0]);
  assert.equal((await run(port, TUR())).status, ScsiStatus.GOOD);
});

test('INQUIRY and REPORT LUNS do not consume the unit attention; unknown opcodes report it first', async () => {
  const { lu } = makeLu();
  const port = createScsiPort(makeNexus(), mapOf([[0, lu]]));
  assert.equal((await run(port, cdb(ScsiOp.INQUIRY, 0, 0, 0, 96, 0))).status, ScsiStatus.GOOD);
  const bad = await run(port, cdb(0xff));
  assert.deepEqual(senseOf(bad), [0x6, 0x29, 0x00]);
  const again = await run(port, cdb(0xff));
  assert.deepEqual(senseOf(again), [0x5, 0x20, 0x00]);
});

test('unit attentions are queued in order, one reported per command, per nexus', async () => {
  const { lu } = makeLu();
  const a = await openPort(lu, makeNexus('iqn.1994-05.com.example:a'));
  const b = await openPort(lu, makeNexus('iqn.1994-05.com.example:b'));
  lu.capacityChanged();
  lu.aluaChanged();
  lu.capacityChanged(); // deduplicated
  for (const p of [a, b]) {
    assert.deepEqual(senseOf(await run(p, TUR())), [0x6, 0x2a, 0x09]);
    assert.deepEqual(senseOf(await run(p, TUR())), [0x6, 0x2a, 0x06]);
    assert.equal((await run(p, TUR())).status, ScsiStatus.GOOD);
  }
});

test('missing LUN: LOGICAL UNIT NOT SUPPORTED; INQUIRY answers qualifier 011b / type 1Fh', async () => {
  const { lu } = makeLu();
  const port = createScsiPort(makeNexus(), mapOf([[0, lu]]));
  assert.deepEqual(senseOf(await run(port, TUR(), { lun: 3 })), [0x5, 0x25, 0x00]);
  const inq = await run(port, cdb(ScsiOp.INQUIRY, 0, 0, 0, 36, 0), { lun: 3 });
  assert.equal(inq.status, ScsiStatus.GOOD);
  assert.equal(inq.dataIn?.[0], 0x7f);
  assert.equal(inq.dataIn?.length, 36);
});

test('malformed CDBs never throw: short CDB, bad service action, NACA in CONTROL', async () => {
  const { lu } = makeLu();
  const port = await openPort(lu);
  assert.deepEqual(senseOf(await run(port, Buffer.from([ScsiOp.READ_10, 0, 0]))), [0x5, 0x24, 0x00]);
  assert.deepEqual(senseOf(await run(port, Buffer.alloc(0))), [0x5, 0x24, 0x00]);
  const sai = Buffer.alloc(16);
  sai[0] = 0x9e;
  sai[1] = 0x1f;
  assert.deepEqual(senseOf(await run(port, sai)), [0x5, 0x24, 0x00]);
  const naca = cdb10(ScsiOp.READ_10, 0, 1);
  naca[9] = 0x04;
  const r = await run(port, naca);
  assert.deepEqual(senseOf(r), [0x5, 0x24, 0x00]);
  // sense-key specific: SKSV, C/D, byte 9
  assert.equal(r.sense![15]! & 0xc0, 0xc0);
  assert.equal(r.sense!.readUInt16BE(16), 9);
});

test('ALUA: standby refuses READ/TUR with NOT READY 04/0B but allows INQUIRY, RTPG, READ CAPACITY(16)', async () => {
  const { lu, groups } = makeLu();
  const port = await openPort(lu);
  groups[0]!.state = 'standby';
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_10, 0, 1))), [0x2, 0x04, 0x0b]);
  assert.deepEqual(senseOf(await run(port, TUR())), [0x2, 0x04, 0x0b]);
  assert.equal((await run(port, cdb(ScsiOp.INQUIRY, 0, 0, 0, 96, 0))).status, ScsiStatus.GOOD);
  const rc16 = Buffer.alloc(16);
  rc16[0] = 0x9e;
  rc16[1] = 0x10;
  rc16.writeUInt32BE(32, 10);
  assert.equal((await run(port, rc16)).status, ScsiStatus.GOOD);
  groups[0]!.state = 'unavailable';
  assert.deepEqual(senseOf(await run(port, rc16)), [0x2, 0x04, 0x0c]);
  groups[0]!.state = 'transitioning';
  assert.deepEqual(senseOf(await run(port, cdb(ScsiOp.MODE_SENSE_6, 0, 0x3f, 0, 255, 0))), [0x2, 0x04, 0x0a]);
  const rtpg = Buffer.alloc(12);
  rtpg[0] = 0xa3;
  rtpg[1] = 0x0a;
  rtpg.writeUInt32BE(64, 6);
  assert.equal((await run(port, rtpg)).status, ScsiStatus.GOOD);
  groups[0]!.state = 'active-non-optimized';
  assert.equal((await run(port, cdb10(ScsiOp.READ_10, 0, 1))).status, ScsiStatus.GOOD);
});

test('read-only LU: writes get DATA PROTECT / WRITE PROTECTED, reads work, WP bit set', async () => {
  const { lu } = makeLu(8 * 1024 * 1024, { readOnly: true });
  const port = await openPort(lu);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(512) })), [0x7, 0x27, 0x00]);
  const um = Buffer.alloc(10);
  um[0] = ScsiOp.UNMAP;
  um.writeUInt16BE(24, 7);
  assert.deepEqual(senseOf(await run(port, um, { dataOut: Buffer.alloc(24) })), [0x7, 0x27, 0x00]);
  assert.equal((await run(port, cdb10(ScsiOp.READ_10, 0, 1))).status, ScsiStatus.GOOD);
  const ms = await run(port, cdb(ScsiOp.MODE_SENSE_6, 0x08, 0x3f, 0, 255, 0));
  assert.equal(ms.dataIn![2]! & 0x80, 0x80);
});

test('RESERVE(6) from one nexus: the other gets RESERVATION CONFLICT on READ, INQUIRY still works; released on nexus loss', async () => {
  const { lu } = makeLu();
  await lu.open();
  const n1 = makeNexus('iqn.1994-05.com.example:a');
  const n2 = makeNexus('iqn.1994-05.com.example:b');
  const p1 = await openPort(lu, n1);
  const p2 = await openPort(lu, n2);
  assert.equal((await run(p1, cdb(ScsiOp.RESERVE_6))).status, ScsiStatus.GOOD);
  assert.equal((await run(p2, cdb10(ScsiOp.READ_10, 0, 1))).status, ScsiStatus.RESERVATION_CONFLICT);
  assert.equal((await run(p2, cdb(ScsiOp.INQUIRY, 0, 0, 0, 96, 0))).status, ScsiStatus.GOOD);
  assert.equal((await run(p1, cdb10(ScsiOp.READ_10, 0, 1))).status, ScsiStatus.GOOD);
  p1.close();
  assert.equal((await run(p2, cdb10(ScsiOp.READ_10, 0, 1))).status, ScsiStatus.GOOD);
});

test('LOGICAL UNIT RESET releases RESERVE(6) and queues a reset unit attention for every nexus', async () => {
  const { lu } = makeLu();
  const n1 = makeNexus('iqn.1994-05.com.example:a');
  const n2 = makeNexus('iqn.1994-05.com.example:b');
  const p1 = await openPort(lu, n1);
  const p2 = await openPort(lu, n2);
  await run(p1, cdb(ScsiOp.RESERVE_6));
  assert.equal(p1.taskManagement(TmfFunction.LOGICAL_UNIT_RESET, 0), true);
  assert.equal(p1.taskManagement(TmfFunction.LOGICAL_UNIT_RESET, 9), false);
  assert.deepEqual(senseOf(await run(p1, TUR())), [0x6, 0x29, 0x03]);
  assert.equal((await run(p1, TUR())).status, ScsiStatus.GOOD);
  assert.deepEqual(senseOf(await run(p2, TUR())), [0x6, 0x29, 0x03]);
  assert.equal((await run(p2, cdb(ScsiOp.RESERVE_6))).status, ScsiStatus.GOOD);
});

test('I_T nexus loss: the queue is dropped; a returning nexus starts with POWER ON RESET', async () => {
  const { lu } = makeLu();
  const n = makeNexus();
  const p = await openPort(lu, n);
  lu.capacityChanged();
  p.close();
  assert.equal(lu.ua.isKnown(n.key), false);
  const again = createScsiPort(n, mapOf([[0, lu]]));
  assert.deepEqual(senseOf(await run(again, TUR())), [0x6, 0x29, 0x00]);
  assert.equal((await run(again, TUR())).status, ScsiStatus.GOOD);
});

test('notifyLunMapChanged: REPORTED LUNS DATA HAS CHANGED, cleared by REPORT LUNS', async () => {
  const { lu } = makeLu();
  const map = mapOf([[0, lu]]);
  const port = createScsiPort(makeNexus(), map);
  await run(port, TUR());
  const other = makeLu();
  map.m.set(1, other.lu);
  notifyLunMapChanged(port);
  const rl = Buffer.alloc(12);
  rl[0] = ScsiOp.REPORT_LUNS;
  rl.writeUInt32BE(64, 6);
  const r = await run(port, rl);
  assert.equal(r.dataIn?.readUInt32BE(0), 16);
  assert.equal((await run(port, TUR())).status, ScsiStatus.GOOD);
  notifyLunMapChanged(port);
  assert.deepEqual(senseOf(await run(port, TUR())), [0x6, 0x3f, 0x0e]);
});

test('an unexpected exception becomes HARDWARE ERROR / INTERNAL TARGET FAILURE', async () => {
  const { setInternalErrorLogger } = await import('../../../src/scsi/dispatch.js');
  const logged: string[] = [];
  setInternalErrorLogger((_e, c) => logged.push(c));
  const { lu, store } = makeLu();
  const port = await openPort(lu);
  store.read = () => Promise.reject(new TypeError('bug'));
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_10, 0, 1))), [0x4, 0x44, 0x00]);
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_10, 0, 1))), [0x4, 0x44, 0x00]);
  assert.deepEqual(logged, ['READ(10)']); // logged once
  store.read = () => Promise.reject(new RangeError('another bug'));
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_10, 0, 1))), [0x4, 0x44, 0x00]);
  assert.deepEqual(logged, ['READ(10)', 'READ(10)']); // a different error is logged too
});

test('commandName gives the T10 name from the table', async () => {
  const { commandName } = await import('../../../src/scsi/dispatch.js');
  assert.equal(commandName(cdb10(ScsiOp.READ_10, 0, 1)), 'READ(10)');
  const rc16 = Buffer.alloc(16);
  rc16[0] = 0x9e;
  rc16[1] = 0x10;
  assert.equal(commandName(rc16), 'READ CAPACITY(16)');
  assert.equal(commandName(cdb(0xff)), undefined);
});

test('the command table: unique keys, CDB usage byte 0 is the opcode, lookup finds every entry', () => {
  const keys = new Set<string>();
  for (const c of COMMANDS) {
    const k = `${c.op}/${c.sa ?? '-'}`;
    assert.ok(!keys.has(k), k);
    keys.add(k);
    assert.equal(c.usage[0], c.op, c.name);
    assert.ok([6, 10, 12, 16].includes(c.usage.length), c.name);
    const probe = Buffer.alloc(16);
    probe[0] = c.op;
    probe[1] = c.sa ?? 0;
    assert.equal(lookup(probe), c);
  }
});

test('concurrent independent READs are not serialised', async () => {
  const { lu, store } = makeLu();
  const port = await openPort(lu);
  let inFlight = 0;
  let peak = 0;
  const release: Array<() => void> = [];
  const orig = store.read.bind(store);
  store.read = async (off, dest) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise<void>((r) => release.push(r));
    inFlight--;
    return orig(off, dest);
  };
  const all = Promise.all([0, 1, 2, 3].map((i) => run(port, cdb10(ScsiOp.READ_10, i * 8, 8))));
  const deadline = Date.now() + 2000;
  while (release.length < 4 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  assert.equal(peak, 4);
  release.forEach((r) => r());
  for (const r of await all) assert.equal(r.status, ScsiStatus.GOOD);
});

test('a closed LU answers NOT READY instead of touching the backstore', async () => {
  const { lu, store } = makeLu();
  const port = await openPort(lu);
  await lu.close();
  const reads = store.stats.reads;
  assert.deepEqual(senseOf(await run(port, cdb10(ScsiOp.READ_10, 0, 1))), [0x2, 0x04, 0x00]);
  assert.equal(store.stats.reads, reads);
});

function prOut(sa: number, type: number, key: bigint, sark: bigint): { cdb: Buffer; data: Buffer } {
  const c = Buffer.alloc(10);
  c[0] = ScsiOp.PERSISTENT_RESERVE_OUT;
  c[1] = sa;
  c[2] = type;
  c.writeUInt32BE(24, 5);
  const d = Buffer.alloc(24);
  d.writeBigUInt64BE(key, 0);
  d.writeBigUInt64BE(sark, 8);
  return { cdb: c, data: d };
}

test('PERSISTENT RESERVE OUT through the dispatcher: WRITE EXCLUSIVE blocks the other nexus writes only', async () => {
  const { lu } = makeLu();
  await lu.open();
  const p1 = await openPort(lu, makeNexus('iqn.1994-05.com.example:a'));
  const p2 = await openPort(lu, makeNexus('iqn.1994-05.com.example:b'));
  const reg = prOut(0x00, 0, 0n, 0xabcn);
  assert.equal((await run(p1, reg.cdb, { dataOut: reg.data })).status, ScsiStatus.GOOD);
  const res = prOut(0x01, 0x01, 0xabcn, 0n); // RESERVE, type 1 = WRITE EXCLUSIVE
  assert.equal((await run(p1, res.cdb, { dataOut: res.data })).status, ScsiStatus.GOOD);
  assert.equal((await run(p2, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(512) })).status, ScsiStatus.RESERVATION_CONFLICT);
  assert.equal((await run(p2, cdb10(ScsiOp.READ_10, 0, 1))).status, ScsiStatus.GOOD);
  assert.equal((await run(p1, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(512) })).status, ScsiStatus.GOOD);
  // READ KEYS via PERSISTENT RESERVE IN, truncated to the allocation length
  const rk = Buffer.alloc(10);
  rk[0] = ScsiOp.PERSISTENT_RESERVE_IN;
  rk.writeUInt16BE(16, 7);
  const keys = await run(p2, rk);
  assert.equal(keys.status, ScsiStatus.GOOD);
  assert.equal(keys.dataIn?.length, 16);
  assert.equal(keys.dataIn?.readUInt32BE(4), 8);
  assert.equal(keys.dataIn?.readBigUInt64BE(8), 0xabcn);
  // PR OUT is allowed in ALUA standby
  const { groups } = { groups: lu.aluaGroups() };
  groups[0]!.state = 'standby';
  const unreg = prOut(0x00, 0, 0xabcn, 0n);
  assert.equal((await run(p1, unreg.cdb, { dataOut: unreg.data })).status, ScsiStatus.GOOD);
  groups[0]!.state = 'active-optimized';
  assert.equal((await run(p2, cdb10(ScsiOp.WRITE_10, 0, 1), { dataOut: Buffer.alloc(512) })).status, ScsiStatus.GOOD);
});

test('a failing collaborator (ALUA callback, LUN map) gives HARDWARE ERROR, prepare() never throws', async () => {
  const { setInternalErrorLogger } = await import('../../../src/scsi/dispatch.js');
  setInternalErrorLogger(() => {});
  const { lu } = makeLu(8 * 1024 * 1024, { aluaGroups: () => { throw new Error('config gone'); } });
  const port = createScsiPort(makeNexus(), mapOf([[0, lu]]));
  await run(port, TUR()); // power-on UA comes before the ALUA gate
  assert.deepEqual(senseOf(await run(port, TUR())), [0x4, 0x44, 0x00]);
  const broken = createScsiPort(makeNexus(), { get: () => { throw new Error('map'); }, luns: () => [] });
  assert.deepEqual(senseOf(await run(broken, TUR())), [0x4, 0x44, 0x00]);
});

test('task management: target reset and CLEAR TASK SET unit attentions, ABORT TASK SET has none', async () => {
  const { lu } = makeLu();
  const p1 = await openPort(lu, makeNexus('iqn.1994-05.com.example:a'));
  const p2 = await openPort(lu, makeNexus('iqn.1994-05.com.example:b'));
  assert.equal(p1.taskManagement(TmfFunction.ABORT_TASK_SET, 0), true);
  assert.equal((await run(p2, TUR())).status, ScsiStatus.GOOD);
  assert.equal(p1.taskManagement(TmfFunction.CLEAR_TASK_SET, 0), true);
  assert.deepEqual(senseOf(await run(p2, TUR())), [0x6, 0x2f, 0x00]);
  assert.equal((await run(p1, TUR())).status, ScsiStatus.GOOD);
  assert.equal(p1.taskManagement(TmfFunction.TARGET_COLD_RESET, 0), true);
  assert.deepEqual(senseOf(await run(p2, TUR())), [0x6, 0x29, 0x00]);
  assert.deepEqual(senseOf(await run(p1, TUR())), [0x6, 0x29, 0x00]);
  assert.equal(p1.taskManagement(TmfFunction.TARGET_WARM_RESET, 0), true);
  assert.deepEqual(senseOf(await run(p2, TUR())), [0x6, 0x29, 0x03]);
  assert.equal(p1.taskManagement(TmfFunction.ABORT_TASK, 7), false);
});

test('MODE SELECT(10) with a block descriptor that matches; a wrong block length is refused', async () => {
  const { lu } = makeLu();
  const port = await openPort(lu);
  const ms10 = Buffer.alloc(10);
  ms10[0] = ScsiOp.MODE_SENSE_10;
  ms10[2] = 0x0a;
  ms10.writeUInt16BE(255, 7);
  const cur = (await run(port, ms10)).dataIn!;
  const param = Buffer.from(cur);
  param.writeUInt16BE(0, 0);
  param[3] = 0;
  param[8 + 8 + 2]! |= 0x04; // D_SENSE, after the 8-byte header and 8-byte block descriptor
  const sel = Buffer.alloc(10);
  sel[0] = ScsiOp.MODE_SELECT_10;
  sel[1] = 0x10;
  sel.writeUInt16BE(param.length, 7);
  assert.equal((await run(port, sel, { dataOut: param })).status, ScsiStatus.GOOD);
  assert.equal(lu.mode.dSense, true);
  const bad = Buffer.from(param);
  bad.writeUInt32BE(4096, 8 + 4); // LOGICAL BLOCK LENGTH
  const r = await run(port, sel, { dataOut: bad });
  assert.equal(r.sense?.[0], 0x72); // descriptor format now
  assert.deepEqual(senseOf(r), [0x5, 0x26, 0x00]);
  assert.equal(lu.mode.dSense, true); // unchanged on error
});
