/**
 * Real initiators against the daemon beyond the seeds flow: SendTargets discovery, INQUIRY/VPD as
 * libiscsi decodes them, mutual CHAP, a second LUN, online resize, qemu with CRC32C header digests,
 * write-zeroes and discard, qemu-img map (GET LBA STATUS must stay cheap on a fragmented thin LUN,
 * unlike tgt's: iscsi-peers-and-clients.md §3), and concurrent sessions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CHAP_PASS, CHAP_USER, CLIENT_IQN, Daemon, requireTools, run, TARGET_IQN, type RunResult } from './helpers.js';

const MUTUAL_USER = 'targetusername1';
const MUTUAL_PASS = 'targetpassw0rd1';
/** A second client whose ACL also holds the target's secret (mutual CHAP). */
const MUTUAL_CLIENT = 'iqn.1994-05.com.redhat:mutual-client';
const DISK1 = 'rbd/disk_1';
const DISK2 = 'rbd/disk_2';
const MIB = 1024 * 1024;

function ok(r: RunResult, what: string): void {
  assert.equal(r.timedOut, false, `${what}: timed out\n${r.output}`);
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.output}`);
}

describe('initiators: discovery, VPD, mutual CHAP, LUNs, resize, digests, zeroes, map', { timeout: 5 * 60_000 }, () => {
  let d: Daemon;
  /** libiscsi URL for LUN `lun` with one-way CHAP, or mutual CHAP when `mutual` is given. */
  const url = (lun: number, mutual?: { user: string; pass: string }): string =>
    d.url(TARGET_IQN, lun, CHAP_USER, CHAP_PASS) +
    (mutual ? `?target_user=${encodeURIComponent(mutual.user)}&target_password=${encodeURIComponent(mutual.pass)}` : '');
  const qemuOpts = (lun: number, extra: string[] = []): string =>
    [
      'driver=iscsi',
      'transport=tcp',
      `portal=${d.portal()}`,
      `target=${TARGET_IQN}`,
      `lun=${lun}`,
      `initiator-name=${CLIENT_IQN}`,
      `user=${CHAP_USER}`,
      `password=${CHAP_PASS}`,
      ...extra,
    ].join(',');
  const qemuIo = (lun: number, cmds: string[], extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<RunResult> =>
    run('qemu-io', ['--image-opts', qemuOpts(lun, extra), ...cmds.flatMap((c) => ['-c', c])], { timeoutMs: 60_000, ...(env ? { env } : {}) });

  before(async () => {
    requireTools('iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16', 'qemu-io', 'qemu-img');
    d = await Daemon.start();
    const api = d.api;
    await api.must('PUT', `/api/target/${TARGET_IQN}`, {});
    await api.must('PUT', `/api/gateway/${TARGET_IQN}/${d.gatewayName}`, { ip_address: '127.0.0.1', skipchecks: 'true' });
    await api.must('PUT', `/api/disk/${DISK1}`, { mode: 'create', size: '1G', create_image: 'true' });
    await api.must('PUT', `/api/disk/${DISK2}`, { mode: 'create', size: '64M', create_image: 'true' });
    await api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk: DISK1 });
    await api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk: DISK2 });
    await api.must('PUT', `/api/client/${TARGET_IQN}/${CLIENT_IQN}`, {});
    await api.must('PUT', `/api/clientauth/${TARGET_IQN}/${CLIENT_IQN}`, { username: CHAP_USER, password: CHAP_PASS });
    await api.must('PUT', `/api/clientlun/${TARGET_IQN}/${CLIENT_IQN}`, { disk: DISK1 });
    await api.must('PUT', `/api/clientlun/${TARGET_IQN}/${CLIENT_IQN}`, { disk: DISK2 });
    await api.must('PUT', `/api/client/${TARGET_IQN}/${MUTUAL_CLIENT}`, {});
    await api.must('PUT', `/api/clientauth/${TARGET_IQN}/${MUTUAL_CLIENT}`, {
      username: CHAP_USER,
      password: CHAP_PASS,
      mutual_username: MUTUAL_USER,
      mutual_password: MUTUAL_PASS,
    });
    await api.must('PUT', `/api/clientlun/${TARGET_IQN}/${MUTUAL_CLIENT}`, { disk: DISK1 });
  });

  after(async () => {
    await d?.dispose();
  });

  test('SendTargets discovery lists the target on our portal', async () => {
    const r = await run('iscsi-ls', ['-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 20_000 });
    ok(r, 'iscsi-ls');
    assert.match(r.stdout, new RegExp(`Target:${TARGET_IQN.replace(/\./g, '\\.')} Portal:127\\.0\\.0\\.1:${d.iscsiPort},\\d+`));
  });

  test('iscsi-ls -s shows both LUNs with their sizes', async () => {
    const r = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 20_000 });
    ok(r, 'iscsi-ls -s');
    assert.match(r.stdout, /Lun:0\s+Type:DIRECT_ACCESS/);
    assert.match(r.stdout, /Lun:1\s+Type:DIRECT_ACCESS \(Size:6[34]M\)/);
  });

  test('INQUIRY: direct access, SPC version, VPD pages 0x00/0x80/0x83 as libiscsi decodes them', async () => {
    const std = await run('iscsi-inq', ['-i', CLIENT_IQN, url(0)], { timeoutMs: 20_000 });
    ok(std, 'iscsi-inq');
    assert.match(std.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
    assert.match(std.stdout, /Version:[5-7] /);
    const pages = await run('iscsi-inq', ['-i', CLIENT_IQN, '-e', '1', '-c', '0', url(0)], { timeoutMs: 20_000 });
    ok(pages, 'iscsi-inq VPD 0x00');
    for (const p of ['0x80 UNIT_SERIAL_NUMBER', '0x83 DEVICE_IDENTIFICATION', '0xb0 BLOCK_LIMITS']) {
      assert.ok(pages.stdout.includes(`Page:${p}`), `VPD page ${p} not listed:\n${pages.stdout}`);
    }
    // Unit serial = the disk's wwn in gateway.conf (LIO unit serial, as ceph-iscsi sets it).
    const cfg = (await d.api.must('GET', '/api/config')).body as { disks: Record<string, { wwn: string }> };
    const wwn = cfg.disks[DISK1]?.wwn ?? '';
    assert.ok(wwn.length > 0, 'disk has no wwn in the config');
    const serial = await run('iscsi-inq', ['-i', CLIENT_IQN, '-e', '1', '-c', '128', url(0)], { timeoutMs: 20_000 });
    ok(serial, 'iscsi-inq VPD 0x80');
    assert.match(serial.stdout, /Unit Serial Number:\[\s*([^\]]+)\]/);
    assert.equal(/Unit Serial Number:\[\s*([^\]]+)\]/.exec(serial.stdout)?.[1], wwn);
    const ids = await run('iscsi-inq', ['-i', CLIENT_IQN, '-e', '1', '-c', '131', url(0)], { timeoutMs: 20_000 });
    ok(ids, 'iscsi-inq VPD 0x83');
    assert.match(ids.stdout, /Designator Type:\(3\) NAA/);
    // The two LUNs have different identities.
    const serial1 = await run('iscsi-inq', ['-i', CLIENT_IQN, '-e', '1', '-c', '128', url(1)], { timeoutMs: 20_000 });
    ok(serial1, 'iscsi-inq VPD 0x80 LUN 1');
    assert.notEqual(/Unit Serial Number:\[\s*([^\]]+)\]/.exec(serial1.stdout)?.[1], wwn);
  });

  test('mutual CHAP: right target secret logs in, wrong one is detected by the initiator', async () => {
    const good = await run('iscsi-inq', ['-i', MUTUAL_CLIENT, url(0, { user: MUTUAL_USER, pass: MUTUAL_PASS })], { timeoutMs: 20_000 });
    ok(good, 'iscsi-inq with mutual CHAP');
    const bad = await run('iscsi-inq', ['-i', MUTUAL_CLIENT, url(0, { user: MUTUAL_USER, pass: 'notthesecret12' })], { timeoutMs: 20_000 });
    assert.notEqual(bad.code, 0, bad.output);
    assert.match(bad.output, /CHAP_R|Authentication/i);
    assert.doesNotMatch(d.log(), new RegExp(`${MUTUAL_PASS}|${CHAP_PASS}`), 'a CHAP secret appeared in the daemon log');
  });

  test('mutual CHAP configured: a one-way CHAP initiator (qemu) still logs in, as with LIO and tgt', async () => {
    // RFC 7143 §12.1.3: the initiator decides whether to authenticate the target (it sends CHAP_I/CHAP_C).
    // Current LIO (iscsi_target_auth.c: no CHAP_I → "Initiator uses One way authentication", accepted)
    // and tgt (checked here: one-way iscsi-inq on a target with an --outgoing account logs in) accept
    // a one-way login on an ACL with mutual credentials; qemu only does one-way CHAP
    // (iscsi-peers-and-clients.md §4.3), so refusing it locks qemu out of mutual-CHAP ACLs.
    const r = await run('iscsi-inq', ['-i', MUTUAL_CLIENT, url(0)], { timeoutMs: 20_000 });
    ok(r, 'one-way iscsi-inq on a mutual-CHAP ACL');
  });

  test('online resize: READ CAPACITY shows the new size', async () => {
    const before = await run('iscsi-readcapacity16', ['-i', CLIENT_IQN, url(1)], { timeoutMs: 20_000 });
    ok(before, 'readcapacity before');
    assert.match(before.stdout, new RegExp(`Total size:${64 * MIB}\\b`));
    const r = await d.api.put(`/api/disk/${DISK2}`, { mode: 'resize', size: '128M' });
    assert.equal(r.status, 200, r.text);
    const shrink = await d.api.put(`/api/disk/${DISK2}`, { mode: 'resize', size: '32M' });
    assert.ok(shrink.status >= 400, `shrinking must be refused: ${shrink.status} ${shrink.text}`);
    const afterResize = await run('iscsi-readcapacity16', ['-i', CLIENT_IQN, url(1)], { timeoutMs: 20_000 });
    ok(afterResize, 'readcapacity after');
    assert.match(afterResize.stdout, new RegExp(`Total size:${128 * MIB}\\b`));
  });

  test('qemu with CRC32C header digest: pattern write and read back', async () => {
    // LIBISCSI_DEBUG shows the keys the target answered: the digest must really be in use.
    const w = await qemuIo(0, ['write -P 0x3c 3145728 262144', 'read -P 0x3c 3145728 262144'], ['header-digest=crc32c'], { ...process.env, LIBISCSI_DEBUG: '10' });
    ok(w, 'qemu-io header-digest=crc32c');
    assert.match(w.output, /TargetLoginReply: HeaderDigest=CRC32C/, 'CRC32C header digest not negotiated');
    assert.doesNotMatch(w.output, /Pattern verification failed/);
    const r = await qemuIo(0, ['read -P 0x3c 3145728 262144'], ['header-digest=none']);
    ok(r, 'qemu-io read back without digest');
  });

  test('write zeroes and discard read back as zeroes; neighbours untouched', async () => {
    const w = await qemuIo(1, [
      'write -P 0x6e 0 2M',
      'write -z 65536 65536',
      'discard 1048576 524288',
    ]);
    ok(w, 'qemu-io write/zero/discard');
    const r = await qemuIo(1, [
      'read -P 0x6e 0 65536',
      'read -P 0x00 65536 65536',
      'read -P 0x6e 131072 917504',
      'read -P 0x00 1048576 524288',
      'read -P 0x6e 1572864 524288',
    ]);
    ok(r, 'qemu-io verify zeroes');
    assert.doesNotMatch(r.output, /Pattern verification failed/);
  });

  test('qemu-img map of a fragmented LUN stays fast (GET LBA STATUS)', async () => {
    // ~2000 scattered 4 KiB writes over the 128 MiB LUN 1 (after the resize test), then map it.
    const rawOpts = 'driver=raw,' + qemuOpts(1).split(',').map((kv) => `file.${kv}`).join(',');
    const wrote = await run('qemu-img', ['bench', '-t', 'none', '-w', '-c', '2000', '-d', '16', '-s', '4k', '-S', String(8191 * 4096), '--image-opts', rawOpts], { timeoutMs: 60_000 });
    ok(wrote, 'qemu-img bench scattered writes');
    const t0 = Date.now();
    const m = await run('qemu-img', ['map', '--output=json', '--image-opts', rawOpts], { timeoutMs: 60_000 });
    const ms = Date.now() - t0;
    ok(m, 'qemu-img map');
    const entries = JSON.parse(m.stdout) as { start: number; length: number; data: boolean }[];
    assert.ok(entries.length >= 1);
    const mapped = entries.reduce((n, e) => n + e.length, 0);
    assert.equal(mapped, 128 * MIB, 'map does not cover the LUN');
    assert.ok(ms < 30_000, `qemu-img map took ${ms} ms`);
  });

  test('configuration changes during I/O do not disturb running sessions', async () => {
    // 1 GiB of 64 KiB writes on LUN 0 (a few seconds) while disks, LUNs and a client come and go.
    const rawOpts = 'driver=raw,' + qemuOpts(0).split(',').map((kv) => `file.${kv}`).join(',');
    const io = run('qemu-img', ['bench', '-t', 'none', '-w', '-c', '16000', '-d', '8', '-s', '64k', '--image-opts', rawOpts], { timeoutMs: 120_000 });
    const other = 'iqn.1994-05.com.redhat:other-client';
    for (let i = 0; i < 3; i++) {
      const disk = `rbd/churn_${i}`;
      await d.api.must('PUT', `/api/disk/${disk}`, { mode: 'create', size: '16M', create_image: 'true' });
      await d.api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk });
      await d.api.must('PUT', `/api/client/${TARGET_IQN}/${other}`, {});
      await d.api.must('PUT', `/api/clientlun/${TARGET_IQN}/${other}`, { disk });
      await d.api.must('DELETE', `/api/clientlun/${TARGET_IQN}/${other}`, { disk });
      await d.api.must('DELETE', `/api/client/${TARGET_IQN}/${other}`, {});
      await d.api.must('DELETE', `/api/targetlun/${TARGET_IQN}`, { disk });
      await d.api.must('DELETE', `/api/disk/${disk}`, {});
    }
    const r = await io;
    ok(r, 'qemu-img bench during configuration changes');
    assert.match(r.stdout, /Run completed in/);
    // The session's own LUNs are unchanged.
    const ls = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 20_000 });
    ok(ls, 'iscsi-ls after churn');
    assert.match(ls.stdout, /Lun:0\s+Type:DIRECT_ACCESS/);
    assert.match(ls.stdout, /Lun:1\s+Type:DIRECT_ACCESS/);
    assert.doesNotMatch(ls.stdout, /Lun:2/);
  });

  test('four concurrent qemu-io sessions on different ranges', async () => {
    const jobs = [0, 1, 2, 3].map((i) => qemuIo(0, [`write -P 0x${(0x41 + i).toString(16)} ${(100 + i) * MIB} ${MIB}`, `read -P 0x${(0x41 + i).toString(16)} ${(100 + i) * MIB} ${MIB}`]));
    const res = await Promise.all(jobs);
    res.forEach((r, i) => ok(r, `qemu-io session ${i}`));
    const all = await qemuIo(0, [0, 1, 2, 3].map((i) => `read -P 0x${(0x41 + i).toString(16)} ${(100 + i) * MIB} ${MIB}`));
    ok(all, 'qemu-io verify all ranges');
  });

  test('24 concurrent CHAP logins (separate processes) all succeed', async () => {
    const res = await Promise.all(
      Array.from({ length: 24 }, () => run('iscsi-inq', ['-i', CLIENT_IQN, url(0)], { timeoutMs: 60_000 })),
    );
    const failed = res.filter((r) => r.code !== 0);
    assert.deepEqual(failed.map((r) => r.output.trim().split('\n')[0]), []);
    for (const r of res) assert.match(r.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
  });

  test('discovery CHAP (PUT /api/discoveryauth): SendTargets needs the discovery secret; empty disables it', async () => {
    const duser = 'discoveryuser1';
    const dpass = 'discoverypass1';
    let r = await d.api.put('/api/discoveryauth', { username: duser, password: dpass, mutual_username: '', mutual_password: '' });
    assert.equal(r.status, 200, r.text);
    const lsArgs = (cred: string): string[] => ['-i', CLIENT_IQN, `iscsi://${cred}${d.portal()}`];
    const without = await run('iscsi-ls', lsArgs(''), { timeoutMs: 20_000 });
    assert.notEqual(without.code, 0, `discovery without CHAP accepted:\n${without.output}`);
    const wrong = await run('iscsi-ls', lsArgs(`${duser}%wrongpassw0rd1@`), { timeoutMs: 20_000 });
    assert.notEqual(wrong.code, 0, `discovery with a wrong secret accepted:\n${wrong.output}`);
    const right = await run('iscsi-ls', lsArgs(`${duser}%${dpass}@`), { timeoutMs: 20_000 });
    ok(right, 'discovery with the discovery secret');
    assert.match(right.stdout, /Target:/);
    // Normal sessions still use the client's own CHAP, not the discovery secret.
    ok(await run('iscsi-inq', ['-i', CLIENT_IQN, url(0)], { timeoutMs: 20_000 }), 'normal login with client CHAP');
    r = await d.api.put('/api/discoveryauth', { username: '', password: '', mutual_username: '', mutual_password: '' });
    assert.equal(r.status, 200, r.text);
    ok(await run('iscsi-ls', lsArgs(''), { timeoutMs: 20_000 }), 'discovery after disabling discovery CHAP');
    assert.doesNotMatch(d.log(), new RegExp(dpass), 'the discovery secret appeared in the daemon log');
  });
});
