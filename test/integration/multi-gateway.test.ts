/**
 * Two gateways of one target, as ceph-iscsi deploys them: two daemons sharing one configuration
 * store and one image directory (the file backstore's stand-in for a Ceph pool), portals on two
 * loopback addresses (127.0.0.1 and 127.0.0.2). A change made through one gateway's API is served
 * by the other; data written through one portal reads back through the other; when one gateway is
 * killed, the other keeps serving (the multipath failover the product exists for).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_IQN, Daemon, freePortOn, requireTools, run, TARGET_IQN, waitFor, type RunResult } from './helpers.js';

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

  test('data written through A reads back through B, and the other way round', async () => {
    ok(await qemuIo(a.portal(), ['write -P 0xa1 0 1M']), 'write via A');
    ok(await qemuIo(portalB(), ['read -P 0xa1 0 1M', 'write -P 0xb2 1M 1M']), 'read/write via B');
    ok(await qemuIo(a.portal(), ['read -P 0xb2 1M 1M']), 'read via A');
  });

  test('gateway A killed: gateway B keeps serving reads and writes', async () => {
    const ex = await a.stop('SIGKILL');
    assert.equal(ex.signal, 'SIGKILL');
    const r = await qemuIo(portalB(), ['read -P 0xa1 0 1M', 'write -P 0xc3 2M 1M', 'read -P 0xc3 2M 1M']);
    ok(r, 'I/O via B after A died');
    const ping = await b.api.get('/api/_ping');
    assert.equal(ping.status, 200);
  });
});
