import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiCallError, ApiClient, parseIni, resolveApi } from '../../../src/cli/client.js';

test('INI: sections, = and :, comments, lowercased keys', () => {
  const ini = parseIni('# c\n[config]\nAPI_Host = 10.0.0.1\napi_port: 5001\n; x\napi_secure = True\n[other]\nk=v=w\n');
  assert.deepEqual(ini, { config: { api_host: '10.0.0.1', api_port: '5001', api_secure: 'True' }, other: { k: 'v=w' } });
});

test('API location from the cfg (defaults as upstream), or --api', () => {
  const cfg = (text: string) => () => text;
  assert.deepEqual(resolveApi({ config: 'x', readFile: cfg('[config]\napi_host = 10.0.0.1\napi_port = 5001\napi_secure = true\napi_user = u\napi_password = p\n') }), { base: 'https://10.0.0.1:5001', user: 'u', password: 'p' });
  assert.deepEqual(resolveApi({ config: 'x', readFile: cfg('[config]\n') }), { base: 'http://127.0.0.1:5000', user: 'admin', password: 'admin' });
  assert.deepEqual(resolveApi({ config: 'x', readFile: cfg('[config]\napi_host = ::1\n') }).base, 'http://[::1]:5000');
  assert.deepEqual(resolveApi({ api: 'http://a:b@127.0.0.1:9', readFile: () => { throw new Error('ENOENT'); } }), { base: 'http://127.0.0.1:9', user: 'a', password: 'b' });
  assert.throws(() => resolveApi({ config: '/nope.cfg', readFile: () => { throw new Error('ENOENT'); } }), /cannot read \/nope\.cfg/);
  assert.throws(() => resolveApi({ api: 'ftp://x' }), /invalid --api URL/);
});

const seen: { method: string; url: string; auth: string; body: string; type: string }[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization ?? '', body, type: req.headers['content-type'] ?? '' });
    if (req.url?.startsWith('/bad')) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Invalid IQN' }));
    } else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'ok' }));
  });
});
after(() => server.close());

test('REST client: Basic auth, form bodies, JSON replies, server message in errors', async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const api = new ApiClient({ base: `http://127.0.0.1:${port}`, user: 'admin', password: 's3cret' });
  assert.deepEqual(await api.put('/api/clientauth/a/b', { username: 'u', password: 'p w' }), { message: 'ok' });
  assert.deepEqual(await api.get('/api/disks', { config: 'yes' }), { message: 'ok' });
  assert.equal(seen[0]!.auth, 'Basic ' + Buffer.from('admin:s3cret').toString('base64'));
  assert.equal(seen[0]!.type, 'application/x-www-form-urlencoded');
  assert.equal(seen[0]!.body, 'username=u&password=p+w');
  assert.equal(seen[1]!.url, '/api/disks?config=yes');
  await assert.rejects(api.delete('/bad/x', {}), (e: unknown) => e instanceof ApiCallError && e.status === 400 && e.message === 'Invalid IQN');
  assert.equal(await api.status('/api/_ping'), 200);
  const dead = new ApiClient({ base: 'http://127.0.0.1:1', user: 'a', password: 'b' });
  await assert.rejects(dead.get('/api/config'), /Unable to contact the API endpoint http:\/\/127\.0\.0\.1:1/);
});
