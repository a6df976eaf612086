// Layer rules of STYLE.md §4.2, checked on the source text: a layer never imports upward.
// The rule that matters most: scsi/ never imports iscsi/ (SPDK lib/scsi, LIO core/fabric split).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

// Runs from test/unit (tsx) or dist/test/unit (compiled): walk up to the package root.
let root = dirname(new URL(import.meta.url).pathname);
while (!existsSync(join(root, 'package.json'))) root = dirname(root);
const src = join(root, 'src');

/** layer -> layers it may import (value imports); `types` lists layers allowed for `import type` only. */
const RULES: Record<string, { value: string[]; types: string[] }> = {
  util: { value: [], types: [] },
  backstore: { value: ['util'], types: [] },
  scsi: { value: ['util'], types: ['backstore'] },
  iscsi: { value: ['util', 'scsi'], types: ['backstore'] },
  config: { value: ['util'], types: [] },
  metrics: { value: ['util'], types: ['gateway'] },
  gateway: { value: ['util', 'config', 'backstore', 'scsi', 'iscsi', 'metrics'], types: [] },
  api: { value: ['util', 'config'], types: ['gateway', 'backstore'] },
  cli: { value: ['util'], types: ['config', 'api'] },
};

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('no layer imports upward', () => {
  const problems: string[] = [];
  const importRe = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"](\.[^'"]+)['"]/gm;
  for (const file of files(src)) {
    const rel = relative(src, file);
    const layer = rel.includes('/') ? rel.split('/')[0]! : '(main)';
    if (layer === '(main)') continue;
    const rule = RULES[layer];
    if (rule === undefined) {
      problems.push(`${rel}: unknown layer "${layer}" (add it to the rules)`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(importRe)) {
      const isType = m[2] !== undefined;
      const target = relative(src, resolve(dirname(file), m[3]!));
      const targetLayer = target.includes('/') ? target.split('/')[0]! : '(main)';
      if (targetLayer === layer) continue;
      const ok = rule.value.includes(targetLayer) || (isType && rule.types.includes(targetLayer));
      if (!ok) problems.push(`${rel} imports ${isType ? 'type ' : ''}${target}`);
    }
  }
  assert.deepEqual(problems, []);
});
