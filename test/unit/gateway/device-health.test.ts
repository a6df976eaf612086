import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeviceServiceEntry } from '../../../src/backstore/backstore.js';
import { DEGRADED_ACCESS, DEGRADED_FAILOVERS, DEVICE_ONLINE, DeviceHealthTracker } from '../../../src/gateway/device-health.js';

function entry(gateway: string, counters: { lock?: number; conn?: number; timedOut?: number; owner?: boolean }, stamp: string, disk = 'rbd/disk_1'): DeviceServiceEntry {
  return {
    gateway,
    disk,
    status: {
      lock_owner: counters.owner === true ? 'true' : 'false',
      lock_lost_cnt: String(counters.lock ?? 0),
      conn_lost_cnt: String(counters.conn ?? 0),
      cmd_timed_out_cnt: String(counters.timedOut ?? 0),
    },
    statusStamp: stamp,
  };
}

const T1 = '2026-12-06T16:10:09.030845+0000';
const T2 = '2026-12-06T16:10:19.030845+0000';

test('device health: Online with the newest lock owner and every gateway counters; Unknown (undefined) when absent', () => {
  const t = new DeviceHealthTracker({ lockLostThreshold: 12, stableResetCount: 3 });
  t.update([entry('gw-a', { owner: true }, T1), entry('gw-b', { owner: false, lock: 2 }, T2)]);
  assert.deepEqual(t.status('rbd/disk_1'), {
    state: DEVICE_ONLINE,
    lock_owner: 'gw-a',
    gateways: { 'gw-a': { cmd_timed_out_cnt: 0, conn_lost_cnt: 0, lock_lost_cnt: 0 }, 'gw-b': { cmd_timed_out_cnt: 0, conn_lost_cnt: 0, lock_lost_cnt: 2 } },
  });
  assert.equal(t.status('rbd/other'), undefined);
  // gw-b takes the lock: its newer lock_owner=true stamp wins
  t.update([entry('gw-a', { owner: true }, T1), entry('gw-b', { owner: true, lock: 2 }, T2)]);
  assert.equal(t.status('rbd/disk_1')?.lock_owner, 'gw-b');
  // a device that leaves the service map is kept through stable_state_reset_count (3) reads, then forgotten
  for (let i = 0; i < 3; i++) t.update([]);
  assert.equal(t.status('rbd/disk_1')?.lock_owner, 'gw-b');
  t.update([]);
  assert.equal(t.status('rbd/disk_1'), undefined);
});

test('device health: counters already non-zero when a device is first seen are a baseline; a gateway that appears later with non-zero counters degrades', () => {
  const t = new DeviceHealthTracker({ lockLostThreshold: 12, stableResetCount: 3 });
  t.update([entry('gw-a', { owner: true, conn: 4, timedOut: 2 }, T1)]);
  assert.equal(t.status('rbd/disk_1')?.state, DEVICE_ONLINE);
  // gw-b's entry re-registers (after a blocklist) with its counters moved while it was absent
  t.update([entry('gw-a', { owner: true, conn: 4, timedOut: 2 }, T1), entry('gw-b', { conn: 2 }, T2)]);
  assert.equal(t.status('rbd/disk_1')?.state, DEGRADED_ACCESS);
  assert.equal(t.status('rbd/disk_1')?.gateways['gw-b']?.['conn_lost_cnt'], 2);
});

test('device health: a conn_lost or cmd_timed_out change degrades; Online again after more than stable_state_reset_count quiet reads', () => {
  const t = new DeviceHealthTracker({ lockLostThreshold: 12, stableResetCount: 2 });
  t.update([entry('gw-a', { owner: true }, T1)]);
  t.update([entry('gw-a', { owner: true, conn: 1 }, T1)]);
  assert.equal(t.status('rbd/disk_1')?.state, DEGRADED_ACCESS);
  t.update([entry('gw-a', { owner: true, conn: 1, timedOut: 1 }, T1)]);
  assert.equal(t.status('rbd/disk_1')?.state, DEGRADED_ACCESS);
  const states: string[] = [];
  for (let i = 0; i < 4; i++) {
    t.update([entry('gw-a', { owner: true, conn: 1, timedOut: 1 }, T1)]);
    states.push(t.status('rbd/disk_1')!.state);
  }
  assert.deepEqual(states, [DEGRADED_ACCESS, DEGRADED_ACCESS, DEVICE_ONLINE, DEVICE_ONLINE]);
});

test('device health: lock_lost_cnt degrades only by lock_lost_cnt_threshhold or more between reads', () => {
  const t = new DeviceHealthTracker({ lockLostThreshold: 3, stableResetCount: 3 });
  t.update([entry('gw-a', { lock: 0 }, T1)]);
  t.update([entry('gw-a', { lock: 2 }, T1)]);
  assert.equal(t.status('rbd/disk_1')?.state, DEVICE_ONLINE);
  t.update([entry('gw-a', { lock: 5 }, T1)]);
  assert.equal(t.status('rbd/disk_1')?.state, DEGRADED_FAILOVERS);
});

test('device health: a status without counters (not yet reported) or with garbage adds no gateway entry and never throws', () => {
  const t = new DeviceHealthTracker({ lockLostThreshold: 12, stableResetCount: 3 });
  t.update([
    { gateway: 'gw-a', disk: 'rbd/disk_1', status: {}, statusStamp: undefined },
    { gateway: 'gw-b', disk: 'rbd/disk_1', status: { lock_lost_cnt: 'x', conn_lost_cnt: '1e400' }, statusStamp: 'zzz' },
    { gateway: 'gw-c', disk: 'rbd/disk_1', status: undefined, statusStamp: undefined },
  ]);
  assert.deepEqual(t.status('rbd/disk_1'), { state: DEVICE_ONLINE, lock_owner: '', gateways: {} });
});
