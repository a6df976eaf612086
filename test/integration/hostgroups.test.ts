/**
 * Host groups (gwcli host-groups, /api/hostgroup): members see the group's disks, with the group's
 * LUN ids; removing a disk or a member from the group is seen by the initiator; group rules.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Daemon, requireTools, run, TARGET_IQN } from './helpers.js';

const M1 = 'iqn.1994-05.com.example:member-1';
const M2 = 'iqn.1994-05.com.example:member-2';
const OUTSIDER = 'iqn.1994-05.com.example:outsider';

describe('host groups seen by initiators', { timeout: 2 * 60_000 }, () => {
  let d: Daemon;
  const luns = async (initiator: string): Promise<string[]> => {
    const r = await run('iscsi-ls', ['-s', '-i', initiator, `iscsi://${d.portal()}`], { timeoutMs: 20_000 });
    return [...r.stdout.matchAll(/Lun:(\d+)\s+Type:DIRECT_ACCESS/g)].map((m) => m[1] ?? '');
  };

  before(async () => {
    requireTools('iscsi-ls');
    d = await Daemon.start();
    const api = d.api;
    await api.must('PUT', `/api/target/${TARGET_IQN}`, {});
    await api.must('PUT', `/api/gateway/${TARGET_IQN}/${d.gatewayName}`, { ip_address: '127.0.0.1', skipchecks: 'true' });
    for (const disk of ['rbd/g1', 'rbd/g2', 'rbd/solo']) {
      await api.must('PUT', `/api/disk/${disk}`, { mode: 'create', size: '16M', create_image: 'true' });
      await api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk });
    }
    for (const c of [M1, M2, OUTSIDER]) await api.must('PUT', `/api/client/${TARGET_IQN}/${c}`, {});
    await api.must('PUT', `/api/clientlun/${TARGET_IQN}/${OUTSIDER}`, { disk: 'rbd/solo' });
  });

  after(async () => {
    await d?.dispose();
  });

  test('members see the group disks; others do not', async () => {
    const r = await d.api.put(`/api/hostgroup/${TARGET_IQN}/grp1`, { members: `${M1},${M2}`, disks: 'rbd/g1,rbd/g2' });
    assert.equal(r.status, 200, r.text);
    const g = (await d.api.must('GET', `/api/hostgroup/${TARGET_IQN}/grp1`)).body as { members: string[]; disks: Record<string, { lun_id: number }> };
    assert.deepEqual([...g.members].sort(), [M1, M2]);
    const ids = Object.values(g.disks).map((x) => String(x.lun_id)).sort();
    assert.equal(ids.length, 2);
    assert.deepEqual((await luns(M1)).sort(), ids);
    assert.deepEqual((await luns(M2)).sort(), ids);
    assert.deepEqual(await luns(OUTSIDER), [String(((await d.api.must('GET', '/api/config')).body as { targets: Record<string, { disks: Record<string, { lun_id: number }> }> }).targets[TARGET_IQN]?.disks['rbd/solo']?.lun_id)]);
  });

  test('group rules: a member cannot get its own LUNs; a grouped disk cannot be unmapped', async () => {
    const own = await d.api.put(`/api/clientlun/${TARGET_IQN}/${M1}`, { disk: 'rbd/solo' });
    assert.ok(own.status >= 400 && own.status < 500, `clientlun on a group member: ${own.status} ${own.text}`);
    const unmap = await d.api.del(`/api/targetlun/${TARGET_IQN}`, { disk: 'rbd/g1' });
    assert.ok(unmap.status >= 400 && unmap.status < 500, `targetlun delete of a grouped disk: ${unmap.status} ${unmap.text}`);
  });

  test('removing a disk from the group is seen by the members; a removed member keeps its masking (upstream)', async () => {
    let r = await d.api.put(`/api/hostgroup/${TARGET_IQN}/grp1`, { action: 'remove', disks: 'rbd/g2' });
    assert.equal(r.status, 200, r.text);
    assert.equal((await luns(M1)).length, 1);
    r = await d.api.put(`/api/hostgroup/${TARGET_IQN}/grp1`, { action: 'remove', members: M2 });
    assert.equal(r.status, 200, r.text);
    assert.equal((await luns(M1)).length, 1);
    // Upstream (ceph_iscsi_config/group.py remove_client): a removed member only loses its
    // group_name; the LUN masking it got from the group stays until changed explicitly.
    const cfg = (await d.api.must('GET', '/api/config')).body as { targets: Record<string, { clients: Record<string, { group_name: string; luns: Record<string, unknown> }> }> };
    const m2 = cfg.targets[TARGET_IQN]?.clients[M2];
    assert.equal(m2?.group_name, '');
    assert.deepEqual(Object.keys(m2?.luns ?? {}), ['rbd/g1']);
    assert.equal((await luns(M2)).length, 1);
    r = await d.api.del(`/api/hostgroup/${TARGET_IQN}/grp1`);
    assert.equal(r.status, 200, r.text);
    const groups = (await d.api.must('GET', `/api/hostgroups/${TARGET_IQN}`)).body as { groups: string[] };
    assert.deepEqual(groups.groups, []);
  });
});
