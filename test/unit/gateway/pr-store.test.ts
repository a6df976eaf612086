/**
 * Persistent reservations shared by several gateways of one data_dir
 * (src/gateway/pr-store.ts FileSharedPrStore + src/scsi/reservations.ts "Shared
 * state"): two LogicalUnit instances over one state directory behave as one LU for
 * PR, PR OUT from two processes at once loses nothing, failures change nothing,
 * and the APTPL rule for a restart of every gateway.
 *
 * This file is also its own child process (PR_STORE_CHILD set): see childMain().
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryBackingStore } from '../../../src/backstore/memory.js';
import { DirectoryWatches, FileSharedPrStore } from '../../../src/gateway/pr-store.js';
import { LogicalUnit } from '../../../src/scsi/logical-unit.js';
import { Reservations, type SharedPrSnapshot, type SharedPrStore } from '../../../src/scsi/reservations.js';
import { ScsiError } from '../../../src/scsi/sense.js';
import type { Nexus } from '../../../src/scsi/command.js';
import { CDB, I1, I2, I3, SA, TYPE, makeNexus, prInCdb, prOutCdb, prOutParam, type ParamOpts } from '../scsi/reservations-fixtures.js';

const DISK = 'rbd/disk_1';

/** Two gateways: same initiators, each through its own target port (TPGT 1 on A, 2 on B). */
const a1 = makeNexus(I1, '23d000000001', 1);
const b1 = makeNexus(I1, '23d000000001', 2);
const a2 = makeNexus(I2, '400001370000', 1);
const b2 = makeNexus(I2, '400001370000', 2);
const b3 = makeNexus(I3, '23d000000003', 2);
const K1 = 0x1122334455667788n;
const K2 = 0x42n;
const K3 = 0x77n;

async function tempDir(): Promise<string> {
  return fs.mkdtemp(join(tmpdir(), 'pr-store-'));
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function storeFor(dir: string, opts: { pollIntervalMs?: number; leaseMs?: number; fsWatch?: boolean } = {}): FileSharedPrStore {
  return new FileSharedPrStore({ dir, diskId: DISK, ...opts });
}

async function openLu(dir: string, opts: { pollIntervalMs?: number; leaseMs?: number; fsWatch?: boolean } = {}): Promise<LogicalUnit> {
  const lu = new LogicalUnit({
    name: DISK,
    backstore: new MemoryBackingStore(DISK, 1 << 20),
    wwn: '00000000-0000-0000-0000-000000000001',
    aluaGroups: () => [],
    sharedPr: storeFor(dir, opts),
  });
  await lu.open();
  return lu;
}

function out(lu: LogicalUnit, n: Nexus, sa: number, o: ParamOpts & { type?: number } = {}): Promise<'GOOD' | 'RESERVATION_CONFLICT'> {
  const param = prOutParam(o);
  return lu.pr.persistentReserveOut(n, prOutCdb(sa, o.type ?? 0, 0, param.length), param);
}

async function readKeys(lu: LogicalUnit, n: Nexus): Promise<{ generation: number; keys: bigint[] }> {
  const b = await lu.pr.persistentReserveIn(n, prInCdb(0));
  const keys: bigint[] = [];
  for (let i = 0; i < b.readUInt32BE(4) / 8; i++) keys.push(b.readBigUInt64BE(8 + 8 * i));
  return { generation: b.readUInt32BE(0), keys };
}

async function readReservation(lu: LogicalUnit, n: Nexus): Promise<{ key: bigint; type: number } | null> {
  const b = await lu.pr.persistentReserveIn(n, prInCdb(1));
  if (b.readUInt32BE(4) === 0) return null;
  return { key: b.readBigUInt64BE(8), type: b.readUInt8(21) & 0xf };
}

/** A nexus "logs in" to the LU: known to its unit attention queue, power-on UA consumed. */
function connect(lu: LogicalUnit, n: Nexus): void {
  lu.ua.register(n.key);
  lu.ua.take(n.key);
}

// ---------------------------------------------------------------------------------- child

/**
 * Child process: registers `count` initiator ports (REGISTER AND IGNORE EXISTING KEY,
 * keys base+i) on the shared state in `dir`, all at once, then exits 0.
 */
async function childMain(): Promise<void> {
  const dir = process.env['PR_STORE_DIR'] ?? '';
  const tag = process.env['PR_STORE_CHILD'] ?? 'x';
  const count = Number(process.env['PR_STORE_COUNT'] ?? '0');
  const base = BigInt(process.env['PR_STORE_BASE'] ?? '1');
  const r = new Reservations({ shared: storeFor(dir), establishUa: () => undefined });
  await r.load();
  // Start together: tell the parent we are ready, wait for its "go" on stdin.
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.pause();
  const jobs: Promise<string>[] = [];
  for (let i = 0; i < count; i++) {
    const n = makeNexus(`iqn.2024-01.io.example:${tag}-${i}`, '23d000000001', 1);
    // APTPL = 1: the parent opens the LU after both children closed it (alone), which drops APTPL = 0 state.
    const param = prOutParam({ sark: base + BigInt(i), aptpl: true });
    jobs.push(r.persistentReserveOut(n, prOutCdb(SA.REGISTER_AND_IGNORE, 0, 0, param.length), param));
  }
  const results = await Promise.all(jobs);
  await r.close();
  if (results.some((x) => x !== 'GOOD')) throw new Error(`child ${tag}: ${results.join(',')}`);
}

interface Child {
  ready: Promise<void>;
  go(): void;
  done: Promise<{ code: number | null; stderr: string }>;
}

function runChild(dir: string, tag: string, count: number, base: bigint): Child {
  const env: NodeJS.ProcessEnv = { ...process.env, PR_STORE_CHILD: tag, PR_STORE_DIR: dir, PR_STORE_COUNT: String(count), PR_STORE_BASE: String(base) };
  delete env['NODE_TEST_CONTEXT'];
  const child = spawn(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--test')), fileURLToPath(import.meta.url)], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, stderr }));
  });
  const ready = new Promise<void>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('ready\n')) resolve();
    });
    void done.then((r) => reject(new Error(`child ${tag} exited ${String(r.code)} before ready: ${r.stderr}`)));
  });
  return { ready, go: () => child.stdin.end('go\n'), done };
}

// ---------------------------------------------------------------------------------- tests

if (process.env['PR_STORE_CHILD'] !== undefined) {
  await childMain();
} else {
  const dirs: string[] = [];
  const lus: LogicalUnit[] = [];
  const fresh = async (): Promise<string> => {
    const d = await tempDir();
    dirs.push(d);
    return d;
  };
  const lu = async (dir: string, opts: { pollIntervalMs?: number; leaseMs?: number; fsWatch?: boolean } = {}): Promise<LogicalUnit> => {
    const l = await openLu(dir, opts);
    lus.push(l);
    return l;
  };
  after(async () => {
    for (const l of lus) await l.close().catch(() => undefined);
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });

  describe('two LogicalUnits over one state directory are one LU for persistent reservations', () => {
    test('a key registered via A is read via B (PR IN re-reads), and the generation is shared', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.deepEqual(await readKeys(B, b2), { generation: 1, keys: [K1] });
      // B registers its own initiator; A sees both, in registration order.
      assert.equal(await out(B, b2, SA.REGISTER, { sark: K2 }), 'GOOD');
      assert.deepEqual(await readKeys(A, a1), { generation: 2, keys: [K1, K2] });
      // The registration is per I_T nexus: I1 through B's port is NOT registered (RESERVATION CONFLICT on RESERVE).
      assert.equal(await out(B, b1, SA.RESERVE, { rk: K1, type: TYPE.WE }), 'RESERVATION_CONFLICT');
    });

    test('a reservation taken via A takes effect on B\'s conflict check (watch), and its release too', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.equal(B.pr.conflicts(b3, CDB.WRITE_10), false);
      assert.equal(await out(A, a1, SA.RESERVE, { rk: K1, type: TYPE.EA }), 'GOOD');
      // No PR IN on B: only the watch brings the new state in.
      await waitFor('B to see the Exclusive Access reservation', () => B.pr.conflicts(b3, CDB.READ_10));
      assert.equal(B.pr.conflicts(b3, CDB.WRITE_10), true);
      assert.equal(B.pr.conflicts(b3, CDB.INQUIRY), false);
      assert.equal(A.pr.conflicts(a1, CDB.WRITE_10), false); // the holder
      assert.deepEqual(await readReservation(B, b3), { key: K1, type: TYPE.EA });
      assert.equal(await out(A, a1, SA.RELEASE, { rk: K1, type: TYPE.EA }), 'GOOD');
      await waitFor('B to see the release', () => !B.pr.conflicts(b3, CDB.READ_10));
    });

    test('the watch poll alone (no fs.watch event) also brings the change in', async () => {
      const dir = await fresh();
      const A = await lu(dir, { pollIntervalMs: 20, fsWatch: false });
      const B = await lu(dir, { pollIntervalMs: 20, fsWatch: false });
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.equal(await out(A, a1, SA.RESERVE, { rk: K1, type: TYPE.WE }), 'GOOD');
      await waitFor('B to see the reservation', () => B.pr.conflicts(b3, CDB.WRITE_10));
    });

    test('PREEMPT via B: the preempted registrant on A gets REGISTRATIONS PREEMPTED, the reservation moves', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir);
      connect(A, a1);
      connect(B, b2);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.equal(await out(A, a1, SA.RESERVE, { rk: K1, type: TYPE.WERO }), 'GOOD');
      assert.equal(await out(B, b2, SA.REGISTER, { sark: K2 }), 'GOOD');
      assert.equal(await out(B, b2, SA.PREEMPT, { rk: K2, sark: K1, type: TYPE.EA }), 'GOOD');
      await waitFor('A to see the preemption', () => A.pr.conflicts(a1, CDB.READ_10));
      await waitFor('the unit attention on A', () => A.ua.pending(a1.key).includes('REGISTRATIONS_PREEMPTED'));
      // Exactly once, and none for B's own nexus (the issuer).
      assert.deepEqual(A.ua.pending(a1.key), ['REGISTRATIONS_PREEMPTED']);
      assert.deepEqual(B.ua.pending(b2.key), []);
      assert.deepEqual(await readReservation(A, a1), { key: K2, type: TYPE.EA });
      assert.deepEqual((await readKeys(A, a1)).keys, [K2]);
    });

    test('RELEASE of a registrants-only reservation via A: RESERVATIONS RELEASED for the registrant on B', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir);
      connect(A, a1);
      connect(B, b2);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.equal(await out(B, b2, SA.REGISTER, { sark: K2 }), 'GOOD');
      assert.equal(await out(A, a1, SA.RESERVE, { rk: K1, type: TYPE.WERO }), 'GOOD');
      assert.equal(await out(A, a1, SA.RELEASE, { rk: K1, type: TYPE.WERO }), 'GOOD');
      await waitFor('RESERVATIONS RELEASED on B', () => B.ua.pending(b2.key).includes('RESERVATIONS_RELEASED'));
      assert.deepEqual(A.ua.pending(a1.key), []);
      // A raised it for a nexus of B's port: A keeps no queue for a nexus it never saw.
      assert.equal(A.ua.isKnown(b2.key), false);
    });

    test('several versions missed by the watch: PR IN re-reads and replays every unit attention in between', async () => {
      // Poll far away and no fs.watch: only B's PR IN brings the state in.
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir, { pollIntervalMs: 60_000, fsWatch: false });
      connect(B, b1);
      connect(B, b2);
      assert.equal(await out(B, b1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.equal(await out(B, b2, SA.REGISTER, { sark: K2 }), 'GOOD');
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K3 }), 'GOOD');
      assert.equal(await out(A, a1, SA.RESERVE, { rk: K3, type: TYPE.WE }), 'GOOD');
      assert.equal(B.pr.conflicts(b3, CDB.WRITE_10), false); // not seen yet (no watch)
      // PREEMPT K1 (B's I1 registration), then K2: two versions B has not seen.
      assert.equal(await out(A, a1, SA.PREEMPT, { rk: K3, sark: K1, type: TYPE.WE }), 'GOOD');
      assert.equal(await out(A, a1, SA.PREEMPT, { rk: K3, sark: K2, type: TYPE.WE }), 'GOOD');
      assert.deepEqual((await readKeys(B, b3)).keys, [K3]);
      assert.deepEqual(B.ua.pending(b1.key), ['REGISTRATIONS_PREEMPTED']);
      assert.deepEqual(B.ua.pending(b2.key), ['REGISTRATIONS_PREEMPTED']);
      assert.equal(B.pr.conflicts(b3, CDB.WRITE_10), true);
    });

    test('CLEAR via B reaches an ALL_TG_PT registrant through A\'s port (RESERVATIONS PREEMPTED)', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir);
      connect(A, a1);
      connect(B, b2);
      // I1 registers through B with ALL_TG_PT = 1: that covers its nexus through A as well.
      connect(B, b1);
      assert.equal(await out(B, b1, SA.REGISTER, { sark: K1, allTgPt: true }), 'GOOD');
      assert.equal(await out(B, b2, SA.REGISTER, { sark: K2 }), 'GOOD');
      // ... and A honours it: I1 through A is a registrant (RESERVE via A succeeds).
      assert.equal(await out(A, a1, SA.RESERVE, { rk: K1, type: TYPE.WE }), 'GOOD');
      assert.equal(await out(B, b2, SA.CLEAR, { rk: K2 }), 'GOOD');
      await waitFor('RESERVATIONS PREEMPTED on A', () => A.ua.pending(a1.key).includes('RESERVATIONS_PREEMPTED'));
      assert.deepEqual(await readKeys(A, a1), { generation: 3, keys: [] });
    });

    test('PR OUT through A and B at the same moment: both registrations stored, one generation each', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir);
      const r = await Promise.all([
        out(A, a1, SA.REGISTER, { sark: K1 }),
        out(B, b2, SA.REGISTER, { sark: K2 }),
        out(B, b3, SA.REGISTER, { sark: K3 }),
      ]);
      assert.deepEqual(r, ['GOOD', 'GOOD', 'GOOD']);
      const ka = await readKeys(A, a1);
      assert.equal(ka.generation, 3);
      assert.deepEqual([...ka.keys].sort(), [K1, K2, K3].sort());
      assert.deepEqual(await readKeys(B, b1), ka);
    });

    test('REGISTER AND MOVE via A to an I_T nexus through B\'s target port', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir);
      assert.equal(await out(B, b2, SA.REGISTER, { sark: K2 }), 'GOOD');
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.equal(await out(A, a1, SA.RESERVE, { rk: K1, type: TYPE.WE }), 'GOOD');
      // SPC-4 "REGISTER AND MOVE parameter list": RK, SARK, UNREG, RELATIVE TARGET PORT IDENTIFIER, TransportID.
      const tid = b2.transportId;
      const param = Buffer.alloc(24 + tid.length);
      param.writeBigUInt64BE(K1, 0);
      param.writeBigUInt64BE(K2, 8);
      param.writeUInt8(0x02, 17); // UNREG
      param.writeUInt16BE(b2.relativeTargetPortId, 18);
      param.writeUInt32BE(tid.length, 20);
      tid.copy(param, 24);
      assert.equal(await A.pr.persistentReserveOut(a1, prOutCdb(SA.REGISTER_AND_MOVE, 0, 0, param.length), param), 'GOOD');
      await waitFor('B to see b2 as the holder', () => B.pr.conflicts(b3, CDB.WRITE_10) && !B.pr.conflicts(b2, CDB.WRITE_10));
      assert.deepEqual(await readReservation(B, b2), { key: K2, type: TYPE.WE });
      assert.deepEqual((await readKeys(A, a1)).keys, [K2]); // UNREG: A's I1 registration is gone
      assert.equal(A.pr.conflicts(a1, CDB.WRITE_10), true);
    });

    test('REGISTER with a wrong key via B against A\'s registration: conflict, nothing stored', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir);
      const store = storeFor(dir);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1, allTgPt: true }), 'GOOD');
      const v = await store.version();
      // I1 is registered through every port (ALL_TG_PT): REGISTER via B needs its key.
      assert.equal(await out(B, b1, SA.REGISTER, { rk: 0x999n, sark: K3 }), 'RESERVATION_CONFLICT');
      assert.equal(await store.version(), v, 'a conflicting PR OUT wrote a new version');
      assert.equal(await out(B, b1, SA.REGISTER, { rk: K1, sark: K3 }), 'GOOD');
      assert.deepEqual((await readKeys(A, a1)).keys, [K3]);
      await store.close();
    });
  });

  describe('failures change nothing', () => {
    /** A store whose update() runs the mutator, then fails to write. */
    class FailingStore implements SharedPrStore {
      fail = false;
      snap: SharedPrSnapshot = { version: 0, doc: undefined };
      open(): Promise<SharedPrSnapshot & { alone: () => Promise<boolean> }> {
        return Promise.resolve({ ...this.snap, alone: () => Promise.resolve(true) });
      }
      load(): Promise<SharedPrSnapshot> {
        return Promise.resolve(this.snap);
      }
      version(): Promise<number> {
        return Promise.resolve(this.snap.version);
      }
      update<T>(m: (cur: SharedPrSnapshot) => { doc?: unknown; result: T }): Promise<{ version: number; result: T }> {
        const r = m(this.snap);
        if (r.doc === undefined) return Promise.resolve({ version: this.snap.version, result: r.result });
        if (this.fail) return Promise.reject(new Error('EIO'));
        this.snap = { version: this.snap.version + 1, doc: JSON.parse(JSON.stringify(r.doc)) as unknown };
        return Promise.resolve({ version: this.snap.version, result: r.result });
      }
      watch(): () => void {
        return () => undefined;
      }
      close(): Promise<void> {
        return Promise.resolve();
      }
    }

    test('a store write failure is INTERNAL TARGET FAILURE; state, conflicts and unit attentions unchanged', async () => {
      const store = new FailingStore();
      const uas: string[] = [];
      const r = new Reservations({ shared: store, establishUa: (k, reason) => uas.push(`${k}:${reason}`) });
      await r.load();
      const run = (n: Nexus, sa: number, o: ParamOpts & { type?: number }) => {
        const p = prOutParam(o);
        return r.persistentReserveOut(n, prOutCdb(sa, o.type ?? 0, 0, p.length), p);
      };
      assert.equal(await run(a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.equal(await run(a2, SA.REGISTER, { sark: K2 }), 'GOOD');
      assert.equal(await run(a1, SA.RESERVE, { rk: K1, type: TYPE.WERO }), 'GOOD');
      const before = [0, 1, 3].map((sa) => r.persistentReserveIn(a1, prInCdb(sa)));
      store.fail = true;
      for (const [n, sa, o] of [
        [a1, SA.RELEASE, { rk: K1, type: TYPE.WERO }],
        [a2, SA.PREEMPT, { rk: K2, sark: K1, type: TYPE.EA }],
        [a2, SA.CLEAR, { rk: K2 }],
        [a1, SA.REGISTER, { rk: K1, sark: 0n }],
      ] as const) {
        await assert.rejects(run(n, sa, o), (e: unknown) => e instanceof ScsiError && e.reason === 'INTERNAL_TARGET_FAILURE');
      }
      assert.deepEqual([0, 1, 3].map((sa) => r.persistentReserveIn(a1, prInCdb(sa))), before);
      assert.equal(r.conflicts(a2, CDB.WRITE_10), false); // still a registrant under WERO
      assert.equal(r.conflicts(b3, CDB.WRITE_10), true);
      assert.deepEqual(uas, []);
      // and the store works again afterwards
      store.fail = false;
      assert.equal(await run(a2, SA.PREEMPT, { rk: K2, sark: K1, type: TYPE.EA }), 'GOOD');
      assert.deepEqual(uas, [`${a1.key}:REGISTRATIONS_PREEMPTED`]);
    });

    test('a bad CDB or parameter list is its ScsiError and writes nothing', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const store = storeFor(dir);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      const v = await store.version();
      // PREEMPT with SERVICE ACTION RESERVATION KEY 0 and no reservation: INVALID FIELD IN PARAMETER LIST.
      await assert.rejects(out(A, a1, SA.PREEMPT, { rk: K1, sark: 0n, type: TYPE.WE }), (e: unknown) => e instanceof ScsiError && e.reason === 'INVALID_FIELD_IN_PARAMETER_LIST');
      assert.equal(await store.version(), v);
      await store.close();
    });

    test('lock held by a live writer past the wait: INTERNAL TARGET FAILURE, nothing stored; a dead holder\'s lock is taken over', async () => {
      const dir = await fresh();
      const A = new LogicalUnit({
        name: DISK,
        backstore: new MemoryBackingStore(DISK, 1 << 20),
        wwn: '00000000-0000-0000-0000-000000000001',
        aluaGroups: () => [],
        sharedPr: new FileSharedPrStore({ dir, diskId: DISK, lockTimeoutMs: 100 }),
      });
      lus.push(A);
      await A.open();
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      // proper-lockfile's lock is a directory; a fresh one belongs to a live writer.
      const lock = join(dir, '.rbd.disk_1.json.lock');
      await fs.mkdir(lock);
      await assert.rejects(out(A, a2, SA.REGISTER, { sark: K2 }), (e: unknown) => e instanceof ScsiError && e.reason === 'INTERNAL_TARGET_FAILURE');
      assert.deepEqual((await readKeys(A, a1)).keys, [K1]);
      // The holder died long ago (lock not refreshed for a minute): taken over at once.
      const old = new Date(Date.now() - 60_000);
      await fs.utimes(lock, old, old);
      assert.equal(await out(A, a2, SA.REGISTER, { sark: K2 }), 'GOOD');
      assert.deepEqual((await readKeys(A, a1)).keys, [K1, K2]);
    });

    test('a corrupt state file is ERR_SCSI_PR_STATE at LU open, never a silent reset', async () => {
      const dir = await fresh();
      await fs.writeFile(join(dir, 'rbd.disk_1.json'), '{"version": 3, "doc": {"v": 1, "generation": "x"}}');
      await assert.rejects(openLu(dir), (e: unknown) => (e as { code?: string }).code === 'ERR_SCSI_PR_STATE');
      await fs.writeFile(join(dir, 'rbd.disk_1.json'), '{not json');
      await assert.rejects(openLu(dir), (e: unknown) => (e as { code?: string }).code === 'ERR_SCSI_PR_STATE');
    });
  });

  describe('PR OUT from two processes at once', () => {
    test('2 × 25 concurrent registrations from two child processes: all 50 stored, one version each', { timeout: 60_000 }, async () => {
      const dir = await fresh();
      const children = [runChild(dir, 'one', 25, 0x1000n), runChild(dir, 'two', 25, 0x2000n)];
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.go();
      const [c1, c2] = await Promise.all(children.map((c) => c.done));
      assert.ok(c1 && c2);
      assert.equal(c1.code, 0, c1.stderr);
      assert.equal(c2.code, 0, c2.stderr);
      const A = await lu(dir);
      const { generation, keys } = await readKeys(A, a1);
      const want = [...Array.from({ length: 25 }, (_, i) => 0x1000n + BigInt(i)), ...Array.from({ length: 25 }, (_, i) => 0x2000n + BigInt(i))];
      assert.deepEqual([...keys].sort((x, y) => (x < y ? -1 : 1)), want);
      assert.equal(generation, 50);
      const store = storeFor(dir);
      assert.equal(await store.version(), 50);
      await store.close();
      // No temp files or lock left behind.
      const left = (await fs.readdir(dir)).filter((n) => n.includes('.tmp-') || n.endsWith('.lock'));
      assert.deepEqual(left, []);
    });
  });

  describe('APTPL across a restart of every gateway', () => {
    test('APTPL=0: shared while a gateway runs; dropped when the LU opens with no other live user', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD'); // APTPL = 0
      // B opens while A runs: it adopts A's state.
      const B = await lu(dir);
      assert.deepEqual((await readKeys(B, b2)).keys, [K1]);
      // Both close (every gateway stopped) ...
      await A.close();
      await B.close();
      // ... so the next open is alone: APTPL = 0 state is gone, PRgeneration back to 0.
      const C = await lu(dir);
      assert.deepEqual(await readKeys(C, b2), { generation: 0, keys: [] });
    });

    test('APTPL=0: a gateway restarting while another keeps the LU open keeps the state', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      const B = await lu(dir);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      await A.close(); // A restarts; B keeps serving
      const A2 = await lu(dir);
      assert.deepEqual((await readKeys(A2, a1)).keys, [K1]);
      assert.deepEqual((await readKeys(B, b1)).keys, [K1]);
    });

    test('APTPL=1: the state survives every gateway stopping', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1, aptpl: true }), 'GOOD');
      assert.equal(await out(A, a1, SA.RESERVE, { rk: K1, type: TYPE.WE }), 'GOOD');
      await A.close();
      const C = await lu(dir);
      assert.deepEqual(await readKeys(C, a1), { generation: 1, keys: [K1] });
      assert.deepEqual(await readReservation(C, b2), { key: K1, type: TYPE.WE });
      // PTPL_A reported from the shared flag
      assert.equal((await C.pr.persistentReserveIn(a1, prInCdb(2))).readUInt8(3) & 1, 1);
    });

    test('a user mark of a dead process on this host does not count as a live gateway', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      await A.close();
      // A crashed gateway's fresh mark: this host, a pid that does not exist.
      const { hostname } = await import('node:os');
      const users = join(dir, 'rbd.disk_1.users');
      await fs.writeFile(join(users, `${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}~2147483646~dead`), '');
      // A mark from another host, stale (older than the lease).
      const other = join(users, 'otherhost~1~beef');
      await fs.writeFile(other, '');
      const old = new Date(Date.now() - 60_000);
      await fs.utimes(other, old, old);
      const C = await lu(dir);
      assert.deepEqual((await readKeys(C, a1)).keys, []);
    });

    test('a fresh mark from another host counts as alive: APTPL=0 state kept', async () => {
      const dir = await fresh();
      const A = await lu(dir);
      assert.equal(await out(A, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      await A.close();
      await fs.writeFile(join(dir, 'rbd.disk_1.users', 'otherhost~1~beef'), '');
      const C = await lu(dir);
      assert.deepEqual((await readKeys(C, a1)).keys, [K1]);
    });
  });

  describe('file format', () => {
    test('an older APTPL-only file (bare document) reads as version 0 and is upgraded by the next change', async () => {
      const dir = await fresh();
      const legacy = new Reservations({ establishUa: () => undefined, store: { load: () => Promise.resolve(undefined), save: () => Promise.resolve() } });
      const p = prOutParam({ sark: K1, aptpl: true });
      assert.equal(await legacy.persistentReserveOut(a1, prOutCdb(SA.REGISTER, 0, 0, p.length), p), 'GOOD');
      const bare = legacy.exportState() as Record<string, unknown>;
      delete bare['aptpl']; // written before the flag existed: APTPL active
      await fs.writeFile(join(dir, 'rbd.disk_1.json'), JSON.stringify(bare));
      const A = await lu(dir);
      assert.deepEqual(await readKeys(A, a1), { generation: 1, keys: [K1] });
      assert.equal(await out(A, a2, SA.REGISTER, { sark: K2, aptpl: true }), 'GOOD');
      const onDisk = JSON.parse(await fs.readFile(join(dir, 'rbd.disk_1.json'), 'utf8')) as { version: number; doc: { registrations: unknown[] } };
      assert.equal(onDisk.version, 1);
      assert.equal(onDisk.doc.registrations.length, 2);
    });

    test('version() is answered from the cache while the file is unchanged, and sees a new version', async () => {
      const dir = await fresh();
      const s1 = storeFor(dir);
      const s2 = storeFor(dir);
      assert.equal(await s1.version(), 0);
      const r = await s2.update(() => ({ doc: { hello: 1 }, result: 'x' }));
      assert.deepEqual(r, { version: 1, result: 'x' });
      assert.equal(await s1.version(), 1);
      assert.deepEqual(await s1.load(), { version: 1, doc: { hello: 1 } });
      // no doc returned: nothing written
      assert.deepEqual(await s1.update(() => ({ result: 7 })), { version: 1, result: 7 });
      assert.equal(await s2.version(), 1);
      await s1.close();
      await s2.close();
    });
  });
}

test('DirectoryWatches: one fs.watch per directory; an event reaches the callbacks of the file it names; a removed callback is not called', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'igw-dirwatch-'));
  try {
    const watches = new DirectoryWatches();
    let a = 0;
    let b = 0;
    let seenA!: () => void;
    let seenB!: () => void;
    const firstA = new Promise<void>((r) => (seenA = r));
    const firstB = new Promise<void>((r) => (seenB = r));
    const stopA = watches.watch(dir, 'a.json', () => {
      a++;
      seenA();
    });
    const stopB = watches.watch(dir, 'b.json', () => {
      b++;
      seenB();
    });
    assert.ok(stopA !== undefined && stopB !== undefined);
    await fs.writeFile(join(dir, 'a.json'), '{}');
    await firstA;
    assert.equal(b, 0, 'an event for a.json does not wake b.json\'s store');
    stopA();
    const afterStop = a;
    await fs.writeFile(join(dir, 'b.json'), '{}');
    await fs.writeFile(join(dir, 'a.json'), '{"x":1}');
    await firstB;
    assert.ok(b >= 1);
    assert.equal(a, afterStop, 'a removed callback is not called');
    stopB();
    assert.equal(watches.watch(join(dir, 'missing'), 'c.json', () => undefined), undefined, 'a directory that cannot be watched: undefined (the poll remains)');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('DirectoryWatches.names: one listing per maxAge for every store polling the directory; a poll sees a file written by another store', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'igw-dirnames-'));
  try {
    const watches = new DirectoryWatches();
    const first = watches.names(dir, 60_000);
    assert.equal(watches.names(dir, 60_000), first, 'within maxAge: the same listing');
    assert.deepEqual([...((await first) ?? [])], []);
    await fs.writeFile(join(dir, 'x.json'), '{}');
    assert.ok((await watches.names(dir, 0))?.has('x.json'), 'older than maxAge: read again');
    const listed = watches.names(dir, 60_000);
    watches.changed(dir);
    assert.equal(await watches.names(dir, 60_000, true), undefined, 'changed since: no clean listing (open() stats)');
    assert.equal(watches.names(dir, 60_000), listed, 'the poll keeps it until maxAge');
    assert.equal(await watches.names(join(dir, 'missing'), 0), undefined, 'a directory that cannot be read: undefined (the store stats)');
    // open(): the listing only while other stores of the directory open too (a start).
    const end1 = watches.beginOpen(dir);
    assert.equal(watches.batch(dir), false, 'one open: it stats');
    const end2 = watches.beginOpen(dir);
    assert.equal(watches.batch(dir), true);
    end1();
    end2();
    assert.equal(watches.batch(dir), false);
    // Poll only (no fs.watch): a store whose file is not listed finds the other store's write on a later poll.
    const a = new FileSharedPrStore({ dir, diskId: DISK, pollIntervalMs: 20, fsWatch: false, watches });
    const b = new FileSharedPrStore({ dir, diskId: DISK, pollIntervalMs: 20, fsWatch: false, watches });
    let changed = 0;
    const stop = a.watch(() => changed++);
    await new Promise((r) => setTimeout(r, 60));
    const before = changed;
    await b.update(() => ({ doc: { v: 1 }, result: undefined }));
    await waitFor('the poll to see the new file', () => changed > before);
    assert.equal((await a.load()).version, 1);
    stop();
    await a.close();
    await b.close();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
