/**
 * The multipath initiator (multipath-initiator.ts) against two gateways of the file default: two
 * daemons sharing one data_dir (gateway.conf and the image files), gw-a on 127.0.0.1 owning the
 * disk (active/optimized), gw-b on 127.0.0.2 (active/non-optimized). Checks the initiator's
 * path choice and the target's ALUA answers in steady state, then failover on kill -9 of the
 * active gateway and failback when it comes back, with every acknowledged write verified
 * through each path.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Daemon, defineGatewayPair, freePortOn, GATEWAY_PAIR, TARGET_IQN, waitFor } from './helpers.js';
import { AckLedger, ALUA_STATE, BlockWriter, MultipathDevice, verifyAcked, type BlockWriterOptions } from './multipath-initiator.js';

const DISK = 'rbd/disk_1';
const INITIATOR = 'iqn.2024-01.io.example:mpath-file';

describe('multipath initiator over two file-backstore gateways', { timeout: 90_000 }, () => {
  let a: Daemon;
  let b: Daemon;
  let dev: MultipathDevice;
  const ledger = new AckLedger();
  const writer = (o: Omit<BlockWriterOptions, 'ledger'>): BlockWriter => new BlockWriter(dev, { ...o, ledger });

  before(async () => {
    const port = await freePortOn(GATEWAY_PAIR.map((g) => g.ip));
    a = await Daemon.start({ gatewayName: 'gw-a', iscsiPort: port });
    b = await Daemon.start({ gatewayName: 'gw-b', dataDir: a.dataDir, iscsiPort: port });
    await defineGatewayPair(a.api, DISK, '64M', [INITIATOR]);
    const cfg = (await a.api.must('GET', '/api/config')).body as { disks: Record<string, { owner?: string }> };
    assert.equal(cfg.disks[DISK]?.owner, 'gw-a', `the first gateway should own the disk: ${JSON.stringify(cfg.disks[DISK])}`);
    // gw-b serves the LUN once it has seen the shared gateway.conf change.
    dev = await waitFor('both paths logged in with the LUN', async () => {
      try {
        return await MultipathDevice.open({
          paths: GATEWAY_PAIR.map((g) => ({ name: g.name, host: g.ip, port })),
          target: TARGET_IQN,
          initiator: INITIATOR,
          minPaths: 2,
        });
      } catch {
        return undefined;
      }
    }, 20_000, 200);
  });

  after(async () => {
    await dev?.close();
    await a?.dispose();
    await b?.dispose();
  });

  test('steady state: the owner\'s path is AO, the other ANO, RTPG alike through both; writes go to gw-a only', async (t) => {
    await dev.waitForPath('gw-a', { alua: ALUA_STATE.AO });
    await dev.waitForPath('gw-b', { alua: ALUA_STATE.ANO });
    const [viaA, viaB] = await Promise.all([dev.rtpg('gw-a'), dev.rtpg('gw-b')]);
    assert.deepEqual(viaA, viaB);
    assert.equal(viaA.length, 2, JSON.stringify(viaA));
    const info = dev.paths();
    assert.notEqual(info[0]?.tpgId, info[1]?.tpgId, `both paths in one port group: ${JSON.stringify(info)}`);
    t.diagnostic(`block size ${dev.blockSize}, capacity ${dev.capacityBlocks} blocks; paths ${info.map((p) => `${p.name}=${p.aluaName}/tpg${p.tpgId}`).join(' ')}`);

    const t0 = performance.now();
    const stats = await writer({ writerId: 1, startLba: 0, regionBlocks: 1024, depth: 4 }).run(400);
    assert.equal(stats.acked, 400, JSON.stringify(stats));
    assert.deepEqual([...dev.timeline.acksByPath(t0, Infinity, 'write')], [['gw-a', 400]]);
    assert.deepEqual(dev.timeline.failures(t0), []);
    const rep = await verifyAcked(dev, ledger);
    assert.ok(rep.ok, rep.describe());
    assert.deepEqual(rep.checked, { 'gw-a': ledger.size, 'gw-b': ledger.size });
    const lat = dev.timeline.maxLatency(t0, Infinity, 'write');
    t.diagnostic(`400 writes of 8 blocks at depth 4 in ${(performance.now() - t0).toFixed(0)} ms, slowest ${lat ? (lat.endedAt - lat.startedAt).toFixed(1) : '?'} ms; verified ${ledger.size} LBAs through both paths`);
  });

  test('kill -9 of gw-a under writes: they continue through gw-b without a failure; failback when it returns', async (t) => {
    const w = writer({ writerId: 2, startLba: 2048, regionBlocks: 2048, depth: 4 }).start();
    await waitFor('writes before the kill', () => (w.stats.acked >= 200 ? true : undefined), 10_000, 10);
    const ackedAtKill = w.stats.acked;
    const tKill = performance.now();
    const ex = await a.stop('SIGKILL');
    assert.equal(ex.signal, 'SIGKILL');
    await waitFor('writes after the kill', () => (w.stats.acked >= ackedAtKill + 300 ? true : undefined), 20_000, 10);
    const stats = await w.stop();
    const tStop = performance.now();

    const first = dev.timeline.firstAckAfter(tKill, 'write', 'gw-b');
    assert.ok(first !== undefined, 'no write acknowledged through gw-b after the kill');
    const down = dev.events.find((e) => e.path === 'gw-a' && e.kind === 'down' && e.at >= tKill);
    assert.ok(down, `gw-a never went down: ${JSON.stringify(dev.events)}`);
    const gap = dev.timeline.maxAckGap(tKill, tStop);
    const lost = dev.records.filter((r) => r.outcome === 'path-lost' || r.outcome === 'timeout');
    t.diagnostic(
      `kill -9 gw-a: path down after ${(down.at - tKill).toFixed(1)} ms (${down.detail}); first write ack via gw-b ${(first - tKill).toFixed(1)} ms after the kill; ` +
        `longest gap without a write ack ${gap.gapMs.toFixed(1)} ms; ${lost.length} attempts lost with gw-a and retried`,
    );
    t.diagnostic(`writer: ${JSON.stringify(stats)}; since the kill: ${dev.timeline.summary(tKill)}`);
    assert.equal(stats.failed, 0, `a write failed: ${stats.lastError}`);
    assert.deepEqual(dev.timeline.failures(tKill), []);
    // Nothing is sent to the dead path once it is down; everything after goes through gw-b.
    assert.equal(dev.timeline.startsByPath(down.at, tStop).get('gw-a'), undefined);
    assert.ok((dev.timeline.acksByPath(down.at, tStop, 'write').get('gw-b') ?? 0) >= 300);
    assert.equal(dev.paths().find((p) => p.name === 'gw-a')?.state, 'down');
    assert.ok(first - tKill < 2_000, `failover took ${(first - tKill).toFixed(0)} ms`);

    const survivor = await verifyAcked(dev, ledger, { paths: ['gw-b'] });
    assert.ok(survivor.ok, survivor.describe());

    const tUp = performance.now();
    await a.restart();
    await dev.waitForPath('gw-a', { alua: ALUA_STATE.AO, timeoutMs: 15_000 });
    const tBack = performance.now();
    assert.equal(dev.activePath(), 'gw-a');
    const after = await writer({ writerId: 3, startLba: 4096, regionBlocks: 512, depth: 2 }).run(100);
    assert.equal(after.acked, 100, JSON.stringify(after));
    assert.deepEqual(Object.fromEntries(dev.timeline.acksByPath(tBack, Infinity, 'write')), { 'gw-a': 100 });
    const both = await verifyAcked(dev, ledger);
    assert.ok(both.ok, both.describe());
    t.diagnostic(`gw-a restarted: path restored (AO) ${(tBack - tUp).toFixed(0)} ms after the restart began; ${ledger.size} acknowledged LBAs verified through both paths`);
  });

  test('SIGSTOP of gw-a under writes: the path fails (I/O timeout or fence), writes go on through gw-b, which fences the frozen gateway; restarted, it returns', async (t) => {
    await dev.waitForPath('gw-a', { alua: ALUA_STATE.AO });
    const pid = a.pid;
    const exit = a.exit;
    assert.ok(pid !== undefined && exit !== null);
    let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void exit.then((x) => (ended = x));
    const w = writer({ writerId: 4, startLba: 6144, regionBlocks: 256, depth: 4 }).start();
    await waitFor('writes before the stop', () => (w.stats.acked >= 100 ? true : undefined), 10_000, 10);
    const acked = w.stats.acked;
    const tStop = performance.now();
    process.kill(pid, 'SIGSTOP');
    let tFenced: number;
    try {
      await waitFor('writes after the stop', () => (w.stats.acked >= acked + 200 ? true : undefined), 20_000, 10);
      // Writes handed to the frozen gateway's thread pool before the stop would land when it
      // resumes; gw-b ends it (same host) once its lease lapsed, and waits for its exit.
      await waitFor('gw-a fenced by gw-b', () => ended, 15_000, 10);
      tFenced = performance.now();
    } finally {
      await w.stop();
      if (ended === undefined) process.kill(pid, 'SIGCONT');
    }
    const first = dev.timeline.firstAckAfter(tStop, 'write', 'gw-b');
    assert.ok(first !== undefined);
    const hung = dev.records.filter((r) => r.path === 'gw-a' && r.endedAt >= tStop && (r.outcome === 'timeout' || r.outcome === 'path-lost'));
    t.diagnostic(`SIGSTOP gw-a: first write ack via gw-b ${(first - tStop).toFixed(0)} ms after the stop (ioTimeoutMs 3000); ${hung.length} attempts on gw-a timed out or were dropped with it and retried on gw-b`);
    assert.deepEqual(dev.timeline.failures(tStop), []);
    // Timed out by the initiator, or dropped with the connection when gw-b ended gw-a.
    assert.ok(hung.length > 0, 'no attempt was in flight on gw-a when it froze');
    assert.ok(first - tStop >= 2_500 && first - tStop < 6_000, `failover after ${(first - tStop).toFixed(0)} ms`);
    assert.equal(ended?.signal, 'SIGKILL', `gw-a ended with ${JSON.stringify(ended)}`);
    // Logged once the fence saw the exit (it polls /proc): may come just after the test saw it.
    await waitFor('the fence in gw-b\'s log', () => (/fenced a peer whose lease lapsed/.test(b.log()) ? true : undefined), 5_000, 20);
    t.diagnostic(`gw-b fenced the frozen gw-a (SIGKILL, exit seen ${(tFenced - tStop).toFixed(0)} ms after the stop)`);

    // None of the writes queued in the frozen gateway landed over the newer data written
    // through gw-b since: every acknowledged write reads back through gw-b, then, once gw-a is
    // restarted (as its service manager would), through both paths.
    const survivor = await verifyAcked(dev, ledger, { paths: ['gw-b'] });
    assert.ok(survivor.ok, survivor.describe());
    const tUp = performance.now();
    await a.restart();
    await dev.waitForPath('gw-a', { alua: ALUA_STATE.AO, timeoutMs: 15_000 });
    t.diagnostic(`gw-a restarted: path restored (AO) ${(performance.now() - tUp).toFixed(0)} ms after the restart began`);
    const rep = await verifyAcked(dev, ledger);
    assert.ok(rep.ok, rep.describe());
    t.diagnostic(`every acknowledged write reads back through both paths (${ledger.size} LBAs); ${hung.length} writes queued in the stopped gateway did not land`);
  });
});
