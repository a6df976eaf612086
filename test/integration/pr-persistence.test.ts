/**
 * Persistent reservations through a gateway restart. SPC-4 "Preserving persistent reservations and
 * registrations": with APTPL=1 the registrations and the reservation survive a power loss — for a
 * gateway, a restart or a crash. Sent with our mini initiator (libiscsi's tools have no PR command).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addClient, Daemon, defineTarget, TARGET_IQN } from './helpers.js';
import { CDB, MiniInitiator, parseReadKeys, proutParams } from './mini-initiator.js';

const INITIATOR = 'iqn.2024-01.io.example:pr';

async function session(d: Daemon): Promise<MiniInitiator> {
  const ini = await MiniInitiator.connect('127.0.0.1', d.iscsiPort);
  await ini.login(INITIATOR, TARGET_IQN);
  await ini.commandRetryUa(0, CDB.testUnitReady(), 0); // consume the power-on unit attention
  return ini;
}

async function readKeys(d: Daemon): Promise<bigint[]> {
  const ini = await session(d);
  try {
    const r = await ini.commandRetryUa(0, CDB.prinReadKeys(1024), 1024);
    assert.equal(r.status, 0, `PR IN READ KEYS: status ${r.status}`);
    return parseReadKeys(r.data);
  } finally {
    ini.close();
  }
}

describe('persistent reservations survive restarts with APTPL=1', { timeout: 2 * 60_000 }, () => {
  let d: Daemon;

  before(async () => {
    d = await Daemon.start();
    await defineTarget(d.api, d.gatewayName, 'rbd/disk_1', '64M');
    await addClient(d.api, INITIATOR, 'rbd/disk_1');
  });

  after(async () => {
    await d?.dispose();
  });

  test('REGISTER with APTPL=1, SIGTERM, restart: the key is still registered', async () => {
    const ini = await session(d);
    try {
      const r = await ini.commandOut(0, CDB.proutRegister(), proutParams(0n, 0xabcdef01n, true));
      assert.equal(r.status, 0, `REGISTER: status ${r.status} sense ${r.sense.toString('hex')}`);
    } finally {
      ini.close();
    }
    assert.deepEqual(await readKeys(d), [0xabcdef01n]);
    assert.equal((await d.stop('SIGTERM')).code, 0);
    await d.restart();
    assert.deepEqual(await readKeys(d), [0xabcdef01n]);
  });

  test('key changed (REGISTER old → new), then SIGKILL right away: the new key is registered after restart', async () => {
    const ini = await session(d);
    try {
      // SPC-4 "REGISTER": a registered I_T nexus changes its key with RESERVATION KEY = the old one.
      const r = await ini.commandOut(0, CDB.proutRegister(), proutParams(0xabcdef01n, 0x5555n, true));
      assert.equal(r.status, 0, `REGISTER (change key): status ${r.status} sense ${r.sense.toString('hex')}`);
    } finally {
      ini.close();
    }
    const ex = await d.stop('SIGKILL');
    assert.equal(ex.signal, 'SIGKILL');
    await d.restart();
    assert.deepEqual(await readKeys(d), [0x5555n]);
  });
});
