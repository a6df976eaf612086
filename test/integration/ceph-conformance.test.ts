/**
 * libiscsi iscsi-test-cu (family ALL, --dataloss) against a 1 GiB LUN on an RBD image of a
 * real single-node Ceph, with the same rule as the file backstore (conformance.test.ts): no
 * test FAILS or ERRORs unless listed in conformance-known-failures.txt. CompareAndWrite goes to
 * librbd's compare-and-write, WRITE SAME to writesame/write-zeroes, UNMAP to discard, and the
 * zero-length commands (Read16.ZeroBlocks, which kills tgt-rbd) must never reach librbd.
 * Raw output and the summary go to dist/conformance/rbd.*.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CephCluster } from './ceph-helpers.js';
import { addClient, countResults, Daemon, defineTarget, readKnownFailures, requireTools, ROOT, runConformance, TEST_CU_INITIATORS } from './helpers.js';

const OUT = join(ROOT, 'dist', 'conformance');
const KNOWN_FAILURES_FILE = join(ROOT, 'test', 'integration', 'conformance-known-failures.txt');

let ceph: CephCluster | undefined;
let daemon: Daemon | undefined;

after(async () => {
  await daemon?.dispose();
  await ceph?.stop();
});

test('iscsi-test-cu ALL on an RBD LUN: no unexpected failures', { timeout: 20 * 60_000 }, async (t) => {
  requireTools('iscsi-test-cu');
  await mkdir(OUT, { recursive: true });
  const known = readKnownFailures(readFileSync(KNOWN_FAILURES_FILE, 'utf8'));
  ceph = await CephCluster.start({ mgr: false });
  daemon = await Daemon.start({ extra: ceph.settings(), readyTimeoutMs: 60_000 });
  await defineTarget(daemon.api, daemon.gatewayName, 'rbd/disk_1', '1G');
  for (const initiator of TEST_CU_INITIATORS) await addClient(daemon.api, initiator, 'rbd/disk_1');

  const ours = await runConformance(daemon.url(), join(OUT, 'rbd'), ['-T', '90', '-B', '900']);
  const counts = countResults(ours.rows);
  t.diagnostic(`rbd: ${ours.summary}`);
  await writeFile(join(OUT, 'rbd-summary.json'), JSON.stringify({ rbd: counts }, null, 2) + '\n');
  assert.equal(await daemon.api.get('/api/_ping').then((r) => r.status), 200, `daemon died during the run:\n${daemon.logTail()}`);
  assert.ok(ours.rows.length >= 200, `expected the full ALL family, got ${ours.rows.length} rows`);
  const caw = ours.rows.filter((r) => r.suite === 'CompareAndWrite');
  assert.ok(caw.some((r) => r.result === 'PASSED'), `no CompareAndWrite test passed: ${JSON.stringify(caw)}`);
  const unexpected = ours.rows
    .filter((r) => (r.result === 'FAILED' || r.result === 'ERROR') && !known.has(`${r.suite}.${r.test}`))
    .map((r) => `${r.suite}.${r.test} [${r.result}] ${r.reason}`);
  assert.deepEqual(unexpected, [], `unexpected conformance failures on rbd (see ${join(OUT, 'rbd.txt')})`);
});
