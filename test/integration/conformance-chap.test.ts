/**
 * iscsi-test-cu over CHAP: the login/session-heavy suites (both initiator names, reservations,
 * TMF, CmdSN, residuals, plain I/O) with one-way and mutual CHAP on every session. tgt gives the
 * same results with and without CHAP (iscsi-peers-and-clients.md §4.3), so must we: no failures
 * beyond conformance-known-failures.txt.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { addClient, countResults, Daemon, defineTarget, readKnownFailures, requireTools, ROOT, runConformance, TARGET_IQN, TEST_CU_INITIATORS } from './helpers.js';

const SUITES = ['Read10', 'Write10', 'ProutReserve', 'Reserve6', 'iSCSIcmdsn', 'iSCSIResiduals', 'iSCSITMF', 'MultipathIO'];
const USER = 'libiscsitestuser';
const PASS = 'libiscsipassw0';
const MUTUAL_USER = 'gatewaytargetuser';
const MUTUAL_PASS = 'gatewaypassw0r';

let daemon: Daemon | undefined;
after(async () => {
  await daemon?.dispose();
});

test('iscsi-test-cu session suites with mutual CHAP on every login', { timeout: 10 * 60_000 }, async (t) => {
  requireTools('iscsi-test-cu');
  const known = readKnownFailures(readFileSync(join(ROOT, 'test', 'integration', 'conformance-known-failures.txt'), 'utf8'));
  daemon = await Daemon.start();
  await defineTarget(daemon.api, daemon.gatewayName, 'rbd/disk_1', '256M');
  for (const initiator of TEST_CU_INITIATORS) {
    await addClient(daemon.api, initiator, 'rbd/disk_1');
    await daemon.api.must('PUT', `/api/clientauth/${TARGET_IQN}/${initiator}`, {
      username: USER,
      password: PASS,
      mutual_username: MUTUAL_USER,
      mutual_password: MUTUAL_PASS,
    });
  }
  const url = `${daemon.url(TARGET_IQN, 0, USER, PASS)}?target_user=${MUTUAL_USER}&target_password=${MUTUAL_PASS}`;
  const res = await runConformance(url, join(ROOT, 'dist', 'conformance', 'ours-chap'), ['-T', '60', '-B', '300', '-s', SUITES.join(',')]);
  t.diagnostic(`ours over mutual CHAP: ${res.summary}`);
  const c = countResults(res.rows);
  assert.ok(c.PASSED > 30, `too few passes over CHAP (login broken?): ${res.summary}\n${res.rows.filter((r) => r.result === 'ERROR').slice(0, 3).map((r) => r.reason).join('\n')}`);
  const unexpected = res.rows
    .filter((r) => (r.result === 'FAILED' || r.result === 'ERROR') && !known.has(`${r.suite}.${r.test}`))
    .map((r) => `${r.suite}.${r.test} [${r.result}] ${r.reason}`);
  assert.deepEqual(unexpected, []);
  // The secrets never reach the daemon's log or the harness's raw output.
  assert.doesNotMatch(daemon.log(), new RegExp(`${PASS}|${MUTUAL_PASS}`));
  assert.doesNotMatch(readFileSync(join(ROOT, 'dist', 'conformance', 'ours-chap.txt'), 'utf8'), new RegExp(PASS));
});
