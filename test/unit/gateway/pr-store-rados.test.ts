/**
 * The versioned update protocol of RadosSharedPrStore (src/gateway/pr-store-rados.ts)
 * without a cluster: an in-memory object space with the librados semantics the store relies
 * on (one write op = guard + write_full + setxattr, all or nothing; watch/notify where the
 * notifier waits for every watcher's ack up to its timeout, acks deferred until the promise
 * of a watcher settles). The real thing runs in test/integration/ceph-pr.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryBackingStore } from '../../../src/backstore/memory.js';
import { decodePrEnvelope, prObjectName, PR_VERSION_XATTR, RadosSharedPrStore, type PrRadosObjects } from '../../../src/gateway/pr-store-rados.js';
import { LogicalUnit } from '../../../src/scsi/logical-unit.js';
import { GatewayError } from '../../../src/util/errors.js';
import { I1, I2, SA, TYPE, makeNexus, prInCdb, prOutCdb, prOutParam } from '../scsi/reservations-fixtures.js';

interface Obj {
  data: Buffer;
  xattrs: Map<string, string>;
}
interface Watcher {
  gid: bigint;
  cookie: bigint;
  onNotify: (payload: Buffer) => void | Promise<void>;
  ackWhenDone: boolean;
}

/** One pool's objects, shared by several clients (one per gateway). */
class Objects {
  readonly objects = new Map<string, Obj>();
  readonly watchers = new Map<string, Set<Watcher>>();
  /** Writes attempted / refused by their guard (all clients). */
  writes = 0;
  lost = 0;
  #nextGid = 4100n;
  #nextCookie = 1n;

  client(): PrRadosObjects & { failing: boolean; readDelayMs: number } {
    const gid = this.#nextGid++;
    const self = this;
    const api = {
      failing: false,
      /** A slow OSD for this client's reads. */
      readDelayMs: 0,
      async readFull(_pool: string, oid: string): Promise<Buffer | undefined> {
        if (api.readDelayMs > 0) await new Promise((r) => setTimeout(r, api.readDelayMs));
        if (api.failing) throw new Error('EIO');
        const o = self.objects.get(oid);
        return o === undefined ? undefined : Buffer.from(o.data);
      },
      getXattr(_pool: string, oid: string, name: string): Promise<string | undefined> {
        if (api.failing) return Promise.reject(new Error('EIO'));
        return Promise.resolve(self.objects.get(oid)?.xattrs.get(name));
      },
      async writeFullGuarded(_pool: string, oid: string, xattr: string, expect: string | undefined, data: Buffer, next: string): Promise<boolean> {
        if (api.failing) throw new Error('ETIMEDOUT');
        await new Promise((r) => setImmediate(r)); // another client may run in between
        self.writes++;
        const o = self.objects.get(oid);
        const ok = expect === undefined ? o === undefined : o !== undefined && (o.xattrs.get(xattr) ?? '') === expect;
        if (!ok) {
          self.lost++;
          return false;
        }
        const obj = o ?? { data: Buffer.alloc(0), xattrs: new Map<string, string>() };
        obj.data = Buffer.from(data);
        obj.xattrs.set(xattr, next);
        self.objects.set(oid, obj);
        return true;
      },
      watch(_pool: string, oid: string, onNotify: (payload: Buffer) => void | Promise<void>, _onError: (rc: number) => void, opts: { ackWhenDone?: boolean } = {}) {
        if (!self.objects.has(oid)) return Promise.reject(new Error('ENOENT'));
        const w: Watcher = { gid, cookie: self.#nextCookie++, onNotify, ackWhenDone: opts.ackWhenDone === true };
        let set = self.watchers.get(oid);
        if (set === undefined) self.watchers.set(oid, (set = new Set()));
        set.add(w);
        return Promise.resolve({ cookie: w.cookie, close: () => Promise.resolve(void set.delete(w)) });
      },
      async notifyWatchers(_pool: string, oid: string, payload: Buffer, timeoutMs: number) {
        if (api.failing) throw new Error('ETIMEDOUT');
        const acks: { gid: bigint; cookie: bigint }[] = [];
        await Promise.all(
          [...(self.watchers.get(oid) ?? [])].map(async (w) => {
            await new Promise((r) => setImmediate(r));
            const done = w.onNotify(Buffer.from(payload));
            if (w.ackWhenDone && done instanceof Promise) {
              let timer: NodeJS.Timeout | undefined;
              const acked = await Promise.race([
                done.then(() => true),
                new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
              ]);
              clearTimeout(timer);
              if (!acked) return;
            }
            acks.push({ gid: w.gid, cookie: w.cookie });
          }),
        );
        return { acks };
      },
      instanceId: () => gid,
    };
    return api;
  }
}

const POOL = 'rbd';
const IMAGE = 'disk_1';
const OID = prObjectName(IMAGE);

function store(rados: PrRadosObjects, opts: { notifyTimeoutMs?: number; updateTimeoutMs?: number } = {}): RadosSharedPrStore {
  return new RadosSharedPrStore({ rados: () => rados, pool: POOL, image: IMAGE, pollIntervalMs: 60_000, ...opts });
}

describe('RadosSharedPrStore: versioned compare-and-write on one object', () => {
  test('open creates version 0; the first is alone, a second is not; after the first closes, a third is', async () => {
    const objs = new Objects();
    const s1 = store(objs.client());
    const o1 = await s1.open();
    assert.equal(o1.version, 0);
    assert.equal(o1.doc, undefined);
    assert.equal(await o1.alone(), true);
    assert.equal(objs.objects.get(OID)?.xattrs.get(PR_VERSION_XATTR), '0');
    const s2 = store(objs.client());
    assert.equal(await (await s2.open()).alone(), false, 'the first store is watching');
    await s1.close();
    await s2.close();
    const s3 = store(objs.client());
    assert.equal(await (await s3.open()).alone(), true);
    await s3.close();
  });

  test('concurrent updates from two gateways lose nothing: each is retried on a lost guard', async () => {
    const objs = new Objects();
    const s1 = store(objs.client());
    const s2 = store(objs.client());
    await s1.open();
    await s2.open();
    const bump = (s: RadosSharedPrStore): Promise<{ version: number; result: number }> =>
      s.update((cur) => {
        const n = typeof cur.doc === 'number' ? cur.doc : 0;
        return { doc: n + 1, result: n + 1 };
      });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => bump(i % 2 === 0 ? s1 : s2)));
    assert.deepEqual(results.map((r) => r.result).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1), 'every increment seen once');
    const snap = await s2.load();
    assert.deepEqual({ version: snap.version, doc: snap.doc }, { version: 20, doc: 20 });
    assert.equal(await s1.version(), 20);
    assert.ok(objs.lost > 0, 'the two gateways did race');
    const stored = objs.objects.get(OID);
    assert.ok(stored !== undefined);
    assert.equal(decodePrEnvelope(stored.data, OID).version, Number(stored.xattrs.get(PR_VERSION_XATTR)), 'content and xattr agree');
    await s1.close();
    await s2.close();
  });

  test('a mutator without a doc writes nothing; a failing write or read changes nothing and rejects', async () => {
    const objs = new Objects();
    const c = objs.client();
    const s = store(c);
    await s.open();
    assert.deepEqual(await s.update(() => ({ result: 'nop' })), { version: 0, result: 'nop' });
    await s.update(() => ({ doc: { a: 1 }, result: undefined }));
    c.failing = true;
    await assert.rejects(s.update(() => ({ doc: { a: 2 }, result: undefined })), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_PR_STORE_IO');
    await assert.rejects(s.version(), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_PR_STORE_IO');
    c.failing = false;
    const snap = await s.load();
    assert.deepEqual({ version: snap.version, doc: snap.doc }, { version: 1, doc: { a: 1 } });
    await s.close();
  });

  test('a guard that never holds (foreign writer) ends in ERR_PR_STORE_IO, not a loop', async () => {
    const objs = new Objects();
    const s = store(objs.client(), { updateTimeoutMs: 50 });
    await s.open();
    objs.objects.get(OID)?.xattrs.set(PR_VERSION_XATTR, 'tampered');
    await assert.rejects(s.update(() => ({ doc: 1, result: undefined })), /still losing the compare-and-write race/);
    await s.close();
  });

  test("a document of another LU (the disk deleted and made again, new WWN) is not adopted; the version goes on", async () => {
    const objs = new Objects();
    const old = new RadosSharedPrStore({ rados: () => objs.client(), pool: POOL, image: IMAGE, lu: 'wwn-old', pollIntervalMs: 60_000 });
    await old.open();
    await old.update(() => ({ doc: { keys: [1] }, result: undefined }));
    await old.close();
    const fresh = new RadosSharedPrStore({ rados: () => objs.client(), pool: POOL, image: IMAGE, lu: 'wwn-new', pollIntervalMs: 60_000 });
    const o = await fresh.open();
    assert.deepEqual({ version: o.version, doc: o.doc }, { version: 1, doc: undefined });
    const seen: unknown[] = [];
    assert.equal((await fresh.update((cur) => (seen.push(cur.doc), { doc: { keys: [] }, result: undefined }))).version, 2);
    assert.deepEqual(seen, [undefined]);
    await fresh.close();
  });

  test('corrupt content is ERR_SCSI_PR_STATE, never a silent reset', async () => {
    const objs = new Objects();
    const s = store(objs.client());
    await s.open();
    const o = objs.objects.get(OID);
    assert.ok(o !== undefined);
    o.data = Buffer.from('{not json');
    await assert.rejects(s.load(), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_SCSI_PR_STATE');
    assert.throws(() => decodePrEnvelope(Buffer.from('{"doc":1}'), 'x'), /no valid "version"/);
    assert.deepEqual(decodePrEnvelope(Buffer.alloc(0), 'x'), { version: 0, doc: undefined });
    await s.close();
  });
});

describe('RadosSharedPrStore under two logical units (two gateways)', () => {
  const a1 = makeNexus(I1, '23d000000001', 1);
  const b1 = makeNexus(I1, '23d000000001', 2);
  const b2 = makeNexus(I2, '400001370000', 2);
  const K1 = 0x1122334455667788n;

  async function openLu(rados: PrRadosObjects, notifyTimeoutMs = 3000): Promise<LogicalUnit> {
    const lu = new LogicalUnit({
      name: `${POOL}/${IMAGE}`,
      backstore: new MemoryBackingStore(`${POOL}/${IMAGE}`, 1 << 20),
      wwn: '00000000-0000-0000-0000-000000000001',
      aluaGroups: () => [],
      sharedPr: store(rados, { notifyTimeoutMs }),
    });
    await lu.open();
    return lu;
  }
  const out = (lu: LogicalUnit, n: ReturnType<typeof makeNexus>, sa: number, o: Parameters<typeof prOutParam>[0] & { type?: number } = {}) => {
    const param = prOutParam(o);
    return lu.pr.persistentReserveOut(n, prOutCdb(sa, o.type ?? 0, 0, param.length), param);
  };

  test("a PR OUT through A completes only after B adopted it: B's data path conflicts at once, without a PR IN", async () => {
    const objs = new Objects();
    const a = await openLu(objs.client());
    const cb = objs.client();
    const b = await openLu(cb);
    cb.readDelayMs = 30; // B re-reads slowly: A must wait for it
    try {
      assert.equal(await out(a, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.equal(await out(a, a1, SA.RESERVE, { rk: K1, type: TYPE.WE }), 'GOOD');
      // No await between A's completion and B's check: B's in-memory copy is already current.
      assert.equal(b.pr.conflicts(b2, Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0])), true, "B lets an unregistered nexus write through A's reservation");
      assert.equal(b.pr.conflicts(b2, Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0])), false, 'WRITE EXCLUSIVE: reads stay allowed');
      const keys = await b.pr.persistentReserveIn(b1, prInCdb(0));
      assert.equal(keys.readUInt32BE(4), 8);
      assert.equal(keys.readBigUInt64BE(8), K1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a peer that does not acknowledge costs the writer the notify timeout, then catches up by re-reading', async () => {
    const objs = new Objects();
    const a = await openLu(objs.client(), 100);
    const cb = objs.client();
    const b = await openLu(cb, 100);
    try {
      // B's watch goes deaf (a frozen gateway): A's PR OUT still completes, after the timeout.
      for (const w of objs.watchers.get(OID) ?? []) if (w.gid === cb.instanceId()) w.onNotify = () => new Promise<void>(() => undefined);
      const t0 = performance.now();
      assert.equal(await out(a, a1, SA.REGISTER, { sark: K1 }), 'GOOD');
      assert.ok(performance.now() - t0 >= 90, 'the writer waited for the silent peer');
      const keys = await b.pr.persistentReserveIn(b1, prInCdb(0)); // PR IN re-reads a moved version
      assert.equal(keys.readBigUInt64BE(8), K1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
