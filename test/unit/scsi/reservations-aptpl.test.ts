import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../../src/util/errors.js';
import { ScsiError } from '../../../src/scsi/sense.js';
import { CDB, Harness, I1, I2, I3, MemoryPrStore, SA, TYPE, makeNexus, prInCdb } from './reservations-fixtures.js';

const n1 = makeNexus(I1);
const n2 = makeNexus(I2, '400001370000', 2);
const n3 = makeNexus(I3);
const K1 = 0xabcdef0123456789n;
const K2 = 0x42n;

describe('APTPL (SPC-4 "Preserving persistent reservations and registrations")', () => {
  test('APTPL=1 state survives a restart (new instance + load())', async () => {
    const store = new MemoryPrStore();
    const a = new Harness(store);
    assert.equal(await a.registerIgnore(n1, K1, { aptpl: true }), 'GOOD');
    assert.equal(await a.registerIgnore(n2, K2, { aptpl: true, allTgPt: true }), 'GOOD');
    assert.equal(await a.reserve(n1, K1, TYPE.WERO), 'GOOD');
    assert.equal(store.saves, 3); // one save per change
    const before = {
      keys: a.r.persistentReserveIn(n3, prInCdb(0)),
      res: a.r.persistentReserveIn(n3, prInCdb(1)),
      full: a.r.persistentReserveIn(n3, prInCdb(3)),
      caps: a.r.persistentReserveIn(n3, prInCdb(2)),
    };

    const b = new Harness(store);
    await b.r.load();
    assert.deepEqual(b.r.persistentReserveIn(n3, prInCdb(0)), before.keys);
    assert.deepEqual(b.r.persistentReserveIn(n3, prInCdb(1)), before.res);
    assert.deepEqual(b.r.persistentReserveIn(n3, prInCdb(3)), before.full);
    assert.deepEqual(b.r.persistentReserveIn(n3, prInCdb(2)), before.caps); // PTPL_A stays set
    assert.equal(b.r.persistentReserveIn(n3, prInCdb(2)).readUInt8(3) & 1, 1);
    // the restored holder and registrations behave as before
    assert.equal(b.r.conflicts(n1, CDB.WRITE_10), false);
    assert.equal(b.r.conflicts(n2, CDB.WRITE_10), false); // registrant under WERO
    assert.equal(b.r.conflicts(n3, CDB.WRITE_10), true);
    assert.equal(await b.release(n1, K1, TYPE.WERO), 'GOOD');
    assert.deepEqual(b.ua.entries, [{ key: n2.key, reason: 'RESERVATIONS_RELEASED' }]);
  });

  test('every state change after APTPL=1 is saved; the last APTPL=0 REGISTER clears the stored state', async () => {
    const store = new MemoryPrStore();
    const a = new Harness(store);
    await a.registerIgnore(n1, K1, { aptpl: true });
    await a.registerIgnore(n2, K2); // APTPL=0 on the last REGISTER: persistence off
    assert.equal(store.state, null);
    assert.equal(a.r.persistentReserveIn(n1, prInCdb(2)).readUInt8(3) & 1, 0); // PTPL_A
    const savesAfterOff = store.saves;
    await a.reserve(n1, K1, TYPE.EA); // not persisted any more
    assert.equal(store.saves, savesAfterOff);
    const b = new Harness(store);
    await b.r.load();
    assert.deepEqual(b.keys(n1), { generation: 0, keys: [] });
    assert.equal(b.reservation(n1), null);
  });

  test('RESERVE, RELEASE, PREEMPT and CLEAR are saved while APTPL is active', async () => {
    const store = new MemoryPrStore();
    const a = new Harness(store);
    await a.registerIgnore(n1, K1, { aptpl: true });
    await a.registerIgnore(n3, K2, { aptpl: true });
    const check = async (expectKeys: bigint[], expectRes: number | null) => {
      const b = new Harness(store);
      await b.r.load();
      assert.deepEqual(b.keys(n1).keys, expectKeys);
      assert.equal(b.reservation(n1)?.type ?? null, expectRes);
      assert.deepEqual(b.keys(n1).generation, a.keys(n1).generation);
    };
    await a.reserve(n1, K1, TYPE.EA);
    await check([K1, K2], TYPE.EA);
    await a.release(n1, K1, TYPE.EA);
    await check([K1, K2], null);
    await a.out(n3, SA.PREEMPT, { rk: K2, sark: K1, type: TYPE.EA });
    await check([K2], null);
    await a.out(n3, SA.CLEAR, { rk: K2 });
    await check([], null);
  });

  test('concurrent PR OUT commands: the stored state is the final one', async () => {
    const store = new MemoryPrStore();
    let open!: () => void;
    store.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const a = new Harness(store);
    const p1 = a.registerIgnore(n1, K1, { aptpl: true });
    const p2 = a.registerIgnore(n2, K2, { aptpl: true });
    const p3 = a.registerIgnore(n3, 0x77n, { aptpl: true });
    open();
    assert.deepEqual(await Promise.all([p1, p2, p3]), ['GOOD', 'GOOD', 'GOOD']);
    const b = new Harness(store);
    await b.r.load();
    assert.deepEqual(b.keys(n1).keys, [K1, K2, 0x77n]);
  });

  test('a failing save is INTERNAL TARGET FAILURE and does not wedge later saves', async () => {
    const store = new MemoryPrStore();
    const a = new Harness(store);
    store.failNext = true;
    await assert.rejects(a.registerIgnore(n1, K1, { aptpl: true }), (e: unknown) => e instanceof ScsiError && e.reason === 'INTERNAL_TARGET_FAILURE');
    assert.equal(await a.registerIgnore(n2, K2, { aptpl: true }), 'GOOD');
    const b = new Harness(store);
    await b.r.load();
    assert.deepEqual(b.keys(n1).keys, [K1, K2]);
  });

  test('no stored state (undefined / null) loads as empty', async () => {
    for (const state of [undefined, null]) {
      const store = new MemoryPrStore();
      store.state = state;
      const h = new Harness(store);
      await h.r.load();
      assert.deepEqual(h.keys(n1), { generation: 0, keys: [] });
    }
    const noStore = new Harness();
    await noStore.r.load();
    assert.deepEqual(noStore.keys(n1).keys, []);
  });

  test('a corrupt stored state is a clear ERR_SCSI_PR_STATE error, never a crash', async () => {
    const store = new MemoryPrStore();
    const a = new Harness(store);
    await a.registerIgnore(n1, K1, { aptpl: true });
    await a.reserve(n1, K1, TYPE.EA);
    const good = store.state as Record<string, unknown>;
    const reg0 = (good['registrations'] as Record<string, unknown>[])[0]!;
    const variants: unknown[] = [
      42,
      'x',
      [],
      { ...good, v: 2 },
      { ...good, generation: -1 },
      { ...good, generation: 2 ** 32 },
      { ...good, registrations: 'no' },
      { ...good, registrations: [null] },
      { ...good, registrations: [{ ...reg0, key: 'zz' }] },
      { ...good, registrations: [{ ...reg0, key: '0000' }] },
      { ...good, registrations: [{ ...reg0, key: '11112222333344445' }] },
      { ...good, registrations: [{ ...reg0, relativeTargetPortId: 70000 }] },
      { ...good, registrations: [{ ...reg0, transportId: '***' }] },
      { ...good, registrations: [{ ...reg0, allTgPt: 'yes' }] },
      { ...good, registrations: [{ ...reg0, initiatorPortName: 5 }] },
      { ...good, reservation: { type: 2, holder: 0, holderTargetPortName: '' } },
      { ...good, reservation: { type: 3, holder: 1, holderTargetPortName: '' } },
      { ...good, reservation: { type: 3, holder: -1, holderTargetPortName: '' } },
      { ...good, reservation: { type: 3, holder: 0 } },
      { ...good, reservation: 'held' },
    ];
    for (const v of variants) {
      const s = new MemoryPrStore();
      s.state = v;
      const h = new Harness(s);
      await assert.rejects(h.r.load(), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_SCSI_PR_STATE', JSON.stringify(v));
    }
    // and the good one still loads
    const h = new Harness(store);
    await h.r.load();
    assert.equal(h.reservation(n1)?.key, K1);
  });
});

describe('exportState / importState (state pushed between gateways)', () => {
  test('round trip into another instance, APTPL flag included, RESERVE(6) not', async () => {
    const a = new Harness();
    await a.registerIgnore(n1, K1);
    await a.registerIgnore(n2, K2, { allTgPt: true });
    await a.reserve(n2, K2, TYPE.EARO);
    const doc = JSON.parse(JSON.stringify(a.r.exportState())) as unknown;
    const b = new Harness();
    b.r.reserve6(n3);
    b.r.release6(n3);
    b.r.importState(doc);
    for (const sa of [0, 1, 2, 3]) {
      assert.deepEqual(b.r.persistentReserveIn(n3, prInCdb(sa)), a.r.persistentReserveIn(n3, prInCdb(sa)), `service action ${sa}`);
    }
    assert.equal(b.r.persistentReserveIn(n3, prInCdb(2)).readUInt8(3) & 1, 0); // PTPL_A stays 0
    assert.equal(b.r.conflicts(n3, CDB.READ_10), true);
    assert.equal(b.r.conflicts(n1, CDB.READ_10), false);
    assert.deepEqual(b.ua.entries, []);
  });

  test('a bad document changes nothing', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.reserve(n1, K1, TYPE.WE);
    const before = h.r.persistentReserveIn(n1, prInCdb(3));
    assert.throws(() => h.r.importState({ v: 1, generation: 1, registrations: [], reservation: null, aptpl: 'x' }), GatewayError);
    assert.throws(() => h.r.importState({ v: 1, generation: 9, registrations: [{}], reservation: null }), GatewayError);
    assert.deepEqual(h.r.persistentReserveIn(n1, prInCdb(3)), before);
  });
});
