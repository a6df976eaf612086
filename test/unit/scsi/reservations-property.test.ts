/**
 * Property tests: random PR OUT / RESERVE(6) sequences from several nexuses keep
 * the SPC-4 invariants, and failed commands have no side effects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Nexus } from '../../../src/scsi/command.js';
import { ScsiError } from '../../../src/scsi/sense.js';
import { parsePersistentReserveIn, parsePersistentReserveOut } from '../../../src/scsi/reservations.js';
import { CDB, Harness, I1, I2, I3, makeNexus, prInCdb, prOutCdb, prOutParam } from './reservations-fixtures.js';

const NEXUSES = [makeNexus(I1), makeNexus(I2), makeNexus(I3), makeNexus(I1, '23d000000001', 2), makeNexus(I2, '23d000000009', 3)];
// Few keys, so that random RESERVATION KEY fields often match the registered one.
const KEYS = [0n, 0xffff_ffff_ffff_ffffn, 0x1234n];

type Op =
  | { kind: 'out'; n: number; sa: number; type: number; rk: number; sark: number; allTgPt: boolean; len: number }
  | { kind: 'reserve6' | 'release6' | 'loss'; n: number }
  | { kind: 'reset' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('out' as const),
      n: fc.nat(NEXUSES.length - 1),
      sa: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(0, 1, 6) }, // REGISTER, RESERVE, REGISTER AND IGNORE
        { weight: 6, arbitrary: fc.integer({ min: 0, max: 6 }) },
        { weight: 1, arbitrary: fc.integer({ min: 7, max: 31 }) },
      ),
      type: fc.oneof({ weight: 10, arbitrary: fc.constantFrom(1, 3, 5, 6, 7, 8) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
      // -1: the nexus's own registered key (found through READ FULL STATUS)
      rk: fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 2, arbitrary: fc.nat(KEYS.length - 1) }),
      sark: fc.oneof({ weight: 1, arbitrary: fc.constant(-1) }, { weight: 3, arbitrary: fc.nat(KEYS.length - 1) }),
      allTgPt: fc.boolean(),
      len: fc.oneof({ weight: 20, arbitrary: fc.constant(24) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('reserve6' as const, 'release6' as const, 'loss' as const), n: fc.nat(NEXUSES.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
);

/** The key registered for this I_T nexus, from READ FULL STATUS (0 when none). */
function ownKey(h: Harness, n: Nexus): bigint {
  const full = fullStatus(h);
  for (let off = 8; off < full.length; off += 24 + full.readUInt32BE(off + 20)) {
    const tid = full.subarray(off + 24, off + 24 + full.readUInt32BE(off + 20));
    const allTgPt = (full.readUInt8(off + 12) & 2) !== 0;
    if (tid.equals(n.transportId) && (allTgPt || full.readUInt16BE(off + 18) === n.relativeTargetPortId)) {
      return full.readBigUInt64BE(off);
    }
  }
  return 0n;
}

function fullStatus(h: Harness): Buffer {
  return h.r.persistentReserveIn(NEXUSES[0]!, prInCdb(3));
}

function checkInvariants(h: Harness): void {
  const probe = NEXUSES[0]!;
  const keys = h.r.persistentReserveIn(probe, prInCdb(0));
  assert.equal(keys.readUInt32BE(4), keys.length - 8);
  const nKeys = (keys.length - 8) / 8;
  const keyList: bigint[] = [];
  for (let i = 0; i < nKeys; i++) keyList.push(keys.readBigUInt64BE(8 + 8 * i));
  assert.ok(!keyList.includes(0n), 'a registered key is never 0');
  const res = h.r.persistentReserveIn(probe, prInCdb(1));
  const reserved = res.readUInt32BE(4) === 16;
  assert.ok(res.readUInt32BE(4) === 0 || reserved);
  const full = fullStatus(h);
  assert.equal(full.readUInt32BE(0), keys.readUInt32BE(0), 'same PRgeneration');
  let off = 8;
  let holders = 0;
  let descs = 0;
  while (off < full.length) {
    const flags = full.readUInt8(off + 12);
    if (flags & 1) holders++;
    descs++;
    off += 24 + full.readUInt32BE(off + 20);
  }
  assert.equal(off, full.length);
  assert.equal(descs, nKeys);
  if (!reserved) {
    assert.equal(holders, 0);
    return;
  }
  const type = res.readUInt8(21) & 0xf;
  const key = res.readBigUInt64BE(8);
  assert.ok([1, 3, 5, 6, 7, 8].includes(type));
  if (type === 7 || type === 8) {
    assert.equal(key, 0n);
    assert.equal(holders, nKeys);
    assert.ok(nKeys > 0, 'an all-registrants reservation needs a registrant');
  } else {
    assert.equal(holders, 1);
    assert.ok(keyList.includes(key), 'the holder is registered');
  }
}

test('random PR sequences keep the invariants; failures have no side effects', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 60 }), async (ops) => {
      const h = new Harness();
      let lastGen = 0;
      for (const op of ops) {
        if (op.kind === 'reset') {
          h.r.reset();
          continue;
        }
        const n = NEXUSES[op.n]!;
        if (op.kind === 'reserve6') {
          const canPr = !h.r.conflicts(n, CDB.RESERVE_6);
          const r = h.r.reserve6(n);
          if (canPr) assert.equal(r, 'GOOD');
          continue;
        }
        if (op.kind === 'release6') {
          assert.equal(h.r.release6(n), 'GOOD');
          continue;
        }
        if (op.kind !== 'out') {
          h.r.nexusLoss(n);
          continue;
        }
        const cdb = prOutCdb(op.sa, op.type, 0, op.len);
        if (h.r.conflicts(n, cdb)) {
          // RESERVE(6) is held: the device server never calls us.
          continue;
        }
        const before = fullStatus(h);
        const uaBefore = h.ua.entries.length;
        const own = ownKey(h, n);
        const param = prOutParam({ rk: op.rk < 0 ? own : KEYS[op.rk]!, sark: op.sark < 0 ? own : KEYS[op.sark]!, allTgPt: op.allTgPt, length: op.len });
        let outcome: string;
        try {
          outcome = await h.r.persistentReserveOut(n, cdb, param);
        } catch (e) {
          assert.ok(e instanceof ScsiError, `only ScsiError escapes, got ${String(e)}`);
          outcome = 'error';
        }
        const after = fullStatus(h);
        if (outcome !== 'GOOD') {
          assert.deepEqual(after, before, 'no side effect on failure');
          assert.equal(h.ua.entries.length, uaBefore, 'no UA on failure');
        }
        if (op.sa === 1 || op.sa === 2) assert.equal(after.readUInt32BE(0), before.readUInt32BE(0), 'RESERVE/RELEASE keep PRgeneration');
        // the issuer never gets a unit attention for its own command
        assert.ok(h.ua.entries.slice(uaBefore).every((e) => e.key !== n.key));
        const gen = after.readUInt32BE(0);
        assert.ok(gen >= lastGen && gen - lastGen <= 1);
        lastGen = gen;
        checkInvariants(h);
      }
    }),
    { numRuns: 300 },
  );
});

test('random CDB and parameter bytes: only ScsiError escapes; conflicts() never throws', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 0, maxLength: 16 }),
      fc.uint8Array({ minLength: 0, maxLength: 40 }),
      fc.nat(NEXUSES.length - 1),
      fc.boolean(),
      async (cdbBytes, paramBytes, ni, reserve6) => {
        const h = new Harness();
        const n = NEXUSES[ni]!;
        if (reserve6) {
          assert.equal(h.r.reserve6(NEXUSES[1]!), 'GOOD');
        } else {
          await h.registerIgnore(NEXUSES[1]!, 0x55n);
          await h.reserve(NEXUSES[1]!, 0x55n, 3);
        }
        const cdb = Buffer.from(cdbBytes);
        const param = Buffer.from(paramBytes);
        assert.equal(typeof h.r.conflicts(n, cdb), 'boolean');
        const only = (e: unknown) => assert.ok(e instanceof ScsiError, String(e));
        for (const fixed of [cdb, Buffer.concat([Buffer.from([0x5e]), cdb.subarray(1)]), Buffer.concat([Buffer.from([0x5f]), cdb.subarray(1)])]) {
          try {
            h.r.persistentReserveIn(n, fixed);
          } catch (e) {
            only(e);
          }
          try {
            await h.r.persistentReserveOut(n, fixed, param);
          } catch (e) {
            only(e);
          }
          try {
            parsePersistentReserveIn(fixed);
          } catch (e) {
            only(e);
          }
          try {
            parsePersistentReserveOut(fixed);
          } catch (e) {
            only(e);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
