/**
 * The iSCSI port is taken when this host becomes a gateway: /api/_ping says 503 (upstream: a
 * gateway whose iSCSI port is not listening; gwcli shows it as PARTIAL) instead of pretending, the
 * daemon keeps retrying, and once the port is free the portal comes up and serves — no restart.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { addClient, Daemon, defineTarget, requireTools, run, TARGET_IQN, waitFor } from './helpers.js';

test('portal port taken: _ping 503, then 200 and a working portal once the port is free', { timeout: 60_000 }, async () => {
  requireTools('iscsi-inq');
  const squatter = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const addr = squatter.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const d = await Daemon.start({ iscsiPort: port });
  try {
    await defineTarget(d.api, d.gatewayName, 'rbd/disk_1', '16M');
    await addClient(d.api, 'iqn.1994-05.com.example:bind', 'rbd/disk_1');
    const ping = await d.api.get('/api/_ping');
    assert.equal(ping.status, 503, `_ping while the iSCSI port is taken: ${ping.status} ${ping.text}`);
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await waitFor('_ping 200 after the port is freed', async () => ((await d.api.get('/api/_ping')).status === 200 ? true : undefined), 30_000, 250);
    const inq = await run('iscsi-inq', ['-i', 'iqn.1994-05.com.example:bind', `iscsi://${d.portal()}/${TARGET_IQN}/0`], { timeoutMs: 20_000 });
    assert.equal(inq.code, 0, inq.output);
  } finally {
    squatter.close();
    await d.dispose();
  }
});
