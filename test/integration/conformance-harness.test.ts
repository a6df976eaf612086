/**
 * The conformance harness (scripts/conformance.mjs) itself, against a fake `iscsi-test-cu` that
 * replays CUnit output shapes seen from libiscsi 1.19.0 (skips printed as passes, a result word
 * glued to the dots, teardown noise after a result, assertion lists, a crash, a hang).
 * No peers needed: runs anywhere in a second.
 */
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConformanceTsv, removeDir, ROOT, run, tempDir } from './helpers.js';

let dir: string;
let fake: string;

const LIST = `ALL
ALL.Alpha
ALL.Alpha.Simple
ALL.Alpha.Skipper
ALL.Alpha.Broken
ALL.Alpha.Noisy
ALL.Alpha.Control-SWP
ALL.Alpha.Glued
ALL.Beta
ALL.Beta.One
ALL.Beta.Two
ALL.Gamma
ALL.Gamma.Hangs
SCSI
SCSI.Alpha
SCSI.Alpha.Simple
`;

// CUnit verbose output as iscsi-test-cu 1.19 prints it (see docs/testing.md).
const ALPHA = `found matching LU device identifier for all (2) paths

     CUnit - A unit testing framework for C - Version 2.1-3

Suite: Alpha
  Test: Simple ...passed
  Test: Skipper ...    [SKIPPED] Logical unit is fully provisioned. Skipping test
passed
  Test: Broken ...    Take out a RESERVE6 from the first initiator
    [FAILED] MODESENSE6 successful but should have failed with NO SENSE(0x00)/NO ASCQ(0x0000)
    RESERVE6 from the second initiator should still fail
FAILED
    1. test_reserve6_2initiators.c:70  - CU_ASSERT_EQUAL(_r,0)
  Test: Noisy ...passed    [FAILED] PRIN command: failed with sense. SENSE KEY:UNIT_ATTENTION(6) ASCQ:BUS_RESET(0x2900)
  Test: Control-SWP ...FAILED
    1. test_modesense6_control_swp.c:42  - CU_ASSERT_EQUAL(ret,0)
  Test: Glued ...    [SKIPPED] SANITIZE OVERWRITE is not implemented according to REPORT_SUPPORTED_OPCODES.
passed    [FAILED] PRIN command: failed with sense. RESERVATION CONFLICT
    [FAILED] PRIN command: failed with sense. RESERVATION CONFLICT

Run Summary:    Type  Total    Ran Passed Failed Inactive
               tests      6      6      4      2        0
`;

// Beta: the tool crashes after the first test (no result for Two).
const BETA = `Suite: Beta
  Test: One ...passed
  Test: Two ...malloc(): smallbin double linked list corrupted
`;

before(async () => {
  dir = await tempDir('igw-harness-');
  fake = join(dir, 'iscsi-test-cu');
  await writeFile(join(dir, 'list.txt'), LIST);
  await writeFile(join(dir, 'alpha.txt'), ALPHA);
  await writeFile(join(dir, 'beta.txt'), BETA);
  // Records its argv, then replays the canned output of the requested suite.
  await writeFile(
    fake,
    `#!/usr/bin/env bash
d=$(dirname "$0")
echo "$*" >> "$d/argv.log"
for a in "$@"; do
  case "$a" in
    --list) cat "$d/list.txt"; exit 0 ;;
    ALL.Alpha) cat "$d/alpha.txt"; echo "connecting to \${@: -1}"; exit 0 ;;
    ALL.Beta) cat "$d/beta.txt"; exit 134 ;;
    ALL.Gamma) exec sleep 30 ;;
  esac
done
echo "unexpected args: $*" >&2; exit 99
`,
  );
  await chmod(fake, 0o755);
});

after(async () => {
  await removeDir(dir);
});

test('classifies PASSED / SKIPPED / FAILED / ERROR and writes tsv, summary, masked raw log', async () => {
  const out = join(dir, 'res');
  const url = 'iscsi://user%s3cretpassw0rd@127.0.0.1:1/iqn.2003-01.x:y/0?target_user=tu&target_password=mutu4lsecret';
  const r = await run(process.execPath, [join(ROOT, 'scripts', 'conformance.mjs'), '-o', out, '-T', '1', '-i', 'iqn.a:one', '-I', 'iqn.a:two', url], {
    timeoutMs: 30_000,
    env: { ...process.env, ISCSI_TEST_CU: fake },
  });
  assert.equal(r.code, 0, r.output);
  const rows = parseConformanceTsv(await readFile(`${out}.tsv`, 'utf8'));
  const got = Object.fromEntries(rows.map((x) => [`${x.suite}.${x.test}`, x.result]));
  assert.deepEqual(got, {
    'Alpha.Simple': 'PASSED',
    'Alpha.Skipper': 'SKIPPED',
    'Alpha.Broken': 'FAILED',
    'Alpha.Noisy': 'PASSED', // CUnit said passed; the later [FAILED] line is teardown noise
    'Alpha.Control-SWP': 'FAILED',
    'Alpha.Glued': 'SKIPPED', // result word followed by teardown noise on the same line
    'Beta.One': 'PASSED',
    'Beta.Two': 'ERROR', // crashed: no result
    'Gamma.Hangs': 'ERROR', // killed by the per-suite timeout
  });
  const reason = (k: string): string => rows.find((x) => `${x.suite}.${x.test}` === k)?.reason ?? '';
  assert.equal(reason('Alpha.Skipper'), 'Logical unit is fully provisioned. Skipping test');
  assert.match(reason('Alpha.Broken'), /^MODESENSE6 successful but should have failed/);
  assert.equal(reason('Alpha.Control-SWP'), 'test_modesense6_control_swp.c:42  - CU_ASSERT_EQUAL(ret,0)');
  assert.match(reason('Gamma.Hangs'), /timeout after 1 s/);
  // Last line: failed includes errors.
  assert.equal(r.stdout.trim().split('\n').pop(), '3 passed, 4 failed, 2 skipped');
  assert.match(await readFile(`${out}.summary.txt`, 'utf8'), /3 passed, 4 failed, 2 skipped\n$/);
  // The CHAP secret never reaches the raw log; each suite ran once, with both URLs and initiators.
  const rawLog = await readFile(`${out}.txt`, 'utf8');
  assert.doesNotMatch(rawLog, /s3cretpassw0rd|mutu4lsecret/);
  assert.match(rawLog, /connecting to iscsi:\/\/user%\*\*\*@127\.0\.0\.1:1\/iqn\.2003-01\.x:y\/0\?target_user=tu&target_password=\*\*\*/);
  const argv = (await readFile(join(dir, 'argv.log'), 'utf8')).trim().split('\n');
  assert.equal(argv[0], '--list');
  assert.equal(argv.length, 4);
  assert.equal(argv[1], `--dataloss -v --allow-sanitize -t ALL.Alpha -i iqn.a:one -I iqn.a:two ${url} ${url}`);
});

test('-s runs only the named suites; -B budget marks the rest ERROR; bad arguments exit 2', async () => {
  const out = join(dir, 'sel');
  const env = { ...process.env, ISCSI_TEST_CU: fake };
  const r = await run(process.execPath, [join(ROOT, 'scripts', 'conformance.mjs'), '-o', out, '-s', 'Alpha', 'iscsi://127.0.0.1/iqn.x:y/0'], { timeoutMs: 30_000, env });
  assert.equal(r.code, 0, r.output);
  assert.equal(parseConformanceTsv(await readFile(`${out}.tsv`, 'utf8')).length, 6);
  assert.doesNotMatch(r.stdout, /WARNING/, 'parsed counts disagree with CUnit Run Summary');

  // Budget 0.001 s: the first suite starts (budget checked before each), the rest are not run.
  const b = await run(process.execPath, [join(ROOT, 'scripts', 'conformance.mjs'), '-o', join(dir, 'bud'), '-B', '0.001', '-s', 'Alpha,Beta', 'iscsi://127.0.0.1/iqn.x:y/0'], { timeoutMs: 30_000, env });
  assert.equal(b.code, 0, b.output);
  const rows = parseConformanceTsv(await readFile(join(dir, 'bud.tsv'), 'utf8'));
  assert.deepEqual(rows.filter((x) => x.suite === 'Beta').map((x) => x.result), ['ERROR', 'ERROR']);
  assert.match(rows.find((x) => x.suite === 'Beta')?.reason ?? '', /budget/);

  const bad = await run(process.execPath, [join(ROOT, 'scripts', 'conformance.mjs'), '-s', 'NoSuchSuite', 'iscsi://127.0.0.1/iqn.x:y/0'], { timeoutMs: 30_000, env });
  assert.equal(bad.code, 2);
  const none = await run(process.execPath, [join(ROOT, 'scripts', 'conformance.mjs')], { timeoutMs: 30_000, env });
  assert.equal(none.code, 2);
});
