/**
 * api_secure = true at the daemon level (rbd-target-api's TLS mode): the REST API is served over
 * HTTPS with the configured certificate (verified here against it as the only CA), plain HTTP on
 * that port gets nothing useful, and a missing certificate stops the daemon at start-up with
 * upstream's fatal exit code 16 and a message naming the file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DAEMON_MAIN, freePort, removeDir, requireTools, run, tempDir, waitFor } from './helpers.js';

function httpsGet(port: number, path: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, method: 'GET', ca, auth: 'admin:admin', timeout: 5_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function startDaemon(cfgPath: string, cwd: string) {
  const child = spawn(process.execPath, [DAEMON_MAIN, '--config', cfgPath], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => out.push(c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => Buffer.concat(out).toString() };
}

describe('REST API over TLS (api_secure = true)', { timeout: 60_000 }, () => {
  let dir: string;
  let crt: string;
  let key: string;

  before(async () => {
    requireTools('openssl');
    dir = await tempDir('igw-tls-');
    crt = join(dir, 'iscsi-gateway.crt');
    key = join(dir, 'iscsi-gateway.key');
    const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.output);
  });

  after(async () => {
    if (dir) await removeDir(dir);
  });

  async function cfg(name: string, apiPort: number, extra: Record<string, string>): Promise<string> {
    const keys: Record<string, string> = {
      api_host: '127.0.0.1',
      api_port: String(apiPort),
      api_user: 'admin',
      api_password: 'admin',
      trusted_ip_list: '127.0.0.1',
      data_dir: join(dir, `data-${name}`),
      iscsi_port: String(await freePort()),
      prometheus_host: '127.0.0.1',
      prometheus_port: String(await freePort()),
      gateway_name: 'tls-gw',
      ...extra,
    };
    const path = join(dir, `${name}.cfg`);
    await writeFile(path, '[config]\n' + Object.entries(keys).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
    return path;
  }

  test('HTTPS with the configured certificate; plain HTTP is not served', async () => {
    const apiPort = await freePort();
    const d = startDaemon(await cfg('ok', apiPort, { api_secure: 'true', api_cert: crt, api_key: key }), dir);
    try {
      const ca = readFileSync(crt);
      const ping = await waitFor('HTTPS API', async () => {
        if (d.child.exitCode !== null) throw new Error(`daemon exited ${d.child.exitCode}: ${d.output()}`);
        const r = await httpsGet(apiPort, '/api/_ping', ca);
        return r.status === 200 ? r : undefined;
      }, 20_000, 100);
      assert.match(ping.body, /pong/);
      const cfgReply = await httpsGet(apiPort, '/api/config', ca);
      assert.equal(cfgReply.status, 200);
      // The web console is served by the same server, so over the same TLS (issue 12).
      const ui = await httpsGet(apiPort, '/ui/', ca);
      assert.equal(ui.status, 200, ui.body);
      assert.match(ui.body, /<div id="app">/);
      const plain = await fetch(`http://127.0.0.1:${apiPort}/api/_ping`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.status, () => -1);
      assert.notEqual(plain, 200, 'the API answered plain HTTP although api_secure = true');
    } finally {
      d.child.kill('SIGTERM');
      await d.exited;
    }
  });

  test('api_secure = true without the certificate: exit 16 with a message naming the file', async () => {
    const missing = join(dir, 'nope.crt');
    const d = startDaemon(await cfg('missing', await freePort(), { api_secure: 'true', api_cert: missing, api_key: key }), dir);
    let timer: NodeJS.Timeout | undefined;
    const ex = await Promise.race([
      d.exited,
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), 20_000);
      }),
    ]);
    clearTimeout(timer);
    if (ex === 'timeout') {
      d.child.kill('SIGKILL');
      assert.fail('the daemon kept running without its certificate');
    }
    assert.equal(ex.code, 16, d.output());
    assert.ok(d.output().includes(missing), `message does not name ${missing}:\n${d.output().slice(-1500)}`);
  });
});
