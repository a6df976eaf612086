/**
 * Dead-initiator detection (target controls nopin_timeout / nopin_response_timeout, ceph-iscsi
 * defaults 5 s / 5 s, minimum 3 s): the target pings an idle session with NOP-In; an initiator that
 * answers keeps its session, one that does not is dropped — so a failed-over client does not hold
 * reservations or tasks on a gateway for long. Set through PUT /api/target mode=reconfigure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addClient, Daemon, defineTarget, TARGET_IQN } from './helpers.js';
import { CDB, MiniInitiator } from './mini-initiator.js';

const INITIATOR = 'iqn.2024-01.io.example:nop';

describe('NOP-In keepalive drops silent initiators', { timeout: 2 * 60_000 }, () => {
  let d: Daemon;

  before(async () => {
    d = await Daemon.start();
    await defineTarget(d.api, d.gatewayName, 'rbd/disk_1', '16M');
    await addClient(d.api, INITIATOR, 'rbd/disk_1');
    const r = await d.api.put(`/api/target/${TARGET_IQN}`, { mode: 'reconfigure', controls: JSON.stringify({ nopin_timeout: 3, nopin_response_timeout: 3 }) });
    assert.equal(r.status, 200, r.text);
  });

  after(async () => {
    await d?.dispose();
  });

  test('an initiator that answers the pings keeps its session', async () => {
    const ini = await MiniInitiator.connect('127.0.0.1', d.iscsiPort);
    try {
      await ini.login(INITIATOR, TARGET_IQN);
      const idle = await ini.idle(8_000, true);
      assert.ok(idle.pings >= 1, `no NOP-In ping within 8 s of idleness (nopin_timeout 3 s): ${JSON.stringify(idle)}`);
      assert.equal(idle.closed, false, 'the target dropped a session that answered its pings');
      const r = await ini.commandRetryUa(0, CDB.testUnitReady(), 0);
      assert.equal(r.status, 0);
    } finally {
      ini.close();
    }
  });

  test('a silent initiator is dropped after nopin_timeout + nopin_response_timeout', async () => {
    const ini = await MiniInitiator.connect('127.0.0.1', d.iscsiPort);
    try {
      await ini.login(INITIATOR, TARGET_IQN);
      const idle = await ini.idle(15_000, false);
      assert.ok(idle.pings >= 1, `no NOP-In ping: ${JSON.stringify(idle)}`);
      assert.equal(idle.closed, true, 'a session that never answered was still open after 15 s');
      // 3 s idle + 3 s for the answer, with slack for a busy host.
      assert.ok(idle.closedAfterMs >= 4_000 && idle.closedAfterMs <= 12_000, `dropped after ${idle.closedAfterMs} ms`);
    } finally {
      ini.close();
    }
  });
});
