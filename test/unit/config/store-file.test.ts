import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileConfigStore, formatConfig } from '../../../src/config/store-file.js';
import { CONFIG_VERSION, type GatewayConfig } from '../../../src/config/schema.js';
import { GatewayError } from '../../../src/util/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));

async function tmpDir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'cfgstore-'));
}

function counter(doc: GatewayConfig): number {
  const c = (doc as Record<string, unknown>).counter;
  return typeof c === 'number' ? c : 0;
}

async function waitFor<T>(fn: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('load() seeds an absent document with version 11, epoch 0, and creates the directory', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'sub', 'gateway.conf');
  const store = new FileConfigStore({ path: file });
  const doc = await store.load();
  assert.equal(doc.version, CONFIG_VERSION);
  assert.equal(doc.epoch, 0);
  assert.deepEqual(doc.targets, {});
  assert.deepEqual(doc.disks, {});
  const onDisk = JSON.parse(await fsp.readFile(file, 'utf8')) as GatewayConfig;
  assert.equal(onDisk.version, 11);
  // 4-space indent, sorted keys, like upstream json.dumps(sort_keys=True, indent=4)
  const text = await fsp.readFile(file, 'utf8');
  assert.match(text, /^\{\n {4}"created"/);
  const keys = Object.keys(onDisk);
  assert.deepEqual(keys, [...keys].sort());
  await store.close();
});

test('an empty file is seeded (upstream creates the object empty, then seeds it)', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  await fsp.writeFile(file, '');
  const store = new FileConfigStore({ path: file });
  const doc = await store.load();
  assert.equal(doc.version, 11);
  assert.notEqual((await fsp.readFile(file, 'utf8')).length, 0);
  await store.close();
});

test('two stores seeding at once agree on one document', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const a = new FileConfigStore({ path: file });
  const b = new FileConfigStore({ path: file });
  const [da, db] = await Promise.all([a.load(), b.load()]);
  assert.equal(da.created, db.created);
  assert.equal(da.epoch, 0);
  await a.close();
  await b.close();
});

test('update() bumps epoch, stamps updated, keeps unknown keys, returns the result', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  await fsp.writeFile(
    file,
    formatConfig({
      version: 11, epoch: 5, created: 'c', updated: 'u', disks: {}, gateways: {}, targets: {},
      discovery_auth: { username: '', password: '', password_encryption_enabled: false, mutual_username: '', mutual_password: '', mutual_password_encryption_enabled: false },
      some_future_key: { x: 1 },
    }),
  );
  const store = new FileConfigStore({ path: file });
  const { doc, result } = await store.update((d) => {
    d.gateways['gw1.example.com'] = { active_luns: 0, created: 'x', updated: 'x' };
    return 'ok';
  });
  assert.equal(result, 'ok');
  assert.equal(doc.epoch, 6);
  assert.notEqual(doc.updated, 'u');
  assert.match(doc.updated, /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}$/);
  const onDisk = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(onDisk.some_future_key, { x: 1 });
  assert.equal(onDisk.epoch, 6);
  // no temp files left behind
  const left = (await fsp.readdir(dir)).filter((n) => n.includes('.tmp-'));
  assert.deepEqual(left, []);
  await store.close();
});

test('mutator returning false writes nothing; a throwing mutator writes nothing and rejects', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const store = new FileConfigStore({ path: file });
  await store.load();
  const before = await fsp.readFile(file, 'utf8');
  const r = await store.update((d) => {
    d.epoch = 999; // ignored: not written
    return false;
  });
  assert.equal(r.result, false);
  assert.equal(r.doc.epoch, 0, 'the returned document is what is stored, not the discarded edit');
  assert.equal(await fsp.readFile(file, 'utf8'), before);
  await assert.rejects(
    store.update((d) => {
      d.targets.x = {} as never;
      throw new GatewayError('ERR_TEST', 'nope');
    }),
    (e: unknown) => e instanceof GatewayError && e.code === 'ERR_TEST',
  );
  assert.equal(await fsp.readFile(file, 'utf8'), before);
  // the queue keeps working after a failure
  const ok = await store.update(() => true);
  assert.equal(ok.doc.epoch, 1);
  await store.close();
});

test('update() on an absent document seeds it (epoch 0) before mutating', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const store = new FileConfigStore({ path: file });
  const r = await store.update(() => false);
  assert.equal(r.doc.epoch, 0);
  assert.equal((JSON.parse(await fsp.readFile(file, 'utf8')) as GatewayConfig).epoch, 0);
  const r2 = await store.update(() => true);
  assert.equal(r2.doc.epoch, 1);
  await store.close();
});

test('50 concurrent update() calls in one process never lose an increment', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const store = new FileConfigStore({ path: file });
  const n = 50;
  await Promise.all(
    Array.from({ length: n }, () =>
      store.update((d) => {
        (d as Record<string, unknown>).counter = counter(d) + 1;
      }),
    ),
  );
  const doc = await store.load();
  assert.equal(counter(doc), n);
  assert.equal(doc.epoch, n);
  await store.close();
});

test('two store instances on one file (same process) serialise through the file lock', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const a = new FileConfigStore({ path: file });
  const b = new FileConfigStore({ path: file });
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < 20; i++) {
    for (const s of [a, b]) {
      jobs.push(s.update(async (d) => {
        const c = counter(d);
        await new Promise((r) => setImmediate(r)); // widen the race window
        (d as Record<string, unknown>).counter = c + 1;
      }));
    }
  }
  await Promise.all(jobs);
  assert.equal(counter(await a.load()), 40);
  await a.close();
  await b.close();
});

test('3 child processes x 15 updates + 15 local updates never lose an increment', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  // Under tsx the worker is TypeScript; in the compiled run (dist/test) it is plain JS.
  const tsWorker = path.join(here, 'fixtures', 'store-worker.ts');
  const compiled = !existsSync(tsWorker);
  const worker = compiled ? path.join(here, 'fixtures', 'store-worker.js') : tsWorker;
  const per = 15;
  const runChild = (tag: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const args = compiled ? [worker, file, String(per), tag] : ['--import', 'tsx', worker, file, String(per), tag];
      const child = spawn(process.execPath, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: path.resolve(here, compiled ? '../../../..' : '../../..'),
      });
      let err = '';
      child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker ${tag} exited ${code}: ${err}`))));
    });
  const store = new FileConfigStore({ path: file });
  const local = Array.from({ length: per }, () =>
    store.update((d) => {
      (d as Record<string, unknown>).counter = counter(d) + 1;
    }),
  );
  await Promise.all([runChild('a'), runChild('b'), runChild('c'), ...local]);
  const doc = await store.load();
  assert.equal(counter(doc), 4 * per);
  assert.deepEqual((doc as Record<string, unknown>).writers, { a: per, b: per, c: per });
  assert.equal(doc.epoch, 4 * per);
  await store.close();
});

test('crash safety: a writer SIGKILLed mid-stream leaves a valid document; its lock is taken over', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const tsWorker = path.join(here, 'fixtures', 'store-worker.ts');
  const compiled = !existsSync(tsWorker);
  const worker = compiled ? path.join(here, 'fixtures', 'store-worker.js') : tsWorker;
  const args = compiled ? [worker, file, '100000', 'k'] : ['--import', 'tsx', worker, file, '100000', 'k'];
  const child = spawn(process.execPath, args, { stdio: 'ignore', cwd: path.resolve(here, compiled ? '../../../..' : '../../..') });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  // Wait until the child has committed some updates, then kill it without warning.
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const d = JSON.parse(await fsp.readFile(file, 'utf8')) as GatewayConfig;
      if (d.epoch >= 20) break;
    } catch {
      // not there yet (never torn: we only ever rename complete files into place)
    }
    if (Date.now() > deadline) throw new Error('worker made no progress');
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGKILL');
  await exited;
  const text = await fsp.readFile(file, 'utf8');
  const doc = JSON.parse(text) as GatewayConfig; // a complete document, whatever the moment of death
  assert.equal(counter(doc), doc.epoch);
  const store = new FileConfigStore({ path: file, lockStaleMs: 2000, lockTimeoutMs: 15_000 });
  const { doc: after } = await store.update((d) => {
    (d as Record<string, unknown>).counter = counter(d) + 1;
  });
  assert.equal(counter(after), counter(doc) + 1);
  assert.equal(after.epoch, doc.epoch + 1);
  await store.close();
});

test('a corrupt document is not replaced: clear error naming the file, .bad copy kept', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  await fsp.writeFile(file, '{"version": 11, "epoch": ');
  const store = new FileConfigStore({ path: file });
  await assert.rejects(store.load(), (e: unknown) => {
    assert.ok(e instanceof GatewayError);
    assert.equal(e.code, 'ERR_CONFIG_CORRUPT');
    assert.ok(e.message.includes(file));
    return true;
  });
  await assert.rejects(store.update(() => true), { code: 'ERR_CONFIG_CORRUPT' });
  assert.equal(await fsp.readFile(file, 'utf8'), '{"version": 11, "epoch": ');
  assert.equal(await fsp.readFile(`${file}.bad`, 'utf8'), '{"version": 11, "epoch": ');
  await store.close();
});

test('crash safety: a stale temp file from a crashed writer does not affect readers or writers', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const store = new FileConfigStore({ path: file });
  await store.update((d) => {
    (d as Record<string, unknown>).counter = 1;
  });
  // A writer that died between writing its temp file and rename(2): half a document.
  await fsp.writeFile(path.join(dir, '.gateway.conf.tmp-99999-deadbeef'), '{"version": 11, "ep');
  const doc = await store.load();
  assert.equal(counter(doc), 1);
  const next = await store.update((d) => {
    (d as Record<string, unknown>).counter = counter(d) + 1;
  });
  assert.equal(counter(next.doc), 2);
  await store.close();
});

test('a lock left by a dead process is taken over once stale', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const store = new FileConfigStore({ path: file, lockStaleMs: 2000, lockTimeoutMs: 10_000 });
  await store.load();
  // proper-lockfile's lock is a directory (hidden: data_dir also holds the pools); make it look 5 s old.
  assert.equal(store.lockPath, path.join(dir, '.gateway.conf.lock'));
  await fsp.mkdir(store.lockPath);
  const old = new Date(Date.now() - 5000);
  await fsp.utimes(store.lockPath, old, old);
  const { doc } = await store.update((d) => {
    (d as Record<string, unknown>).counter = 7;
  });
  assert.equal(counter(doc), 7);
  await store.close();
});

test('update() times out with ERR_CONFIG_LOCK_TIMEOUT while another holder keeps the lock fresh', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const holder = new FileConfigStore({ path: file });
  await holder.load();
  let releaseHolder!: () => void;
  const held = new Promise<void>((r) => { releaseHolder = r; });
  let holding!: () => void;
  const isHolding = new Promise<void>((r) => { holding = r; });
  const holderJob = holder.update(async () => {
    holding();
    await held;
    return false;
  });
  await isHolding;
  // while the lock is held, data_dir shows no visible entry besides the document
  assert.deepEqual((await fsp.readdir(dir)).filter((n) => !n.startsWith('.')), ['gateway.conf']);
  const waiter = new FileConfigStore({ path: file, lockTimeoutMs: 300 });
  await assert.rejects(waiter.update(() => true), { code: 'ERR_CONFIG_LOCK_TIMEOUT' });
  releaseHolder();
  await holderJob;
  await holder.close();
  await waiter.close();
});

test('watch() sees an update made by another store instance (fs.watch or poll), only on epoch change', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const watcherStore = new FileConfigStore({ path: file, pollIntervalMs: 100 });
  await watcherStore.load();
  const seen: number[] = [];
  const stop = watcherStore.watch((doc) => seen.push(doc.epoch));
  // let the watcher learn the current epoch
  await new Promise((r) => setTimeout(r, 50));
  const other = new FileConfigStore({ path: file });
  await other.update((d) => {
    (d as Record<string, unknown>).counter = 1;
  });
  await waitFor(() => (seen.includes(1) ? true : undefined), 5000, 'epoch 1');
  // a rewrite with the same epoch (e.g. touch) is not reported
  const now = new Date();
  await fsp.utimes(file, now, now);
  await other.update(() => {
    (undefined);
  });
  await waitFor(() => (seen.includes(2) ? true : undefined), 5000, 'epoch 2');
  assert.deepEqual(seen, [1, 2]);
  stop();
  await other.update(() => true);
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(seen, [1, 2], 'no callback after stop()');
  await other.close();
  await watcherStore.close();
});

test('watch() in the writing store reports its own updates, each epoch at most once, in order', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  const store = new FileConfigStore({ path: file, pollIntervalMs: 50 });
  await store.load();
  const seen: number[] = [];
  let notify: (() => void) | undefined;
  const stop = store.watch((doc) => {
    seen.push(doc.epoch);
    notify?.();
  });
  const until = async (epoch: number): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!seen.includes(epoch)) {
      assert.ok(Date.now() < deadline, `epoch ${epoch} never reported (seen ${seen.join(',')})`);
      await new Promise<void>((r) => {
        notify = r;
        setTimeout(r, 100).unref();
      });
    }
  };
  await store.update(() => true);
  await store.update(() => true);
  await until(2);
  // A third update: a late duplicate report of 1 or 2 would land before 3 and break the order.
  await store.update(() => true);
  await until(3);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `not strictly increasing: ${seen.join(',')}`);
  assert.equal(seen.at(-1), 3);
  stop();
  await store.close();
});

test('a version 10 document is upgraded to 11 on load and written back', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  await fsp.writeFile(file, JSON.stringify({
    version: 10, epoch: 3, created: 'c', updated: 'u', disks: {}, gateways: {},
    discovery_auth: { username: '', password: '', password_encryption_enabled: false, mutual_username: '', mutual_password: '', mutual_password_encryption_enabled: false },
    targets: { 'iqn.2003-01.com.redhat.iscsi-gw:ceph-igw': { disks: ['rbd/b', 'rbd/a'], clients: {}, portals: {}, groups: {}, ip_list: [], controls: {}, acl_enabled: true, created: 'c', updated: 'u' } },
  }));
  const store = new FileConfigStore({ path: file });
  const doc = await store.load();
  assert.equal(doc.version, 11);
  assert.equal(doc.epoch, 4);
  const t = doc.targets['iqn.2003-01.com.redhat.iscsi-gw:ceph-igw'];
  assert.ok(t);
  assert.deepEqual(t.disks, { 'rbd/a': { lun_id: 0 }, 'rbd/b': { lun_id: 1 } });
  assert.equal(t.auth.username, '');
  const onDisk = JSON.parse(await fsp.readFile(file, 'utf8')) as GatewayConfig;
  assert.equal(onDisk.version, 11);
  await store.close();
});

test('unsupported versions are refused with a clear error', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'gateway.conf');
  await fsp.writeFile(file, JSON.stringify({ version: 9, epoch: 0, disks: {}, gateways: {}, targets: {} }));
  const store = new FileConfigStore({ path: file });
  await assert.rejects(store.load(), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_CONFIG_VERSION' && /unsupported/.test(e.message));
  await store.close();
});

test('close() refuses later calls', async () => {
  const dir = await tmpDir();
  const store = new FileConfigStore({ path: path.join(dir, 'gateway.conf') });
  await store.close();
  await assert.rejects(store.load(), { code: 'ERR_CONFIG_CLOSED' });
});
