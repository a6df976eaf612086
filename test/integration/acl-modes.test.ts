/**
 * Target authentication modes (PUT /api/targetauth, ceph-iscsi v11): ACL disabled (LIO
 * generate_node_acls: every initiator logs in and sees every LUN of the target), target-level
 * CHAP in that mode, and back to ACL mode (only defined clients).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Daemon, defineTarget, requireTools, run, TARGET_IQN } from './helpers.js';

const ANYONE = 'iqn.1994-05.com.example:anyone';
const TUSER = 'targetlevelusr';
const TPASS = 'targetlevelpw1';

describe('ACL disabled, target CHAP, ACL enabled', { timeout: 2 * 60_000 }, () => {
  let d: Daemon;
  const inq = (initiator: string, cred = ''): ReturnType<typeof run> =>
    run('iscsi-inq', ['-i', initiator, `iscsi://${cred}${d.portal()}/${TARGET_IQN}/0`], { timeoutMs: 20_000 });

  before(async () => {
    requireTools('iscsi-inq');
    d = await Daemon.start();
    await defineTarget(d.api, d.gatewayName, 'rbd/disk_1', '16M');
  });

  after(async () => {
    await d?.dispose();
  });

  test('ACL mode without clients: nobody gets in', async () => {
    const r = await inq(ANYONE);
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /Authorization failure/);
  });

  test('disable_acl: any initiator logs in and sees the target LUNs', async () => {
    const r = await d.api.put(`/api/targetauth/${TARGET_IQN}`, { action: 'disable_acl' });
    assert.equal(r.status, 200, r.text);
    const cfg = (await d.api.must('GET', '/api/config')).body as { targets: Record<string, { acl_enabled: boolean }> };
    assert.equal(cfg.targets[TARGET_IQN]?.acl_enabled, false);
    const ok = await inq(ANYONE);
    assert.equal(ok.code, 0, ok.output);
    assert.match(ok.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
  });

  test('target-level CHAP with ACL disabled: the target secret is required', async () => {
    const r = await d.api.put(`/api/targetauth/${TARGET_IQN}`, { username: TUSER, password: TPASS, mutual_username: '', mutual_password: '' });
    assert.equal(r.status, 200, r.text);
    const none = await inq(ANYONE);
    assert.notEqual(none.code, 0, `login without the target secret accepted:\n${none.output}`);
    const wrong = await inq(ANYONE, `${TUSER}%wrongsecret12@`);
    assert.notEqual(wrong.code, 0, wrong.output);
    assert.match(wrong.output, /Authentication failure/);
    const right = await inq(ANYONE, `${TUSER}%${TPASS}@`);
    assert.equal(right.code, 0, right.output);
    // Rule (targetauth): enable_acl is refused while target CHAP is set.
    const refused = await d.api.put(`/api/targetauth/${TARGET_IQN}`, { action: 'enable_acl' });
    assert.ok(refused.status >= 400 && refused.status < 500, `${refused.status} ${refused.text}`);
    const clear = await d.api.put(`/api/targetauth/${TARGET_IQN}`, { username: '', password: '', mutual_username: '', mutual_password: '' });
    assert.equal(clear.status, 200, clear.text);
    assert.equal((await inq(ANYONE)).code, 0, 'no CHAP after clearing the target secret');
    assert.doesNotMatch(d.log(), new RegExp(TPASS), 'the target secret appeared in the daemon log');
  });

  test('enable_acl: back to defined clients only', async () => {
    const r = await d.api.put(`/api/targetauth/${TARGET_IQN}`, { action: 'enable_acl' });
    assert.equal(r.status, 200, r.text);
    const denied = await inq(ANYONE);
    assert.notEqual(denied.code, 0, denied.output);
    assert.match(denied.output, /Authorization failure/);
  });
});
