/**
 * Several targets on one gateway (ceph-iscsi v4+ multi-target): discovery lists all of them, each
 * target serves its own disk to its own clients, and a client of one target is refused by the
 * other. Also: one disk cannot be mapped to two targets (upstream targetlun rule).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Daemon, requireTools, run } from './helpers.js';

const T1 = 'iqn.2003-01.com.redhat.iscsi-gw:target-one';
const T2 = 'iqn.2003-01.com.redhat.iscsi-gw:target-two';
const C1 = 'iqn.1994-05.com.example:client-one';
const C2 = 'iqn.1994-05.com.example:client-two';

describe('two targets on one gateway', { timeout: 2 * 60_000 }, () => {
  let d: Daemon;

  before(async () => {
    requireTools('iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16');
    d = await Daemon.start();
    const api = d.api;
    for (const [t, disk, size, client] of [
      [T1, 'rbd/one', '16M', C1],
      [T2, 'rbd/two', '32M', C2],
    ] as const) {
      await api.must('PUT', `/api/target/${t}`, {});
      await api.must('PUT', `/api/gateway/${t}/${d.gatewayName}`, { ip_address: '127.0.0.1', skipchecks: 'true' });
      await api.must('PUT', `/api/disk/${disk}`, { mode: 'create', size, create_image: 'true' });
      await api.must('PUT', `/api/targetlun/${t}`, { disk });
      await api.must('PUT', `/api/client/${t}/${client}`, {});
      await api.must('PUT', `/api/clientlun/${t}/${client}`, { disk });
    }
  });

  after(async () => {
    await d?.dispose();
  });

  test('discovery lists both targets', async () => {
    const r = await run('iscsi-ls', ['-i', C1, `iscsi://${d.portal()}`], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.output);
    for (const t of [T1, T2]) assert.ok(r.stdout.includes(`Target:${t} Portal:127.0.0.1:${d.iscsiPort}`), `${t} missing:\n${r.stdout}`);
  });

  test('each target serves its own disk to its own client', async () => {
    const one = await run('iscsi-readcapacity16', ['-i', C1, d.url(T1, 0)], { timeoutMs: 20_000 });
    assert.equal(one.code, 0, one.output);
    assert.match(one.stdout, /Total size:16777216\b/);
    const two = await run('iscsi-readcapacity16', ['-i', C2, d.url(T2, 0)], { timeoutMs: 20_000 });
    assert.equal(two.code, 0, two.output);
    assert.match(two.stdout, /Total size:33554432\b/);
  });

  test("a client of one target is refused by the other", async () => {
    const r = await run('iscsi-inq', ['-i', C1, d.url(T2, 0)], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /Authorization failure/);
  });

  test('a disk mapped to one target cannot be mapped to the other', async () => {
    const r = await d.api.put(`/api/targetlun/${T2}`, { disk: 'rbd/one' });
    assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.text}`);
  });
});
