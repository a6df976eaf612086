/**
 * Drop-in for an existing ceph-iscsi deployment: the daemon starts on a gateway.conf written by
 * upstream ceph-iscsi 3.x (version 10 and version 11 shapes, with upstream's quirks such as a
 * non-object entry in `gateways`), serves its target, clients and CHAP as configured there, and
 * writes back a version 11 document. The image exists beforehand, as an RBD image would.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Daemon, removeDir, requireTools, run, tempDir } from './helpers.js';

const IQN = 'iqn.2003-01.com.redhat.iscsi-gw:ceph-igw';
const CLIENT = 'iqn.1994-05.com.redhat:client1';
const USER = 'upstreamuser1';
const PASS = 'upstreampassw0';
const GW = 'gw1.example.com';
const T = '2024/01/02 10:00:00';

const auth = (username = '', password = '') => ({
  username,
  password,
  password_encryption_enabled: false,
  mutual_username: '',
  mutual_password: '',
  mutual_password_encryption_enabled: false,
});

/** gateway.conf as ceph-iscsi 3.x writes it (anchors §1.3), for `version` 10 or 11. */
function upstreamDoc(version: 10 | 11): Record<string, unknown> {
  return {
    version,
    epoch: 137,
    created: T,
    updated: T,
    discovery_auth: auth(),
    gateways: { [GW]: { active_luns: 1, created: T, updated: T }, created: T }, // upstream leaves a string here
    disks: {
      'rbd/disk_1': {
        pool: 'rbd',
        image: 'disk_1',
        pool_id: 2,
        wwn: '64af6678-9694-4367-bacc-f8eb0baa0c1e',
        backstore: 'user:rbd',
        backstore_object_name: 'rbd.disk_1',
        allocating_host: GW,
        owner: GW,
        controls: { max_data_area_mb: 128 },
        created: T,
        updated: T,
      },
    },
    targets: {
      [IQN]: {
        acl_enabled: true,
        ...(version === 11 ? { auth: auth() } : {}),
        controls: {},
        ip_list: ['127.0.0.1'],
        portals: { [GW]: { portal_ip_addresses: ['127.0.0.1'], gateway_ip_list: ['127.0.0.1'], inactive_portal_ips: [], tpgs: 1 } },
        disks: version === 11 ? { 'rbd/disk_1': { lun_id: 0 } } : ['rbd/disk_1'],
        clients: { [CLIENT]: { auth: auth(USER, PASS), group_name: '', luns: { 'rbd/disk_1': { lun_id: 0 } } } },
        groups: {},
        created: T,
        updated: T,
      },
    },
  };
}

describe('gateway.conf written by upstream ceph-iscsi', { timeout: 2 * 60_000 }, () => {
  for (const version of [11, 10] as const) {
    test(`version ${version}: served as configured, kept as version 11`, async () => {
      requireTools('iscsi-ls', 'iscsi-inq');
      const dataDir = await tempDir('igw-upstream-');
      let d: Daemon | undefined;
      try {
        await mkdir(join(dataDir, 'rbd'), { recursive: true });
        await writeFile(join(dataDir, 'rbd', 'disk_1'), '');
        await truncate(join(dataDir, 'rbd', 'disk_1'), 64 * 1024 * 1024);
        await writeFile(join(dataDir, 'gateway.conf'), JSON.stringify(upstreamDoc(version), null, 4));
        d = await Daemon.start({ dataDir, gatewayName: GW });
        const lsUrl = `iscsi://${USER}%${PASS}@${d.portal()}`;
        const ls = await run('iscsi-ls', ['-s', '-i', CLIENT, lsUrl], { timeoutMs: 20_000 });
        assert.equal(ls.code, 0, `${ls.output}\n${d.logTail()}`);
        assert.match(ls.stdout, new RegExp(`Target:${IQN.replace(/\./g, '\\.')} Portal:127\\.0\\.0\\.1:${d.iscsiPort},1`));
        assert.match(ls.stdout, /Lun:0\s+Type:DIRECT_ACCESS \(Size:6[34]M\)/);
        const serial = await run('iscsi-inq', ['-i', CLIENT, '-e', '1', '-c', '128', d.url(IQN, 0, USER, PASS)], { timeoutMs: 20_000 });
        assert.equal(serial.code, 0, serial.output);
        assert.match(serial.stdout, /Unit Serial Number:\[\s*64af6678-9694-4367-bacc-f8eb0baa0c1e\]/);
        const wrong = await run('iscsi-inq', ['-i', CLIENT, d.url(IQN, 0, USER, 'notthepassw0rd')], { timeoutMs: 20_000 });
        assert.match(wrong.output, /Authentication failure/);
        const cfg = (await d.api.must('GET', '/api/config')).body as { version: number; epoch: number; targets: Record<string, { disks: Record<string, { lun_id: number }> }>; disks: Record<string, { controls: Record<string, unknown> }> };
        assert.equal(cfg.version, 11);
        assert.deepEqual(cfg.targets[IQN]?.disks, { 'rbd/disk_1': { lun_id: 0 } });
        assert.deepEqual(cfg.disks['rbd/disk_1']?.controls, { max_data_area_mb: 128 }, 'upstream disk controls lost');
        assert.ok(cfg.epoch >= 137, `epoch went backwards: ${cfg.epoch}`);
        // A change through our API leaves a document upstream can read (version 11, epoch bumped).
        await d.api.must('PUT', `/api/client/${IQN}/iqn.1994-05.com.redhat:client2`, {});
        const onDisk = JSON.parse(await readFile(join(dataDir, 'gateway.conf'), 'utf8')) as { version: number; epoch: number; targets: Record<string, { clients: Record<string, unknown> }> };
        assert.equal(onDisk.version, 11);
        assert.ok(onDisk.epoch > 137);
        assert.ok(onDisk.targets[IQN]?.clients['iqn.1994-05.com.redhat:client2']);
        assert.ok(onDisk.targets[IQN]?.clients[CLIENT], 'upstream client lost on write');
      } finally {
        await d?.dispose();
        await removeDir(dataDir);
      }
    });
  }
});
