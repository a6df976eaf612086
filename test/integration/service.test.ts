/**
 * Running the daemon as a service (issue 11 item 4): the shipped systemd unit passes
 * `systemd-analyze verify`, the daemon tells systemd READY=1 (Type=notify) once its API listens
 * and STOPPING=1 on SIGTERM, `--help`/`--version` of both binaries, and the human-readable log
 * mode (log_format = text).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Daemon, requireTools, ROOT, run, tempDir, removeDir, waitFor } from './helpers.js';

const UNIT_DIR = join(ROOT, 'deploy', 'systemd');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('systemd-analyze verify passes on the shipped unit files', { timeout: 60_000 }, async (t) => {
  requireTools('systemd-analyze');
  const units = readdirSync(UNIT_DIR).filter((f) => f.endsWith('.service'));
  assert.ok(units.length > 0);
  // verify checks that ExecStart's program exists: the install step of docs/operations.md links it.
  for (const unit of units) {
    const text = readFileSync(join(UNIT_DIR, unit), 'utf8');
    const exec = /^ExecStart=(\S+)/m.exec(text)?.[1];
    assert.ok(exec !== undefined, `${unit} has no ExecStart`);
    if (!existsSync(exec)) {
      assert.equal(process.getuid?.(), 0, `${exec} is missing and only root may link it (run as root, or install the package first)`);
      symlinkSync(join(ROOT, 'bin', 'iscsi-gateway.js'), exec);
      cleanups.push(() => {
        if (lstatSync(exec).isSymbolicLink() && readlinkSync(exec) === join(ROOT, 'bin', 'iscsi-gateway.js')) unlinkSync(exec);
      });
    }
    const r = await run('systemd-analyze', ['verify', join(UNIT_DIR, unit)], { timeoutMs: 30_000 });
    t.diagnostic(`systemd-analyze verify ${unit}: exit ${r.code}${r.output.trim() !== '' ? `\n${r.output.trim()}` : ' (no output)'}`);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output.trim(), '', 'no warnings either');
    assert.match(text, /^Type=notify$/m);
    assert.match(text, /^Restart=on-failure$/m);
    assert.match(text, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
    assert.match(text, /^ProtectSystem=strict$/m);
    assert.match(text, /^NoNewPrivileges=yes$/m);
  }
});

test('Type=notify: READY=1 with MAINPID once the API answers, STOPPING=1 on SIGTERM', { timeout: 60_000 }, async () => {
  requireTools('python3');
  const dir = await tempDir('igw-notify-');
  cleanups.push(() => removeDir(dir));
  const socketPath = join(dir, 'notify');
  // The receiving end of $NOTIFY_SOCKET, as systemd binds it: an AF_UNIX datagram socket.
  const receiver = spawn(
    'python3',
    [
      '-c',
      'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound",flush=True)\nwhile True:\n  print(s.recv(4096).decode().replace("\\n"," | "),flush=True)',
      socketPath,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  cleanups.push(() => void receiver.kill('SIGKILL'));
  let got = '';
  receiver.stdout.on('data', (c: Buffer) => (got += c.toString('utf8')));
  await waitFor('the notify socket bound', () => (got.includes('bound') ? true : undefined));

  const d = await Daemon.start({ env: { NOTIFY_SOCKET: socketPath } });
  cleanups.push(() => d.dispose());
  const ready = await waitFor('READY=1', () => got.split('\n').find((l) => l.includes('READY=1')));
  assert.match(ready, new RegExp(`MAINPID=${String(d.pid)}\\b`));
  assert.match(ready, /STATUS=serving /);
  // READY=1 comes after the API and the portals listen: the log says so in that order.
  const log = d.stdoutLog();
  assert.ok(log.includes('iscsi-gateway ready'));
  assert.equal((await d.api.get('/api/_ping')).status, 200);
  await d.stop('SIGTERM');
  await waitFor('STOPPING=1', () => (got.includes('STOPPING=1') ? true : undefined));
});

test('--help and --version of iscsi-gateway and gwcli', { timeout: 30_000 }, async () => {
  const gw = join(ROOT, 'bin', 'iscsi-gateway.js');
  const cli = join(ROOT, 'bin', 'gwcli.js');
  const v1 = await run(process.execPath, [gw, '--version']);
  assert.equal(v1.code, 0, v1.output);
  assert.equal(v1.stdout, `iscsi-gateway ${VERSION}\n`);
  const v2 = await run(process.execPath, [cli, '--version']);
  assert.equal(v2.code, 0, v2.output);
  assert.equal(v2.stdout, `gwcli ${VERSION}\n`);
  const h1 = await run(process.execPath, [gw, '--help']);
  assert.equal(h1.code, 0);
  for (const word of ['--config', '--version', 'ISCSI_GW_', 'NOTIFY_SOCKET', 'SIGHUP', 'log_format', '16']) assert.ok(h1.stdout.includes(word), `--help lacks ${word}`);
  const h2 = await run(process.execPath, [cli, '--help']);
  assert.equal(h2.code, 0);
  assert.match(h2.stdout, /--version/);
  const bad = await run(process.execPath, [gw, '--bogus']);
  assert.equal(bad.code, 16, 'an unknown argument is a start-up error');
});

test('log_format = text: readable lines instead of JSON, secrets still redacted', { timeout: 60_000 }, async () => {
  const d = await Daemon.start({ extra: { log_format: 'text' } });
  cleanups.push(() => d.dispose());
  const wrong = 'Wr0ngTextPassw0rd';
  const r = await fetch(`${d.api.base}/api/config`, { headers: { authorization: 'Basic ' + Buffer.from(`admin:${wrong}`).toString('base64') } });
  assert.equal(r.status, 401);
  await waitFor('the audit line', () => (d.stdoutLog().includes('API authentication failed') ? true : undefined));
  const lines = d.stdoutLog().split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 2);
  for (const l of lines) assert.doesNotMatch(l, /^\{/, `a JSON line in text mode: ${l}`);
  assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO {2}iscsi-gateway ready /.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} WARN {2}api: API authentication failed .*ip=127\.0\.0\.1 user=admin/.test(l)), lines.join('\n'));
  assert.ok(!d.log().includes(wrong));
});
