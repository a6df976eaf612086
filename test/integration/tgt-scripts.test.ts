/**
 * scripts/tgt-start.sh and tgt-stop.sh: the reference peer comes up on its own ports with a thick
 * LUN of the requested size, serves libiscsi, and goes away by PID (tgtd ignores SIGTERM).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import net from 'node:net';
import { removeDir, requireTools, ROOT, run, startTgt, tempDir, TGT_IQN, waitFor } from './helpers.js';

/** Running and not a zombie (an exited tgtd may wait to be reaped by init). */
function alive(pid: number): boolean {
  try {
    const st = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return st !== undefined && st !== 'Z';
  } catch {
    return false;
  }
}

test('tgt-start.sh: thick LUN 1 of 64 MiB on its own port, usable by libiscsi; tgt-stop.sh ends it', { timeout: 60_000 }, async () => {
  requireTools('tgtd', 'tgtadm', 'iscsi-readcapacity16', 'iscsi-ls');
  const tgt = await startTgt({ size: '64M' });
  try {
    assert.ok(alive(tgt.pid), `tgtd ${tgt.pid} not running`);
    assert.equal(readFileSync(`/proc/${tgt.pid}/comm`, 'utf8').trim(), 'tgtd');
    const img = join(tgt.dir, 'lun1.img');
    assert.equal(statSync(img).size, 64 * 1024 * 1024);
    // Thick: every block allocated (st_blocks are 512-byte units).
    assert.ok(statSync(img).blocks * 512 >= 64 * 1024 * 1024, 'image is sparse, expected thick');

    const ls = await run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${tgt.port}`], { timeoutMs: 20_000 });
    assert.equal(ls.code, 0, ls.output);
    assert.match(ls.stdout, new RegExp(`Target:${TGT_IQN.replace(/\./g, '\\.')} Portal:127\\.0\\.0\\.1:${tgt.port}`));
    const cap = await run('iscsi-readcapacity16', [tgt.url], { timeoutMs: 20_000 });
    assert.equal(cap.code, 0, cap.output);
    assert.match(cap.stdout, /Total size:67108864/);
    assert.match(cap.stdout, /LBPME:0/);
  } finally {
    await tgt.stop();
  }
  await waitFor('tgtd to exit', () => (alive(tgt.pid) ? undefined : true), 15_000);
  assert.equal(existsSync(tgt.dir), false, 'tgt dir not removed');
});

test('tgt-start.sh on a taken port fails and leaves no tgtd behind (tgtd would fall back to 0.0.0.0:3260)', { timeout: 60_000 }, async () => {
  requireTools('tgtd', 'tgtadm');
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const addr = busy.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const dir = await tempDir('igw-tgt-busy-');
  const ctl = 2000 + Math.floor(Math.random() * 30_000);
  try {
    const r = await run('bash', [join(ROOT, 'scripts', 'tgt-start.sh'), '-p', String(port), '-c', String(ctl), '-d', dir, '-s', '16M'], { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.stderr, /did not bind 127\.0\.0\.1/);
    const pid = Number(readFileSync(join(dir, 'tgtd.pid'), 'utf8'));
    await waitFor('the failed tgtd to be gone', () => (alive(pid) ? undefined : true), 10_000);
    assert.equal(existsSync(`/var/run/tgtd/socket.${ctl}`), false, 'control socket left behind');
  } finally {
    busy.close();
    await removeDir(dir);
  }
});

test('tgt-start.sh refuses bad arguments', async () => {
  const r = await run('bash', [join(ROOT, 'scripts', 'tgt-start.sh'), '-p', 'x'], { timeoutMs: 10_000 });
  assert.equal(r.code, 2, r.output);
});

test('clients-smoke.sh: every check passes on tgt (with --dataloss); a wrong LUN path is counted as failures', { timeout: 60_000 }, async () => {
  requireTools('tgtd', 'tgtadm', 'iscsi-ls', 'iscsi-inq', 'qemu-io', 'qemu-img');
  const tgt = await startTgt({ size: '16M' });
  try {
    const smoke = join(ROOT, 'scripts', 'clients-smoke.sh');
    const good = await run('bash', [smoke, '--dataloss', tgt.url], { timeoutMs: 60_000 });
    assert.equal(good.code, 0, good.output);
    assert.match(good.stdout, /^0 failed$/m);
    assert.equal((good.stdout.match(/^ok /gm) ?? []).length, 11);
    const bad = await run('bash', [smoke, tgt.url.replace(/\/1$/, '/7')], { timeoutMs: 60_000 });
    assert.ok(bad.code !== null && bad.code > 0, bad.output);
    assert.match(bad.stdout, new RegExp(`^${bad.code} failed$`, 'm'));
    const usage = await run('bash', [smoke, 'not-a-url'], { timeoutMs: 10_000 });
    assert.equal(usage.code, 2);
  } finally {
    await tgt.stop();
  }
});

