/**
 * Concurrent bursts: every change validates against the fresh document under
 * the store lock, so parallel requests never lose each other's writes and
 * conflicting ones are refused, not duplicated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GW1, GW2, TARGET, makeHarness, msg } from './helpers.js';

test('a burst of 20 disk creates, 20 target LUN maps and 10 clients keeps the document consistent', async () => {
  const h = makeHarness();
  try {
    await h.call('PUT', `/api/target/${TARGET}`);
    await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } });
    await h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    const names = Array.from({ length: 20 }, (_, i) => `burst${i}`);
    const creates = await Promise.all(names.map((n) => h.call('PUT', `/api/disk/rbd/${n}`, { form: { mode: 'create', size: '1M' } })));
    assert.deepEqual(creates.map((r) => r.statusCode), names.map(() => 200));
    const maps = await Promise.all(names.map((n) => h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: `rbd/${n}` } })));
    assert.deepEqual(maps.map((r) => r.statusCode), names.map(() => 200));
    const clients = Array.from({ length: 10 }, (_, i) => `iqn.1994-05.com.redhat:burst${i}`);
    const cr = await Promise.all(clients.map((c) => h.call('PUT', `/api/client/${TARGET}/${c}`)));
    assert.deepEqual(cr.map((r) => r.statusCode), clients.map(() => 200));

    const doc = h.store.current();
    assert.equal(Object.keys(doc.disks).length, 20);
    const t = doc.targets[TARGET];
    assert.ok(t);
    const lunIds = Object.values(t.disks).map((d) => d.lun_id).sort((a, b) => a - b);
    assert.deepEqual(lunIds, Array.from({ length: 20 }, (_, i) => i), 'LUN ids 0..19, no duplicates');
    assert.equal(Object.keys(t.clients).length, 10);
    const owners = Object.values(doc.disks).map((d) => d.owner);
    const g1 = owners.filter((o) => o === GW1).length;
    const g2 = owners.filter((o) => o === GW2).length;
    assert.deepEqual([g1, g2], [10, 10], 'owners spread evenly');
    assert.equal((doc.gateways[GW1] as { active_luns: number }).active_luns, 10);
    assert.equal((doc.gateways[GW2] as { active_luns: number }).active_luns, 10);
    assert.equal(new Set(Object.values(doc.disks).map((d) => d.wwn)).size, 20);
  } finally {
    await h.close();
  }
});

test('racing creates of the same names: exactly one wins each, the rest get the upstream refusal', async () => {
  const h = makeHarness();
  try {
    const same = await Promise.all(Array.from({ length: 8 }, () => h.call('PUT', '/api/disk/rbd/race', { form: { mode: 'create', size: '1M' } })));
    const ok = same.filter((r) => r.statusCode === 200);
    const refused = same.filter((r) => r.statusCode === 400);
    assert.equal(ok.length, 1);
    assert.equal(refused.length, 7);
    for (const r of refused) assert.equal(msg(r), 'at least one rbd image(s) with that name/prefix is already defined');

    await h.call('PUT', `/api/target/${TARGET}`);
    const gws = await Promise.all(
      Array.from({ length: 6 }, (_, i) => h.call('PUT', `/api/gateway/${TARGET}/gw${i}.example.com`, { form: { ip_address: '192.168.122.77', skipchecks: 'true' } })),
    );
    assert.equal(gws.filter((r) => r.statusCode === 200).length, 1, 'one IP, one gateway');
    assert.deepEqual(h.store.current().targets[TARGET]?.ip_list, ['192.168.122.77']);

    await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } });
    const lun = await Promise.all(
      ['a', 'b', 'c'].map(async (n) => {
        await h.call('PUT', `/api/disk/rbd/l${n}`, { form: { mode: 'create', size: '1M' } });
        return h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: `rbd/l${n}`, lun_id: '3' } });
      }),
    );
    assert.equal(lun.filter((r) => r.statusCode === 200).length, 1, 'one LUN id, one disk');
    assert.ok(lun.filter((r) => r.statusCode === 400).every((r) => msg(r) === 'Lun id 3 already in use'));
  } finally {
    await h.close();
  }
});

test('the same burst against the real FileConfigStore (lock + re-read per update)', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { FileConfigStore } = await import('../../../src/config/store-file.js');
  const { buildApi } = await import('../../../src/api/server.js');
  const { silentLogger } = await import('../../../src/util/log.js');
  const { MemoryProvider } = await import('../../../src/backstore/memory.js');
  const { FakeStatus, basic, PASSWORD, USER } = await import('./helpers.js');
  const dir = mkdtempSync(join(tmpdir(), 'api-store-'));
  const store = new FileConfigStore({ path: join(dir, 'gateway.conf') });
  const base = makeHarness();
  await base.close();
  const app = buildApi({ settings: base.settings, store, backstore: new MemoryProvider({ pools: ['rbd'] }), status: new FakeStatus(GW1), logger: silentLogger() });
  const put = (url: string, form: Record<string, string> = {}) =>
    app.inject({ method: 'PUT', url, headers: { authorization: basic(USER, PASSWORD), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(form).toString() });
  try {
    assert.equal((await put(`/api/target/${TARGET}`)).statusCode, 200);
    assert.equal((await put(`/api/gateway/${TARGET}/${GW1}`, { ip_address: '192.168.122.10', skipchecks: 'true' })).statusCode, 200);
    const names = Array.from({ length: 8 }, (_, i) => `f${i}`);
    const res = await Promise.all(names.map(async (n) => {
      const c = await put(`/api/disk/rbd/${n}`, { mode: 'create', size: '1M' });
      if (c.statusCode !== 200) return c;
      return put(`/api/targetlun/${TARGET}`, { disk: `rbd/${n}` });
    }));
    assert.deepEqual(res.map((r) => r.statusCode), names.map(() => 200), res.map((r) => r.body).join('\n'));
    const doc = await store.load();
    assert.equal(Object.keys(doc.disks).length, 8);
    assert.deepEqual(Object.values(doc.targets[TARGET]?.disks ?? {}).map((d) => d.lun_id).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal((doc.gateways[GW1] as { active_luns: number }).active_luns, 8);
  } finally {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
