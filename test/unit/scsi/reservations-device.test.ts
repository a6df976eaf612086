/**
 * Reservations through the real device server (createScsiPort + LogicalUnit +
 * memory backstore): the libiscsi Prin / Prout / Reserve6 sequences as an
 * initiator sees them, with the dispatcher's gate order (unit attention before
 * reservation conflict) and allocation-length truncation.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackingStore } from '../../../src/backstore/memory.js';
import { ScsiStatus, TmfFunction, type Nexus, type ScsiPort, type ScsiRequest, type ScsiResult } from '../../../src/scsi/command.js';
import { createScsiPort } from '../../../src/scsi/device-server.js';
import { LogicalUnit } from '../../../src/scsi/logical-unit.js';
import type { PrStore } from '../../../src/scsi/reservations.js';
import { CDB, I1, I2, MemoryPrStore, SA, TYPE, makeNexus, prInCdb, prOutCdb, prOutParam, type ParamOpts } from './reservations-fixtures.js';

const BLOCK = 512;

function makeLu(prStore?: PrStore): LogicalUnit {
  const store = new MemoryBackingStore('rbd/pr', 1024 * 1024);
  return new LogicalUnit({
    name: 'rbd/pr',
    backstore: store,
    wwn: '0c9e4f6a-1b2c-4d5e-8f70-123456789abc',
    aluaGroups: () => [{ id: 1, state: 'active-optimized', relativePortIds: [1, 2] }],
    ...(prStore !== undefined ? { prStore } : {}),
  });
}

/** One initiator's view: a port plus a transport-like runner. */
class Initiator {
  readonly port: ScsiPort;
  constructor(
    readonly lu: LogicalUnit,
    readonly nexus: Nexus,
  ) {
    this.port = createScsiPort(nexus, { get: (l) => (l === 0 ? lu : undefined), luns: () => [0] });
  }

  async cmd(cdb: Buffer, dataOut?: Buffer): Promise<ScsiResult> {
    const req: ScsiRequest = {
      nexus: this.nexus,
      lun: 0,
      cdb,
      taskAttribute: 1,
      expectedDataLength: dataOut?.length ?? 0,
      dataOut: null,
    };
    const p = this.port.prepare(req);
    if (p.kind === 'result') return p;
    if (p.dataOutLength > 0) {
      const d = dataOut ?? Buffer.alloc(0);
      assert.ok(d.length >= p.dataOutLength, `command needs ${p.dataOutLength} Data-Out bytes, test has ${d.length}`);
      req.dataOut = d.subarray(0, p.dataOutLength);
    }
    const r = await this.port.execute(req, p);
    // the dispatcher truncates Data-In to the allocation length
    if (r.dataIn !== undefined) assert.ok(r.dataIn.length <= p.dataInLength);
    return r;
  }

  /** TEST UNIT READY until GOOD (libiscsi testunitready_clear_ua); returns the sense keys/ASC/ASCQ seen. */
  async clearUa(): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await this.cmd(CDB.TUR);
      if (r.status === ScsiStatus.GOOD) return seen;
      assert.equal(r.status, ScsiStatus.CHECK_CONDITION);
      seen.push(senseHex(r));
    }
    throw new Error('unit attentions never cleared');
  }

  prOut(sa: number, o: ParamOpts & { type?: number } = {}): Promise<ScsiResult> {
    return this.cmd(prOutCdb(sa, o.type ?? 0), prOutParam(o));
  }

  prIn(sa: number, alloc = 16384): Promise<ScsiResult> {
    return this.cmd(prInCdb(sa, alloc));
  }
}

/** "KK/AA/QQ" of fixed-format sense. */
function senseHex(r: ScsiResult): string {
  const s = r.sense;
  assert.ok(s !== undefined, `no sense with status ${r.status}`);
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return `${h(s.readUInt8(2) & 0xf)}/${h(s.readUInt8(12))}/${h(s.readUInt8(13))}`;
}

const READ10 = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const WRITE10 = Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const K1 = 0x0102030405060708n;
const K2 = 0x1112131415161718n;

async function pair(prStore?: PrStore): Promise<[Initiator, Initiator, LogicalUnit]> {
  const lu = makeLu(prStore);
  await lu.open();
  const a = new Initiator(lu, makeNexus(I1));
  const b = new Initiator(lu, makeNexus(I2));
  await a.clearUa();
  await b.clearUa();
  return [a, b, lu];
}

describe('through the device server', () => {
  test('Reserve6.2Initiators', async () => {
    const [a, b] = await pair();
    assert.equal((await a.cmd(CDB.RESERVE_6)).status, ScsiStatus.GOOD);
    assert.equal((await a.cmd(CDB.RESERVE_6)).status, ScsiStatus.GOOD);
    assert.equal((await b.cmd(CDB.RESERVE_6)).status, ScsiStatus.RESERVATION_CONFLICT);
    assert.equal((await b.cmd(CDB.RELEASE_6)).status, ScsiStatus.GOOD);
    assert.equal((await a.cmd(CDB.MODE_SENSE_6)).status, ScsiStatus.GOOD);
    assert.equal((await b.cmd(CDB.MODE_SENSE_6)).status, ScsiStatus.RESERVATION_CONFLICT);
    assert.equal((await b.cmd(CDB.INQUIRY)).status, ScsiStatus.GOOD);
    assert.equal((await b.cmd(CDB.RESERVE_6)).status, ScsiStatus.RESERVATION_CONFLICT);
    assert.equal((await a.cmd(CDB.RELEASE_6)).status, ScsiStatus.GOOD);
    assert.equal((await b.cmd(CDB.RESERVE_6)).status, ScsiStatus.GOOD);
    assert.equal((await b.cmd(CDB.RELEASE_6)).status, ScsiStatus.GOOD);
  });

  test('Reserve6.LUNReset and Reserve6.ITNexusLoss', async () => {
    const [a, b] = await pair();
    assert.equal((await a.cmd(CDB.RESERVE_6)).status, ScsiStatus.GOOD);
    assert.equal(a.port.taskManagement(TmfFunction.LOGICAL_UNIT_RESET, 0), true);
    await a.clearUa();
    await b.clearUa();
    assert.equal((await b.cmd(CDB.RESERVE_6)).status, ScsiStatus.GOOD);
    assert.equal((await a.cmd(CDB.RESERVE_6)).status, ScsiStatus.RESERVATION_CONFLICT);
    b.port.close(); // I_T nexus loss of the holder
    assert.equal((await a.cmd(CDB.RESERVE_6)).status, ScsiStatus.GOOD);
  });

  for (const [type, name, regRead, regWrite] of [
    [TYPE.WE, 'WE', true, false],
    [TYPE.EA, 'EA', false, false],
    [TYPE.WERO, 'WERO', true, true],
    [TYPE.EARO, 'EARO', true, true],
    [TYPE.WEAR, 'WEAR', true, true],
    [TYPE.EAAR, 'EAAR', true, true],
  ] as const) {
    test(`ProutReserve.Access${name}`, async () => {
      const [a, b] = await pair();
      const data = Buffer.alloc(BLOCK, 0x5a);
      assert.equal((await a.prOut(SA.REGISTER_AND_IGNORE, { sark: K1 })).status, ScsiStatus.GOOD);
      assert.equal((await b.prOut(SA.REGISTER_AND_IGNORE, { sark: K2 })).status, ScsiStatus.GOOD);
      assert.equal((await a.prOut(SA.RESERVE, { rk: K1, type })).status, ScsiStatus.GOOD);
      assert.equal((await a.cmd(READ10)).status, ScsiStatus.GOOD);
      assert.equal((await a.cmd(WRITE10, data)).status, ScsiStatus.GOOD);
      const expect = (ok: boolean) => (ok ? ScsiStatus.GOOD : ScsiStatus.RESERVATION_CONFLICT);
      assert.equal((await b.cmd(READ10)).status, expect(regRead));
      assert.equal((await b.cmd(WRITE10, data)).status, expect(regWrite));
      assert.equal((await b.prOut(SA.REGISTER, { rk: K2 })).status, ScsiStatus.GOOD); // unregister
      const we = type === TYPE.WE || type === TYPE.WERO || type === TYPE.WEAR;
      assert.equal((await b.cmd(READ10)).status, expect(we));
      assert.equal((await b.cmd(WRITE10, data)).status, ScsiStatus.RESERVATION_CONFLICT);
      assert.equal((await a.prOut(SA.RELEASE, { rk: K1, type })).status, ScsiStatus.GOOD);
      assert.equal((await a.prOut(SA.REGISTER, { rk: K1 })).status, ScsiStatus.GOOD);
    });
  }

  for (const [type, name] of [
    [TYPE.EA, 'EA'],
    [TYPE.WE, 'WE'],
    [TYPE.EARO, 'EARO'],
    [TYPE.WERO, 'WERO'],
  ] as const) {
    test(`ProutReserve.Ownership${name}: the unregistering holder's next PR IN is GOOD (tgt fails this)`, async () => {
      const [a, b] = await pair();
      await a.prOut(SA.REGISTER_AND_IGNORE, { sark: K1 });
      await b.prOut(SA.REGISTER_AND_IGNORE, { sark: K2 });
      assert.equal((await a.prOut(SA.RESERVE, { rk: K1, type })).status, ScsiStatus.GOOD);
      assert.equal((await a.prOut(SA.REGISTER, { rk: K1 })).status, ScsiStatus.GOOD);
      const rr = await a.prIn(1);
      assert.equal(rr.status, ScsiStatus.GOOD, rr.sense !== undefined ? senseHex(rr) : '');
      assert.equal(rr.dataIn?.readUInt32BE(4), 0); // not reserved
      const ro = type === TYPE.EARO || type === TYPE.WERO;
      assert.deepEqual(await b.clearUa(), ro ? ['06/2a/04'] : []);
      assert.equal((await b.prOut(SA.REGISTER, { rk: K2 })).status, ScsiStatus.GOOD);
    });
  }

  test('ProutPreempt.RemoveRegistration: the preempted initiator sees REGISTRATIONS PREEMPTED', async () => {
    const [a, b] = await pair();
    await a.prOut(SA.REGISTER_AND_IGNORE, { sark: K1 });
    await b.prOut(SA.REGISTER_AND_IGNORE, { sark: K2 });
    const before = (await a.prIn(0)).dataIn!.readUInt32BE(0);
    assert.equal((await b.prOut(SA.PREEMPT, { rk: K2, sark: K1, type: TYPE.EA })).status, ScsiStatus.GOOD);
    assert.deepEqual(await a.clearUa(), ['06/2a/05']);
    assert.deepEqual(await b.clearUa(), []);
    const keys = (await a.prIn(0)).dataIn!;
    assert.equal(keys.readUInt32BE(0), before + 1);
    assert.equal(keys.readUInt32BE(4), 8);
    assert.equal(keys.readBigUInt64BE(8), K2);
  });

  test('PrinServiceactionRange and PrinReadKeys.Truncate', async () => {
    const [a] = await pair();
    for (let sa = 0; sa < 4; sa++) assert.equal((await a.prIn(sa)).status, ScsiStatus.GOOD);
    for (let sa = 4; sa < 0x20; sa++) {
      const r = await a.prIn(sa);
      assert.equal(r.status, ScsiStatus.CHECK_CONDITION);
      assert.equal(senseHex(r), '05/24/00');
    }
    await a.prOut(SA.REGISTER_AND_IGNORE, { sark: K1 });
    const t = await a.prIn(0, 8);
    assert.equal(t.status, ScsiStatus.GOOD);
    assert.equal(t.dataIn?.length, 8);
    assert.equal(t.dataIn?.readUInt32BE(4), 8); // ADDITIONAL LENGTH not truncated
  });

  test('PR OUT with a bad PARAMETER LIST LENGTH is PARAMETER LIST LENGTH ERROR', async () => {
    const [a] = await pair();
    for (const len of [0, 16]) {
      const r = await a.cmd(prOutCdb(SA.REGISTER_AND_IGNORE, 0, 0, len), prOutParam({ sark: K1, length: len }));
      assert.equal(r.status, ScsiStatus.CHECK_CONDITION);
      assert.equal(senseHex(r), '05/1a/00');
    }
  });

  test('APTPL through LogicalUnit.open()', async () => {
    const store = new MemoryPrStore();
    const [a] = await pair(store);
    assert.equal((await a.prOut(SA.REGISTER_AND_IGNORE, { sark: K1, aptpl: true })).status, ScsiStatus.GOOD);
    assert.equal((await a.prOut(SA.RESERVE, { rk: K1, type: TYPE.WERO })).status, ScsiStatus.GOOD);
    const [a2, b2] = await pair(store);
    const rr = (await b2.prIn(1)).dataIn!;
    assert.equal(rr.readBigUInt64BE(8), K1);
    assert.equal(rr.readUInt8(21) & 0xf, TYPE.WERO);
    assert.equal((await b2.cmd(WRITE10, Buffer.alloc(BLOCK))).status, ScsiStatus.RESERVATION_CONFLICT);
    assert.equal((await a2.cmd(WRITE10, Buffer.alloc(BLOCK))).status, ScsiStatus.GOOD);
  });

  test('PERSISTENT RESERVE IN/OUT conflict while RESERVE(6) is held', async () => {
    const [a, b] = await pair();
    assert.equal((await a.cmd(CDB.RESERVE_6)).status, ScsiStatus.GOOD);
    assert.equal((await a.prIn(0)).status, ScsiStatus.RESERVATION_CONFLICT);
    assert.equal((await b.prOut(SA.REGISTER_AND_IGNORE, { sark: K2 })).status, ScsiStatus.RESERVATION_CONFLICT);
    assert.equal((await a.cmd(CDB.RELEASE_6)).status, ScsiStatus.GOOD);
    assert.equal((await b.prOut(SA.REGISTER_AND_IGNORE, { sark: K2 })).status, ScsiStatus.GOOD);
    // and RESERVE(6) conflicts while a registration exists (SPC-4 CRH)
    assert.equal((await a.cmd(CDB.RESERVE_6)).status, ScsiStatus.RESERVATION_CONFLICT);
    assert.equal((await a.cmd(CDB.RELEASE_6)).status, ScsiStatus.GOOD);
  });
});
