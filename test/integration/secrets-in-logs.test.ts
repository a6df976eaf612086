/**
 * Secrets never reach the logs, even at the most verbose level (LOG_LEVEL=trace): CHAP secrets set
 * through the REST API (client, mutual, discovery, target level), used in good and bad logins, and
 * the API password itself in good and bad requests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addClient, CLIENT_IQN, Daemon, defineTarget, requireTools, run, TARGET_IQN } from './helpers.js';

const SECRETS = {
  user: 'logsecretuser1',
  pass: 'Lg5ecretPassw0',
  mutualUser: 'logmutualuser1',
  mutualPass: 'Lg5ecretMutu4l',
  discUser: 'logdiscovery01',
  discPass: 'Lg5ecretDiscov',
  wrong: 'Lg5ecretWr0ng1',
  api: 'Api5ecretPassw0rd',
};

test('no secret in stdout/stderr at LOG_LEVEL=trace', { timeout: 60_000 }, async () => {
  requireTools('iscsi-inq', 'iscsi-ls');
  const d = await Daemon.start({ env: { LOG_LEVEL: 'trace' }, extra: { api_password: SECRETS.api } });
  try {
    const api = d.api; // Basic auth with admin:<SECRETS.api>
    await defineTarget(api, d.gatewayName, 'rbd/disk_1', '16M');
    await addClient(api, CLIENT_IQN, 'rbd/disk_1');
    await api.must('PUT', `/api/clientauth/${TARGET_IQN}/${CLIENT_IQN}`, {
      username: SECRETS.user,
      password: SECRETS.pass,
      mutual_username: SECRETS.mutualUser,
      mutual_password: SECRETS.mutualPass,
    });
    await api.must('PUT', '/api/discoveryauth', { username: SECRETS.discUser, password: SECRETS.discPass, mutual_username: '', mutual_password: '' });
    const base = `${SECRETS.user}%`;
    const mutual = `?target_user=${SECRETS.mutualUser}&target_password=${SECRETS.mutualPass}`;
    const good = await run('iscsi-inq', ['-i', CLIENT_IQN, `iscsi://${base}${SECRETS.pass}@${d.portal()}/${TARGET_IQN}/0${mutual}`], { timeoutMs: 20_000 });
    assert.equal(good.code, 0, good.output);
    const bad = await run('iscsi-inq', ['-i', CLIENT_IQN, `iscsi://${base}${SECRETS.wrong}@${d.portal()}/${TARGET_IQN}/0`], { timeoutMs: 20_000 });
    assert.notEqual(bad.code, 0);
    await run('iscsi-ls', ['-i', CLIENT_IQN, `iscsi://${SECRETS.discUser}%${SECRETS.discPass}@${d.portal()}`], { timeoutMs: 20_000 });
    await run('iscsi-ls', ['-i', CLIENT_IQN, `iscsi://${SECRETS.discUser}%${SECRETS.wrong}@${d.portal()}`], { timeoutMs: 20_000 });
    const wrongApi = await fetch(`${d.api.base}/api/config`, { headers: { authorization: 'Basic ' + Buffer.from(`admin:${SECRETS.wrong}`).toString('base64') } });
    assert.equal(wrongApi.status, 401);
    // GET /api/config (no decrypt) is allowed to show the stored passwords; its answer is not a log.
    await api.must('GET', '/api/config');
    await d.stop('SIGTERM');
    const log = d.log();
    assert.ok(log.length > 1000, `suspiciously little logging at trace level (${log.length} bytes)`);
    for (const [name, value] of Object.entries(SECRETS)) {
      if (name.endsWith('User') || name === 'user') continue; // user names are not secrets
      assert.ok(!log.includes(value), `secret ${name} appears in the daemon log`);
      const b64 = Buffer.from(`admin:${value}`).toString('base64');
      assert.ok(!log.includes(b64), `Basic credentials with ${name} appear in the daemon log`);
    }
  } finally {
    await d.dispose();
  }
});
