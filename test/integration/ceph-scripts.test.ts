/**
 * scripts/ceph-mini-start.sh and ceph-mini-stop.sh, the project's single-node Ceph: a fresh
 * directory becomes a usable cluster (pool rbd initialised for RBD), a second start is a no-op,
 * data survives stop + start (memstore saved on a clean stop), a foreign non-empty directory is
 * refused, and stop leaves none of the cluster's daemons running.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { requireCeph } from './ceph-helpers.js';
import { removeDir, ROOT, run, tempDir } from './helpers.js';

const START = join(ROOT, 'scripts', 'ceph-mini-start.sh');
const STOP = join(ROOT, 'scripts', 'ceph-mini-stop.sh');
const env = { ...process.env, CEPH_MINI_MGR: '0' };
let dir: string | undefined;

/** pids recorded in DIR/run whose process still exists (not a zombie). */
function liveDaemons(clusterDir: string): number[] {
  const runDir = join(clusterDir, 'run');
  if (!existsSync(runDir)) return [];
  const out: number[] = [];
  for (const f of readdirSync(runDir).filter((n) => n.endsWith('.pid'))) {
    const pid = Number(readFileSync(join(runDir, f), 'utf8').trim());
    try {
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state !== 'Z') out.push(pid);
    } catch {
      // gone
    }
  }
  return out;
}

after(async () => {
  if (dir !== undefined) {
    await run('bash', [STOP, join(dir, 'c')], { timeoutMs: 60_000 });
    await removeDir(dir);
  }
});

test('ceph-mini-start.sh / ceph-mini-stop.sh: create, no-op restart, data kept over stop + start, refusals', { timeout: 5 * 60_000 }, async () => {
  requireCeph();
  dir = await tempDir('igw-ceph-scripts-');
  const c = join(dir, 'c');
  const first = await run('bash', [START, c], { timeoutMs: 180_000, env });
  assert.equal(first.code, 0, first.output);
  const conf = first.stdout.trim();
  assert.equal(conf, join(c, 'ceph.conf'));
  const rbd = (args: string[]): Promise<{ code: number | null; output: string; stdout: string }> => run('rbd', ['--conf', conf, ...args], { timeoutMs: 60_000 });
  assert.equal((await rbd(['create', '--size', '16M', 'rbd/probe'])).code, 0);
  const data = join(dir, 'data.bin');
  await writeFile(data, Buffer.alloc(1024 * 1024, 0x42));
  assert.equal((await rbd(['import', '--no-progress', data, 'rbd/img'])).code, 0);
  const pids = liveDaemons(c);
  assert.equal(pids.length, 2, `mon + osd expected, got pids ${pids.join(',')}`);

  const again = await run('bash', [START, c], { timeoutMs: 60_000, env });
  assert.equal(again.code, 0, again.output);
  assert.deepEqual(liveDaemons(c).sort(), pids.sort(), 'a second start restarted the daemons');

  const stop = await run('bash', [STOP, c], { timeoutMs: 90_000 });
  assert.equal(stop.code, 0, stop.output);
  assert.deepEqual(liveDaemons(c), []);
  for (const pid of pids) assert.ok(!existsSync(`/proc/${pid}/cmdline`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), `pid ${pid} still running`);

  const restart = await run('bash', [START, c], { timeoutMs: 180_000, env });
  assert.equal(restart.code, 0, restart.output);
  const back = join(dir, 'back.bin');
  assert.equal((await rbd(['export', '--no-progress', 'rbd/img', back])).code, 0);
  assert.ok(readFileSync(back).equals(readFileSync(data)), 'image data lost over stop + start');

  const foreign = join(dir, 'foreign');
  await mkdir(foreign);
  await writeFile(join(foreign, 'x'), 'not a cluster');
  const refused = await run('bash', [START, foreign], { timeoutMs: 30_000, env });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /neither empty nor a ceph-mini cluster/);
  const refusedStop = await run('bash', [STOP, foreign], { timeoutMs: 30_000 });
  assert.notEqual(refusedStop.code, 0);
  assert.ok(existsSync(join(foreign, 'x')));
});
