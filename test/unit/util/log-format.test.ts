import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, formatLogLine } from '../../../src/util/log.js';
import { notifyAddress } from '../../../src/util/sd-notify.js';

test('formatLogLine: time, level, component, message, fields; errors with their stack; non-JSON passes', () => {
  const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 11, 6, 16, 40, 24, 274), pid: 1, hostname: 'h', name: 'iscsi-gateway', component: 'api', ip: '10.0.0.9', user: 'admin', note: 'two words', n: 6, msg: 'API authentication failed' });
  assert.equal(formatLogLine(line), '16:40:24.274 WARN  api: API authentication failed ip=10.0.0.9 user=admin note="two words" n=6\n');
  assert.match(formatLogLine(line, true), /^16:40:24\.274 \x1b\[33mWARN \x1b\[0m api: /);
  const withErr = formatLogLine(JSON.stringify({ level: 50, time: 0, msg: 'boom', err: { message: 'bad', stack: 'Error: bad\n    at x' } }));
  assert.equal(withErr, '00:00:00.000 ERROR boom\n    Error: bad\n        at x\n');
  assert.equal(formatLogLine('not json'), 'not json\n');
});

test('text loggers redact secrets like JSON ones', () => {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString('utf8');
      cb();
    },
  });
  const log = createLogger({ format: 'text', destination: sink, level: 'info' });
  log.info({ password: 'S3cretPassw0rd', user: 'u' }, 'hello');
  assert.match(out, /INFO {2}hello password=\[Redacted\] user=u\n$/);
  assert.ok(!out.includes('S3cretPassw0rd'));
});

test('notifyAddress: paths NUL-terminated, @names abstract, others refused', () => {
  const p = notifyAddress('/run/systemd/notify');
  assert.ok(p !== undefined);
  assert.equal(p.addr.readUInt16LE(0), 1);
  assert.equal(p.addr.subarray(2, p.length).toString('latin1'), '/run/systemd/notify\0');
  const a = notifyAddress('@igw');
  assert.ok(a !== undefined);
  assert.equal(a.addr.subarray(2, a.length).toString('latin1'), '\0igw');
  assert.equal(notifyAddress('vsock:2:1234'), undefined);
  assert.equal(notifyAddress('/' + 'x'.repeat(200)), undefined);
});
