import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTree, sortedJson } from '../../../src/cli/nodes/root.js';
import { formatInfo, humanSize, promptPath, renderTree, resolvePath, treeJson } from '../../../src/cli/tree.js';
import { C, C2, T, fixtureState } from './fixture.js';

const GOLDEN_80 = `o- / ..................................................................... [...]
  o- cluster ..................................................... [Clusters: 1]
  | o- ceph ........................................................ [HEALTH_OK]
  |   o- pools ...................................................... [Pools: 2]
  |   | o- ec ........................... [(2+1), Commit: 0b/40G (0%), Used: 0b]
  |   | o- rbd .......................... [(x3), Commit: 8G/20G (40%), Used: 5K]
  |   o- topology ............................................ [OSDs: 3,MONs: 3]
  o- disks ...................................................... [3G, Disks: 2]
  | o- rbd .......................................................... [rbd (3G)]
  |   o- disk_1 ...................................... [rbd/disk_1 (Online, 1G)]
  |   o- disk_2 ...................................... [rbd/disk_2 (Online, 2G)]
  o- iscsi-targets ........................... [DiscoveryAuth: None, Targets: 1]
    o- iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw ..... [Auth: None, Gateways: 2]
      o- disks ...................................................... [Disks: 2]
      | o- rbd/disk_1 ..................................... [Owner: gw1, Lun: 0]
      | o- rbd/disk_2 ..................................... [Owner: gw2, Lun: 1]
      o- gateways ........................................ [Up: 2/2, Portals: 2]
      | o- gw1 ........................................... [192.168.122.69 (UP)]
      | o- gw2 .......................................... [192.168.122.104 (UP)]
      o- host-groups .............................................. [Groups : 0]
      o- hosts ................................... [Auth: ACL_ENABLED, Hosts: 2]
        o- iqn.1994-05.com.redhat:myhost1 ........... [Auth: CHAP, Disks: 1(1G)]
        | o- lun 0 ................................ [rbd/disk_1(1G), Owner: gw1]
        o- iqn.1994-05.com.redhat:rh7-client . [LOGGED-IN, Auth: CHAP, Disks: 1(2G)]
          o- lun 0 ................................ [rbd/disk_2(2G), Owner: gw2]`;

test('ls / renders the upstream configshell format (80 columns)', () => {
  const out = renderTree(buildTree(fixtureState()), Infinity, 80);
  assert.equal(out.join('\n'), GOLDEN_80);
  // every line ends at column 80 unless name + summary do not fit (then one dot, as configshell)
  for (const l of out) assert.ok(l.length === 80 || / \. \[/.test(l), l);
});

test('summary is right-aligned to the width; dots shrink to at least one', () => {
  const out = renderTree(buildTree(fixtureState()), 1, 100);
  assert.ok(out.every((l) => l.length === 100), out.join('\n'));
  const narrow = renderTree(buildTree(fixtureState()), Infinity, 40);
  assert.ok(narrow.every((l) => / \.+ \[/.test(l)), narrow.join('\n'));
});

test('ls depth limits the levels; a subtree renders from its own node', () => {
  const root = buildTree(fixtureState());
  assert.deepEqual(renderTree(root, 1, 80).map((l) => l.trim().split(' ')[1]), ['/', 'cluster', 'disks', 'iscsi-targets']);
  const hosts = resolvePath(root, `/iscsi-targets/${T}/hosts`)!;
  const lines = renderTree(hosts, Infinity, 80);
  assert.match(lines[0]!, /^o- hosts \.+ \[Auth: ACL_ENABLED, Hosts: 2\]$/);
  assert.match(lines[3]!, /^  o- iqn\.1994-05\.com\.redhat:rh7-client \.+ \[LOGGED-IN, Auth: CHAP, Disks: 1\(2G\)\]$/);
});

test('unknown sizes show ? instead of a made-up figure; DOWN gateways and mutual CHAP', () => {
  const s = fixtureState();
  s.disks = { 'rbd/disk_1': { state: 'Unknown' }, 'rbd/disk_2': { state: 'Online', size: 1 } };
  s.gatewayUp = { gw1: true, gw2: false };
  s.config.targets[T]!.clients[C]!.auth.mutual_username = 'mytgtusername';
  s.config.discovery_auth.username = 'discoveryuser';
  const out = renderTree(buildTree(s), Infinity, 80).join('\n');
  assert.match(out, /\[\?, Disks: 2\]/);
  assert.match(out, /\[rbd\/disk_1 \(Unknown, \?\)\]/);
  assert.match(out, /\[Up: 1\/2, Portals: 2\]/);
  assert.match(out, /\[192\.168\.122\.104 \(DOWN\)\]/);
  assert.match(out, /\[LOGGED-IN, Auth: CHAP_MUTUAL, Disks: 1\(1b\)\]/);
  assert.match(out, /\[DiscoveryAuth: CHAP, Targets: 1\]/);
  assert.doesNotMatch(out, /HEALTH_WARN/, 'the cluster health comes from /api/cluster, not from gateway states');
  s.cluster!.health = 'HEALTH_WARN';
  assert.match(renderTree(buildTree(s), Infinity, 80).join('\n'), /o- ceph \.+ \[HEALTH_WARN\]/);
  delete s.cluster;
  assert.match(renderTree(buildTree(s), Infinity, 80).join('\n'), /o- ceph \.+ \[HEALTH_UNKNOWN\]/);
});

test('mixing CHAP and no-CHAP clients is MISCONFIG; acl_enabled=false shows ACL_DISABLED', () => {
  const s = fixtureState();
  assert.match(renderTree(buildTree(s)).join('\n'), /\[Auth: ACL_ENABLED, Hosts: 2\]/);
  s.config.targets[T]!.clients[C2]!.auth.username = '';
  assert.match(renderTree(buildTree(s)).join('\n'), /\[Auth: MISCONFIG, Hosts: 2\]/);
  assert.match(renderTree(buildTree(s)).join('\n'), /\[Auth: None, Disks: 1\(1G\)\]/);
  const t = fixtureState();
  t.config.targets[T]!.acl_enabled = false;
  assert.match(renderTree(buildTree(t)).join('\n'), /\[Auth: ACL_DISABLED, Hosts: 2\]/);
});

test('human_size as ceph_iscsi_config.utils', () => {
  assert.equal(humanSize(0), '0b');
  assert.equal(humanSize(18), '18b');
  assert.equal(humanSize(5 * 1024), '5K');
  assert.equal(humanSize(1024 ** 3), '1G');
  assert.equal(humanSize(90 * 1024 ** 3), '90G');
  assert.equal(humanSize(1.5 * 1024 ** 4), '1.5T');
});

test('prompt path abbreviated as configshell (prompt_length 30)', () => {
  assert.equal(promptPath(`/iscsi-targets/${T}/gateways`), '/iscsi-target...-igw/gateways');
  assert.equal(promptPath(`/iscsi-targets/iqn.2003-01.com.redhat.iscsi-gw:ceph-igw/hosts`), '/iscsi-target...eph-igw/hosts');
  assert.equal(promptPath(`/iscsi-targets/${T}/hosts/${C}`), '/iscsi-target...at:rh7-client');
  assert.equal(promptPath('/iscsi-targets'), '/iscsi-targets');
});

test('paths: absolute, relative, .., and child names containing /', () => {
  const root = buildTree(fixtureState());
  const hosts = resolvePath(root, `/iscsi-targets/${T}/hosts`)!;
  assert.equal(hosts.path, `/iscsi-targets/${T}/hosts`);
  assert.equal(resolvePath(hosts, '../gateways/gw2')!.path, `/iscsi-targets/${T}/gateways/gw2`);
  assert.equal(resolvePath(hosts, '../disks/rbd/disk_2')!.summary(), 'Owner: gw2, Lun: 1');
  assert.equal(resolvePath(hosts, `${C}/lun 0`)!.summary(), 'rbd/disk_2(2G), Owner: gw2');
  assert.equal(resolvePath(hosts, '/')!, root);
  assert.equal(resolvePath(root, '/nope'), undefined);
});

test('export JSON has sorted keys at every level', () => {
  const j = sortedJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 2 } });
  assert.equal(j, JSON.stringify({ a: { c: 2, d: [{ y: 2, z: 1 }] }, b: 1 }, null, 4));
});

test('colour: state words are coloured, the layout (dots) is that of the plain text', () => {
  const s = fixtureState();
  s.gatewayUp = { gw1: true, gw2: false };
  const plain = renderTree(buildTree(s), Infinity, 80);
  const color = renderTree(buildTree(s), Infinity, 80, true);
  const strip = (l: string): string => l.replace(/\x1b\[\d+m/g, '');
  assert.deepEqual(color.map(strip), plain);
  assert.ok(color.some((l) => l.includes('\x1b[32mUP\x1b[0m')));
  assert.ok(color.some((l) => l.includes('\x1b[31mDOWN\x1b[0m')));
  assert.ok(color.some((l) => l.includes('\x1b[32mHEALTH_OK\x1b[0m')));
  assert.ok(!plain.some((l) => l.includes('\x1b')));
});

test('ls --json: the tree as data, depth-limited', () => {
  const j = treeJson(buildTree(fixtureState()), 2);
  assert.equal(j.name, '/');
  assert.deepEqual(j.children!.map((c) => c.name), ['cluster', 'disks', 'iscsi-targets']);
  const targets = j.children![2]!;
  assert.equal(targets.summary, 'DiscoveryAuth: None, Targets: 1');
  assert.equal(targets.children![0]!.path, `/iscsi-targets/${T}`);
  assert.equal(targets.children![0]!.children, undefined, 'depth 2 stops below the target');
});

test('info rows: labels padded, lists and maps under their label', () => {
  assert.deepEqual(formatInfo({ client_iqn: C, ip_address: ['10.0.0.1', '10.0.0.2'], auth: { username: 'u', password: '********' }, group_name: '' }), [
    `Client Iqn .. ${C}`,
    'Ip Address',
    '- 10.0.0.1',
    '- 10.0.0.2',
    'Auth',
    '- username .. u',
    '- password .. ********',
    'Group Name .. ',
  ]);
});
