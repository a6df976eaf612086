import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiError } from '../../../src/scsi/sense.js';
import { MAX_REGISTRATIONS, parsePersistentReserveIn, parsePersistentReserveOut } from '../../../src/scsi/reservations.js';
import {
  ALL_TYPES,
  CDB,
  Harness,
  I1,
  I2,
  I3,
  MemoryPrStore,
  SA,
  TYPE,
  makeNexus,
  prInCdb,
  prOutCdb,
  prOutParam,
} from './reservations-fixtures.js';

const n1 = makeNexus(I1);
const n2 = makeNexus(I2);
const n3 = makeNexus(I3);
const K1 = 0x1111_2222_3333_4444n;
const K2 = 0x5555_6666_7777_8888n;
const K3 = 0x0000_0000_0000_0abcn;

function isScsiError(reason: string, byte?: number, inCdb?: boolean) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ScsiError, `expected ScsiError, got ${String(e)}`);
    assert.equal(e.reason, reason);
    if (byte !== undefined) assert.equal(e.detail.field?.byte, byte);
    if (inCdb !== undefined) assert.equal(e.detail.field?.inCdb, inCdb);
    return true;
  };
}

describe('PERSISTENT RESERVE OUT REGISTER', () => {
  test('register, read keys, reregister conflicts, unregister (libiscsi ProutRegister.Simple)', async () => {
    const h = new Harness();
    assert.deepEqual(h.keys(n1), { generation: 0, keys: [] });
    assert.equal(await h.register(n1, K1), 'GOOD');
    assert.deepEqual(h.keys(n1), { generation: 1, keys: [K1] });
    // Registered nexus, RESERVATION KEY 0 ≠ registered key → conflict, nothing changes.
    assert.equal(await h.register(n1, K1 + 1n), 'RESERVATION_CONFLICT');
    assert.deepEqual(h.keys(n1), { generation: 1, keys: [K1] });
    // Key change with the right RESERVATION KEY.
    assert.equal(await h.register(n1, K2, K1), 'GOOD');
    assert.deepEqual(h.keys(n1), { generation: 2, keys: [K2] });
    // Unregister (SARK 0).
    assert.equal(await h.register(n1, 0n, K2), 'GOOD');
    assert.deepEqual(h.keys(n1), { generation: 3, keys: [] });
  });

  test('unregistered nexus: RK ≠ 0 conflicts; RK = SARK = 0 is GOOD without a generation change', async () => {
    const h = new Harness();
    assert.equal(await h.register(n1, K1, K2), 'RESERVATION_CONFLICT');
    assert.equal(await h.register(n1, 0n, 0n), 'GOOD');
    assert.deepEqual(h.keys(n1), { generation: 0, keys: [] });
  });

  test('REGISTER AND IGNORE EXISTING KEY ignores RESERVATION KEY', async () => {
    const h = new Harness();
    assert.equal(await h.out(n1, SA.REGISTER_AND_IGNORE, { rk: 0x99n, sark: K1 }), 'GOOD');
    assert.equal(await h.out(n1, SA.REGISTER_AND_IGNORE, { rk: 0x77n, sark: K2 }), 'GOOD');
    assert.deepEqual(h.keys(n2), { generation: 2, keys: [K2] });
    assert.equal(await h.registerIgnore(n1, 0n), 'GOOD');
    assert.deepEqual(h.keys(n2), { generation: 3, keys: [] });
    // Unregistered + SARK 0: nothing to do.
    assert.equal(await h.registerIgnore(n1, 0n), 'GOOD');
    assert.equal(h.keys(n2).generation, 3);
  });

  test('registrations are per I_T nexus: same initiator through another target port is not registered', async () => {
    const h = new Harness();
    const n1b = makeNexus(I1, '23d000000001', 2);
    await h.registerIgnore(n1, K1);
    assert.equal(await h.reserve(n1b, K1, TYPE.WE), 'RESERVATION_CONFLICT');
    // and another ISID of the same initiator name is another initiator port
    const n1c = makeNexus(I1, '23d000000002');
    assert.equal(await h.reserve(n1c, K1, TYPE.WE), 'RESERVATION_CONFLICT');
    assert.equal(await h.registerIgnore(n1b, K2), 'GOOD');
    assert.deepEqual(h.keys(n1).keys, [K1, K2]);
  });

  test('ALL_TG_PT registers the initiator port through every target port', async () => {
    const h = new Harness();
    const n1b = makeNexus(I1, '23d000000001', 2);
    h.r.persistentReserveIn(n1b, prInCdb(0)); // n1b known to the PR code
    assert.equal(await h.registerIgnore(n1, K1, { allTgPt: true }), 'GOOD');
    assert.deepEqual(h.keys(n1).keys, [K1]);
    // Through port 2 the same registration applies: RESERVE with K1 works.
    assert.equal(await h.reserve(n1b, K1, TYPE.EA), 'GOOD');
    // The holder is the I_T nexus that reserved: port 1 is registered but not the holder.
    assert.equal(h.r.conflicts(n1b, CDB.WRITE_10), false);
    assert.equal(h.r.conflicts(n1, CDB.WRITE_10), true);
    // A CLEAR from n2's point of view: UAs reach every known nexus of the port.
    await h.registerIgnore(n2, K2);
    await h.out(n2, SA.CLEAR, { rk: K2 });
    assert.deepEqual(h.ua.for(n1), ['RESERVATIONS_PREEMPTED']);
    assert.deepEqual(h.ua.for(n1b), ['RESERVATIONS_PREEMPTED']);
  });

  test('ALL_TG_PT merges the registrations the port has through other target ports; the holder stays', async () => {
    const h = new Harness();
    const n1b = makeNexus(I1, '23d000000001', 2);
    const n1c = makeNexus(I1, '23d000000001', 3);
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K3);
    await h.registerIgnore(n1c, K3);
    await h.reserve(n1, K1, TYPE.EA);
    const gen = h.keys(n1).generation;
    assert.equal(await h.registerIgnore(n1b, K2, { allTgPt: true }), 'GOOD');
    assert.deepEqual(h.keys(n1), { generation: gen + 1, keys: [K3, K2] });
    assert.deepEqual(h.reservation(n1), { generation: gen + 1, key: K2, type: TYPE.EA, scope: 0 });
    // the reservation stays with the I_T nexus that made it
    assert.equal(h.r.conflicts(n1, CDB.WRITE_10), false);
    assert.equal(h.r.conflicts(n1b, CDB.WRITE_10), true);
    assert.equal(h.r.conflicts(n1c, CDB.READ_10), true);
    assert.equal(await h.release(n1, K2, TYPE.EA), 'GOOD');
    // every target port of the initiator port uses the new key now
    assert.equal(await h.reserve(n1c, K2, TYPE.WE), 'GOOD');
    assert.equal(h.r.summary().registrations[1]?.targetPortName, null);
  });
});

describe('PERSISTENT RESERVE OUT RESERVE / RELEASE', () => {
  for (const type of ALL_TYPES) {
    test(`type ${type}: reserve, READ RESERVATION, release (libiscsi ProutReserve.Simple)`, async () => {
      const h = new Harness();
      await h.registerIgnore(n1, K1);
      const gen = h.keys(n1).generation;
      assert.equal(await h.reserve(n1, K1, type), 'GOOD');
      const allReg = type === TYPE.WEAR || type === TYPE.EAAR;
      assert.deepEqual(h.reservation(n1), { generation: gen, key: allReg ? 0n : K1, type, scope: 0 });
      // Reserving again with the same type is GOOD, another type conflicts.
      assert.equal(await h.reserve(n1, K1, type), 'GOOD');
      const other = type === TYPE.WE ? TYPE.EA : TYPE.WE;
      assert.equal(await h.reserve(n1, K1, other), 'RESERVATION_CONFLICT');
      assert.equal(await h.release(n1, K1, type), 'GOOD');
      assert.equal(h.reservation(n1), null);
      // RESERVE and RELEASE do not change PRgeneration.
      assert.equal(h.keys(n1).generation, gen);
      assert.deepEqual(h.ua.entries, []);
    });
  }

  test('RESERVE: unregistered or wrong key conflicts; another holder conflicts', async () => {
    const h = new Harness();
    assert.equal(await h.reserve(n1, K1, TYPE.WE), 'RESERVATION_CONFLICT');
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    assert.equal(await h.reserve(n1, K2, TYPE.WE), 'RESERVATION_CONFLICT');
    assert.equal(await h.reserve(n1, K1, TYPE.WE), 'GOOD');
    assert.equal(await h.reserve(n2, K2, TYPE.WE), 'RESERVATION_CONFLICT');
    assert.equal(h.reservation(n2)?.key, K1);
  });

  test('all-registrants: every registrant is a holder and may release', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    assert.equal(await h.reserve(n1, K1, TYPE.EAAR), 'GOOD');
    assert.equal(await h.reserve(n2, K2, TYPE.EAAR), 'GOOD'); // already a holder
    assert.equal(await h.reserve(n2, K2, TYPE.WEAR), 'RESERVATION_CONFLICT');
    assert.equal(await h.release(n2, K2, TYPE.EAAR), 'GOOD');
    assert.equal(h.reservation(n1), null);
    // RESERVATIONS RELEASED for the other registrant only.
    assert.deepEqual(h.ua.entries, [{ key: n1.key, reason: 'RESERVATIONS_RELEASED' }]);
  });

  test('SCOPE other than LU_SCOPE and invalid TYPE values are INVALID FIELD IN CDB', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    for (const sa of [SA.RESERVE, SA.RELEASE, SA.PREEMPT, SA.PREEMPT_AND_ABORT]) {
      await assert.rejects(h.out(n1, sa, { rk: K1, sark: K1, type: TYPE.WE, scope: 1 }), isScsiError('INVALID_FIELD_IN_CDB', 2, true));
      for (const type of [0, 2, 4, 9, 0xf]) {
        await assert.rejects(h.out(n1, sa, { rk: K1, sark: K1, type }), isScsiError('INVALID_FIELD_IN_CDB', 2, true));
      }
    }
    // CLEAR ignores SCOPE and TYPE; REGISTER too.
    assert.equal(await h.out(n1, SA.REGISTER, { rk: K1, sark: K2, type: 0xf, scope: 3 }), 'GOOD');
    assert.equal(await h.out(n1, SA.CLEAR, { rk: K2, type: 0xf, scope: 3 }), 'GOOD');
  });

  test('RELEASE: unregistered conflicts, non-holder is a no-op, wrong type is INVALID RELEASE', async () => {
    const h = new Harness();
    assert.equal(await h.release(n1, K1, TYPE.WE), 'RESERVATION_CONFLICT');
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    assert.equal(await h.release(n1, K1, TYPE.WE), 'GOOD'); // nothing reserved
    await h.reserve(n1, K1, TYPE.WERO);
    assert.equal(await h.release(n2, K2, TYPE.WERO), 'GOOD'); // not the holder: nothing happens
    assert.equal(h.reservation(n1)?.type, TYPE.WERO);
    assert.equal(await h.release(n1, K2, TYPE.WERO), 'RESERVATION_CONFLICT'); // wrong key
    await assert.rejects(h.release(n1, K1, TYPE.WE), isScsiError('INVALID_RELEASE_OF_PERSISTENT_RESERVATION'));
    assert.equal(h.reservation(n1)?.type, TYPE.WERO);
  });

  test('releasing WERO raises RESERVATIONS RELEASED for the other registrants only; WE raises none', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    h.r.persistentReserveIn(n3, prInCdb(0)); // n3 known but not registered
    await h.reserve(n1, K1, TYPE.WERO);
    await h.release(n1, K1, TYPE.WERO);
    assert.deepEqual(h.ua.entries, [{ key: n2.key, reason: 'RESERVATIONS_RELEASED' }]);
    h.ua.clear();
    await h.reserve(n1, K1, TYPE.WE);
    await h.release(n1, K1, TYPE.WE);
    assert.deepEqual(h.ua.entries, []);
  });
});

describe('reservation ownership when the holder unregisters (libiscsi ProutReserve.Ownership*)', () => {
  for (const type of ALL_TYPES) {
    const shared = type === TYPE.WEAR || type === TYPE.EAAR;
    test(`type ${type} (${shared ? 'shared' : 'not shared'})`, async () => {
      const h = new Harness();
      await h.registerIgnore(n1, K1);
      await h.registerIgnore(n2, K2);
      assert.equal(await h.reserve(n1, K1, type), 'GOOD');
      assert.equal(h.reservation(n1)?.key, shared ? 0n : K1);
      assert.equal(await h.register(n1, 0n, K1), 'GOOD'); // unregister the holder
      // The former holder gets no unit attention (tgt wrongly queues 2A/04 for it).
      assert.deepEqual(h.ua.for(n1), []);
      if (shared) {
        assert.deepEqual(h.reservation(n1), { generation: 3, key: 0n, type, scope: 0 });
        assert.equal(await h.release(n2, K2, type), 'GOOD');
        assert.equal(h.reservation(n1), null);
      } else {
        assert.equal(h.reservation(n1), null);
        const ro = type === TYPE.WERO || type === TYPE.EARO;
        assert.deepEqual(h.ua.for(n2), ro ? ['RESERVATIONS_RELEASED'] : []);
      }
      assert.equal(await h.register(n2, 0n, K2), 'GOOD');
      assert.deepEqual(h.keys(n1).keys, []);
    });
  }

  test('all-registrants reservation ends with the last registrant', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    await h.reserve(n2, K2, TYPE.WEAR);
    await h.registerIgnore(n2, 0n);
    assert.equal(h.reservation(n1)?.type, TYPE.WEAR);
    await h.registerIgnore(n1, 0n);
    assert.equal(h.reservation(n1), null);
    assert.deepEqual(h.ua.entries, []);
  });

  test('a key change by the holder keeps the reservation and shows the new key', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.reserve(n1, K1, TYPE.EA);
    await h.register(n1, K3, K1);
    assert.equal(h.reservation(n1)?.key, K3);
    assert.equal(h.r.conflicts(n1, CDB.WRITE_10), false);
  });
});

describe('CLEAR', () => {
  test('removes every registration and the reservation; generation +1 (libiscsi ProutClear.Simple)', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    await h.registerIgnore(n3, K3);
    const gen = h.keys(n1).generation;
    await h.reserve(n1, K1, TYPE.EA);
    assert.equal(await h.out(n2, SA.CLEAR, { rk: K2 }), 'GOOD');
    assert.equal(h.reservation(n1), null);
    assert.deepEqual(h.keys(n1), { generation: gen + 1, keys: [] });
    // RESERVATIONS PREEMPTED for every other registered nexus, not for the issuer.
    assert.deepEqual(
      h.ua.entries.map((e) => [e.key, e.reason]),
      [
        [n1.key, 'RESERVATIONS_PREEMPTED'],
        [n3.key, 'RESERVATIONS_PREEMPTED'],
      ],
    );
    assert.equal(h.r.conflicts(n3, CDB.WRITE_10), false);
  });

  test('unregistered or wrong key conflicts', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    assert.equal(await h.out(n2, SA.CLEAR, { rk: K1 }), 'RESERVATION_CONFLICT');
    assert.equal(await h.out(n1, SA.CLEAR, { rk: K2 }), 'RESERVATION_CONFLICT');
    assert.deepEqual(h.keys(n1).keys, [K1]);
  });
});

describe('PREEMPT / PREEMPT AND ABORT', () => {
  test('without a reservation removes the named registrations (libiscsi ProutPreempt.RemoveRegistration)', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    const gen = h.keys(n1).generation;
    assert.equal(await h.out(n2, SA.PREEMPT, { rk: K2, sark: K1, type: TYPE.EA }), 'GOOD');
    assert.deepEqual(h.keys(n1), { generation: gen + 1, keys: [K2] });
    assert.equal(h.reservation(n1), null);
    assert.deepEqual(h.ua.entries, [{ key: n1.key, reason: 'REGISTRATIONS_PREEMPTED' }]);
    assert.deepEqual(h.aborted, []);
  });

  test('SARK matching nobody conflicts; SARK 0 without an all-registrants reservation is INVALID FIELD IN PARAMETER LIST', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    assert.equal(await h.out(n2, SA.PREEMPT, { rk: K2, sark: K3, type: TYPE.EA }), 'RESERVATION_CONFLICT');
    await assert.rejects(h.out(n2, SA.PREEMPT, { rk: K2, sark: 0n, type: TYPE.EA }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 8, false));
    await h.reserve(n1, K1, TYPE.WE);
    await assert.rejects(h.out(n2, SA.PREEMPT, { rk: K2, sark: 0n, type: TYPE.EA }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST'));
    // unregistered / wrong key
    assert.equal(await h.out(n3, SA.PREEMPT, { rk: 0n, sark: K1, type: TYPE.EA }), 'RESERVATION_CONFLICT');
    assert.equal(await h.out(n2, SA.PREEMPT, { rk: K1, sark: K1, type: TYPE.EA }), 'RESERVATION_CONFLICT');
    assert.equal(h.keys(n1).keys.length, 2);
  });

  test('preempting the holder moves the reservation, with the new type', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    await h.registerIgnore(n3, K3);
    await h.reserve(n1, K1, TYPE.EA);
    assert.equal(h.r.conflicts(n2, CDB.READ_10), true);
    const gen = h.keys(n1).generation;
    assert.equal(await h.out(n2, SA.PREEMPT, { rk: K2, sark: K1, type: TYPE.WERO }), 'GOOD');
    assert.deepEqual(h.reservation(n2), { generation: gen + 1, key: K2, type: TYPE.WERO, scope: 0 });
    assert.deepEqual(h.keys(n2).keys, [K2, K3]);
    assert.deepEqual(h.ua.for(n1), ['REGISTRATIONS_PREEMPTED']);
    // type changed: the registrants that stay get RESERVATIONS RELEASED
    assert.deepEqual(h.ua.for(n3), ['RESERVATIONS_RELEASED']);
    assert.deepEqual(h.ua.for(n2), []);
    assert.equal(h.r.conflicts(n1, CDB.WRITE_10), true); // n1 is unregistered now
    assert.equal(h.r.conflicts(n3, CDB.WRITE_10), false); // registrant under WERO
  });

  test('preempting the holder with the same type raises no RESERVATIONS RELEASED', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    await h.registerIgnore(n3, K3);
    await h.reserve(n1, K1, TYPE.EA);
    await h.out(n2, SA.PREEMPT, { rk: K2, sark: K1, type: TYPE.EA });
    assert.deepEqual(h.ua.for(n3), []);
  });

  test('preempting a non-holder keeps the reservation', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    await h.registerIgnore(n3, K3);
    await h.reserve(n1, K1, TYPE.WE);
    assert.equal(await h.out(n1, SA.PREEMPT, { rk: K1, sark: K3, type: TYPE.WE }), 'GOOD');
    assert.deepEqual(h.reservation(n1)?.key, K1);
    assert.deepEqual(h.keys(n1).keys, [K1, K2]);
    assert.deepEqual(h.ua.entries, [{ key: n3.key, reason: 'REGISTRATIONS_PREEMPTED' }]);
  });

  test('all-registrants reservation and SARK 0: every other registration goes', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    await h.registerIgnore(n3, K3);
    await h.reserve(n1, K1, TYPE.WEAR);
    assert.equal(await h.out(n2, SA.PREEMPT_AND_ABORT, { rk: K2, sark: 0n, type: TYPE.EA }), 'GOOD');
    assert.deepEqual(h.keys(n1).keys, [K2]);
    assert.deepEqual(h.reservation(n1), { generation: 4, key: K2, type: TYPE.EA, scope: 0 }); // 3 registrations + 1 preempt
    assert.deepEqual(h.ua.for(n1), ['REGISTRATIONS_PREEMPTED']);
    assert.deepEqual(h.ua.for(n3), ['REGISTRATIONS_PREEMPTED']);
    assert.deepEqual(h.aborted, [[n1.key, n3.key]]);
  });

  test('all-registrants reservation and SARK ≠ 0 removes only that key; the reservation stays', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    await h.reserve(n1, K1, TYPE.EAAR);
    assert.equal(await h.out(n2, SA.PREEMPT, { rk: K2, sark: K1, type: TYPE.EAAR }), 'GOOD');
    assert.deepEqual(h.reservation(n1)?.type, TYPE.EAAR);
    assert.deepEqual(h.keys(n1).keys, [K2]);
    assert.equal(h.r.conflicts(n1, CDB.READ_10), true);
  });

  test('PREEMPT AND ABORT reports the preempted nexuses for task abort; PREEMPT does not', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    await h.reserve(n1, K1, TYPE.EA);
    await h.out(n2, SA.PREEMPT_AND_ABORT, { rk: K2, sark: K1, type: TYPE.EA });
    assert.deepEqual(h.aborted, [[n1.key]]);
    assert.equal(h.reservation(n1)?.key, K2);
  });

  test('duplicate keys: every registration with the holder key goes, the issuer stays', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K1);
    await h.registerIgnore(n3, K3);
    await h.reserve(n1, K1, TYPE.WE);
    // n2 has the same key as the holder: it preempts the holder and keeps its own registration.
    await h.out(n2, SA.PREEMPT, { rk: K1, sark: K1, type: TYPE.WE });
    assert.deepEqual(h.keys(n1).keys, [K1, K3]);
    assert.equal(h.r.conflicts(n2, CDB.WRITE_10), false);
    assert.equal(h.r.conflicts(n1, CDB.WRITE_10), true);
  });
});

describe('conflicts(): SPC-4 / SBC-4 access tables (libiscsi ProutReserve.Access*)', () => {
  // [registered non-holder can read, can write, unregistered can read, can write]
  const table: [number, string, boolean, boolean, boolean, boolean][] = [
    [TYPE.WE, 'WE', true, false, true, false],
    [TYPE.EA, 'EA', false, false, false, false],
    [TYPE.WERO, 'WERO', true, true, true, false],
    [TYPE.EARO, 'EARO', true, true, false, false],
    [TYPE.WEAR, 'WEAR', true, true, true, false],
    [TYPE.EAAR, 'EAAR', true, true, false, false],
  ];
  for (const [type, name, regRead, regWrite, unRead, unWrite] of table) {
    test(name, async () => {
      const h = new Harness();
      await h.registerIgnore(n1, K1);
      await h.registerIgnore(n2, K2);
      await h.reserve(n1, K1, type);
      for (const [read, write] of [
        [CDB.READ_10, CDB.WRITE_10],
        [CDB.READ_16, CDB.WRITE_16],
      ] as const) {
        assert.equal(h.r.conflicts(n1, read), false, 'holder reads');
        assert.equal(h.r.conflicts(n1, write), false, 'holder writes');
        assert.equal(h.r.conflicts(n2, read), !regRead, 'registered reads');
        assert.equal(h.r.conflicts(n2, write), !regWrite, 'registered writes');
        assert.equal(h.r.conflicts(n3, read), !unRead, 'unregistered reads');
        assert.equal(h.r.conflicts(n3, write), !unWrite, 'unregistered writes');
      }
      // once n2 unregisters it behaves as n3
      await h.registerIgnore(n2, 0n);
      assert.equal(h.r.conflicts(n2, CDB.READ_10), !unRead);
      assert.equal(h.r.conflicts(n2, CDB.WRITE_10), !unWrite);
    });
  }

  test('always-allowed commands pass an Exclusive Access reservation', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.reserve(n1, K1, TYPE.EA);
    for (const [name, cdb] of Object.entries({
      TUR: CDB.TUR,
      INQUIRY: CDB.INQUIRY,
      REPORT_LUNS: CDB.REPORT_LUNS,
      REQUEST_SENSE: CDB.REQUEST_SENSE,
      LOG_SENSE: CDB.LOG_SENSE,
      READ_CAPACITY_10: CDB.READ_CAPACITY_10,
      READ_CAPACITY_16: CDB.READ_CAPACITY_16,
      RTPG: CDB.RTPG,
      PR_IN: CDB.PR_IN,
      PR_OUT: CDB.PR_OUT,
      ALLOW: CDB.ALLOW,
      START_UNIT: CDB.START_UNIT,
      RELEASE_6: CDB.RELEASE_6,
      RELEASE_10: CDB.RELEASE_10,
    })) {
      assert.equal(h.r.conflicts(n3, cdb), false, name);
    }
  });

  test('MODE SENSE / REPORT SUPPORTED OPCODES: registered nexuses always, others only through WE', async () => {
    for (const type of ALL_TYPES) {
      const h = new Harness();
      await h.registerIgnore(n1, K1);
      await h.registerIgnore(n2, K2);
      await h.reserve(n1, K1, type);
      const we = type === TYPE.WE || type === TYPE.WERO || type === TYPE.WEAR;
      for (const cdb of [CDB.MODE_SENSE_6, CDB.RSOC]) {
        assert.equal(h.r.conflicts(n2, cdb), false, `registered, type ${type}`);
        assert.equal(h.r.conflicts(n3, cdb), !we, `unregistered, type ${type}`);
      }
      // GET LBA STATUS is a read: a registered non-holder under EA conflicts
      assert.equal(h.r.conflicts(n2, CDB.GET_LBA_STATUS), type === TYPE.EA);
    }
  });

  test('read-class commands conflict only under Exclusive Access; write-class under both', async () => {
    const reads = { MODE_SENSE_6: CDB.MODE_SENSE_6, GET_LBA_STATUS: CDB.GET_LBA_STATUS, RSOC: CDB.RSOC };
    const writes = {
      MODE_SELECT_6: CDB.MODE_SELECT_6,
      SYNC_CACHE_10: CDB.SYNC_CACHE_10,
      UNMAP: CDB.UNMAP,
      WRITE_SAME_16: CDB.WRITE_SAME_16,
      COMPARE_AND_WRITE: CDB.COMPARE_AND_WRITE,
      PREVENT: CDB.PREVENT,
      STOP_UNIT: CDB.STOP_UNIT,
      UNKNOWN_0xC0: Buffer.from([0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    };
    for (const type of [TYPE.WE, TYPE.EA]) {
      const h = new Harness();
      await h.registerIgnore(n1, K1);
      await h.reserve(n1, K1, type);
      for (const [name, cdb] of Object.entries(reads)) assert.equal(h.r.conflicts(n3, cdb), type === TYPE.EA, `${name} ${type}`);
      for (const [name, cdb] of Object.entries(writes)) assert.equal(h.r.conflicts(n3, cdb), true, `${name} ${type}`);
      for (const [name, cdb] of Object.entries({ ...reads, ...writes })) assert.equal(h.r.conflicts(n1, cdb), false, `holder ${name}`);
    }
  });

  test('no reservation: nothing conflicts, except RESERVE(6/10) while registrations exist', async () => {
    const h = new Harness();
    for (const cdb of Object.values(CDB)) assert.equal(h.r.conflicts(n1, cdb), false);
    assert.equal(h.r.conflicts(n1, Buffer.alloc(0)), false);
    await h.registerIgnore(n1, K1);
    assert.equal(h.r.conflicts(n2, CDB.RESERVE_6), true);
    assert.equal(h.r.conflicts(n1, CDB.RESERVE_10), true);
    assert.equal(h.r.conflicts(n2, CDB.RELEASE_6), false);
    assert.equal(h.r.conflicts(n2, CDB.WRITE_10), false);
    assert.equal(h.r.reserve6(n2), 'RESERVATION_CONFLICT');
    assert.equal(h.r.release6(n2), 'GOOD');
    // with a reservation RESERVE(6) conflicts even for the holder
    await h.reserve(n1, K1, TYPE.WE);
    assert.equal(h.r.conflicts(n1, CDB.RESERVE_6), true);
    assert.equal(h.r.conflicts(n1, CDB.RELEASE_6), false);
  });
});

describe('RESERVE(6) / RELEASE(6)', () => {
  test('two initiators (libiscsi Reserve6.2Initiators)', () => {
    const h = new Harness();
    assert.equal(h.r.conflicts(n1, CDB.RESERVE_6), false);
    assert.equal(h.r.reserve6(n1), 'GOOD');
    assert.equal(h.r.conflicts(n1, CDB.RESERVE_6), false);
    assert.equal(h.r.reserve6(n1), 'GOOD'); // re-reserve by the holder
    assert.equal(h.r.conflicts(n2, CDB.RESERVE_6), true);
    assert.equal(h.r.reserve6(n2), 'RESERVATION_CONFLICT');
    // RELEASE from the other initiator: allowed, and a no-op
    assert.equal(h.r.conflicts(n2, CDB.RELEASE_6), false);
    assert.equal(h.r.release6(n2), 'GOOD');
    assert.equal(h.r.reserve6Held, true);
    assert.equal(h.r.conflicts(n1, CDB.MODE_SENSE_6), false);
    assert.equal(h.r.conflicts(n2, CDB.MODE_SENSE_6), true); // tgt lets this through
    assert.equal(h.r.conflicts(n2, CDB.RESERVE_6), true);
    assert.equal(h.r.release6(n1), 'GOOD');
    assert.equal(h.r.reserve6Held, false);
    assert.equal(h.r.conflicts(n2, CDB.RESERVE_6), false);
    assert.equal(h.r.reserve6(n2), 'GOOD');
    assert.equal(h.r.release6(n2), 'GOOD');
  });

  test('another initiator may only send INQUIRY, REPORT LUNS, REQUEST SENSE, RELEASE, ALLOW', () => {
    const h = new Harness();
    h.r.reserve6(n1);
    const allowed = [CDB.INQUIRY, CDB.REPORT_LUNS, CDB.REQUEST_SENSE, CDB.RELEASE_6, CDB.RELEASE_10, CDB.ALLOW];
    for (const cdb of allowed) assert.equal(h.r.conflicts(n2, cdb), false, cdb.toString('hex'));
    for (const cdb of [CDB.TUR, CDB.READ_10, CDB.WRITE_10, CDB.READ_CAPACITY_10, CDB.PREVENT, CDB.RESERVE_10, CDB.RTPG]) {
      assert.equal(h.r.conflicts(n2, cdb), true, cdb.toString('hex'));
      assert.equal(h.r.conflicts(n1, cdb), false, cdb.toString('hex'));
    }
  });

  test('PERSISTENT RESERVE IN/OUT conflict while RESERVE(6) is held, from any initiator (SPC-2)', () => {
    const h = new Harness();
    h.r.reserve6(n1);
    for (const n of [n1, n2]) {
      assert.equal(h.r.conflicts(n, CDB.PR_IN), true);
      assert.equal(h.r.conflicts(n, CDB.PR_OUT), true);
    }
  });

  test('released by I_T nexus loss of the holder and by LU reset, not by other nexus loss', async () => {
    const h = new Harness();
    h.r.reserve6(n1);
    h.r.nexusLoss(n2);
    assert.equal(h.r.reserve6(n2), 'RESERVATION_CONFLICT');
    h.r.nexusLoss(n1);
    assert.equal(h.r.reserve6(n2), 'GOOD');
    h.r.reset();
    assert.equal(h.r.reserve6(n1), 'GOOD');
    // PR registrations survive nexus loss and reset
    h.r.release6(n1);
    await h.registerIgnore(n1, K1);
    await h.reserve(n1, K1, TYPE.EA);
    h.r.nexusLoss(n1);
    h.r.reset();
    assert.equal(h.reservation(n1)?.key, K1);
    assert.deepEqual(h.keys(n1).keys, [K1]);
  });
});

describe('PERSISTENT RESERVE IN', () => {
  test('service actions 0-3 work, 4-0x1f are INVALID FIELD IN CDB (libiscsi PrinServiceactionRange)', () => {
    const h = new Harness();
    for (let sa = 0; sa < 4; sa++) assert.ok(h.r.persistentReserveIn(n1, prInCdb(sa)).length >= 8);
    for (let sa = 4; sa < 0x20; sa++) {
      assert.throws(() => h.r.persistentReserveIn(n1, prInCdb(sa)), isScsiError('INVALID_FIELD_IN_CDB', 1, true));
    }
    assert.throws(() => h.r.persistentReserveIn(n1, Buffer.from([0x5e, 0])), isScsiError('INVALID_FIELD_IN_CDB'));
  });

  test('READ KEYS bytes: ADDITIONAL LENGTH counts every key (libiscsi PrinReadKeys)', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    const b = h.r.persistentReserveIn(n3, prInCdb(0, 8));
    assert.equal(
      b.toString('hex'),
      '00000002' + '00000010' + '1111222233334444' + '5555666677778888',
    );
  });

  test('READ RESERVATION bytes', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    assert.equal(h.r.persistentReserveIn(n1, prInCdb(1)).toString('hex'), '00000001' + '00000000');
    await h.reserve(n1, K1, TYPE.EARO);
    assert.equal(
      h.r.persistentReserveIn(n1, prInCdb(1)).toString('hex'),
      '00000001' + '00000010' + '1111222233334444' + '00000000' + '00' + '06' + '0000',
    );
  });

  test('REPORT CAPABILITIES bytes (libiscsi PrinReportCapabilities)', async () => {
    const noStore = new Harness();
    // CRH | SIP_C | ATP_C ; TMV | ALLOW COMMANDS 001b ; type mask
    assert.equal(noStore.r.persistentReserveIn(n1, prInCdb(2)).toString('hex'), '0008' + '1c' + '90' + 'ea01' + '0000');
    const h = new Harness(new MemoryPrStore());
    // CRH | SIP_C | ATP_C | PTPL_C ; TMV | ALLOW COMMANDS 001b | PTPL_A=0
    assert.equal(h.r.persistentReserveIn(n1, prInCdb(2)).toString('hex'), '0008' + '1d' + '90' + 'ea01' + '0000');
    await h.registerIgnore(n1, K1, { aptpl: true });
    assert.equal(h.r.persistentReserveIn(n1, prInCdb(2)).toString('hex'), '0008' + '1d' + '91' + 'ea01' + '0000');
  });

  test('READ FULL STATUS bytes', async () => {
    const h = new Harness();
    const n2p2 = makeNexus(I2, '400001370000', 2);
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2p2, K2, { allTgPt: true });
    await h.reserve(n1, K1, TYPE.WE);
    const b = h.r.persistentReserveIn(n3, prInCdb(3));
    assert.equal(b.readUInt32BE(0), 2); // PRGENERATION
    assert.equal(b.readUInt32BE(4), b.length - 8); // ADDITIONAL LENGTH
    let off = 8;
    const descs: { key: bigint; flags: number; scopeType: number; rtpi: number; tid: Buffer }[] = [];
    while (off < b.length) {
      const len = b.readUInt32BE(off + 20);
      descs.push({
        key: b.readBigUInt64BE(off),
        flags: b.readUInt8(off + 12),
        scopeType: b.readUInt8(off + 13),
        rtpi: b.readUInt16BE(off + 18),
        tid: b.subarray(off + 24, off + 24 + len),
      });
      assert.equal(b.readUInt32BE(off + 8), 0); // reserved
      off += 24 + len;
    }
    assert.equal(off, b.length);
    assert.deepEqual(descs, [
      { key: K1, flags: 0x01, scopeType: 0x01, rtpi: 1, tid: n1.transportId },
      { key: K2, flags: 0x02, scopeType: 0x00, rtpi: 0, tid: n2p2.transportId },
    ]);
    assert.equal(descs[0]!.tid.length % 4, 0);
  });

  test('READ FULL STATUS marks every registrant as holder under all-registrants types', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2);
    await h.reserve(n2, K2, TYPE.EAAR);
    const b = h.r.persistentReserveIn(n1, prInCdb(3));
    const d2 = 8 + 24 + n1.transportId.length;
    assert.equal(b.readUInt8(8 + 12), 0x01);
    assert.equal(b.readUInt8(8 + 13), 0x08);
    assert.equal(b.readUInt8(d2 + 12), 0x01);
    assert.equal(b.readUInt8(d2 + 13), 0x08);
  });
});

describe('PERSISTENT RESERVE OUT parameter list checks', () => {
  test('PARAMETER LIST LENGTH other than 24 is PARAMETER LIST LENGTH ERROR', async () => {
    const h = new Harness();
    for (const len of [0, 8, 23, 25, 32]) {
      for (const sa of [SA.REGISTER, SA.RESERVE, SA.RELEASE, SA.CLEAR, SA.PREEMPT, SA.PREEMPT_AND_ABORT, SA.REGISTER_AND_IGNORE]) {
        await assert.rejects(
          h.r.persistentReserveOut(n1, prOutCdb(sa, TYPE.WE, 0, len), prOutParam({ sark: K1, length: len })),
          isScsiError('PARAMETER_LIST_LENGTH_ERROR'),
          `sa ${sa} len ${len}`,
        );
      }
    }
    // CDB says 24 but fewer bytes arrived
    await assert.rejects(h.r.persistentReserveOut(n1, prOutCdb(SA.REGISTER), Buffer.alloc(10)), isScsiError('PARAMETER_LIST_LENGTH_ERROR'));
    assert.deepEqual(h.keys(n1), { generation: 0, keys: [] });
  });

  test('SPEC_I_PT with other service actions than REGISTER is INVALID FIELD IN PARAMETER LIST', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    for (const sa of [SA.REGISTER_AND_IGNORE, SA.RESERVE, SA.RELEASE, SA.CLEAR, SA.PREEMPT, SA.PREEMPT_AND_ABORT]) {
      await assert.rejects(
        h.out(n1, sa, { rk: K1, sark: K2, type: TYPE.WE, specIPt: true }),
        isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 20, false),
      );
    }
    // REGISTER with SPEC_I_PT needs at least 28 bytes
    await assert.rejects(h.register(n2, K2, 0n, { specIPt: true }), isScsiError('PARAMETER_LIST_LENGTH_ERROR'));
    assert.deepEqual(h.keys(n1).keys, [K1]);
  });

  test('unsupported service actions (8-0x1f) are INVALID FIELD IN CDB', async () => {
    const h = new Harness();
    for (let sa = 8; sa < 0x20; sa++) {
      await assert.rejects(h.r.persistentReserveOut(n1, prOutCdb(sa), prOutParam()), isScsiError('INVALID_FIELD_IN_CDB', 1, true));
    }
    await assert.rejects(h.r.persistentReserveOut(n1, Buffer.from([0x5f, 0, 0]), prOutParam()), isScsiError('INVALID_FIELD_IN_CDB'));
  });

  test('APTPL without a store is INVALID FIELD IN PARAMETER LIST', async () => {
    const h = new Harness();
    await assert.rejects(h.register(n1, K1, 0n, { aptpl: true }), isScsiError('INVALID_FIELD_IN_PARAMETER_LIST', 20, false));
    assert.deepEqual(h.keys(n1).keys, []);
    // APTPL is ignored by the other service actions
    await h.registerIgnore(n1, K1);
    assert.equal(await h.out(n1, SA.RESERVE, { rk: K1, type: TYPE.WE, aptpl: true }), 'GOOD');
  });

  test('ALL_TG_PT is ignored by RESERVE', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    assert.equal(await h.out(n1, SA.RESERVE, { rk: K1, type: TYPE.WE, allTgPt: true }), 'GOOD');
  });
});

describe('parse helpers (device server parse step, before Data-Out)', () => {
  test('parsePersistentReserveOut: service action and PARAMETER LIST LENGTH', () => {
    for (let sa = 0; sa <= 6; sa++) assert.deepEqual(parsePersistentReserveOut(prOutCdb(sa, 1)), { serviceAction: sa, dataOutLength: 24 });
    for (let sa = 8; sa < 0x20; sa++) assert.throws(() => parsePersistentReserveOut(prOutCdb(sa)), isScsiError('INVALID_FIELD_IN_CDB', 1, true));
    for (const len of [0, 23, 25, 27, 16385, 0xffffffff]) {
      assert.throws(() => parsePersistentReserveOut(prOutCdb(SA.REGISTER, 0, 0, len)), isScsiError('PARAMETER_LIST_LENGTH_ERROR'));
    }
    // REGISTER with SPEC_I_PT: 28 bytes + TransportIDs; the other basic service actions stay at 24
    for (const len of [28, 100, 16384]) {
      assert.deepEqual(parsePersistentReserveOut(prOutCdb(SA.REGISTER, 0, 0, len)), { serviceAction: 0, dataOutLength: len });
      assert.throws(() => parsePersistentReserveOut(prOutCdb(SA.REGISTER_AND_IGNORE, 0, 0, len)), isScsiError('PARAMETER_LIST_LENGTH_ERROR'));
    }
    // REGISTER AND MOVE: 24 bytes + a TransportID, bounded
    for (const len of [24, 76, 536]) {
      assert.deepEqual(parsePersistentReserveOut(prOutCdb(SA.REGISTER_AND_MOVE, 0, 0, len)), { serviceAction: 7, dataOutLength: len });
    }
    for (const len of [0, 23, 537, 0xffffffff]) {
      assert.throws(() => parsePersistentReserveOut(prOutCdb(SA.REGISTER_AND_MOVE, 0, 0, len)), isScsiError('PARAMETER_LIST_LENGTH_ERROR'));
    }
    assert.throws(() => parsePersistentReserveOut(Buffer.from([0x5f, 0])), isScsiError('INVALID_FIELD_IN_CDB'));
  });

  test('parsePersistentReserveIn: service action and ALLOCATION LENGTH', () => {
    assert.deepEqual(parsePersistentReserveIn(prInCdb(3, 0x1234)), { serviceAction: 3, allocationLength: 0x1234 });
    assert.deepEqual(parsePersistentReserveIn(prInCdb(0, 0)), { serviceAction: 0, allocationLength: 0 });
    assert.throws(() => parsePersistentReserveIn(prInCdb(4)), isScsiError('INVALID_FIELD_IN_CDB', 1, true));
  });
});

describe('limits and summary', () => {
  test('INSUFFICIENT REGISTRATION RESOURCES beyond MAX_REGISTRATIONS; key changes and unregistering still work', async () => {
    const h = new Harness();
    for (let i = 0; i < MAX_REGISTRATIONS; i++) {
      assert.equal(await h.registerIgnore(makeNexus(`iqn.2000-01.com.example:i${i}`), BigInt(i + 1)), 'GOOD');
    }
    const gen = h.keys(n1).generation;
    await assert.rejects(h.registerIgnore(n1, K1), isScsiError('INSUFFICIENT_REGISTRATION_RESOURCES'));
    assert.equal(h.keys(n1).generation, gen);
    const first = makeNexus('iqn.2000-01.com.example:i0');
    assert.equal(await h.registerIgnore(first, 0x99n), 'GOOD'); // key change needs no room
    assert.equal(await h.registerIgnore(first, 0n), 'GOOD');
    assert.equal(await h.registerIgnore(n1, K1), 'GOOD'); // room again
  });

  test('summary() reflects registrations, holder, type and RESERVE(6)', async () => {
    const h = new Harness();
    assert.deepEqual(h.r.summary(), { generation: 0, aptpl: false, registrations: [], reservation: null, reserve6Holder: null });
    h.r.reserve6(n1);
    assert.equal(h.r.summary().reserve6Holder, n1.key);
    h.r.release6(n1);
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2, { allTgPt: true });
    await h.reserve(n1, K1, TYPE.WERO);
    assert.deepEqual(h.r.summary(), {
      generation: 2,
      aptpl: false,
      registrations: [
        { key: '0x1111222233334444', initiatorPortName: n1.initiatorPortName, targetPortName: n1.targetPortName, holder: true },
        { key: '0x5555666677778888', initiatorPortName: n2.initiatorPortName, targetPortName: null, holder: false },
      ],
      reservation: { type: TYPE.WERO, allRegistrants: false },
      reserve6Holder: null,
    });
  });
});

describe('edge cases', () => {
  test('PREEMPT AND ABORT of an ALL_TG_PT registration reaches every known I_T nexus of that port', async () => {
    const h = new Harness();
    const n2b = makeNexus(I2, '23d000000001', 2);
    h.r.persistentReserveIn(n2b, prInCdb(0)); // n2 through target port 2 is known
    await h.registerIgnore(n1, K1);
    await h.registerIgnore(n2, K2, { allTgPt: true });
    await h.reserve(n2, K2, TYPE.EA);
    assert.equal(await h.out(n1, SA.PREEMPT_AND_ABORT, { rk: K1, sark: K2, type: TYPE.EA }), 'GOOD');
    assert.deepEqual(h.ua.for(n2), ['REGISTRATIONS_PREEMPTED']);
    assert.deepEqual(h.ua.for(n2b), ['REGISTRATIONS_PREEMPTED']);
    assert.deepEqual(h.aborted.map((k) => [...k].sort()), [[n2.key, n2b.key].sort()]);
    assert.equal(h.r.conflicts(n2b, CDB.READ_10), true);
  });

  test('RELEASE through a port that is registered (ALL_TG_PT) but not the holder is a no-op', async () => {
    const h = new Harness();
    const n1b = makeNexus(I1, '23d000000001', 2);
    await h.registerIgnore(n1, K1, { allTgPt: true });
    await h.reserve(n1, K1, TYPE.WE);
    assert.equal(await h.release(n1b, K1, TYPE.WE), 'GOOD');
    assert.equal(h.reservation(n1)?.type, TYPE.WE);
    assert.equal(await h.release(n1, K1, TYPE.WE), 'GOOD');
    assert.equal(h.reservation(n1), null);
  });

  test('PRgeneration wraps at 32 bits', async () => {
    const h = new Harness();
    h.r.importState({ v: 1, generation: 0xffffffff, registrations: [], reservation: null });
    await h.registerIgnore(n1, K1);
    assert.equal(h.keys(n1).generation, 0);
  });

  test('short or odd CDBs never throw from conflicts()', async () => {
    const h = new Harness();
    await h.registerIgnore(n1, K1);
    await h.reserve(n1, K1, TYPE.EA);
    for (const cdb of [Buffer.from([0x1e]), Buffer.from([0x1b, 0]), Buffer.from([0xa3]), Buffer.from([0x9e]), Buffer.from([0x16])]) {
      assert.equal(typeof h.r.conflicts(n2, cdb), 'boolean');
    }
    // a 1-byte PREVENT ALLOW cannot prove PREVENT = 0: treated as a write
    assert.equal(h.r.conflicts(n2, Buffer.from([0x1e])), true);
  });

  test('RESERVE(10) / RELEASE(10) behave like RESERVE(6) / RELEASE(6) in the conflict checks', async () => {
    const h = new Harness();
    assert.equal(h.r.reserve6(n1), 'GOOD');
    assert.equal(h.r.conflicts(n2, CDB.RESERVE_10), true);
    assert.equal(h.r.conflicts(n2, CDB.RELEASE_10), false);
    assert.equal(h.r.conflicts(n1, CDB.RESERVE_10), false);
    h.r.release6(n1);
    await h.registerIgnore(n2, K2);
    assert.equal(h.r.conflicts(n1, CDB.RESERVE_10), true);
    assert.equal(h.r.conflicts(n1, CDB.RELEASE_10), false);
  });

  test('keys are full 64-bit values', async () => {
    const h = new Harness();
    const max = 0xffff_ffff_ffff_ffffn;
    await h.registerIgnore(n1, max);
    assert.equal(await h.reserve(n1, max, TYPE.WE), 'GOOD');
    assert.equal(h.reservation(n1)?.key, max);
    assert.equal(await h.reserve(n1, max - 1n, TYPE.WE), 'RESERVATION_CONFLICT');
  });
});
