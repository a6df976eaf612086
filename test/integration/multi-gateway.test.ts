/**
 * Two gateways of one target, as ceph-iscsi deploys them: two daemons sharing one configuration
 * store and one image directory (the file backstore's stand-in for a Ceph pool), portals on two
 * loopback addresses (127.0.0.1 and 127.0.0.2). A change made through one gateway's API is served
 * by the other; data written through one portal reads back through the other; when one gateway is
 * killed, the other keeps serving (the multipath failover the product exists for).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rw10, writeUntilGood } from './ha-helpers.js';
import { ALUA_STATE, CDB, MiniInitiator, parseReadKeys, parseRtpg, proutParams, type TpgDescriptor, vpd83Designators } from './mini-initiator.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIENT_IQN, countResults, Daemon, freePortOn, requireTools, ROOT, runConformance, TEST_CU_INITIATORS, run, TARGET_IQN, waitFor, type RunResult } from './helpers.js';

const DISK = 'rbd/disk_1';

function ok(r: RunResult, what: string): void {
  assert.equal(r.timedOut, false, `${what}: timed out\n${r.output}`);
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.output}`);
}

describe('two gateways, one target: shared config, cross-portal data, failover', { timeout: 4 * 60_000 }, () => {
  let a: Daemon;
  let b: Daemon;
  const portalB = (): string => `127.0.0.2:${b.iscsiPort}`;
  const qemuOpts = (portal: string): string =>
    ['driver=iscsi', 'transport=tcp', `portal=${portal}`, `target=${TARGET_IQN}`, 'lun=0', `initiator-name=${CLIENT_IQN}`].join(',');
  const qemuIo = (portal: string, cmds: string[]): Promise<RunResult> =>
    run('qemu-io', ['--image-opts', qemuOpts(portal), ...cmds.flatMap((c) => ['-c', c])], { timeoutMs: 60_000 });

  before(async () => {
    requireTools('iscsi-ls', 'qemu-io');
    // One iSCSI port for both, each daemon on its own address (3260 on every host in production:
    // gateway.conf has no per-gateway port, so SendTargets advertises every portal with it).
    const port = await freePortOn(['127.0.0.1', '127.0.0.2']);
    a = await Daemon.start({ gatewayName: 'gw-a', iscsiPort: port });
    b = await Daemon.start({ gatewayName: 'gw-b', dataDir: a.dataDir, iscsiPort: port });
  });

  after(async () => {
    await a?.dispose();
    await b?.dispose();
  });

  test('configure through gateway A; both gateways are portals of the target', async () => {
    await a.api.must('PUT', `/api/target/${TARGET_IQN}`, {});
    await a.api.must('PUT', `/api/gateway/${TARGET_IQN}/gw-a`, { ip_address: '127.0.0.1', skipchecks: 'true' });
    await a.api.must('PUT', `/api/gateway/${TARGET_IQN}/gw-b`, { ip_address: '127.0.0.2', skipchecks: 'true' });
    await a.api.must('PUT', `/api/disk/${DISK}`, { mode: 'create', size: '256M', create_image: 'true' });
    await a.api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk: DISK });
    await a.api.must('PUT', `/api/client/${TARGET_IQN}/${CLIENT_IQN}`, {});
    await a.api.must('PUT', `/api/clientlun/${TARGET_IQN}/${CLIENT_IQN}`, { disk: DISK });
    for (const initiator of TEST_CU_INITIATORS) {
      await a.api.must('PUT', `/api/client/${TARGET_IQN}/${initiator}`, {});
      await a.api.must('PUT', `/api/clientlun/${TARGET_IQN}/${initiator}`, { disk: DISK });
    }
    // Gateway B sees the same document (shared store) ...
    const cfgB = (await b.api.must('GET', '/api/config')).body as { targets: Record<string, { portals: Record<string, unknown> }> };
    assert.deepEqual(Object.keys(cfgB.targets[TARGET_IQN]?.portals ?? {}).sort(), ['gw-a', 'gw-b']);
  });

  test('an initiator sees the LUN through both portals', async () => {
    for (const portal of [a.portal(), portalB()]) {
      let last: RunResult | undefined;
      const r = await waitFor(`LUN 0 on ${portal}`, async () => {
        const ls = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${portal}`], { timeoutMs: 20_000 });
        last = ls;
        return ls.code === 0 && /Lun:0\s+Type:DIRECT_ACCESS/.test(ls.stdout) ? ls : undefined;
      }, 15_000, 250).catch((e: unknown) => {
        throw new Error(`${String(e)}\nlast iscsi-ls output:\n${last?.output ?? ''}`);
      });
      // SendTargets lists both portals of the target (each with its TPG tag).
      assert.match(r.stdout, new RegExp(`Portal:${portal.replace(/\./g, '\\.')},\\d+`));
    }
  });

  test('ALUA: the owner gateway\'s port group is active/optimized, the other active/non-optimized', async (t) => {
    // Which gateway owns the LUN (ceph-iscsi: the portal with the fewest active LUNs, here gw-a).
    const cfg = (await a.api.must('GET', '/api/config')).body as { disks: Record<string, { owner?: string }> };
    const owner = cfg.disks[DISK]?.owner;
    assert.ok(owner === 'gw-a' || owner === 'gw-b', `no owner for ${DISK}: ${JSON.stringify(cfg.disks[DISK])}`);
    const seen = new Map<string, { relPort: number; groups: TpgDescriptor[] }>();
    for (const [name, host, port] of [['gw-a', '127.0.0.1', a.iscsiPort], ['gw-b', '127.0.0.2', b.iscsiPort]] as const) {
      const ini = await MiniInitiator.connect(host, port);
      try {
        await ini.login(CLIENT_IQN, TARGET_IQN);
        // SPC-4 "Device Identification VPD page": relative target port (type 4) of the port we came in on.
        const vpd = await ini.commandRetryUa(0, CDB.inquiryVpd(0x83, 1024), 1024);
        assert.equal(vpd.status, 0, `INQUIRY VPD 0x83 via ${name}: status ${vpd.status}`);
        const rel = vpd83Designators(vpd.data).get(4);
        assert.ok(rel && rel.length === 4, `no relative target port designator via ${name}`);
        const rtpg = await ini.commandRetryUa(0, CDB.rtpg(1024), 1024);
        assert.equal(rtpg.status, 0, `REPORT TARGET PORT GROUPS via ${name}: status ${rtpg.status}`);
        seen.set(name, { relPort: rel.readUInt16BE(2), groups: parseRtpg(rtpg.data) });
      } finally {
        ini.close();
      }
    }
    const ga = seen.get('gw-a');
    const gb = seen.get('gw-b');
    assert.ok(ga && gb);
    t.diagnostic(`owner ${owner}; relative ports gw-a ${ga.relPort}, gw-b ${gb.relPort}; groups ${JSON.stringify(ga.groups)}`);
    assert.notEqual(ga.relPort, gb.relPort, 'both gateways report the same relative target port');
    // Both gateways describe the same port groups.
    assert.deepEqual(ga.groups, gb.groups);
    const groupOf = (rel: number): TpgDescriptor | undefined => ga.groups.find((g) => g.relativePorts.includes(rel));
    const ownerRel = owner === 'gw-a' ? ga.relPort : gb.relPort;
    const otherRel = owner === 'gw-a' ? gb.relPort : ga.relPort;
    assert.equal(groupOf(ownerRel)?.state, ALUA_STATE.AO, `owner ${owner}'s group: ${JSON.stringify(ga.groups)}`);
    assert.equal(groupOf(otherRel)?.state, ALUA_STATE.ANO, `non-owner's group: ${JSON.stringify(ga.groups)}`);
  });

  test('persistent reservations are one state across gateways: a key registered via A is seen via B', async () => {
    // Cluster-wide PR state (tcmu-runner keeps it in the RBD image): Windows failover clustering and
    // VMware rely on it when their paths go through different gateways.
    const key = 0x1122334455667788n;
    const viaA = await MiniInitiator.connect('127.0.0.1', a.iscsiPort);
    const viaB = await MiniInitiator.connect('127.0.0.2', b.iscsiPort);
    try {
      await viaA.login(CLIENT_IQN, TARGET_IQN);
      await viaB.login(CLIENT_IQN, TARGET_IQN);
      await viaA.commandRetryUa(0, CDB.testUnitReady(), 0);
      const reg = await viaA.commandOut(0, CDB.proutRegister(), proutParams(0n, key));
      assert.equal(reg.status, 0, `PR OUT REGISTER via A: status ${reg.status} sense ${reg.sense.toString('hex')}`);
      const keys = await waitFor('the key to be visible via B', async () => {
        const r = await viaB.commandRetryUa(0, CDB.prinReadKeys(1024), 1024);
        if (r.status !== 0) throw new Error(`PR IN READ KEYS via B: status ${r.status}`);
        const k = parseReadKeys(r.data);
        return k.includes(key) ? k : undefined;
      }, 5_000, 100);
      assert.ok(keys.includes(key));
      // Clean up: unregister (REGISTER with service action key 0).
      const unreg = await viaA.commandRetryUa(0, CDB.testUnitReady(), 0).then(() => viaA.commandOut(0, CDB.proutRegister(), proutParams(key, 0n)));
      assert.equal(unreg.status, 0);
    } finally {
      viaA.close();
      viaB.close();
    }
  });

  test('iscsi-test-cu MultipathIO with one path through each gateway (same LU identity, resets, CAW across paths)', { timeout: 120_000 }, async (t) => {
    requireTools('iscsi-test-cu');
    const urlA = `iscsi://${a.portal()}/${TARGET_IQN}/0`;
    const urlB = `iscsi://${portalB()}/${TARGET_IQN}/0`;
    const res = await runConformance(urlA, join(ROOT, 'dist', 'conformance', 'multipath-2gw'), ['-T', '60', '-s', 'MultipathIO,Read10,Write10'], urlB);
    t.diagnostic(`two-gateway multipath: ${res.summary}`);
    assert.match(res.run.stdout + readFileSync(join(ROOT, 'dist', 'conformance', 'multipath-2gw.txt'), 'utf8'), /found matching LU device identifier for all \(2\) paths/);
    // SAM-5 "logical unit reset": a unit attention for every I_T nexus of the LU, those through the
    // other gateway included (MultipathIO.Reset; upstream's one-LIO-per-gateway lacks it): every test passes.
    const bad = res.rows.filter((r) => r.result === 'FAILED' || r.result === 'ERROR').map((r) => `${r.suite}.${r.test} [${r.result}] ${r.reason}`);
    const reset = res.rows.find((r) => r.suite === 'MultipathIO' && r.test === 'Reset');
    assert.equal(reset?.result, 'PASSED', `MultipathIO.Reset across gateways: ${reset?.result ?? 'not run'}`);
    assert.deepEqual(bad, []);
    assert.ok(countResults(res.rows).PASSED >= 10, res.summary);
  });

  test('data written through A reads back through B, and the other way round', async () => {
    ok(await qemuIo(a.portal(), ['write -P 0xa1 0 1M']), 'write via A');
    ok(await qemuIo(portalB(), ['read -P 0xa1 0 1M', 'write -P 0xb2 1M 1M']), 'read/write via B');
    ok(await qemuIo(a.portal(), ['read -P 0xb2 1M 1M']), 'read via A');
  });

  test('gateway A frozen (SIGSTOP) with a write queued: B serves, then fences A (same host: ends it); the stale write never lands', async (t) => {
    const lba = 8192;
    const seen: string[] = [];
    const exit = a.exit;
    assert.ok(exit !== null);
    let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void exit.then((x) => (ended = x));
    const ia = await MiniInitiator.connect('127.0.0.1', a.iscsiPort);
    await ia.login(CLIENT_IQN, TARGET_IQN);
    await ia.commandRetryUa(0, CDB.testUnitReady(), 0);
    const ib = await MiniInitiator.connect('127.0.0.2', b.iscsiPort);
    await ib.login(CLIENT_IQN, TARGET_IQN);
    await ib.commandRetryUa(0, CDB.testUnitReady(), 0);
    try {
      await writeUntilGood(ia, lba, 0x51, seen);
      const tStop = performance.now();
      a.child?.kill('SIGSTOP');
      void ia.commandOut(0, rw10(0x2a, lba, 8), Buffer.alloc(4096, 0x52)).catch(() => undefined); // queued in the frozen gateway
      ia.close(); // the initiator gives up on that path ...
      const retryAt = performance.now();
      await writeUntilGood(ib, lba, 0x52, seen); // ... retries through B
      t.diagnostic(`A frozen: the retry through B was served after ${(performance.now() - retryAt).toFixed(0)} ms`);
      await writeUntilGood(ib, lba, 0x53, seen); // newer data
      // B sees A's lease lapse while A's process still exists on this host: it kills A and
      // waits for its exit, so nothing A had received or queued can land later.
      await waitFor('A fenced by B', () => ended, 15_000, 10);
      t.diagnostic(`B fenced A ${(performance.now() - tStop).toFixed(0)} ms after the stop: ${JSON.stringify(ended)}`);
      assert.equal(ended?.signal, 'SIGKILL');
      // Logged once the fence saw the exit (it polls /proc): may come just after the test saw it.
      await waitFor('the fence in gw-b\'s log', () => (/fenced a peer whose lease lapsed/.test(b.log()) ? true : undefined), 5_000, 20);
      const ib2 = await MiniInitiator.connect('127.0.0.2', b.iscsiPort);
      await ib2.login(CLIENT_IQN, TARGET_IQN);
      const r = await ib2.commandRetryUa(0, rw10(0x28, lba, 8), 4096);
      ib2.close();
      assert.equal(r.status, 0);
      assert.ok(r.data.every((x) => x === 0x53), `the newer write survived (found 0x${r.data[0]?.toString(16)})`);
    } finally {
      if (ended === undefined) a.child?.kill('SIGCONT');
      ib.close();
    }
  });

  test('gateway A killed: gateway B keeps serving reads and writes', async (t) => {
    const ex = await a.stop('SIGKILL');
    assert.equal(ex.signal, 'SIGKILL');
    const r = await qemuIo(portalB(), ['read -P 0xa1 0 1M', 'write -P 0xc3 2M 1M', 'read -P 0xc3 2M 1M']);
    ok(r, 'I/O via B after A died');
    const ping = await b.api.get('/api/_ping');
    assert.equal(ping.status, 200);
    // What B reports about the port groups now (informational: ownership moves are the HA design's call).
    const ini = await MiniInitiator.connect('127.0.0.2', b.iscsiPort);
    try {
      await ini.login(CLIENT_IQN, TARGET_IQN);
      const rtpg = await ini.commandRetryUa(0, CDB.rtpg(1024), 1024);
      assert.equal(rtpg.status, 0);
      const groups = parseRtpg(rtpg.data);
      t.diagnostic(`right after gw-a died, gw-b reports ${JSON.stringify(groups)}`);
      // B's own group must stay usable (AO or ANO), never standby/unavailable/offline.
      assert.ok(groups.some((g) => g.state === ALUA_STATE.AO || g.state === ALUA_STATE.ANO));
      // Once A's lease expired, B is AO and A's group unavailable.
      const after = await waitFor(
        'gw-b AO',
        async () => {
          const g = parseRtpg((await ini.commandRetryUa(0, CDB.rtpg(1024), 1024)).data);
          return g.find((x) => x.tpgId === 2)?.state === ALUA_STATE.AO ? g : undefined;
        },
        10_000,
        100,
      );
      t.diagnostic(`after gw-a's lease expired, gw-b reports ${JSON.stringify(after)}`);
      assert.equal(after.find((x) => x.tpgId === 1)?.state, ALUA_STATE.UNAVAILABLE);
    } finally {
      ini.close();
    }
  });

  test('the dead gateway is removed through the survivor (force): ownership, portals and ALUA follow', async () => {
    const del = await b.api.del(`/api/gateway/${TARGET_IQN}/gw-a`, { force: 'true' });
    assert.equal(del.status, 200, del.text);
    const cfg = (await b.api.must('GET', '/api/config')).body as {
      disks: Record<string, { owner?: string }>;
      targets: Record<string, { portals: Record<string, unknown>; ip_list: string[] }>;
    };
    assert.equal(cfg.disks[DISK]?.owner, 'gw-b', 'the LUN owner did not move to the surviving gateway');
    assert.deepEqual(Object.keys(cfg.targets[TARGET_IQN]?.portals ?? {}), ['gw-b']);
    assert.deepEqual(cfg.targets[TARGET_IQN]?.ip_list, ['127.0.0.2']);
    const ls = await run('iscsi-ls', ['-i', CLIENT_IQN, `iscsi://${portalB()}`], { timeoutMs: 20_000 });
    assert.equal(ls.code, 0, ls.output);
    assert.doesNotMatch(ls.stdout, /127\.0\.0\.1/, `SendTargets still advertises the removed portal:\n${ls.stdout}`);
    const ini = await MiniInitiator.connect('127.0.0.2', b.iscsiPort);
    try {
      await ini.login(CLIENT_IQN, TARGET_IQN);
      const rtpg = await ini.commandRetryUa(0, CDB.rtpg(1024), 1024);
      assert.equal(rtpg.status, 0);
      const groups = parseRtpg(rtpg.data);
      assert.equal(groups.length, 1, JSON.stringify(groups));
      assert.equal(groups[0]?.state, ALUA_STATE.AO, JSON.stringify(groups));
    } finally {
      ini.close();
    }
    ok(await qemuIo(portalB(), ['read -P 0xc3 2M 1M']), 'I/O via B after the removal');
  });
});
