// gwcli end to end: the seeds flow (docs.ceph.com iscsi-target-cli) as one-shot gwcli commands
// against a real daemon on 127.0.0.1, then `ls /` in the upstream format and an iSCSI login with
// the CHAP credentials set through gwcli.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
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

  test('the seeds flow as a shell script of one-shot commands (scripts/gwcli-seeds-flow.sh), each exit 0', async () => {
    const r = await run('bash', [join(ROOT, 'scripts', 'gwcli-seeds-flow.sh'), '--api', `http://127.0.0.1:${d.apiPort}`], {
      timeoutMs: 60_000,
      env: { ...process.env, GWCLI: `${process.execPath} ${GWCLI}`, GATEWAY: d.gatewayName },
    });
    ok(r, 'gwcli-seeds-flow.sh');
    const lines = r.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 6), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'], r.stdout);
    assert.match(lines[6]!, /^o- \/ \.+ \[\.\.\.\]$/, 'the script ends with ls /');
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

  test('export, clearconfig purge=true, import: the same configuration comes back, and the initiator logs in again', async () => {
    const t = `/iscsi-targets/${TARGET_IQN}`;
    const C2 = 'iqn.1994-05.com.redhat:myhost1';
    // a richer configuration than the seeds: a second disk in a host group, mutual CHAP, controls, discovery CHAP
    for (const step of [
      ['/disks', 'create', 'rbd/disk_2', '64M'],
      [`${t}/hosts`, 'create', C2],
      [`${t}/hosts/${C2}`, 'auth', 'username=myhost1username', 'password=myhost1passw0rd', 'mutual_username=mytgtusername1', 'mutual_password=mytgtpassw0rd1'],
      [`${t}/host-groups`, 'create', 'grp1'],
      [`${t}/host-groups/grp1`, 'disk', 'add', 'rbd/disk_2'],
      [`${t}/host-groups/grp1`, 'host', 'add', C2],
      [t, 'reconfigure', 'cmdsn_depth', '64'],
      ['/disks/rbd/disk_1', 'reconfigure', 'qfull_timeout', '10'],
      ['/iscsi-targets', 'discovery_auth', 'username=discoveryuser1', 'password=discoverypass1'],
    ]) ok(await gw(...step), step.join(' '));
    const exp = await gw('export');
    ok(exp, 'export');
    const file = join(d.dir, 'export.json');
    writeFileSync(file, exp.stdout);
    const before = JSON.parse(exp.stdout) as Record<string, unknown>;

    const refused = await gw('/iscsi-targets', 'clearconfig', 'confirm=true');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /has 2 client\(s\) and 2 disk\(s\): remove them first, or add purge=true/);
    ok(await gw('/iscsi-targets', 'clearconfig', 'confirm=true', 'purge=true'), 'clearconfig purge');
    const emptied = JSON.parse((await gw('export')).stdout) as { targets: object; disks: object };
    assert.deepEqual([emptied.targets, emptied.disks], [{}, {}]);
    const refusedLogin = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 20_000 });
    assert.notEqual(refusedLogin.code, 0, 'no target after clearconfig');

    const dry = await gw('import', `file=${file}`, 'dryrun=true');
    ok(dry, 'import dryrun');
    assert.match(dry.stdout, /^\d+ change\(s\) would be made:$/m);
    assert.match(dry.stdout, /create target iqn\.2003-01\.com\.redhat\.iscsi-gw:iscsi-igw/);
    assert.match(dry.stdout, /create host group grp1/);
    assert.doesNotMatch(dry.stdout, /myiscsipassw0rd|myhost1passw0rd|mytgtpassw0rd1|discoverypass1/, 'the dry run masks secrets');
    assert.deepEqual(JSON.parse((await gw('export')).stdout).targets, {}, 'a dry run changes nothing');

    const imp = await gw('import', `file=${file}`);
    ok(imp, 'import');
    const after = JSON.parse((await gw('export')).stdout) as Record<string, unknown>;
    const strip = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (k, x: unknown) => (['created', 'updated', 'epoch'].includes(k) ? undefined : x)));
    assert.deepEqual(strip(after), strip(before));
    const again = await gw('import', `file=${file}`);
    ok(again, 'import again');
    assert.match(again.stdout, /nothing to change/);

    // (discovery now needs the discovery secret: log in to the target directly)
    const r = await run('iscsi-inq', ['-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}/${TARGET_IQN}/0`], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, `iscsi-inq after import: ${r.output}`);
    assert.match(r.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
    // a bad file: a clear error naming the problem, exit 1
    writeFileSync(file, JSON.stringify({ targets: { 'not-an-iqn': {} }, disks: {} }));
    const bad = await gw('import', `file=${file}`);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not a valid export:\n  targets: "not-an-iqn" is not an iqn/);
  });

  test('works without root: as user nobody, ls through the API', async () => {
    if (process.getuid?.() !== 0) {
      // not root already: the plain runs above are the proof
      assert.ok((await gw('ls', '/', '1')).code === 0);
      return;
    }
    requireTools('setpriv');
    const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, GWCLI, '--api', `http://127.0.0.1:${d.apiPort}`, 'ls', '/', '1'], {
      timeoutMs: 30_000,
      env: { ...process.env, HOME: '/nonexistent' },
    });
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /o- iscsi-targets \.+ \[DiscoveryAuth: \S+, Targets: 1\]/);
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
