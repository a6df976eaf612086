/** REGISTER with SPEC_I_PT = 1 (SPC-4 "Registering", "Basic PERSISTENT RESERVE OUT parameter list"). */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Nexus } from '../../../src/scsi/command.js';
import { ScsiError } from '../../../src/scsi/sense.js';
import { CDB, Harness, I1, I2, I3, SA, TYPE, makeNexus, prInCdb, prOutCdb } from './reservations-fixtures.js';

const n1 = makeNexus(I1);
const n2 = makeNexus(I2);
const n3 = makeNexus(I3);
const K1 = 0xa1n;

/** 24 basic bytes with SPEC_I_PT, TRANSPORTID PARAMETER DATA LENGTH, TransportIDs. */
function specParam(tids: Buffer[], o: { rk?: bigint; sark?: bigint; allTgPt?: boolean; tidDataLength?: number } = {}): Buffer {
  const body = Buffer.concat(tids);
  const p = Buffer.alloc(28 + body.length);
  p.writeBigUInt64BE(o.rk ?? 0n, 0); // RESERVATION KEY
  p.writeBigUInt64BE(o.sark ?? K1, 8); // SERVICE ACTION RESERVATION KEY
  p[20] = 0x08 | (o.allTgPt ? 0x04 : 0); // SPEC_I_PT | ALL_TG_PT
  p.writeUInt32BE(o.tidDataLength ?? body.length, 24); // TRANSPORTID PARAMETER DATA LENGTH
  body.copy(p, 28);
  return p;
}

function registerSpec(h: Harness, from: Nexus, tids: Buffer[], o: Parameters<typeof specParam>[1] = {}, listLength?: number) {
  const p = specParam(tids, o);
  return h.r.persistentReserveOut(from, prOutCdb(SA.REGISTER, 0, 0, listLength ?? p.length), p);
}

function isScsiError(reason: string, byte?: number) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ScsiError, String(e));
    assert.equal(e.reason, reason);
    if (byte !== undefined) assert.equal(e.detail.field?.byte, byte);
    return true;
  };
}

describe('REGISTER with SPEC_I_PT', () => {
  test('registers the issuer and every named initiator port with one key, one generation step', async () => {
    const h = new Harness();
    assert.equal(await registerSpec(h, n1, [n2.transportId, n3.transportId]), 'GOOD');
    assert.deepEqual(h.keys(n1), { generation: 1, keys: [K1, K1, K1] });
    // the named ports are registered I_T nexuses through n1's target port
    assert.equal(await h.reserve(n2, K1, TYPE.WERO), 'GOOD');
    assert.equal(h.r.conflicts(n3, CDB.WRITE_10), false);
    assert.equal(h.r.conflicts(n1, CDB.WRITE_10), false);
    // but not through another target port
    const n3b = makeNexus(I3, '23d000000001', 2);
    assert.equal(h.r.conflicts(n3b, CDB.WRITE_10), true);
    // READ FULL STATUS carries their TransportIDs
    const full = h.r.persistentReserveIn(n1, prInCdb(3));
    assert.equal(full.indexOf(n2.transportId), full.lastIndexOf(n2.transportId));
    assert.ok(full.includes(n3.transportId));
  });

  test('with ALL_TG_PT the named ports are registered through every target port', async () => {
    const h = new Harness();
    assert.equal(await registerSpec(h, n1, [n3.transportId], { allTgPt: true }), 'GOOD');
    await h.reserve(n1, K1, TYPE.EARO);
    assert.equal(h.r.conflicts(makeNexus(I3, '23d000000001', 7), CDB.READ_10), false);
    assert.equal(h.r.conflicts(makeNexus(I1, '23d000000001', 7), CDB.READ_10), false);
    assert.equal(h.r.conflicts(n2, CDB.READ_10), true);
  });

  test("the issuer's own TransportID is ignored; the issuer must be unregistered with RK 0", async () => {
    const h = new Harness();
    assert.equal(await registerSpec(h, n1, [n1.transportId, n2.transportId]), 'GOOD');
    assert.deepEqual(h.keys(n1).keys, [K1, K1]);
    await assert.rejects(registerSpec(h, n1, [n3.transportId]), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 20));
    assert.equal(await registerSpec(h, n3, [], { rk: 5n }), 'RESERVATION_CONFLICT');
    assert.equal(await registerSpec(h, n3, [], { sark: 0n }), 'GOOD'); // nothing to do
    assert.deepEqual(h.keys(n1), { generation: 1, keys: [K1, K1] });
  });

  test('all or nothing: an already registered or repeated port, or a bad TransportID, registers nobody', async () => {
    const h = new Harness();
    await h.registerIgnore(n3, 0x77n);
    const before = h.r.persistentReserveIn(n1, prInCdb(3));
    const firstAt = 28;
    const secondAt = 28 + n2.transportId.length;
    await assert.rejects(registerSpec(h, n1, [n2.transportId, n3.transportId]), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', secondAt));
    await assert.rejects(registerSpec(h, n1, [n2.transportId, n2.transportId]), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', secondAt));
    const fc = Buffer.from(n2.transportId);
    fc[0] = 0x41; // PROTOCOL IDENTIFIER 1 (parallel SCSI)
    await assert.rejects(registerSpec(h, n1, [fc]), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', firstAt));
    await assert.rejects(registerSpec(h, n1, [Buffer.alloc(12)]), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', firstAt));
    const long = Buffer.from(n2.transportId);
    long.writeUInt16BE(long.length, 2); // ADDITIONAL LENGTH past the list
    await assert.rejects(registerSpec(h, n1, [long]), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', firstAt + 2));
    assert.deepEqual(h.r.persistentReserveIn(n1, prInCdb(3)), before);
  });

  test('TRANSPORTID PARAMETER DATA LENGTH must match the PARAMETER LIST LENGTH', async () => {
    const h = new Harness();
    await assert.rejects(registerSpec(h, n1, [n2.transportId], { tidDataLength: 4 }), isScsiError('PARAMETER_LIST_LENGTH_ERROR'));
    await assert.rejects(registerSpec(h, n1, [n2.transportId], { tidDataLength: 4096 }), isScsiError('PARAMETER_LIST_LENGTH_ERROR'));
    await assert.rejects(registerSpec(h, n1, [n2.transportId], {}, 26), isScsiError('PARAMETER_LIST_LENGTH_ERROR'));
    assert.deepEqual(h.keys(n1).keys, []);
  });
});
