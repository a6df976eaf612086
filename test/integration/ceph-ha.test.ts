/**
 * High availability on Ceph (issue 8): two gateways with their own data dirs on one real
 * cluster (config_store = rados, backstore = rbd), one LUN preferred on gw-a.
 * - the exclusive lock moves to the gateway a write arrives at, without an error (hand-off);
 * - kill -9 of the holder: the survivor takes the lock over (blocklisting the dead client)
 *   and serves writes within the lease; never a MEDIUM ERROR; RTPG identical on both paths;
 * - the killed gateway restarted: writes through it succeed again;
 * - the holder frozen (SIGSTOP) with a write queued: the survivor takes over within the
 *   lease after the initiator gave up on the frozen path; resumed, the frozen gateway's
 *   queued write does not land over the newer data (lease fencing + blocklist), and the
 *   gateway rejoins with a new client;
 * - maintenance (PUT /api/maintenance on|off) and SIGTERM: the LUNs handed over, the peer AO.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { CephCluster } from './ceph-helpers.js';
import { Daemon, freePortOn, QEMU_INITIATOR, requireTools, TARGET_IQN, waitFor } from './helpers.js';
import { rw10, senseOf, writeUntilGood } from './ha-helpers.js';
import { ALUA_STATE, CDB, MiniInitiator, parseRtpg, type ScsiReply } from './mini-initiator.js';

describe('HA on Ceph: lock hand-off, failover after kill -9, failback', { timeout: 8 * 60_000 }, () => {
  let ceph: CephCluster;
  let a: Daemon;
  let b: Daemon;
  const lease = 3000;

  before(async () => {
    requireTools('iscsi-ls');
    ceph = await CephCluster.start({ mgr: false });
    const port = await freePortOn(['127.0.0.1', '127.0.0.2']);
    // Explicit ALUA here (SET TARGET PORT GROUPS moves the lock); implicit is the default elsewhere.
    const extra = { ...ceph.settings({ config_store: 'rados' }), ha_lease_ms: String(lease), alua_failover_type: 'explicit' };
    a = await Daemon.start({ gatewayName: 'gw-a', iscsiPort: port, extra, readyTimeoutMs: 60_000 });
    b = await Daemon.start({ gatewayName: 'gw-b', iscsiPort: port, extra, readyTimeoutMs: 60_000 });
    await a.api.must('PUT', `/api/target/${TARGET_IQN}`, {});
    await a.api.must('PUT', `/api/gateway/${TARGET_IQN}/gw-a`, { ip_address: '127.0.0.1', skipchecks: 'true' });
    await a.api.must('PUT', `/api/gateway/${TARGET_IQN}/gw-b`, { ip_address: '127.0.0.2', skipchecks: 'true' });
    await a.api.must('PUT', '/api/disk/rbd/disk_1', { mode: 'create', size: '64M', create_image: 'true' });
    await a.api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk: 'rbd/disk_1' });
    await a.api.must('PUT', `/api/client/${TARGET_IQN}/${QEMU_INITIATOR}`, {});
    await a.api.must('PUT', `/api/clientlun/${TARGET_IQN}/${QEMU_INITIATOR}`, { disk: 'rbd/disk_1' });
    // gw-b follows the document through its watch: wait until it lets the client in.
    await waitFor(
      'gw-b serves the client',
      async () => {
        const i = await MiniInitiator.connect('127.0.0.2', b.iscsiPort);
        try {
          await i.login(QEMU_INITIATOR, TARGET_IQN);
          return true;
        } catch {
          return undefined;
        } finally {
          i.close();
        }
      },
      30_000,
      100,
    );
  });

  after(async () => {
    await a?.dispose();
    await b?.dispose();
    await ceph?.stop();
  });

  /** A test whose failure carries both gateways' state and log tails (a CI run keeps nothing else). */
  const hatest = (name: string, fn: (t: TestContext) => Promise<void>): void => {
    test(name, async (t) => {
      try {
        await fn(t);
      } catch (err) {
        const state = (d: Daemon): string => `running ${d.running}, exit ${d.child?.exitCode ?? '-'}/${d.child?.signalCode ?? '-'}`;
        throw new Error(`${(err as Error).message}\n--- gw-a (${state(a)}) ---\n${a.logTail(3000)}\n--- gw-b (${state(b)}) ---\n${b.logTail(1500)}`, { cause: err });
      }
    });
  };

  const session = async (host: string, d: Daemon): Promise<MiniInitiator> => {
    const i = await MiniInitiator.connect(host, d.iscsiPort);
    await i.login(QEMU_INITIATOR, TARGET_IQN);
    await i.commandRetryUa(0, CDB.testUnitReady(), 0);
    return i;
  };
  const rtpg = async (i: MiniInitiator): Promise<string> => {
    const r = await i.commandRetryUa(0, CDB.rtpg(1024), 1024);
    assert.equal(r.status, 0);
    return JSON.stringify(parseRtpg(r.data));
  };
  hatest('the lock follows the writes between live gateways, without an error', async (t) => {
    const ia = await session('127.0.0.1', a);
    const ib = await session('127.0.0.2', b);
    try {
      const seen: string[] = [];
      const first = await writeUntilGood(ia, 0, 0x11, seen);
      const viaB = await writeUntilGood(ib, 8, 0x22, seen);
      const back = await writeUntilGood(ia, 16, 0x33, seen);
      t.diagnostic(`write via gw-a ${first.toFixed(0)} ms, then via gw-b (hand-off) ${viaB.toFixed(0)} ms, back via gw-a ${back.toFixed(0)} ms; transitional answers ${seen.join(',') || 'none'}`);
      const ra = await rtpg(ia);
      assert.equal(ra, await rtpg(ib), 'RTPG identical through both gateways');
    } finally {
      ia.close();
      ib.close();
    }
  });

  hatest('explicit ALUA: INQUIRY TPGS 11b; SET TARGET PORT GROUPS moves the lock and AO, the same on both paths', async (t) => {
    const ia = await session('127.0.0.1', a);
    const ib = await session('127.0.0.2', b);
    const stpg = (i: MiniInitiator, group: number): Promise<ScsiReply> => {
      const cdb = Buffer.alloc(12);
      cdb[0] = 0xa4;
      cdb[1] = 0x0a;
      cdb.writeUInt32BE(8, 6);
      const param = Buffer.alloc(8);
      param[4] = 0x00; // active/optimized
      param.writeUInt16BE(group, 6);
      return i.commandOut(0, cdb, param);
    };
    const aoOf = async (i: MiniInitiator): Promise<number | undefined> => parseRtpg((await i.commandRetryUa(0, CDB.rtpg(1024), 1024)).data).find((g) => g.state === ALUA_STATE.AO)?.tpgId;
    try {
      const inq = await ia.commandRetryUa(0, Buffer.from([0x12, 0, 0, 0, 96, 0]), 96);
      assert.equal((inq.data[5]! >> 4) & 0x03, 0x03, 'TPGS = implicit and explicit');
      const seen: string[] = [];
      await writeUntilGood(ia, 200, 0x91, seen); // gw-a holds
      // Through gw-a, ask gw-b's group (2) to become AO.
      const t0 = performance.now();
      const r = await stpg(ia, 2);
      assert.equal(r.status, 0, `STPG answered ${r.status} ${JSON.stringify(senseOf(r))}`);
      const moved = performance.now() - t0;
      assert.equal(await aoOf(ia), 2);
      assert.equal(await aoOf(ib), 2);
      const took = await writeUntilGood(ib, 200, 0x92, seen);
      // And back, asked through gw-a for its own group.
      const r2 = await stpg(ia, 1);
      assert.equal(r2.status, 0, `STPG answered ${r2.status} ${JSON.stringify(senseOf(r2))}`);
      assert.equal(await aoOf(ib), 1);
      t.diagnostic(`STPG to gw-b took ${moved.toFixed(0)} ms; write via gw-b then ${took.toFixed(0)} ms; STPG back to gw-a OK`);
    } finally {
      ia.close();
      ib.close();
    }
  });

  hatest('kill -9 of the holder: the survivor writes within the lease, AO on every path; the restarted gateway writes again', async (t) => {
    const ia = await session('127.0.0.1', a);
    const ib = await session('127.0.0.2', b);
    const seen: string[] = [];
    await writeUntilGood(ia, 0, 0x44, seen); // gw-a holds the lock
    ia.close();
    const killedAt = performance.now();
    a.child?.kill('SIGKILL');
    await a.exit;
    const took = await writeUntilGood(ib, 0, 0x55, seen);
    const firstWrite = performance.now() - killedAt;
    t.diagnostic(`kill -9 gw-a -> first write via gw-b after ${firstWrite.toFixed(0)} ms; transitional answers: ${seen.length}`);
    assert.ok(took >= 0);
    const groups = await waitFor(
      'gw-b AO for the LUN',
      async () => {
        const g = parseRtpg((await ib.commandRetryUa(0, CDB.rtpg(1024), 1024)).data);
        return g.find((x) => x.tpgId === 2)?.state === ALUA_STATE.AO ? g : undefined;
      },
      10_000,
      100,
    );
    t.diagnostic(`after the kill gw-b reports ${JSON.stringify(groups)}`);
    assert.notEqual(groups.find((x) => x.tpgId === 1)?.state, ALUA_STATE.AO);
    await a.restart(60_000);
    const ia2 = await session('127.0.0.1', a);
    try {
      const back = await writeUntilGood(ia2, 0, 0x66, seen);
      t.diagnostic(`restarted gw-a: write through it after ${back.toFixed(0)} ms (hand-off from gw-b)`);
      assert.equal(await rtpg(ia2), await rtpg(ib), 'RTPG identical through both gateways after failback');
    } finally {
      ia2.close();
      ib.close();
    }
  });

  hatest('SIGSTOP of the holder with a write queued: the survivor serves, the stale write never lands', async (t) => {
    const lba = 64;
    const ia = await session('127.0.0.1', a);
    const ib = await session('127.0.0.2', b);
    const seen: string[] = [];
    try {
      await writeUntilGood(ia, lba, 0x71, seen); // gw-a holds the lock
      const lapsedBefore = (a.log().match(/HA lease lapsed/g) ?? []).length;
      a.child?.kill('SIGSTOP');
      // The initiator's write reaches the frozen gateway and gets no answer.
      const stale = ia.commandOut(0, rw10(0x2a, lba, 8), Buffer.alloc(4096, 0x72)).catch(() => undefined);
      void stale;
      // ... it gives up on that path (its command timeout) and retries through the survivor.
      ia.close();
      const retryAt = performance.now();
      await writeUntilGood(ib, lba, 0x72, seen);
      const served = performance.now() - retryAt;
      await writeUntilGood(ib, lba, 0x73, seen); // newer data
      t.diagnostic(`gw-a frozen: the retry through gw-b was served after ${served.toFixed(0)} ms`);
      assert.ok(served < 5000 + lease, `survivor served after ${served.toFixed(0)} ms`);
      // Frozen for 30 s in total, as the issue asks, then resumed.
      await waitFor('30 s frozen', async () => (performance.now() - retryAt >= 30_000 ? true : undefined), 40_000, 500);
      a.child?.kill('SIGCONT');
      await waitFor('gw-a noticed its lapsed lease', async () => ((a.log().match(/HA lease lapsed/g) ?? []).length > lapsedBefore ? true : undefined), 20_000, 100);
      await waitFor('gw-a rejoined with a new client', async () => (/rejoined the cluster with a new client/.test(a.log()) ? true : undefined), 30_000, 200);
      // A new session: the old one did not answer the target's NOP-In pings while the test waited.
      const ib2 = await session('127.0.0.2', b);
      const r = await ib2.command(0, rw10(0x28, lba, 8), 4096);
      ib2.close();
      assert.equal(r.status, 0);
      assert.ok(r.data.every((x) => x === 0x73), `the newer data survived (found 0x${r.data[0]?.toString(16)})`);
      // The resumed gateway serves again: a write through it takes the lock back.
      const ia2 = await session('127.0.0.1', a);
      try {
        await writeUntilGood(ia2, lba + 8, 0x74, seen);
        const r2 = await ia2.command(0, rw10(0x28, lba, 8), 4096);
        assert.ok(r2.data.every((x) => x === 0x73), 'gw-a reads the newer data too');
      } finally {
        ia2.close();
      }
    } finally {
      a.child?.kill('SIGCONT');
      ib.close();
    }
  });

  hatest('maintenance through the API (PUT /api/maintenance): the holder hands over and asks for logout, the peer is AO; off serves again', async (t) => {
    const ia = await session('127.0.0.1', a);
    const ib = await session('127.0.0.2', b);
    const seen: string[] = [];
    try {
      await writeUntilGood(ia, 96, 0x71, []); // gw-a holds the lock
      const t0 = performance.now();
      const on = await a.api.must('PUT', '/api/maintenance', { state: 'on' });
      t.after(() => a.api.put('/api/maintenance', { state: 'off' }).then(() => undefined));
      const took = performance.now() - t0;
      const body = on.body as { maintenance: boolean; logoutsRequested: number; locksHeld: number };
      assert.deepEqual([body.maintenance, body.locksHeld], [true, 0], on.text);
      assert.ok(body.logoutsRequested >= 1, 'the session through gw-a was asked to log out');
      const viaB = await writeUntilGood(ib, 96, 0x72, seen);
      const gb = parseRtpg((await ib.commandRetryUa(0, CDB.rtpg(1024), 1024)).data);
      assert.equal(gb.find((x) => x.tpgId === 2)?.state, ALUA_STATE.AO, JSON.stringify(gb));
      assert.notEqual(gb.find((x) => x.tpgId === 1)?.state, ALUA_STATE.AO);
      t.diagnostic(`maintenance on gw-a answered in ${took.toFixed(0)} ms (${body.logoutsRequested} logout request(s)); write via gw-b ${viaB.toFixed(0)} ms; answers before GOOD ${seen.join(',') || 'none'}`);
      // The unit attention ASYMMETRIC ACCESS STATE CHANGED (2/6/2a/6) is the news itself; NOT READY would be a transitional refusal.
      const refusals = seen.filter((x) => !x.startsWith('2/6/'));
      assert.deepEqual(refusals, [], `transitional answers: ${seen.join(',')}`);
      await a.api.must('PUT', '/api/maintenance', { state: 'off' });
      const back = await session('127.0.0.1', a);
      try {
        await writeUntilGood(back, 104, 0x73, seen); // the lock comes back on demand
      } finally {
        back.close();
      }
    } finally {
      ia.close();
      ib.close();
    }
  });

  hatest('SIGTERM of the holder (maintenance): locks handed over, the survivor AO within 1 s, no error', async (t) => {
    const ia = await session('127.0.0.1', a);
    const ib = await session('127.0.0.2', b);
    const seen: string[] = [];
    try {
      await writeUntilGood(ia, 128, 0x81, seen); // gw-a holds the lock
      const t0 = performance.now();
      const stopped = a.stop('SIGTERM', 15_000);
      const groups = await waitFor(
        'gw-b AO after SIGTERM of gw-a',
        async () => {
          const g = parseRtpg((await ib.commandRetryUa(0, CDB.rtpg(1024), 1024)).data);
          return g.find((x) => x.tpgId === 2)?.state === ALUA_STATE.AO ? g : undefined;
        },
        10_000,
        20,
      );
      const aoAfter = performance.now() - t0;
      const took = await writeUntilGood(ib, 128, 0x82, seen);
      const ex = await stopped;
      t.diagnostic(`SIGTERM gw-a: gw-b AO after ${aoAfter.toFixed(0)} ms (${JSON.stringify(groups)}), write via gw-b ${took.toFixed(0)} ms, transitional answers ${seen.length}; gw-a exit ${ex.code} forced=${ex.forced}`);
      if (ex.forced) t.diagnostic(`gw-a did not exit; its last log lines:\n${a.log().trimEnd().split('\n').slice(-15).join('\n')}`);
      assert.equal(ex.forced, false);
      assert.equal(ex.code, 0);
      assert.ok(aoAfter <= 1000, `survivor AO after ${aoAfter.toFixed(0)} ms`);
      assert.match(a.log(), /exclusive lock handed over/);
    } finally {
      ia.close();
      ib.close();
    }
  });
});
