/**
 * gateway/gateway.ts reconcile: a change costs what it touched. A Gateway on an in-memory store
 * and backstore (counting opens and size reads per image) with 40 LUNs: adding, mapping or
 * touching one disk opens, closes or re-reads only that disk; unchanged LUs are never opened
 * again; a SIGHUP-style full reconcile re-reads every size.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BackingStore } from '../../../src/backstore/backstore.js';
import { MemoryProvider } from '../../../src/backstore/memory.js';
import { emptyChapAuth, seedConfig, type DiskEntry, type GatewayConfig } from '../../../src/config/schema.js';
import { defaultSettings } from '../../../src/config/settings.js';
import type { Board, MemberRecord } from '../../../src/gateway/ha/board.js';
import { Gateway } from '../../../src/gateway/gateway.js';
import { silentLogger } from '../../../src/util/log.js';
import { MemoryConfigStore } from '../api/helpers.js';

const GW = 'gw-test';
const IQN = 'iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw';
const CLIENT = 'iqn.1994-05.com.redhat:client';
const SIZE = 1024 * 1024;

/** MemoryProvider that counts open() and imageSize() per image id. */
class CountingProvider extends MemoryProvider {
  readonly opens = new Map<string, number>();
  readonly sizeReads = new Map<string, number>();

  override open(pool: string, image: string): Promise<BackingStore> {
    bump(this.opens, `${pool}/${image}`);
    return super.open(pool, image);
  }

  override imageSize(pool: string, image: string): Promise<number | undefined> {
    bump(this.sizeReads, `${pool}/${image}`);
    return super.imageSize(pool, image);
  }

  reset(): void {
    this.opens.clear();
    this.sizeReads.clear();
  }
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function board(): Board {
  const records = new Map<string, MemberRecord>();
  return {
    publish: (r) => {
      records.set(r.gateway, structuredClone(r));
      return Promise.resolve();
    },
    readAll: () => Promise.resolve([...records.values()].map((r) => structuredClone(r))),
    read: (g) => Promise.resolve(structuredClone(records.get(g))),
    onChange: () => undefined,
    close: () => Promise.resolve(),
  };
}

function diskEntry(image: string): DiskEntry {
  return {
    pool: 'rbd', image, pool_id: 1, wwn: `wwn-${image}`, backstore: 'user:rbd', backstore_object_name: `rbd.${image}`,
    allocating_host: GW, owner: GW, controls: {}, created: 'c', updated: 'u',
  };
}

function initialDoc(n: number): GatewayConfig {
  const doc = seedConfig();
  doc.gateways[GW] = { active_luns: n, created: 'c', updated: 'u' };
  const disks: Record<string, { lun_id: number }> = {};
  for (let i = 0; i < n; i++) {
    doc.disks[`rbd/d${i}`] = diskEntry(`d${i}`);
    disks[`rbd/d${i}`] = { lun_id: i };
  }
  doc.targets[IQN] = {
    acl_enabled: true, auth: emptyChapAuth(), controls: {}, ip_list: ['127.0.0.1'],
    portals: { [GW]: { portal_ip_addresses: ['127.0.0.1'], gateway_ip_list: ['127.0.0.1'], inactive_portal_ips: [], tpgs: 1 } },
    disks, clients: {}, groups: {}, created: 'c', updated: 'u',
  };
  return doc;
}

const N = 40;
let dataDir: string;
let provider: CountingProvider;
let store: MemoryConfigStore;
let gateway: Gateway;

/** Commits a change and lets the gateway apply it, as the API's mutate() does. */
async function change(fn: (doc: GatewayConfig) => void): Promise<void> {
  await store.update((doc) => {
    fn(doc);
    return true;
  });
  await gateway.reconcileNow();
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'igw-reconcile-'));
  provider = new CountingProvider();
  for (let i = 0; i < N + 2; i++) await provider.createImage('rbd', `d${i}`, SIZE);
  store = new MemoryConfigStore(initialDoc(N));
  const settings = { ...defaultSettings(), gateway_name: GW, iscsi_port: 0, data_dir: dataDir };
  gateway = new Gateway({ settings, store, backstore: provider, logger: silentLogger(), board: board() });
  await gateway.start();
});

after(async () => {
  await gateway.stop();
  await rm(dataDir, { recursive: true, force: true });
});

test('start-up opens every LU once', () => {
  assert.equal(gateway.runningDisks().length, N);
  assert.equal(provider.opens.size, N);
  assert.ok([...provider.opens.values()].every((n) => n === 1));
});

test('a new disk mapped to the target opens that LU only; no other LU is re-opened or re-sized', async () => {
  provider.reset();
  await change((doc) => {
    doc.disks[`rbd/d${N}`] = diskEntry(`d${N}`);
    doc.targets[IQN]!.disks[`rbd/d${N}`] = { lun_id: N };
  });
  assert.deepEqual([...provider.opens.keys()], [`rbd/d${N}`]);
  assert.equal(provider.sizeReads.size, 0);
  assert.equal(gateway.runningDisks().length, N + 1);
});

test('a disk created but not mapped, a client and its LUN: no LU touched', async () => {
  provider.reset();
  await change((doc) => {
    doc.disks[`rbd/d${N + 1}`] = diskEntry(`d${N + 1}`);
  });
  await change((doc) => {
    doc.targets[IQN]!.clients[CLIENT] = { auth: emptyChapAuth(), group_name: '', luns: { 'rbd/d1': { lun_id: 1 } } };
  });
  assert.equal(provider.opens.size, 0);
  assert.equal(provider.sizeReads.size, 0);
  assert.equal(gateway.runningDisks().length, N + 1);
});

test('a change to one disk\'s entry (resize, rollback touch it) re-reads that disk\'s size only', async () => {
  provider.reset();
  await change((doc) => {
    doc.disks['rbd/d3']!.updated = 'resized';
  });
  assert.deepEqual([...provider.sizeReads.keys()], ['rbd/d3']);
  assert.equal(provider.opens.size, 0);
});

test('a touch that changes nothing (a resize in the same second as the last touch: `updated` has whole seconds) re-reads every size', async () => {
  provider.reset();
  await change((doc) => {
    const d = doc.disks['rbd/d3']!;
    d.updated = `${d.updated}`;
  });
  assert.equal(provider.sizeReads.size, gateway.runningDisks().length);
  assert.equal(provider.opens.size, 0);
});

test('an unmapped LUN closes that LU only', async () => {
  provider.reset();
  await change((doc) => {
    delete doc.targets[IQN]!.disks['rbd/d5'];
  });
  const running = new Set(gateway.runningDisks());
  assert.equal(running.size, N);
  assert.ok(!running.has('rbd/d5'));
  assert.equal(provider.opens.size, 0);
  assert.equal(provider.sizeReads.size, 0);
});

test('a change of the target\'s portals updates every disk of it (ALUA groups) without re-opening any', async () => {
  provider.reset();
  await change((doc) => {
    const t = doc.targets[IQN]!;
    t.ip_list.push('127.0.0.2');
    t.portals['gw-other'] = { portal_ip_addresses: ['127.0.0.2'], gateway_ip_list: [...t.ip_list], inactive_portal_ips: ['127.0.0.1'], tpgs: 2 };
  });
  assert.equal(provider.opens.size, 0);
  assert.equal(provider.sizeReads.size, 0);
});

test('a full reconcile (SIGHUP) re-reads every size and opens nothing', async () => {
  provider.reset();
  await gateway.reconcileNow(true);
  assert.equal(provider.sizeReads.size, N);
  assert.equal(provider.opens.size, 0);
});
