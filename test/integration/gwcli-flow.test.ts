// gwcli end to end: the seeds flow (docs.ceph.com iscsi-target-cli) as one-shot gwcli commands
// against a real daemon on 127.0.0.1, then `ls /` in the upstream format and an iSCSI login with
// the CHAP credentials set through gwcli.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CHAP_PASS, CHAP_USER, CLIENT_IQN, Daemon, ROOT, TARGET_IQN, requireTools, run, type RunResult } from './helpers.js';

const GWCLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

describe('gwcli one-shot: seeds flow against a real daemon', { timeout: 3 * 60_000 }, () => {
  let d: Daemon;
  const gw = (...args: string[]): Promise<RunResult> => run(process.execPath, [GWCLI, '--api', `http://127.0.0.1:${d.apiPort}`, ...args], { timeoutMs: 30_000 });
  const gwCfg = (...args: string[]): Promise<RunResult> => run(process.execPath, [GWCLI, '--config', d.cfgPath, ...args], { timeoutMs: 30_000 });
  const ok = (r: RunResult, what: string): void => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);

  before(async () => {
    requireTools('iscsi-ls');
    assert.ok(existsSync(GWCLI), `${GWCLI} missing: run npx tsc -p tsconfig.json`);
    d = await Daemon.start();
  });
  after(async () => {
    await d?.dispose();
  });

  test('the seeds flow as one-shot commands, each exit 0', async () => {
    const hosts = `/iscsi-targets/${TARGET_IQN}/hosts`;
    const steps: string[][] = [
      ['/iscsi-targets', 'create', TARGET_IQN],
      [`/iscsi-targets/${TARGET_IQN}/gateways`, 'create', d.gatewayName, '127.0.0.1', 'skipchecks=true'],
      ['/disks', 'create', 'pool=rbd', 'image=disk_1', 'size=1G'],
      [hosts, 'create', CLIENT_IQN],
      [`${hosts}/${CLIENT_IQN}`, 'auth', `username=${CHAP_USER}`, `password=${CHAP_PASS}`],
      [`${hosts}/${CLIENT_IQN}`, 'disk', 'add', 'rbd/disk_1'],
    ];
    for (const s of steps) {
      const r = await gw(...s);
      ok(r, s.join(' '));
      assert.equal(r.stdout.trim(), 'ok', s.join(' '));
    }
  });

  test('ls / shows the tree in the upstream format (cfg file locates the API)', async () => {
    const r = await gwCfg('ls', '/');
    ok(r, 'ls /');
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^o- \/ \.+ \[\.\.\.\]$/);
    const expect = [
      /^  o- disks \.+ \[\S+, Disks: 1\]$/,
      /^  \|   o- disk_1 \.+ \[rbd\/disk_1 \(Online, \S+\)\]$/,
      /^  o- iscsi-targets \.+ \[DiscoveryAuth: None, Targets: 1\]$/,
      new RegExp(`^    o- ${TARGET_IQN.replace(/\./g, '\\.')} \\.+ \\[Auth: None, Gateways: 1\\]$`),
      new RegExp(`^      \\| o- rbd/disk_1 \\.+ \\[Owner: ${d.gatewayName}, Lun: 0\\]$`),
      /^      o- gateways \.+ \[Up: 1\/1, Portals: 1\]$/,
      new RegExp(`^      \\| o- ${d.gatewayName} \\.+ \\[127\\.0\\.0\\.1 \\(UP\\)\\]$`),
      /^      o- host-groups \.+ \[Groups : 0\]$/,
      /^      o- hosts \.+ \[Auth: ACL_ENABLED, Hosts: 1\]$/,
      /^        o- iqn\.1994-05\.com\.redhat:rh7-client \.+ \[Auth: CHAP, Disks: 1\(\S+\)\]$/,
      new RegExp(`^          o- lun 0 \\.+ \\[rbd/disk_1\\(\\S+\\), Owner: ${d.gatewayName}\\]$`),
    ];
    for (const re of expect) assert.ok(lines.some((l) => re.test(l)), `no line matches ${re}\n${r.stdout}`);
    for (const l of lines) assert.ok(l.length === 80 || / \. \[/.test(l), `not right-aligned to 80: ${l}`);
  });

  test('iscsi-ls logs in with the CHAP credentials set by gwcli; a wrong secret is refused', async () => {
    const r = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, `iscsi-ls: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /Lun:0\s+Type:DIRECT_ACCESS/);
    const bad = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%wrongpassw0rd1@${d.portal()}`], { timeoutMs: 20_000 });
    assert.notEqual(bad.code, 0, 'a wrong CHAP secret must be refused');
  });

  test('errors: the server message on stderr and exit 1; usage errors show the syntax', async () => {
    const dup = await gw('/disks', 'create', 'rbd/disk_1', '1G');
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already defined/);
    const badIqn = await gw('/iscsi-targets', 'create', 'not-an-iqn');
    assert.equal(badIqn.code, 1);
    assert.ok(badIqn.stderr.trim().length > 0);
    const usage = await gw('/disks', 'create', 'pool=rbd', 'image=x', 'size=1.5G');
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /invalid size "1\.5G"[\s\S]*SYNTAX: create/);
    const noPath = await gw('/nowhere', 'ls');
    assert.equal(noPath.code, 1);
    assert.match(noPath.stderr, /No such path \/nowhere/);
    const noApi = await run(process.execPath, [GWCLI, '--api', 'http://127.0.0.1:1', 'ls'], { timeoutMs: 30_000 });
    assert.equal(noApi.code, 1);
    assert.match(noApi.stderr, /Unable to contact the local API endpoint/);
  });

  test('export prints the configuration as sorted JSON', async () => {
    const r = await gw('export');
    ok(r, 'export');
    const doc = JSON.parse(r.stdout) as { targets: Record<string, { clients: Record<string, unknown> }> };
    assert.ok(doc.targets[TARGET_IQN]?.clients[CLIENT_IQN], r.stdout);
    const keys = Object.keys(doc);
    assert.deepEqual(keys, [...keys].sort());
  });
});
