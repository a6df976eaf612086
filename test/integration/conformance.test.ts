/**
 * libiscsi iscsi-test-cu (family ALL) against our daemon and, side by side, against tgt with a LUN
 * of the same size (thick). Our target: 1 GiB file LUN 0 mapped to both iscsi-test-cu initiator
 * names (two ACL clients, no CHAP), so the reservation tests can log in with both.
 *
 * Asserts: none of our tests FAILS (or ERRORs) unless listed in conformance-known-failures.txt
 * (`Suite.Test  # reason`; the list may only shrink); when that list is empty, ours passes at least
 * as many tests as tgt. The side-by-side table goes to stdout and dist/conformance/report.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  addClient,
  countResults,
  type CuRow,
  Daemon,
  defineTarget,
  requireTools,
  readKnownFailures,
  ROOT,
  runConformance,
  startTgt,
  TEST_CU_INITIATORS,
  type Tgt,
} from './helpers.js';

const OUT = join(ROOT, 'dist', 'conformance');
const KNOWN_FAILURES_FILE = join(ROOT, 'test', 'integration', 'conformance-known-failures.txt');

function perSuite(rows: readonly CuRow[]): Map<string, string> {
  const m = new Map<string, { p: number; f: number; s: number; e: number }>();
  for (const r of rows) {
    const c = m.get(r.suite) ?? { p: 0, f: 0, s: 0, e: 0 };
    if (r.result === 'PASSED') c.p++;
    else if (r.result === 'FAILED') c.f++;
    else if (r.result === 'SKIPPED') c.s++;
    else c.e++;
    m.set(r.suite, c);
  }
  const out = new Map<string, string>();
  for (const [k, c] of m) out.set(k, `${c.p}/${c.f}/${c.s}${c.e > 0 ? ` (+${c.e} err)` : ''}`);
  return out;
}

function report(
  ours: readonly CuRow[],
  tgt: readonly CuRow[],
  thin: readonly CuRow[],
  summaries: { ours: string; tgt: string; thin: string },
): string {
  const a = perSuite(ours);
  const b = perSuite(tgt);
  const c = perSuite(thin);
  const suites = [...new Set([...ours.map((r) => r.suite), ...tgt.map((r) => r.suite)])];
  const w = Math.max(5, ...suites.map((s) => s.length));
  const lines: string[] = [];
  lines.push('# iscsi-test-cu ALL: ours vs tgt (pass/fail/skip per suite)', '');
  lines.push('Ours: 1 GiB file LUN (thin, LBPME=1). tgt: 1 GiB file LUN, thick (the baseline) and thin (thin_provisioning=1).', '');
  lines.push('```');
  lines.push(`${'suite'.padEnd(w)}  ${'ours p/f/s'.padEnd(16)}  ${'tgt thick p/f/s'.padEnd(16)}  tgt thin p/f/s`);
  for (const s of suites) {
    const mark = a.get(s) !== b.get(s) ? '  *' : '';
    lines.push(`${s.padEnd(w)}  ${(a.get(s) ?? '-').padEnd(16)}  ${(b.get(s) ?? '-').padEnd(16)}  ${c.get(s) ?? '-'}${mark}`);
  }
  lines.push('```', '');
  lines.push(`- ours: ${summaries.ours}`, `- tgt thick: ${summaries.tgt}`, `- tgt thin: ${summaries.thin}`, '');
  const diff = ours.filter((r) => {
    const t = tgt.find((x) => x.suite === r.suite && x.test === r.test);
    return t !== undefined && t.result !== r.result;
  });
  lines.push('## Tests whose result differs from tgt (thick)', '');
  for (const r of diff) {
    const t = tgt.find((x) => x.suite === r.suite && x.test === r.test);
    const th = thin.find((x) => x.suite === r.suite && x.test === r.test);
    lines.push(`- ${r.suite}.${r.test}: ours ${r.result}${r.reason ? ` (${r.reason})` : ''}, tgt ${t?.result ?? '?'}, tgt thin ${th?.result ?? '?'}`);
  }
  if (diff.length === 0) lines.push('(none)');
  lines.push('', '## Our skipped tests', '');
  for (const r of ours.filter((x) => x.result === 'SKIPPED')) lines.push(`- ${r.suite}.${r.test}: ${r.reason}`);
  lines.push('', '## Our failed tests', '');
  const failed = ours.filter((x) => x.result === 'FAILED' || x.result === 'ERROR');
  for (const r of failed) lines.push(`- ${r.suite}.${r.test} [${r.result}]: ${r.reason}`);
  if (failed.length === 0) lines.push('(none)');
  return lines.join('\n') + '\n';
}

let daemon: Daemon | undefined;
let tgt: Tgt | undefined;

before(async () => {
  await mkdir(OUT, { recursive: true });
});

after(async () => {
  await daemon?.dispose();
  await tgt?.stop();
});

test('iscsi-test-cu ALL: ours has no unexpected failures and keeps up with tgt', { timeout: 40 * 60_000 }, async (t) => {
  requireTools('iscsi-test-cu', 'tgtd', 'tgtadm');
  const known = readKnownFailures(readFileSync(KNOWN_FAILURES_FILE, 'utf8'));

  daemon = await Daemon.start();
  await defineTarget(daemon.api, daemon.gatewayName, 'rbd/disk_1', '1G');
  for (const initiator of TEST_CU_INITIATORS) await addClient(daemon.api, initiator, 'rbd/disk_1');

  // Ours first, then tgt (never both at once: 2 cores). Per suite 60 s; whole runs 10 min (ours) and 5 min (tgt) at most.
  const ours = await runConformance(daemon.url(), join(OUT, 'ours'), ['-T', '60', '-B', '600']);
  t.diagnostic(`ours: ${ours.summary}`);
  assert.equal(await daemon.api.get('/api/_ping').then((r) => r.status), 200, `daemon died during the run:\n${daemon.logTail()}`);
  await daemon.stop('SIGTERM');

  tgt = await startTgt({ size: '1G' });
  const ref = await runConformance(tgt.url, join(OUT, 'tgt'), ['-T', '60', '-B', '300']);
  t.diagnostic(`tgt thick: ${ref.summary}`);
  await tgt.stop();
  tgt = await startTgt({ size: '1G', thin: true });
  const refThin = await runConformance(tgt.url, join(OUT, 'tgt-thin'), ['-T', '60', '-B', '300']);
  t.diagnostic(`tgt thin: ${refThin.summary}`);
  await tgt.stop();
  tgt = undefined;

  const text = report(ours.rows, ref.rows, refThin.rows, { ours: ours.summary, tgt: ref.summary, thin: refThin.summary });
  await writeFile(join(OUT, 'report.md'), text);
  await writeFile(
    join(OUT, 'summary.json'),
    JSON.stringify({ ours: countResults(ours.rows), tgtThick: countResults(ref.rows), tgtThin: countResults(refThin.rows) }, null, 2) + '\n',
  );
  console.log(text);

  // Sanity: both runs covered the same list of tests, and tgt itself produced results.
  assert.ok(ours.rows.length >= 200, `expected the full ALL family, got ${ours.rows.length} rows`);
  assert.equal(ours.rows.length, ref.rows.length);
  const rc = countResults(ref.rows);
  assert.ok(rc.PASSED > 100, `tgt reference run looks broken: ${ref.summary}`);

  const unexpected = ours.rows
    .filter((r) => (r.result === 'FAILED' || r.result === 'ERROR') && !known.has(`${r.suite}.${r.test}`))
    .map((r) => `${r.suite}.${r.test} [${r.result}] ${r.reason}`);
  const nowPassing = [...known.keys()].filter((k) => ours.rows.some((r) => `${r.suite}.${r.test}` === k && r.result !== 'FAILED' && r.result !== 'ERROR'));
  if (nowPassing.length > 0) t.diagnostic(`known failures that no longer fail (remove them from the list): ${nowPassing.join(', ')}`);
  const unknownNames = [...known.keys()].filter((k) => !ours.rows.some((r) => `${r.suite}.${r.test}` === k));
  assert.deepEqual(unknownNames, [], 'known-failures file names tests that do not exist');
  assert.deepEqual(unexpected, [], `unexpected conformance failures (see ${join(OUT, 'report.md')})`);

  if (known.size === 0) {
    const oc = countResults(ours.rows);
    assert.ok(oc.PASSED >= rc.PASSED, `ours passed ${oc.PASSED} < tgt (thick) passed ${rc.PASSED}`);
    const thinPassed = countResults(refThin.rows).PASSED;
    assert.ok(oc.PASSED >= thinPassed, `ours passed ${oc.PASSED} < tgt (thin) passed ${thinPassed}`);
  }
});
