/**
 * Two gateway processes on one real Ceph cluster, nothing shared but the cluster: their own
 * data dirs, config_store = rados (the gateway.conf object), backstore = rbd. A change made
 * through gateway A's API reaches gateway B through RADOS watch/notify within one second,
 * without a restart (B then serves the new LUN); data written through A's portal reads back
 * through B's. And `config://` values of iscsi-gateway.cfg come from the mon config-key store.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { CephCluster } from './ceph-helpers.js';
import { Daemon, freePortOn, QEMU_INITIATOR, RestClient, requireTools, run, TARGET_IQN, waitFor, type RunResult } from './helpers.js';

function ok(r: RunResult, what: string): void {
  assert.equal(r.timedOut, false, `${what}: timed out\n${r.output}`);
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.output}`);
}

describe('two gateways sharing one cluster (gateway.conf object, RBD images)', { timeout: 6 * 60_000 }, () => {
  let ceph: CephCluster;
  let a: Daemon;
  let b: Daemon;
  const portalB = (): string => `127.0.0.2:${b.iscsiPort}`;
  const qemuIo = (portal: string, lun: number, cmds: string[]): Promise<RunResult> =>
    run(
      'qemu-io',
      ['--image-opts', `driver=iscsi,transport=tcp,portal=${portal},target=${TARGET_IQN},lun=${lun},initiator-name=${QEMU_INITIATOR}`, ...cmds.flatMap((c) => ['-c', c])],
      { timeoutMs: 60_000 },
    );
  const lunsOn = async (portal: string): Promise<string> => {
    const r = await run('iscsi-ls', ['-s', '-i', QEMU_INITIATOR, `iscsi://${portal}`], { timeoutMs: 20_000 });
    return r.code === 0 ? r.stdout : '';
  };

  before(async () => {
    requireTools('iscsi-ls', 'qemu-io');
    ceph = await CephCluster.start({ mgr: false });
    const port = await freePortOn(['127.0.0.1', '127.0.0.2']);
    const extra = ceph.settings({ config_store: 'rados' });
    a = await Daemon.start({ gatewayName: 'gw-a', iscsiPort: port, extra, readyTimeoutMs: 60_000 });
    b = await Daemon.start({ gatewayName: 'gw-b', iscsiPort: port, extra, readyTimeoutMs: 60_000 });
  });

  after(async () => {
    await a?.dispose();
    await b?.dispose();
    await ceph?.stop();
  });

  test('configured through A, B serves the LUN; data written via A reads back via B', async () => {
    await a.api.must('PUT', `/api/target/${TARGET_IQN}`, {});
    await a.api.must('PUT', `/api/gateway/${TARGET_IQN}/gw-a`, { ip_address: '127.0.0.1', skipchecks: 'true' });
    await a.api.must('PUT', `/api/gateway/${TARGET_IQN}/gw-b`, { ip_address: '127.0.0.2', skipchecks: 'true' });
    await a.api.must('PUT', '/api/disk/rbd/disk_1', { mode: 'create', size: '256M', create_image: 'true' });
    await a.api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk: 'rbd/disk_1' });
    await a.api.must('PUT', `/api/client/${TARGET_IQN}/${QEMU_INITIATOR}`, {});
    await a.api.must('PUT', `/api/clientlun/${TARGET_IQN}/${QEMU_INITIATOR}`, { disk: 'rbd/disk_1' });
    await waitFor('LUN 0 on gateway B', async () => (/Lun:0\s+Type:DIRECT_ACCESS/.test(await lunsOn(portalB())) ? true : undefined), 20_000, 100);
    ok(await qemuIo(a.portal(), 0, ['write -P 0x3c 0 1M', 'write -P 0xc3 100M 64k']), 'qemu-io write via A');
    ok(await qemuIo(portalB(), 0, ['read -P 0x3c 0 1M', 'read -P 0xc3 100M 64k']), 'qemu-io read via B');
  });

  test('a change through A reaches B within one second (watch/notify), no restart', async (t) => {
    const pidB = b.pid;
    await a.api.must('PUT', '/api/disk/rbd/disk_2', { mode: 'create', size: '64M', create_image: 'true' });
    await a.api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk: 'rbd/disk_2' });
    const t0 = Date.now();
    await a.api.must('PUT', `/api/clientlun/${TARGET_IQN}/${QEMU_INITIATOR}`, { disk: 'rbd/disk_2' });
    const committed = Date.now();
    // B serves LUN 1 once its config watch has fired and it has reconciled.
    await waitFor('LUN 1 on gateway B', async () => (/Lun:1\s+Type:DIRECT_ACCESS/.test(await lunsOn(portalB())) ? true : undefined), 10_000, 20);
    const seen = Date.now();
    t.diagnostic(`A's API answered in ${committed - t0} ms; B served the new LUN ${seen - committed} ms later`);
    assert.ok(seen - committed <= 1000, `B took ${seen - committed} ms to apply A's change (want <= 1000 ms)`);
    assert.equal(b.pid, pidB, 'gateway B was restarted');
    // B's own view of the document moved to the same epoch
    const ea = ((await a.api.must('GET', '/api/config')).body as { epoch: number }).epoch;
    const eb = ((await b.api.must('GET', '/api/config')).body as { epoch: number }).epoch;
    assert.equal(eb, ea);
  });

  test('upstream protocol: an update waits for a foreign holder of lock "lock"/cookie "config"; an upstream-style commit (no notify) is polled by B', async () => {
    const epochXattr = async (): Promise<number> => Number((await ceph.must('rados', ['-p', 'rbd', 'getxattr', 'gateway.conf', 'epoch'])).trim());
    const e0 = await epochXattr();
    // What rbd-target-api does (common.py Config.lock): lock_exclusive(gateway.conf, 'lock', 'config'), here for 3 s.
    await ceph.must('rados', ['-p', 'rbd', 'lock', 'get', 'gateway.conf', 'lock', '--lock-cookie', 'config', '--lock-type', 'exclusive', '--lock-duration', '3']);
    const put = a.api.put('/api/disk/rbd/disk_3', { mode: 'create', size: '32M', create_image: 'true' });
    const lockers = async (): Promise<{ name: string; cookie: string }[]> =>
      (JSON.parse(await ceph.must('rados', ['-p', 'rbd', 'lock', 'info', 'gateway.conf', 'lock'])) as { lockers: { name: string; cookie: string }[] }).lockers;
    const cli = (await lockers())[0]?.name;
    assert.ok(cli !== undefined, 'the CLI did not get the lock');
    let heldChecks = 0;
    for (;;) {
      // While the CLI client (not gateway A) holds it, A must not write. Epoch first: if the CLI
      // still holds the lock after that read, it held it during the read.
      const epoch = await epochXattr();
      if (!(await lockers()).some((l) => l.name === cli && l.cookie === 'config')) break;
      assert.equal(epoch, e0, 'the document was written while another client held the lock');
      heldChecks++;
    }
    assert.ok(heldChecks > 0, 'the foreign lock was never observed');
    const r = await put;
    assert.equal(r.status, 200, r.text);
    assert.equal(await epochXattr(), e0 + 1);
    // An upstream gateway's commit: write_full + epoch xattr, no notify. B's epoch poll picks it up.
    // B's epoch poll picks it up and applies it: the client loses LUN 1 on B.
    const doc = JSON.parse(await ceph.must('rados', ['-p', 'rbd', 'get', 'gateway.conf', '-'])) as {
      epoch: number;
      targets: Record<string, { clients: Record<string, { luns: Record<string, unknown> }> }>;
    };
    const luns = doc.targets[TARGET_IQN]?.clients[QEMU_INITIATOR]?.luns;
    assert.ok(luns && 'rbd/disk_2' in luns, 'rbd/disk_2 is not mapped to the client');
    delete luns['rbd/disk_2'];
    doc.epoch += 1;
    const tmp = `${a.dir}/upstream.json`;
    await writeFile(tmp, JSON.stringify(doc, null, 4));
    await ceph.must('rados', ['-p', 'rbd', 'put', 'gateway.conf', tmp]);
    await ceph.must('rados', ['-p', 'rbd', 'setxattr', 'gateway.conf', 'epoch', String(doc.epoch)]);
    await waitFor('B to drop LUN 1 after the upstream commit', async () => {
      const ls = await lunsOn(portalB());
      return /Lun:0\s+Type:DIRECT_ACCESS/.test(ls) && !/Lun:1\s/.test(ls) ? true : undefined;
    }, 10_000, 100);
  });

  test('config:// values are read from the mon config-key store (and never logged)', async () => {
    const secret = 'Kv-store-passw0rd-91';
    await ceph.must('ceph', ['config-key', 'set', 'iscsi/test/api_password', secret]);
    const c = await Daemon.start({
      gatewayName: 'gw-c',
      extra: { ...ceph.settings(), api_password: 'config://iscsi/test/api_password' },
      apiPassword: secret,
      readyTimeoutMs: 60_000,
    });
    try {
      const good = new RestClient('127.0.0.1', c.apiPort, 'admin', secret);
      assert.equal((await good.get('/api/config')).status, 200, 'the password from the config-key store is not the API password');
      const literal = new RestClient('127.0.0.1', c.apiPort, 'admin', 'config://iscsi/test/api_password');
      assert.equal((await literal.get('/api/config')).status, 401);
      assert.ok(!c.log().includes(secret), 'the config-key secret appeared in the daemon log');
    } finally {
      await c.dispose();
    }
    // a missing key is a clear start-up error
    await assert.rejects(
      Daemon.start({ gatewayName: 'gw-d', extra: { ...ceph.settings(), api_password: 'config://iscsi/test/nope' }, readyTimeoutMs: 20_000 }),
      /config-key "iscsi\/test\/nope" not found/,
    );
  });
});
