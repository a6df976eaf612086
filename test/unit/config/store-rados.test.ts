// RadosConfigStore's protocol over an in-memory RADOS (objects, xattrs, exclusive locks per
// client, watch/notify): the behaviour ceph-iscsi's common.py Config has, checked call by call.
// The same store against a real cluster: test/integration/ceph-*.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOCK_COOKIE, LOCK_NAME, RadosConfigStore, type RadosObjects } from '../../../src/config/store-rados.js';
import { CONFIG_VERSION, type GatewayConfig } from '../../../src/config/schema.js';

/** One shared "cluster"; each FakeClient is one librados client (locks belong to a client). */
class FakeCluster {
  objects = new Map<string, Buffer>();
  xattrs = new Map<string, string>();
  locks = new Map<string, { client: number; name: string; cookie: string }>();
  watchers = new Set<{ client: number; cb: (p: Buffer) => void }>();
  log: string[] = [];
}

class FakeClient implements RadosObjects {
  private static next = 1;
  readonly id = FakeClient.next++;
  constructor(readonly c: FakeCluster) {}
  private key(pool: string, oid: string): string {
    return `${pool}/${oid}`;
  }
  async readFull(pool: string, oid: string): Promise<Buffer | undefined> {
    return this.c.objects.get(this.key(pool, oid));
  }
  async writeFull(pool: string, oid: string, data: Buffer): Promise<void> {
    const k = this.key(pool, oid);
    const l = this.c.locks.get(k);
    this.c.log.push(`write by ${this.id} locked=${l?.client === this.id}`);
    this.c.objects.set(k, Buffer.from(data));
  }
  async createExclusive(pool: string, oid: string): Promise<boolean> {
    const k = this.key(pool, oid);
    if (this.c.objects.has(k)) return false;
    this.c.objects.set(k, Buffer.alloc(0));
    this.c.log.push('create');
    return true;
  }
  async getXattr(pool: string, oid: string, name: string): Promise<string | undefined> {
    return this.c.xattrs.get(`${this.key(pool, oid)}@${name}`);
  }
  async setXattr(pool: string, oid: string, name: string, value: string): Promise<void> {
    this.c.xattrs.set(`${this.key(pool, oid)}@${name}`, value);
  }
  async writeFullWithXattr(pool: string, oid: string, data: Buffer, name: string, value: string): Promise<void> {
    await this.writeFull(pool, oid, data);
    await this.setXattr(pool, oid, name, value);
  }
  async tryLockExclusive(pool: string, oid: string, name: string, cookie: string): Promise<boolean> {
    const k = this.key(pool, oid);
    if (this.c.locks.has(k)) return false;
    this.c.locks.set(k, { client: this.id, name, cookie });
    this.c.log.push(`lock ${name}/${cookie} by ${this.id}`);
    return true;
  }
  async unlock(pool: string, oid: string, name: string, cookie: string): Promise<void> {
    const k = this.key(pool, oid);
    const l = this.c.locks.get(k);
    if (l && l.client === this.id && l.name === name && l.cookie === cookie) this.c.locks.delete(k);
  }
  async watch(_pool: string, _oid: string, onNotify: (p: Buffer) => void): Promise<{ close(): Promise<void> }> {
    const w = { client: this.id, cb: onNotify };
    this.c.watchers.add(w);
    return { close: async () => void this.c.watchers.delete(w) };
  }
  async notify(_pool: string, _oid: string, payload: Buffer): Promise<number> {
    for (const w of this.c.watchers) setImmediate(() => w.cb(payload));
    return 0;
  }
}

async function until<T>(fn: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

test('load() creates the object exclusively and seeds v11 epoch 0 under the lock named "lock", cookie "config"', async () => {
  const c = new FakeCluster();
  const store = new RadosConfigStore({ rados: new FakeClient(c) });
  const doc = await store.load();
  assert.equal(doc.version, CONFIG_VERSION);
  assert.equal(doc.epoch, 0);
  assert.deepEqual(c.log.slice(0, 3), ['create', `lock ${LOCK_NAME}/${LOCK_COOKIE} by ${(store as unknown as { rados: FakeClient }).rados.id}`, c.log[2]]);
  assert.match(c.log[2]!, /locked=true/);
  assert.equal(c.xattrs.get('rbd/gateway.conf@epoch'), '0');
  assert.equal(c.locks.size, 0, 'lock released');
  await store.close();
});

test('update(): re-reads under the lock, epoch + 1 in document and xattr, unknown keys kept, false writes nothing', async () => {
  const c = new FakeCluster();
  const a = new RadosConfigStore({ rados: new FakeClient(c), pool: 'p', object: 'gw.conf' });
  const b = new RadosConfigStore({ rados: new FakeClient(c), pool: 'p', object: 'gw.conf' });
  await a.load();
  // someone (an upstream gateway) adds a key we do not know
  const raw = JSON.parse(c.objects.get('p/gw.conf')!.toString()) as Record<string, unknown>;
  raw.upstream_only = { x: 1 };
  c.objects.set('p/gw.conf', Buffer.from(JSON.stringify(raw)));
  await b.update((d) => {
    (d as Record<string, unknown>).counter = 1;
  });
  const { doc } = await a.update((d) => {
    (d as Record<string, unknown>).counter = ((d as Record<string, unknown>).counter as number) + 1;
  });
  assert.equal((doc as Record<string, unknown>).counter, 2, 'a saw b\'s write (re-read under the lock)');
  assert.equal(doc.epoch, 2);
  assert.equal(c.xattrs.get('p/gw.conf@epoch'), '2');
  const stored = JSON.parse(c.objects.get('p/gw.conf')!.toString()) as Record<string, unknown>;
  assert.deepEqual(stored.upstream_only, { x: 1 });
  const writes = c.log.filter((l) => l.startsWith('write')).length;
  await a.update(() => false);
  assert.equal(c.log.filter((l) => l.startsWith('write')).length, writes, 'a no-op update wrote');
  assert.ok(c.log.filter((l) => l.startsWith('write')).every((l) => l.endsWith('locked=true')), 'a write outside the lock');
  await a.close();
  await b.close();
});

test('update() waits while another client holds the lock, and times out with ERR_CONFIG_LOCK_TIMEOUT', async () => {
  const c = new FakeCluster();
  const other = new FakeClient(c);
  const store = new RadosConfigStore({ rados: new FakeClient(c), lockTimeoutMs: 300 });
  await store.load();
  assert.ok(await other.tryLockExclusive('rbd', 'gateway.conf', LOCK_NAME, LOCK_COOKIE));
  let done = false;
  const p = store.update((d) => {
    d.discovery_auth.username = 'x';
  }).then((r) => {
    done = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(done, false, 'update went ahead under someone else\'s lock');
  await other.unlock('rbd', 'gateway.conf', LOCK_NAME, LOCK_COOKIE);
  assert.equal((await p).doc.epoch, 1);
  assert.ok(await other.tryLockExclusive('rbd', 'gateway.conf', LOCK_NAME, LOCK_COOKIE));
  await assert.rejects(store.update(() => undefined), (e: Error & { code?: string }) => e.code === 'ERR_CONFIG_LOCK_TIMEOUT');
  await store.close();
});

test('watch(): another store\'s update arrives through notify; a corrupt object is a clear error', async () => {
  const c = new FakeCluster();
  const a = new RadosConfigStore({ rados: new FakeClient(c), pollIntervalMs: 60_000 });
  const b = new RadosConfigStore({ rados: new FakeClient(c), pollIntervalMs: 60_000 });
  await a.load();
  const seen: GatewayConfig[] = [];
  const stop = b.watch((d) => seen.push(d));
  await until(() => (c.watchers.size > 0 ? true : undefined), 'the watch');
  await a.update((d) => {
    d.discovery_auth.username = 'alice';
  });
  const got = await until(() => seen[0], 'the notify');
  assert.equal(got.discovery_auth.username, 'alice');
  stop();
  c.objects.set('rbd/gateway.conf', Buffer.from('{not json'));
  await assert.rejects(b.load(), /not valid JSON/);
  await a.close();
  await b.close();
});

test('watch(): without notifies, the epoch xattr poll finds an upstream writer\'s change', async () => {
  const c = new FakeCluster();
  const a = new RadosConfigStore({ rados: new FakeClient(c), pollIntervalMs: 20 });
  const doc = await a.load();
  const seen: GatewayConfig[] = [];
  a.watch((d) => seen.push(d));
  await until(() => (c.watchers.size > 0 ? true : undefined), 'the watch');
  // an upstream rbd-target-api commit: write_full + epoch xattr, no notify
  c.objects.set('rbd/gateway.conf', Buffer.from(JSON.stringify({ ...doc, epoch: 7 })));
  c.xattrs.set('rbd/gateway.conf@epoch', '7');
  const got = await until(() => seen[0], 'the poll');
  assert.equal(got.epoch, 7);
  await a.close();
});
