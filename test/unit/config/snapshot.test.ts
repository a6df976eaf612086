// Frozen documents with structural sharing (config/snapshot.ts) and the incremental formatter
// (config/format.ts): the text is formatConfig's, byte for byte; an edit shares what it did not
// write; a document read again shares what did not change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigFormatter, formatConfig } from '../../../src/config/format.js';
import { seedConfig, type GatewayConfig } from '../../../src/config/schema.js';
import { isDraft } from 'immer';
import { editDoc, freezeDeep, peek, plain, shareUnchanged } from '../../../src/config/snapshot.js';

/** A document with `n` disks mapped to one target and one client. */
function docWith(n: number): GatewayConfig {
  const doc = seedConfig(new Date(Date.UTC(2026, 0, 1)));
  const disks: Record<string, { lun_id: number }> = {};
  for (let i = 0; i < n; i++) {
    doc.disks[`rbd/d${i}`] = {
      pool: 'rbd', image: `d${i}`, pool_id: 1, wwn: `wwn-${i}`, backstore: 'user:rbd', backstore_object_name: `rbd.d${i}`,
      allocating_host: 'gw1', owner: 'gw1', controls: {}, created: 'c', updated: 'u',
    };
    disks[`rbd/d${i}`] = { lun_id: i };
  }
  doc.targets['iqn.2003-01.com.example:t'] = {
    acl_enabled: true, auth: doc.discovery_auth, controls: {}, ip_list: ['10.0.0.1'],
    portals: { gw1: { portal_ip_addresses: ['10.0.0.1'], gateway_ip_list: ['10.0.0.1'], inactive_portal_ips: [], tpgs: 1 } },
    disks, clients: { 'iqn.1994-05.com.example:c': { auth: doc.discovery_auth, group_name: '', luns: { ...disks } } },
    groups: {}, created: 'c', updated: 'u',
  };
  return structuredClone(doc);
}

/** Every object under `v` is frozen. */
function assertDeepFrozen(v: unknown, path = '$'): void {
  if (v === null || typeof v !== 'object') return;
  assert.ok(Object.isFrozen(v), `${path} is not frozen`);
  for (const [k, child] of Object.entries(v)) assertDeepFrozen(child, `${path}.${k}`);
}

const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    // integer-like keys ("0", "10") and others: JSON.stringify lists the former first
    fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.nat(30).map(String)).filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 5 }),
  ),
})).value;

test('ConfigFormatter writes formatConfig\'s bytes, frozen or not, first time and from kept text', () => {
  fc.assert(
    fc.property(jsonValue, (v) => {
      const expected = formatConfig(v);
      const f = new ConfigFormatter();
      assert.equal(f.format(v), expected);
      const frozen = freezeDeep(structuredClone(v));
      assert.equal(f.format(frozen), expected);
      assert.equal(f.format(frozen), expected); // from the kept text
    }),
    { numRuns: 400 },
  );
});

test('ConfigFormatter: an edited document formats as formatConfig formats it (kept text of the rest reused)', async () => {
  const f = new ConfigFormatter();
  const base = freezeDeep(docWith(50));
  assert.equal(f.format(base), formatConfig(base));
  const e = await editDoc(base, (d) => {
    d.disks['rbd/d7']!.owner = 'gw2';
    delete d.targets['iqn.2003-01.com.example:t']!.clients['iqn.1994-05.com.example:c']!.luns['rbd/d3'];
    d.targets['iqn.2003-01.com.example:t']!.disks['rbd/new'] = { lun_id: 50 };
    return true;
  });
  const next = e.finish((d) => {
    d.epoch = 1;
  });
  assert.equal(f.format(next), formatConfig(next));
  assert.equal(f.format(base), formatConfig(base), 'the previous epoch still formats as itself');
});

test('ConfigFormatter: large maps edited over many epochs (keys added anywhere, removed, integer-like) format as formatConfig', () => {
  const key = fc.oneof(fc.string({ maxLength: 6 }), fc.nat(60).map(String), fc.constantFrom('rbd/a', 'rbd/b', 'rbd/z', 'a/b.c')).filter((k) => k !== '__proto__');
  const edit = fc.record({ add: fc.array(key, { maxLength: 6 }), remove: fc.array(fc.nat(), { maxLength: 3 }), also: fc.boolean() });
  fc.assert(
    fc.property(fc.integer({ min: 33, max: 80 }), fc.array(edit, { minLength: 1, maxLength: 8 }), (n, edits) => {
      const f = new ConfigFormatter();
      // Two large maps at paths that look alike (as every target's "disks"): a wrong predecessor guess must not matter.
      const map: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) map[`rbd/d${(i * 7919) % 1000}`] = { lun_id: i };
      type Doc = { t: { a: { disks: Record<string, unknown> }; b: { disks: Record<string, unknown> } } };
      let doc: Doc = freezeDeep({ t: { a: { disks: { ...map } }, b: { disks: { ...map, extra: { lun_id: 1 } } } } });
      assert.equal(f.format(doc), formatConfig(doc));
      for (const e of edits) {
        const cur = doc.t.a.disks;
        const next: Record<string, unknown> = { ...cur };
        const keys = Object.keys(next);
        for (const r of e.remove) if (keys.length > 0) delete next[keys[r % keys.length]!];
        for (const k of e.add) next[k] = { lun_id: k.length };
        const other = e.also ? { ...doc.t.b.disks, [`x${e.add.length}`]: { lun_id: 0 } } : doc.t.b.disks;
        doc = freezeDeep({ t: { a: { disks: next }, b: { disks: other } } });
        assert.equal(f.format(doc), formatConfig(doc));
      }
    }),
    { numRuns: 200 },
  );
});

test('editDoc: the next document is frozen, new along the written paths only, the base untouched', async () => {
  const base = freezeDeep(docWith(20));
  const before = formatConfig(base);
  const e = await editDoc(base, (d) => {
    d.disks['rbd/d5']!.controls = { max_data_area_mb: 64 };
    d.disks['rbd/new'] = { ...structuredClone(base.disks['rbd/d0']!), image: 'new', controls: { nested: { deep: [1, 2] } } };
    return 'done';
  });
  assert.equal(e.result, 'done');
  const next = e.finish((d) => {
    d.epoch = base.epoch + 1;
  });
  assertDeepFrozen(next);
  assert.equal(formatConfig(base), before, 'the base is not changed');
  assert.notEqual(next, base);
  assert.notEqual(next.disks, base.disks);
  assert.notEqual(next.disks['rbd/d5'], base.disks['rbd/d5']);
  for (let i = 0; i < 20; i++) if (i !== 5) assert.equal(next.disks[`rbd/d${i}`], base.disks[`rbd/d${i}`], `rbd/d${i} is shared`);
  assert.equal(next.targets, base.targets, 'an untouched subtree is the same object');
  assert.deepEqual(next.disks['rbd/d5']!.controls, { max_data_area_mb: 64 });
  assert.equal(next.epoch, base.epoch + 1);
});

test('editDoc: a throwing mutator leaves the base as it was; a returned draft comes back as a plain copy', async () => {
  const base = freezeDeep(docWith(3));
  await assert.rejects(
    editDoc(base, (d) => {
      d.disks['rbd/d1']!.owner = 'gw9';
      throw new Error('refused');
    }),
    /refused/,
  );
  assert.equal(base.disks['rbd/d1']!.owner, 'gw1');
  const e = await editDoc(base, (d) => d.disks['rbd/d2']);
  e.finish(() => undefined);
  assert.deepEqual(e.result, base.disks['rbd/d2'], 'usable after the draft is finished');
});

test('plain(): inside a mutator, a scan sees the draft\'s changes without drafting every entry', async () => {
  const base = freezeDeep(docWith(10));
  await editDoc(base, (d) => {
    d.disks['rbd/d4']!.backstore_object_name = 'renamed';
    const view = plain(d.disks);
    assert.equal(Object.values(view).filter((x) => x.backstore_object_name === 'renamed').length, 1);
    assert.equal(view['rbd/d0'], base.disks['rbd/d0'], 'unwritten entries are the frozen originals');
    return true;
  });
  assert.equal(plain(base), base);
});

test('peek(): the current value of an entry, without a draft of the map (the map is not copied)', async () => {
  const base = freezeDeep(docWith(10));
  const next = await editDoc(base, (d) => {
    assert.equal(peek(d.disks, 'rbd/d1'), base.disks['rbd/d1'], 'an unwritten entry: the frozen original');
    assert.equal(peek(d.disks, 'rbd/nope'), undefined);
    assert.equal(peek(d.disks, 'constructor'), undefined, 'own entries only');
    d.disks['rbd/new'] = { ...base.disks['rbd/d1']!, image: 'new' };
    assert.equal(peek(d.disks, 'rbd/new')?.image, 'new', 'an entry the mutator added');
    d.disks['rbd/d2']!.owner = 'gw9';
    const written = peek(d.disks, 'rbd/d2');
    assert.ok(isDraft(written), 'an entry the mutator wrote: its draft');
    assert.equal(written?.owner, 'gw9');
    return true;
  });
  const doc = next.finish(() => undefined);
  assert.equal(peek(doc.disks, 'rbd/d2')?.owner, 'gw9');
  assert.equal(peek(doc.targets, 'constructor'), undefined);
  // Reads alone leave the map as it was: the next document shares it.
  const read = await editDoc(doc, (d) => peek(d.disks, 'rbd/d3')?.image);
  assert.equal(read.result, 'd3');
  assert.equal(read.finish(() => undefined).disks, doc.disks);
});

test('shareUnchanged: a re-read document reuses every equal part, and is the previous one when all is equal', () => {
  const prev = freezeDeep(docWith(30));
  assert.equal(shareUnchanged(prev, structuredClone(docWith(30))), prev, 'equal contents: the previous object');
  const next = structuredClone(docWith(30));
  next.disks['rbd/d9']!.owner = 'gw2';
  next.targets['iqn.2003-01.com.example:t']!.ip_list.push('10.0.0.2');
  const shared = shareUnchanged(prev, next);
  assert.notEqual(shared, prev);
  assert.notEqual(shared.disks['rbd/d9'], prev.disks['rbd/d9']);
  assert.equal(shared.disks['rbd/d8'], prev.disks['rbd/d8']);
  assert.equal(shared.targets['iqn.2003-01.com.example:t']!.portals, prev.targets['iqn.2003-01.com.example:t']!.portals);
  assert.notEqual(shared.targets['iqn.2003-01.com.example:t']!.ip_list, prev.targets['iqn.2003-01.com.example:t']!.ip_list);
  assert.equal(formatConfig(shared), formatConfig(next), 'same contents as the document read');
  // A removed key and an added key of the same count are a difference.
  const renamed = structuredClone(docWith(30));
  const d0 = renamed.disks['rbd/d0']!;
  delete renamed.disks['rbd/d0'];
  renamed.disks['rbd/other'] = d0;
  assert.notEqual(shareUnchanged(prev, renamed).disks, prev.disks);
});
