/**
 * The REST API of the running daemon over HTTP, the whole life of a target: authentication errors
 * with upstream's texts, validation errors (clear 4xx, daemon stays up), then ceph QA's delete flow
 * (rest_api_delete.t) with its messages — and each deletion visible to a real initiator — and the
 * empty configuration surviving a restart.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addClient, CHAP_PASS, CHAP_USER, CLIENT_IQN, Daemon, defineTarget, requireTools, run, TARGET_IQN, type ApiReply } from './helpers.js';

const DISK = 'rbd/disk_1';

function msg(r: ApiReply): string {
  const b = r.body as { message?: unknown };
  return typeof b === 'object' && b !== null && typeof b.message === 'string' ? b.message : r.text;
}

/** All file names under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...filesUnder(join(dir, e.name)));
    else out.push(e.name);
  }
  return out;
}

describe('REST lifecycle: auth, validation, delete flow, restart', { timeout: 3 * 60_000 }, () => {
  let d: Daemon;

  before(async () => {
    requireTools('iscsi-ls', 'iscsi-inq');
    d = await Daemon.start();
  });

  after(async () => {
    await d?.dispose();
  });

  test('authentication: GET /api is open; other routes need the right Basic credentials', async () => {
    const open = await fetch(`${d.api.base}/api`);
    assert.equal(open.status, 200);
    const listing = (await open.json()) as { api?: unknown[] };
    assert.ok(Array.isArray(listing.api) && listing.api.length > 10, 'GET /api lists the routes');
    const none = await fetch(`${d.api.base}/api/config`);
    assert.equal(none.status, 401);
    assert.match(JSON.stringify(await none.json()), /Missing credentials/);
    const wrong = await fetch(`${d.api.base}/api/config`, { headers: { authorization: 'Basic ' + Buffer.from('admin:nope').toString('base64') } });
    assert.equal(wrong.status, 401);
    assert.match(JSON.stringify(await wrong.json()), /username\/password mismatch with the configuration file/);
  });

  test('bad input gets a clear 4xx JSON message and does not hurt the daemon', async () => {
    await defineTarget(d.api, d.gatewayName, DISK, '64M');
    const cases: readonly [string, string, Record<string, string>][] = [
      ['PUT', `/api/client/${TARGET_IQN}/not-an-iqn`, {}],
      ['PUT', `/api/disk/rbd/bad`, { mode: 'create', size: '1.5G', create_image: 'true' }],
      ['PUT', `/api/disk/rbd/many`, { mode: 'create', size: '1G', create_image: 'true', count: '11' }],
      ['PUT', `/api/disk/rbd/dup`, { mode: 'nonsense', size: '1G' }],
      ['PUT', `/api/targetlun/${TARGET_IQN}`, { disk: 'rbd/undefined_disk' }],
      ['PUT', `/api/target/iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw/../x`, {}],
      ['DELETE', `/api/disk/${DISK}`, {}], // mapped to the target: refused
      ['PUT', `/api/hostgroup/${TARGET_IQN}/grp`, { action: 'explode' }],
    ];
    for (const [method, path, form] of cases) {
      const r = await d.api.request(method, path, form);
      assert.ok(r.status >= 400 && r.status < 500, `${method} ${path} ${JSON.stringify(form)} -> ${r.status} ${r.text}`);
      assert.ok(typeof (r.body as { message?: unknown }).message === 'string', `${method} ${path}: no JSON message: ${r.text}`);
    }
    await d.api.must('PUT', `/api/client/${TARGET_IQN}/${CLIENT_IQN}`, {});
    // CHAP rules (gwcli valid_credentials): user 8-64 chars, password 12-16 chars.
    for (const form of [
      { username: 'short', password: CHAP_PASS },
      { username: CHAP_USER, password: 'tooshort' },
      { username: CHAP_USER, password: 'muchtoolongpassword123' },
      { username: '', password: CHAP_PASS },
    ]) {
      const r = await d.api.put(`/api/clientauth/${TARGET_IQN}/${CLIENT_IQN}`, form);
      assert.equal(r.status, 400, `clientauth ${JSON.stringify({ ...form, password: '***' })} -> ${r.status} ${r.text}`);
    }
    assert.ok(d.running);
    assert.doesNotMatch(d.log(), /muchtoolongpassword123/, 'a rejected password was logged');
  });

  test('delete flow: each step answers upstream\'s message and is visible to the initiator', async () => {
    await d.api.must('PUT', `/api/clientauth/${TARGET_IQN}/${CLIENT_IQN}`, { username: CHAP_USER, password: CHAP_PASS });
    await d.api.must('PUT', `/api/clientlun/${TARGET_IQN}/${CLIENT_IQN}`, { disk: DISK });
    const lsUrl = `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`;
    const before = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, lsUrl], { timeoutMs: 20_000 });
    assert.equal(before.code, 0, before.output);
    assert.match(before.stdout, /Lun:0\s+Type:DIRECT_ACCESS/);

    let r = await d.api.del(`/api/clientlun/${TARGET_IQN}/${CLIENT_IQN}`, { disk: DISK });
    assert.equal(r.status, 200, r.text);
    assert.match(msg(r), /client masking update successful/);
    const masked = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, lsUrl], { timeoutMs: 20_000 });
    assert.doesNotMatch(masked.stdout, /Type:DIRECT_ACCESS/, `LUN still visible after unmasking:\n${masked.output}`);

    r = await d.api.del(`/api/client/${TARGET_IQN}/${CLIENT_IQN}`);
    assert.equal(r.status, 200, r.text);
    assert.match(msg(r), /client delete successful/);
    const gone = await run('iscsi-inq', ['-i', CLIENT_IQN, d.url(TARGET_IQN, 0, CHAP_USER, CHAP_PASS)], { timeoutMs: 20_000 });
    assert.notEqual(gone.code, 0, gone.output);
    assert.match(gone.output, /Authorization failure/);

    r = await d.api.del(`/api/targetlun/${TARGET_IQN}`, { disk: DISK });
    assert.equal(r.status, 200, r.text);
    assert.match(msg(r), /Target LUN mapping updated successfully/);

    assert.ok(filesUnder(d.dataDir).some((f) => f.includes('disk_1')), 'image file not found before delete');
    r = await d.api.del(`/api/disk/${DISK}`);
    assert.equal(r.status, 200, r.text);
    assert.match(msg(r), /disk map deletion successful/);
    assert.ok(!filesUnder(d.dataDir).some((f) => f.includes('disk_1')), 'image file still present after delete (preserve_image=false)');

    r = await d.api.del(`/api/gateway/${TARGET_IQN}/${d.gatewayName}`);
    assert.equal(r.status, 200, r.text);
    assert.match(msg(r), /Gateway deletion successful/);
    r = await d.api.del(`/api/target/${TARGET_IQN}`);
    assert.equal(r.status, 200, r.text);
    assert.match(msg(r), /Target deleted\./);
    r = await d.api.del(`/api/target/${TARGET_IQN}`);
    assert.equal(r.status, 404, `deleting a deleted target: ${r.status} ${r.text}`);

    const cfg = (await d.api.must('GET', '/api/config')).body as { targets: Record<string, unknown>; disks: Record<string, unknown> };
    assert.deepEqual(Object.keys(cfg.targets), []);
    assert.deepEqual(Object.keys(cfg.disks), []);
    const disc = await run('iscsi-ls', [`iscsi://${d.portal()}`], { timeoutMs: 20_000 });
    assert.doesNotMatch(disc.stdout, /Target:/, `target still discoverable:\n${disc.output}`);
  });

  test('the empty configuration survives a restart', async () => {
    const ex = await d.stop('SIGTERM');
    assert.equal(ex.code, 0);
    await d.restart();
    const cfg = (await d.api.must('GET', '/api/config')).body as { version: number; targets: Record<string, unknown>; disks: Record<string, unknown> };
    assert.equal(cfg.version, 11);
    assert.deepEqual(Object.keys(cfg.targets), []);
    assert.deepEqual(Object.keys(cfg.disks), []);
  });
});
