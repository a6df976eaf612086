/** REGISTER AND MOVE (SPC-4 "Registering and moving the reservation"). */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Nexus } from '../../../src/scsi/command.js';
import { ScsiError } from '../../../src/scsi/sense.js';
import { CDB, Harness, I1, I2, I3, MemoryPrStore, SA, TYPE, makeNexus, prInCdb, prOutCdb } from './reservations-fixtures.js';

const n1 = makeNexus(I1);
const n2 = makeNexus(I2);
const K1 = 0x1000n;
const K2 = 0x2000n;
const K3 = 0x3000n;

interface MoveOpts {
  rk?: bigint;
  sark?: bigint;
  unreg?: boolean;
  aptpl?: boolean;
  rtpi?: number;
  tid?: Buffer;
  /** TRANSPORTID PARAMETER DATA LENGTH override. */
  tidLength?: number;
  /** PARAMETER LIST LENGTH override. */
  listLength?: number;
}

/** SPC-4 "PERSISTENT RESERVE OUT parameter list for REGISTER AND MOVE". */
function moveParam(dest: Nexus, o: MoveOpts = {}): Buffer {
  const tid = o.tid ?? dest.transportId;
  const p = Buffer.alloc(24 + tid.length);
  p.writeBigUInt64BE(o.rk ?? K1, 0); // RESERVATION KEY
  p.writeBigUInt64BE(o.sark ?? K2, 8); // SERVICE ACTION RESERVATION KEY
  p[17] = (o.unreg ? 0x02 : 0) | (o.aptpl ? 0x01 : 0); // UNREG | APTPL
  p.writeUInt16BE(o.rtpi ?? dest.relativeTargetPortId, 18); // RELATIVE TARGET PORT IDENTIFIER
  p.writeUInt32BE(o.tidLength ?? tid.length, 20); // TRANSPORTID PARAMETER DATA LENGTH
  tid.copy(p, 24);
  return p;
}

function move(h: Harness, from: Nexus, dest: Nexus, o: MoveOpts = {}) {
  const p = moveParam(dest, o);
  return h.r.persistentReserveOut(from, prOutCdb(SA.REGISTER_AND_MOVE, 0, 0, o.listLength ?? p.length), p);
}

function isScsiError(reason: string, byte?: number) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ScsiError, String(e));
    assert.equal(e.reason, reason);
    if (byte !== undefined) assert.equal(e.detail.field?.byte, byte);
    return true;
  };
}

/** n1 holds a reservation of `type` with K1; n2 is known (sent PR IN) but not registered. */
async function setup(type: number = TYPE.WE, store?: MemoryPrStore): Promise<Harness> {
  const h = new Harness(store);
  h.r.persistentReserveIn(n2, prInCdb(0));
  await h.registerIgnore(n1, K1);
  await h.reserve(n1, K1, type);
  return h;
}

describe('REGISTER AND MOVE', () => {
  test('registers the destination with SARK and moves the reservation to it', async () => {
    const h = await setup(TYPE.EA);
    const gen = h.keys(n1).generation;
    assert.equal(await move(h, n1, n2), 'GOOD');
    assert.deepEqual(h.keys(n1), { generation: gen + 1, keys: [K1, K2] });
    assert.deepEqual(h.reservation(n1), { generation: gen + 1, key: K2, type: TYPE.EA, scope: 0 });
    assert.equal(h.r.conflicts(n2, CDB.WRITE_10), false);
    assert.equal(h.r.conflicts(n1, CDB.READ_10), true); // registered non-holder under EA
    assert.deepEqual(h.ua.entries, []);
  });

  test('UNREG=1 unregisters the issuer', async () => {
    const h = await setup(TYPE.WERO);
    assert.equal(await move(h, n1, n2, { unreg: true }), 'GOOD');
    assert.deepEqual(h.keys(n1).keys, [K2]);
    assert.equal(h.reservation(n1)?.key, K2);
    assert.equal(h.r.conflicts(n1, CDB.WRITE_10), true);
  });

  test('an already registered destination keeps its key', async () => {
    const h = await setup(TYPE.WE);
    await h.registerIgnore(n2, K3);
    assert.equal(await move(h, n1, n2, { sark: K2 }), 'GOOD');
    assert.deepEqual(h.keys(n1).keys, [K1, K3]);
    assert.equal(h.reservation(n1)?.key, K3);
  });

  test('a destination that has not logged in yet becomes holder when it does; ISID case does not matter', async () => {
    const h = await setup(TYPE.EA);
    const later = makeNexus(I3, 'abcdef012345');
    const upper = Buffer.from(later.transportId);
    upper.write('ABCDEF012345', 4 + `${I3},i,0x`.length, 'latin1');
    assert.equal(await move(h, n1, later, { tid: upper }), 'GOOD');
    assert.equal(h.r.conflicts(later, CDB.WRITE_10), false);
    assert.equal(h.r.conflicts(n2, CDB.READ_10), true);
    // READ FULL STATUS reports the destination's TransportID
    const full = h.r.persistentReserveIn(n1, prInCdb(3));
    const d2 = 8 + 24 + n1.transportId.length;
    assert.equal(full.readUInt8(d2 + 12), 0x01); // R_HOLDER
    assert.equal(full.readUInt16BE(d2 + 18), later.relativeTargetPortId);
    assert.equal(full.subarray(d2 + 24).length, later.transportId.length);
  });

  test('conflicts: unregistered, wrong key, not the holder, no reservation, all-registrants type', async () => {
    const h = await setup(TYPE.WE);
    const n3 = makeNexus(I3);
    assert.equal(await move(h, n3, n2, { rk: 0n }), 'RESERVATION_CONFLICT');
    assert.equal(await move(h, n1, n2, { rk: K3 }), 'RESERVATION_CONFLICT');
    await h.registerIgnore(n3, K3);
    assert.equal(await move(h, n3, n2, { rk: K3 }), 'RESERVATION_CONFLICT');
    await h.release(n1, K1, TYPE.WE);
    assert.equal(await move(h, n1, n2), 'RESERVATION_CONFLICT');
    await h.reserve(n1, K1, TYPE.WEAR);
    assert.equal(await move(h, n1, n2), 'RESERVATION_CONFLICT');
    assert.deepEqual(h.keys(n1).keys, [K1, K3]);
  });

  test('parameter list errors', async () => {
    const h = await setup(TYPE.WE);
    const before = h.r.persistentReserveIn(n1, prInCdb(3));
    await assert.rejects(move(h, n1, n2, { sark: 0n }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 8));
    await assert.rejects(move(h, n1, n2, { rtpi: 77 }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 18));
    await assert.rejects(move(h, n1, n1), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 24)); // itself
    await assert.rejects(move(h, n1, n2, { aptpl: true }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 17)); // no store
    const fcTid = Buffer.from(n2.transportId);
    fcTid[0] = 0x40; // PROTOCOL IDENTIFIER 0 (Fibre Channel)
    await assert.rejects(move(h, n1, n2, { tid: fcTid }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 24));
    const deviceTid = Buffer.from(n2.transportId);
    deviceTid[0] = 0x05; // FORMAT CODE 00b: initiator device, not port
    await assert.rejects(move(h, n1, n2, { tid: deviceTid }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 24));
    const noIsid = Buffer.from(n2.transportId);
    noIsid.write(',x,', 4 + I2.length, 'latin1');
    await assert.rejects(move(h, n1, n2, { tid: noIsid }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 28));
    const badLen = Buffer.from(n2.transportId);
    badLen.writeUInt16BE(badLen.length, 2); // ADDITIONAL LENGTH beyond the TransportID
    await assert.rejects(move(h, n1, n2, { tid: badLen }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 26));
    await assert.rejects(move(h, n1, n2, { tid: Buffer.alloc(8) }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 20));
    // TransportID longer than the parameter list, list shorter than 24
    await assert.rejects(move(h, n1, n2, { tidLength: 4096 }), isScsiError('PARAMETER_LIST_LENGTH_ERROR'));
    await assert.rejects(
      h.r.persistentReserveOut(n1, prOutCdb(SA.REGISTER_AND_MOVE, 0, 0, 16), Buffer.alloc(16)),
      isScsiError('PARAMETER_LIST_LENGTH_ERROR'),
    );
    assert.deepEqual(h.r.persistentReserveIn(n1, prInCdb(3)), before, 'nothing changed');
  });

  test('APTPL=1 persists the moved reservation', async () => {
    const store = new MemoryPrStore();
    const h = await setup(TYPE.EA, store);
    assert.equal(await move(h, n1, n2, { aptpl: true, unreg: true }), 'GOOD');
    const b = new Harness(store);
    await b.r.load();
    assert.deepEqual(b.reservation(n1), { generation: h.keys(n1).generation, key: K2, type: TYPE.EA, scope: 0 });
    assert.equal(b.r.conflicts(n2, CDB.WRITE_10), false);
    assert.equal(b.r.conflicts(n1, CDB.READ_10), true);
  });
});
