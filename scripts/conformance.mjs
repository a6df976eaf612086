#!/usr/bin/env node
// libiscsi conformance harness: runs `iscsi-test-cu` (family ALL) one process per suite against a
// target and classifies every test. Usage (see --help):
//
//   node scripts/conformance.mjs [-o OUT] [-i INIT1] [-I INIT2] [-T SECS] [-s Suite,Suite] URL [URL2]
//
// Writes OUT.txt (raw output, CHAP secrets masked), OUT.tsv (suite, test, result, reason) and
// OUT.summary.txt; the last line printed is `N passed, N failed, N skipped` (failed includes ERROR).
//
// Classification (libiscsi 1.19 prints CUnit "verbose" output):
//   PASSED  - CUnit "passed" for the test, no [SKIPPED] message inside it;
//   SKIPPED - CUnit "passed" after a `[SKIPPED] reason` message: libiscsi reports skips as passes;
//   FAILED  - CUnit "FAILED";
//   ERROR   - the test is in `--list` for the suite but has no result (crash, timeout, login failure).
// One process per suite: a crash or hang costs one suite, and the in-suite order some tests rely on
// (iSCSITMF.LUNResetSimpleAsync after AbortTaskSimpleAsync) is kept.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const HELP = `usage: conformance.mjs [-o OUT] [-i INIT1] [-I INIT2] [-T SECS] [-s Suite,Suite] URL [URL2]
  -o OUT     output prefix (default ./conformance): OUT.txt, OUT.tsv, OUT.summary.txt
  -i/-I      initiator names passed to iscsi-test-cu (default: its own two names)
  -T SECS    timeout per suite (default 120)
  -s LIST    only these suites (comma separated names without "ALL.")
  -B SECS    total time budget: suites not started within it are reported as ERROR (default: none)
  URL2       second path for MultipathIO (default: URL again)
env ISCSI_TEST_CU overrides the iscsi-test-cu binary.`;

const args = process.argv.slice(2);
const opt = { out: 'conformance', init1: '', init2: '', timeoutSec: 120, budgetSec: 0, suites: /** @type {string[]} */ ([]) };
const urls = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const next = () => {
    const v = args[++i];
    if (v === undefined) { console.error(HELP); process.exit(2); }
    return v;
  };
  if (a === '-h' || a === '--help') { console.log(HELP); process.exit(0); }
  else if (a === '-o') opt.out = next();
  else if (a === '-i') opt.init1 = next();
  else if (a === '-I') opt.init2 = next();
  else if (a === '-T') opt.timeoutSec = Number(next());
  else if (a === '-B') opt.budgetSec = Number(next());
  else if (a === '-s') opt.suites = next().split(',').filter(Boolean);
  else if (a?.startsWith('-')) { console.error(`unknown option ${a}\n${HELP}`); process.exit(2); }
  else if (a !== undefined) urls.push(a);
}
if (urls.length < 1 || urls.length > 2 || !Number.isFinite(opt.timeoutSec) || opt.timeoutSec <= 0) {
  console.error(HELP);
  process.exit(2);
}
const url1 = /** @type {string} */ (urls[0]);
const url2 = urls[1] ?? url1;
const bin = process.env.ISCSI_TEST_CU || 'iscsi-test-cu';

/** iscsi://user%secret@host → iscsi://user%***@host (and target_password=***), so raw logs never hold a CHAP secret. */
function mask(text) {
  return text
    .replace(/(iscsi:\/\/[^%@/\s]*%)[^@\s]*@/g, '$1***@')
    .replace(/(target_password=)[^&\s]*/g, '$1***');
}

// The list of suites and their tests, from the tool itself (ALL.Suite and ALL.Suite.Test lines).
const list = spawnSync(bin, ['--list'], { encoding: 'utf8', timeout: 30_000 });
if (list.status !== 0 || !list.stdout) {
  console.error(`${bin} --list failed: ${list.error?.message ?? list.stderr}`);
  process.exit(3);
}
/** @type {Map<string, string[]>} */
const suites = new Map();
for (const line of list.stdout.split('\n')) {
  const m = /^ALL\.([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_-]+))?$/.exec(line.trim());
  if (!m || m[1] === undefined) continue;
  if (!suites.has(m[1])) suites.set(m[1], []);
  if (m[2] !== undefined) suites.get(m[1])?.push(m[2]);
}
const wanted = opt.suites.length > 0 ? opt.suites : [...suites.keys()];
for (const s of wanted) {
  if (!suites.has(s)) { console.error(`unknown suite ${s}`); process.exit(2); }
}

/**
 * Parse CUnit verbose output of one suite into per-test results.
 * A test starts at `  Test: NAME ...`; its result is `passed`/`FAILED` right after the dots or alone
 * on a later line. Messages after the result (teardown noise such as LUNReset's trailing
 * `[FAILED] PRIN ...`) belong to no test and are ignored, as CUnit ignores them.
 * @param {string} text
 * @returns {Map<string, {result: string, reason: string}>}
 */
function parseCunit(text) {
  const results = new Map();
  /** @type {{name: string, skip: string, fail: string} | null} */
  let cur = null;
  /** @type {{result: string, reason: string} | null} */
  let lastFailed = null;
  const finish = (/** @type {string} */ word) => {
    if (!cur) return;
    const result = word === 'FAILED' ? 'FAILED' : word === 'ERROR' ? 'ERROR' : cur.skip ? 'SKIPPED' : 'PASSED';
    const entry = { result, reason: result === 'SKIPPED' ? cur.skip : result === 'PASSED' ? '' : result === 'FAILED' ? cur.fail : cur.fail || 'no result' };
    results.set(cur.name, entry);
    lastFailed = result === 'FAILED' ? entry : null;
    cur = null;
  };
  const note = (/** @type {string} */ s) => {
    if (!cur) {
      // The assertion list of a failed test comes after its FAILED line.
      const a = /^\s*\d+\.\s+(\S+:\d+\s+-\s+.*)$/.exec(s);
      if (a && lastFailed && !lastFailed.reason) lastFailed.reason = (a[1] ?? '').trim();
      return;
    }
    const skip = /\[SKIPPED\]\s*(.*)$/.exec(s);
    if (skip && !cur.skip) cur.skip = (skip[1] ?? '').trim() || 'skipped';
    const fail = /\[FAILED\]\s*(.*)$/.exec(s);
    if (fail && !cur.fail) cur.fail = (fail[1] ?? '').trim();
    // CUnit assertion lines: "    1. test_x.c:38  - CU_ASSERT_EQUAL(_r,0)"
    const assert = /^\s*\d+\.\s+(\S+:\d+\s+-\s+.*)$/.exec(s);
    if (assert && !cur.fail) cur.fail = (assert[1] ?? '').trim();
  };
  for (const line of text.split('\n')) {
    const start = /^\s*Test: (\S+) \.\.\.(.*)$/.exec(line);
    if (start) {
      if (cur) finish('ERROR');
      cur = { name: start[1] ?? '', skip: '', fail: '' };
      const rest = start[2] ?? '';
      const immediate = /^(passed|FAILED)\b/.exec(rest);
      if (immediate) finish(immediate[1] ?? '');
      else note(rest);
      continue;
    }
    const t = line.trim();
    // The result word alone on a line, or followed by teardown noise ("passed    [FAILED] PRIN ...").
    const word = /^\s*(passed|FAILED)(?:\s|$)/.exec(line);
    if (word) { finish(word[1] ?? ''); continue; }
    if (/^Run Summary:/.test(t)) { if (cur) finish('ERROR'); lastFailed = null; continue; }
    note(line);
  }
  return results;
}

/**
 * @param {string} suite
 * @returns {Promise<{suite: string, text: string, code: number | null, ms: number}>}
 */
function runSuite(suite) {
  const argv = ['--dataloss', '-v', '--allow-sanitize', '-t', `ALL.${suite}`];
  if (opt.init1) argv.push('-i', opt.init1);
  if (opt.init2) argv.push('-I', opt.init2);
  argv.push(url1, url2);
  const t0 = Date.now();
  return new Promise((resolve) => {
    // `timeout -k 5`: a target that went away can leave iscsi-test-cu spinning; kill it hard.
    const child = spawn('timeout', ['-k', '5', String(opt.timeoutSec), bin, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    /** @type {Buffer[]} */
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    child.on('error', (e) => resolve({ suite, text: `spawn failed: ${e.message}`, code: -1, ms: Date.now() - t0 }));
    child.on('close', (code) => resolve({ suite, text: Buffer.concat(chunks).toString('utf8'), code, ms: Date.now() - t0 }));
  });
}

const rows = [];
const raw = [];
const summaryLines = [];
const totals = { PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0 };
const started = Date.now();
for (const suite of wanted) {
  const overBudget = opt.budgetSec > 0 && Date.now() - started > opt.budgetSec * 1000;
  const r = overBudget
    ? { suite, text: `not run: time budget of ${opt.budgetSec} s exhausted`, code: null, ms: 0 }
    : await runSuite(suite);
  const text = mask(r.text);
  raw.push(`===== ALL.${suite} (exit ${r.code}, ${r.ms} ms) =====\n${text}`);
  const parsed = parseCunit(text);
  const counts = { PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0 };
  const firstLine = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  for (const test of suites.get(suite) ?? []) {
    const got = parsed.get(test);
    const result = got?.result ?? 'ERROR';
    let reason = got?.reason ?? '';
    if (!got) reason = overBudget ? r.text : r.code === 124 || r.code === 137 ? `timeout after ${opt.timeoutSec} s` : `no result (exit ${r.code}): ${firstLine}`;
    counts[/** @type {'PASSED'|'FAILED'|'SKIPPED'|'ERROR'} */ (result)]++;
    rows.push([suite, test, result, reason.replace(/[\t\n]/g, ' ')]);
  }
  for (const k of Object.keys(totals)) totals[k] += counts[k];
  // Cross-check with CUnit's own "Run Summary" (tests Total Ran Passed Failed Inactive).
  const cu = /^\s*tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(text);
  if (cu && (Number(cu[3]) !== counts.PASSED + counts.SKIPPED || Number(cu[4]) !== counts.FAILED)) {
    const warning = `WARNING ${suite}: parsed ${counts.PASSED + counts.SKIPPED} passed/skipped, ${counts.FAILED} failed; CUnit says ${cu[3]} passed, ${cu[4]} failed`;
    summaryLines.push(warning);
    console.log(warning);
  }
  const line = `${suite}\t${counts.PASSED} passed\t${counts.FAILED} failed\t${counts.SKIPPED} skipped\t${counts.ERROR} errors\t${(r.ms / 1000).toFixed(1)} s`;
  summaryLines.push(line);
  console.log(line);
}

const final = `${totals.PASSED} passed, ${totals.FAILED + totals.ERROR} failed, ${totals.SKIPPED} skipped`;
const errors = `(${totals.ERROR} errors counted as failed; ${rows.length} tests in ${wanted.length} suites)`;
if (opt.out) {
  mkdirSync(dirname(opt.out) || '.', { recursive: true });
  writeFileSync(`${opt.out}.txt`, raw.join('\n'));
  writeFileSync(`${opt.out}.tsv`, ['suite\ttest\tresult\treason', ...rows.map((r) => r.join('\t'))].join('\n') + '\n');
  writeFileSync(`${opt.out}.summary.txt`, [...summaryLines, errors, final].join('\n') + '\n');
}
console.log(errors);
console.log(final);
