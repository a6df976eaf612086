/** httpPeerInfo: asks another gateway's API (a second instance on an ephemeral loopback port). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { httpPeerInfo } from '../../../src/api/peers.js';
import { CLIENT, TARGET, makeHarness, seedFlow, session } from './helpers.js';

test('targetSessions / clientInfo over HTTP with the shared credentials; silent peers give undefined', async () => {
  const peer = makeHarness();
  try {
    await seedFlow(peer);
    peer.status.sessionList = [session(TARGET, CLIENT, '10.0.0.77')];
    await peer.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (peer.app.server.address() as AddressInfo).port;
    const info = httpPeerInfo({ ...peer.settings, api_port: port });
    assert.equal(await info.targetSessions('127.0.0.1', TARGET), 1);
    assert.deepEqual(await info.clientInfo('127.0.0.1', TARGET, CLIENT), { alias: 'client-alias', state: 'LOGGED_IN', ip_address: ['10.0.0.77'] });
    assert.equal(await info.targetSessions('127.0.0.1', 'iqn.2003-01.com.example:unknown'), undefined, '404 → undefined');
    assert.deepEqual(await info.sysinfo?.('127.0.0.1', 'ip_addresses'), { status: 200, body: { data: peer.status.ips } });
    assert.deepEqual(await info.sysinfo?.('127.0.0.1', 'checkversions'), { status: 200, body: { data: 'checks passed' } });
    const wrongCreds = httpPeerInfo({ ...peer.settings, api_port: port, api_password: 'nope' });
    assert.equal(await wrongCreds.targetSessions('127.0.0.1', TARGET), undefined, '401 → undefined');
  } finally {
    await peer.close();
  }
  // A port nobody listens on: connection refused → undefined, fast.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const base = makeHarness();
  await base.close();
  const dead = httpPeerInfo({ ...base.settings, api_port: deadPort }, 500);
  assert.equal(await dead.targetSessions('127.0.0.1', TARGET), undefined);
  assert.equal(await dead.clientInfo('127.0.0.1', TARGET, CLIENT), undefined);
});
