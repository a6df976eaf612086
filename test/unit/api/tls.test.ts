/** api_secure: the API serves HTTPS (TLS >= 1.2) with the configured certificate and key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { MemoryProvider } from '../../../src/backstore/memory.js';
import { buildApi } from '../../../src/api/server.js';
import { silentLogger } from '../../../src/util/log.js';
import { FakeStatus, GW1, MemoryConfigStore, PASSWORD, USER, basic, makeHarness } from './helpers.js';

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('api_secure=true: HTTPS on an ephemeral loopback port with the configured certificate', { skip: !haveOpenssl() && 'openssl not installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'api-tls-'));
  const cert = join(dir, 'iscsi-gateway.crt');
  const key = join(dir, 'iscsi-gateway.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const base = makeHarness();
  await base.close();
  const app = buildApi({
    settings: { ...base.settings, api_secure: true, api_cert: cert, api_key: key },
    store: new MemoryConfigStore(),
    backstore: new MemoryProvider(),
    status: new FakeStatus(GW1),
    logger: silentLogger(),
  });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const { status, body, protocol } = await new Promise<{ status: number; body: string; protocol: string | null }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/api/targets', method: 'GET', rejectUnauthorized: false, headers: { authorization: basic(USER, PASSWORD) } },
        (res) => {
          let data = '';
          const protocol = (res.socket as TLSSocket).getProtocol();
          res.on('data', (c: Buffer) => (data += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, protocol }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    assert.deepEqual(JSON.parse(body), { targets: [] });
    assert.ok(protocol === 'TLSv1.2' || protocol === 'TLSv1.3', String(protocol));
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('api_secure=true without certificate files: buildApi throws a clear error', async () => {
  const base = makeHarness();
  await base.close();
  assert.throws(
    () =>
      buildApi({
        settings: { ...base.settings, api_secure: true, api_cert: '/nonexistent/iscsi-gateway.crt', api_key: '/nonexistent/iscsi-gateway.key' },
        store: new MemoryConfigStore(),
        backstore: new MemoryProvider(),
        status: new FakeStatus(GW1),
        logger: silentLogger(),
      }),
    /Secure API requested \(api_secure = true\) but the certificate \/nonexistent\/iscsi-gateway.crt cannot be read/,
  );
});
