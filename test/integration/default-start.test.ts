/**
 * `npm start` without any iscsi-gateway.cfg (README's first command): the embedded default —
 * file backstore with its data in ./data, Basic auth admin/admin. Ports and bind address come from
 * the ISCSI_GW_* environment overrides here (free loopback ports instead of :5000/:3260, which
 * other test runs on this host may hold).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DAEMON_MAIN, freePort, removeDir, requireTools, RestClient, run, tempDir, waitFor } from './helpers.js';

test('no cfg file: embedded default starts, keeps its data in ./data, runs the README tour, stops on SIGTERM', { timeout: 60_000 }, async () => {
  requireTools('iscsi-ls');
  assert.ok(existsSync(DAEMON_MAIN), `${DAEMON_MAIN} missing (run tsc)`);
  assert.ok(!existsSync('/etc/ceph/iscsi-gateway.cfg'), 'this host has /etc/ceph/iscsi-gateway.cfg: the default would read it');
  const cwd = await tempDir('igw-default-');
  const apiPort = await freePort();
  const iscsiPort = await freePort();
  const child = spawn(process.execPath, [DAEMON_MAIN], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ISCSI_GW_API_HOST: '127.0.0.1', ISCSI_GW_API_PORT: String(apiPort), ISCSI_GW_ISCSI_PORT: String(iscsiPort) },
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => out.push(c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    const api = new RestClient('127.0.0.1', apiPort);
    await waitFor('default daemon API', async () => {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${Buffer.concat(out).toString()}`);
      const r = await api.request('GET', '/api/_ping', undefined, 2_000);
      return r.status === 200 ? true : undefined;
    }, 20_000, 100);
    const cfg = await api.get('/api/config');
    assert.equal(cfg.status, 200, cfg.text);
    assert.equal((cfg.body as { version: number }).version, 11);
    assert.ok(existsSync(join(cwd, 'data')), `./data not created in ${cwd}: ${readdirSync(cwd).join(', ')}`);
    // A disk created through the API lands under ./data.
    const r = await api.put('/api/disk/rbd/default_disk', { mode: 'create', size: '16M', create_image: 'true' });
    assert.equal(r.status, 200, r.text);
    const names: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) e.isDirectory() ? walk(join(dir, e.name)) : names.push(e.name);
    };
    walk(join(cwd, 'data'));
    assert.ok(names.some((n) => n.includes('default_disk')), `image not under ./data: ${names.join(', ')}`);
    // README's quick tour, on the defaults (minimum_gateways, gateway name = this host's FQDN).
    const host = (await api.must('GET', '/api/sysinfo/hostname')).body as { data: string };
    assert.ok(typeof host.data === 'string' && host.data.length > 0, 'no hostname from /api/sysinfo/hostname');
    const iqn = 'iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw';
    const client = 'iqn.1994-05.com.redhat:rh7-client';
    await api.must('PUT', `/api/target/${iqn}`);
    await api.must('PUT', `/api/gateway/${iqn}/${host.data}`, { ip_address: '127.0.0.1', skipchecks: 'true' });
    await api.must('PUT', '/api/disk/rbd/disk_1', { mode: 'create', size: '1G', create_image: 'true' });
    await api.must('PUT', `/api/targetlun/${iqn}`, { disk: 'rbd/disk_1' });
    await api.must('PUT', `/api/client/${iqn}/${client}`);
    await api.must('PUT', `/api/clientauth/${iqn}/${client}`, { username: 'myiscsiusername', password: 'myiscsipassw0rd' });
    await api.must('PUT', `/api/clientlun/${iqn}/${client}`, { disk: 'rbd/disk_1' });
    const ls = await run('iscsi-ls', ['-s', '-i', client, `iscsi://myiscsiusername%myiscsipassw0rd@127.0.0.1:${iscsiPort}`], { timeoutMs: 20_000 });
    assert.equal(ls.code, 0, ls.output);
    assert.match(ls.stdout, /Lun:0\s+Type:DIRECT_ACCESS/);
    child.kill('SIGTERM');
    const ex = await exited;
    assert.equal(ex.code, 0, `exit after SIGTERM: ${JSON.stringify(ex)}\n${Buffer.concat(out).toString().slice(-2000)}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await removeDir(cwd);
  }
});
