#!/usr/bin/env node
// Runs every compiled test file under dist/test (or only the named sub-folders) with node:test.
// Usage: node scripts/run-tests.js [unit|session|fuzz|integration ...]
//        node scripts/run-tests.js integration/seeds-flow.test.js   (one compiled file, path under dist/test)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
const wanted = process.argv.slice(2);
const dirs = wanted.length > 0 ? wanted : ['unit', 'session', 'fuzz', 'integration'];

function collect(dir, out) {
  try {
    if (statSync(dir).isFile()) { if (dir.endsWith('.test.js')) out.push(dir); return; }
  } catch { return; }
  let names;
  try { names = readdirSync(dir).sort(); } catch { return; }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
}
const files = [];
for (const d of dirs) collect(join(root, d), files);
if (files.length === 0) {
  console.error('no test files found under', dirs.map((d) => join(root, d)).join(', '));
  process.exit(1);
}
// One file at a time: integration tests start daemons and peers (ports are kernel-chosen), and the
// CI machine has 2 cores.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
