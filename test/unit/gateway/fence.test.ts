/**
 * gateway/ha/fence.ts: /proc/<pid>/stat parsing and fencing a real process of this host (a
 * stopped child, as a frozen gateway), never another host's, a reused pid or this process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fenceLocalProcess, localIdentity, parseProcStat } from '../../../src/gateway/ha/fence.js';

describe('peer fencing on this host', () => {
  test('parseProcStat: state and start time, with spaces and parentheses in the command name', () => {
    const rest = Array.from({ length: 50 }, (_, i) => String(i + 4)).join(' ');
    assert.deepEqual(parseProcStat(`123 (node (x) y) T ${rest}`), { state: 'T', start: '22' });
    assert.equal(parseProcStat('123 (node) S 1 2'), undefined, 'too short');
    assert.equal(parseProcStat('garbage'), undefined);
  });

  test('localIdentity: this process, with a boot id', () => {
    const id = localIdentity();
    assert.ok(id !== undefined);
    assert.equal(id.pid, process.pid);
    assert.match(id.boot, /^[0-9a-f-]{36}$/);
    assert.match(id.start, /^\d+$/);
  });

  test('a stopped process of this host is killed and waited for; another host, a reused pid and this process are left alone', async () => {
    const self = localIdentity();
    assert.ok(self !== undefined);
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    try {
      assert.ok(child.pid !== undefined);
      child.kill('SIGSTOP');
      const stat = parseProcStat(readFileSync(`/proc/${child.pid}/stat`, 'utf8'));
      assert.ok(stat !== undefined);
      const id = { boot: self.boot, pid: child.pid, start: stat.start };
      assert.equal(await fenceLocalProcess({ ...id, boot: 'another-host' }, { self, waitMs: 1000 }), 'elsewhere');
      assert.equal(await fenceLocalProcess({ ...id, start: String(Number(stat.start) + 1) }, { self, waitMs: 1000 }), 'gone', 'a pid reused by another program');
      assert.equal(await fenceLocalProcess(self, { self, waitMs: 1000 }), 'elsewhere', 'never this process');
      assert.equal(child.exitCode, null, 'not signalled by the refused fences');
      // The child is only reaped by this process's event loop: a zombie counts as exited.
      assert.equal(await fenceLocalProcess(id, { self, waitMs: 5000 }), 'killed');
      const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
      assert.deepEqual([code, signal], [null, 'SIGKILL']);
      assert.equal(await fenceLocalProcess(id, { self, waitMs: 1000 }), 'gone');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
