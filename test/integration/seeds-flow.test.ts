/**
 * The seeds' flow end to end against the real daemon: configure over REST exactly as ceph's QA
 * (rest_api_create.t) and the Dashboard do, log in with libiscsi (CHAP, ACL), move data with qemu-io,
 * then check that config and data survive SIGTERM and SIGKILL restarts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CHAP_PASS,
  CHAP_USER,
  CLIENT_IQN,
  Daemon,
  GIB,
  requireTools,
  run,
  TARGET_IQN,
  type RunResult,
} from './helpers.js';

const DISK = 'rbd/disk_1';

interface Msg {
  message?: unknown;
}
function message(body: unknown): string {
  return typeof body === 'object' && body !== null && typeof (body as Msg).message === 'string' ? ((body as Msg).message as string) : JSON.stringify(body);
}

/** qemu's block options for our LUN 0 as CLIENT_IQN with CHAP (qemu: one-way CHAP only). */
function qemuOpts(d: Daemon, password = CHAP_PASS): string {
  return [
    'driver=iscsi',
    'transport=tcp',
    `portal=${d.portal()}`,
    `target=${TARGET_IQN}`,
    'lun=0',
    `initiator-name=${CLIENT_IQN}`,
    `user=${CHAP_USER}`,
    `password=${password}`,
  ].join(',');
}

async function qemuIo(d: Daemon, cmds: readonly string[]): Promise<RunResult> {
  const args = ['--image-opts', qemuOpts(d)];
  for (const c of cmds) args.push('-c', c);
  return run('qemu-io', args, { timeoutMs: 60_000 });
}

function assertOk(r: RunResult, what: string): void {
  assert.equal(r.timedOut, false, `${what}: timed out\n${r.output}`);
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.output}`);
}

// Patterns at aligned, unaligned and end-of-LUN offsets. The unaligned ones land inside the first
// 1 MiB, so reading back the neighbouring 0xab bytes checks qemu's read-modify-write through our target.
const WRITES: readonly { pattern: string; offset: number; length: number }[] = [
  { pattern: '0xab', offset: 0, length: 1024 * 1024 },
  { pattern: '0x11', offset: 12_345, length: 777 },
  { pattern: '0x5c', offset: 65_536 + 511, length: 8_193 },
  { pattern: '0xcd', offset: 7 * 1024 * 1024 - 512, length: 65_536 },
  { pattern: '0x5a', offset: GIB - 4096, length: 4096 },
];
/** Reads that verify every byte written above, and the 0xab bytes around the unaligned writes. */
const VERIFY: readonly string[] = [
  'read -P 0xab 0 12345',
  'read -P 0x11 12345 777',
  `read -P 0xab ${12_345 + 777} ${65_536 + 511 - 12_345 - 777}`,
  `read -P 0x5c ${65_536 + 511} 8193`,
  `read -P 0xab ${65_536 + 511 + 8_193} ${1024 * 1024 - (65_536 + 511 + 8_193)}`,
  `read -P 0xcd ${7 * 1024 * 1024 - 512} 65536`,
  `read -P 0x5a ${GIB - 4096} 4096`,
  // never written: reads as zeroes (sparse file LUN)
  `read -P 0x00 ${512 * 1024 * 1024} 65536`,
];

describe('seeds flow: REST → iSCSI login → data → restart', { timeout: 5 * 60_000 }, () => {
  let d: Daemon;

  before(async () => {
    requireTools('iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16', 'qemu-io');
    d = await Daemon.start();
  });

  after(async () => {
    await d?.dispose();
  });

  test('configure the target over the REST API (rbd-target-api routes, form bodies)', async () => {
    const steps: readonly [string, Record<string, string>, RegExp | null][] = [
      [`/api/target/${TARGET_IQN}`, {}, /Target defined successfully/],
      [`/api/gateway/${TARGET_IQN}/${d.gatewayName}`, { ip_address: '127.0.0.1', skipchecks: 'true' }, /Gateway creation successful/],
      [`/api/disk/${DISK}`, { mode: 'create', size: '1G', create_image: 'true' }, /disk create\/update successful/],
      [`/api/targetlun/${TARGET_IQN}`, { disk: DISK }, /Target LUN mapping updated successfully/],
      [`/api/client/${TARGET_IQN}/${CLIENT_IQN}`, {}, /client create\/update successful/],
      [`/api/clientauth/${TARGET_IQN}/${CLIENT_IQN}`, { username: CHAP_USER, password: CHAP_PASS }, null],
      [`/api/clientlun/${TARGET_IQN}/${CLIENT_IQN}`, { disk: DISK }, /client masking update successful/],
    ];
    for (const [path, form, expect] of steps) {
      const r = await d.api.put(path, form);
      assert.equal(r.status, 200, `PUT ${path}: HTTP ${r.status} ${r.text}`);
      if (expect) assert.match(message(r.body), expect, `PUT ${path}`);
    }
    // Bad input gets a clear 4xx/5xx JSON error, not a crash.
    const bad = await d.api.put('/api/disk/rbd/bad name!', { mode: 'create', size: '1G', create_image: 'true' });
    assert.ok(bad.status >= 400, `invalid image name accepted: ${bad.status} ${bad.text}`);
    const noAuth = await fetch(`${d.api.base}/api/config`);
    assert.equal(noAuth.status, 401, 'GET /api/config without credentials must be refused');
  });

  test('GET /api/config: version 11 with the target, the client (CHAP) and the disk', async () => {
    const r = await d.api.get('/api/config');
    assert.equal(r.status, 200, r.text);
    const cfg = r.body as {
      version: number;
      disks: Record<string, { pool: string; image: string }>;
      targets: Record<string, { disks: Record<string, { lun_id: number }>; portals: Record<string, unknown>; clients: Record<string, { auth: { username: string }; luns: Record<string, { lun_id: number }> }> }>;
    };
    assert.equal(cfg.version, 11);
    assert.deepEqual({ pool: cfg.disks[DISK]?.pool, image: cfg.disks[DISK]?.image }, { pool: 'rbd', image: 'disk_1' });
    const tgt = cfg.targets[TARGET_IQN];
    assert.ok(tgt, `target missing in ${r.text}`);
    assert.equal(tgt.disks[DISK]?.lun_id, 0);
    assert.ok(d.gatewayName in tgt.portals, `portal ${d.gatewayName} missing`);
    const client = tgt.clients[CLIENT_IQN];
    assert.ok(client, `client missing in ${r.text}`);
    assert.equal(client.auth.username, CHAP_USER);
    assert.equal(client.luns[DISK]?.lun_id, 0);
  });

  test('iscsi-ls -s with CHAP lists the target and LUN 0 of 1 GiB', async () => {
    const r = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 20_000 });
    assertOk(r, 'iscsi-ls');
    assert.match(r.stdout, new RegExp(`Target:${TARGET_IQN.replace(/\./g, '\\.')} Portal:127\\.0\\.0\\.1:${d.iscsiPort},\\d+`));
    // libiscsi prints 1023M for tgt's 1 GiB LUN; the exact size is checked with READ CAPACITY (16) below.
    assert.match(r.stdout, /Lun:0\s+Type:DIRECT_ACCESS \(Size:(1023M|1024M|1G)\)/);
    const cap = await run('iscsi-readcapacity16', ['-i', CLIENT_IQN, d.url(TARGET_IQN, 0, CHAP_USER, CHAP_PASS)], { timeoutMs: 20_000 });
    assertOk(cap, 'iscsi-readcapacity16');
    assert.match(cap.stdout, /Total size:1073741824/);
  });

  test('wrong CHAP password: login refused with Authentication failure', async () => {
    const r = await run('iscsi-inq', ['-i', CLIENT_IQN, d.url(TARGET_IQN, 0, CHAP_USER, 'wrongpassw0rd1')], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /Authentication failure/);
    assert.doesNotMatch(d.log(), /wrongpassw0rd1|myiscsipassw0rd/, 'a CHAP secret appeared in the daemon log');
  });

  test('unknown initiator name: login refused with Authorization failure', async () => {
    const r = await run('iscsi-inq', ['-i', 'iqn.1994-05.com.example:intruder', d.url(TARGET_IQN, 0, CHAP_USER, CHAP_PASS)], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /Authorization failure/);
  });

  test('qemu-io writes patterns (aligned, unaligned, last block) that read back identical', async () => {
    const w = await qemuIo(d, WRITES.map((x) => `write -P ${x.pattern} ${x.offset} ${x.length}`));
    assertOk(w, 'qemu-io write');
    assert.equal((w.stdout.match(/^wrote /gm) ?? []).length, WRITES.length, w.output);
    // A new process (new session) reads back: nothing comes from qemu's side.
    const r = await qemuIo(d, VERIFY);
    assertOk(r, 'qemu-io verify');
    assert.doesNotMatch(r.output, /Pattern verification failed/);
    // The check itself can fail: a wrong pattern is detected.
    const neg = await qemuIo(d, ['read -P 0xee 0 4096']);
    assert.match(neg.output, /Pattern verification failed/);
  });

  test('the daemon logs JSON lines (pino) on stdout, with level and time', () => {
    const lines = d.stdoutLog().split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0, 'no log lines on stdout');
    for (const line of lines) {
      let rec: { level?: unknown; time?: unknown; msg?: unknown };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        assert.fail(`not a JSON line: ${line.slice(0, 200)}`);
      }
      assert.ok(rec.level !== undefined && rec.time !== undefined, `missing level/time: ${line.slice(0, 200)}`);
    }
  });

  test('SIGHUP re-applies the configuration without a restart', async () => {
    const pid = d.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGHUP');
    const ping = await d.api.get('/api/_ping');
    assert.equal(ping.status, 200);
    assert.ok(d.running && d.pid === pid, 'SIGHUP stopped the daemon');
    const r = await qemuIo(d, ['read -P 0xab 0 12345']);
    assertOk(r, 'qemu-io after SIGHUP');
  });

  test('SIGTERM: clean exit; after restart config and data are still there', async () => {
    const ex = await d.stop('SIGTERM', 15_000);
    assert.equal(ex.forced, false, `daemon ignored SIGTERM:\n${d.logTail()}`);
    assert.equal(ex.code, 0, `exit code after SIGTERM (signal ${ex.signal}):\n${d.logTail()}`);
    await d.restart();
    await assertSurvived(d);
  });

  test('SIGKILL right after a write: after restart config and data are still there', async () => {
    const w = await qemuIo(d, ['write -P 0x77 2097152 1048576', 'flush']);
    assertOk(w, 'qemu-io write before SIGKILL');
    const ex = await d.stop('SIGKILL', 15_000);
    assert.equal(ex.signal, 'SIGKILL');
    await d.restart();
    await assertSurvived(d);
    const r = await qemuIo(d, ['read -P 0x77 2097152 1048576']);
    assertOk(r, 'qemu-io verify after SIGKILL');
  });
});

async function assertSurvived(d: Daemon): Promise<void> {
  const cfg = await d.api.get('/api/config');
  assert.equal(cfg.status, 200, cfg.text);
  const body = cfg.body as { version: number; targets: Record<string, { clients: Record<string, unknown> }>; disks: Record<string, unknown> };
  assert.equal(body.version, 11);
  assert.ok(body.targets[TARGET_IQN]?.clients[CLIENT_IQN], `client lost after restart: ${cfg.text}`);
  assert.ok(body.disks[DISK], `disk lost after restart: ${cfg.text}`);
  const ls = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 20_000 });
  assertOk(ls, 'iscsi-ls after restart');
  assert.match(ls.stdout, /Lun:0\s+Type:DIRECT_ACCESS/);
  const r = await qemuIo(d, VERIFY);
  assertOk(r, 'qemu-io verify after restart');
}
