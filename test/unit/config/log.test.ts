// util/log.ts lives in util/, but its test sits with the config tests this engineer owns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, silentLogger, toPinoLevel } from '../../../src/util/log.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>>; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return {
    stream,
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('secrets are redacted at any depth; other fields survive', () => {
  const c = capture();
  const log = createLogger({ level: 'debug', name: 'gw', destination: c.stream });
  log.info({
    password: 'top-secret-1',
    api_password: 'top-secret-2',
    auth: { username: 'myusername', password: 'top-secret-3', mutual_password: 'top-secret-4' },
    doc: { targets: { t: { auth: { password: 'top-secret-5' } } } },
    req: { headers: { authorization: 'Basic dG9wLXNlY3JldC02', host: 'x' }, body: { password: 'top-secret-7' } },
    body: { password: 'top-secret-8', username: 'u' },
    keys: { CHAP_R: '0xtop-secret-9', CHAP_N: 'initiatorname' },
  }, 'event');
  const text = c.text();
  for (let i = 1; i <= 9; i++) assert.ok(!text.includes(`top-secret-${i}`) && !text.includes('dG9wLXNlY3JldC02'), `secret ${i} leaked: ${text}`);
  const [line] = c.lines();
  assert.ok(line);
  assert.equal(line.name, 'gw');
  assert.equal(line.msg, 'event');
  assert.equal((line.auth as Record<string, unknown>).username, 'myusername');
  assert.equal((line.auth as Record<string, unknown>).password, '[Redacted]');
  assert.equal((line.keys as Record<string, unknown>).CHAP_N, 'initiatorname');
  assert.equal(((line.req as Record<string, unknown>).headers as Record<string, unknown>).host, 'x');
});

test('child loggers keep redaction', () => {
  const c = capture();
  const log = createLogger({ level: 'info', destination: c.stream }).child({ component: 'api' });
  log.warn({ client: { auth: { password: 'secret-in-child' } } }, 'x');
  assert.ok(!c.text().includes('secret-in-child'));
  assert.equal(c.lines()[0]?.component, 'api');
});

test('levels: pino names, Python numbers and names', () => {
  assert.equal(toPinoLevel(10), 'debug');
  assert.equal(toPinoLevel(20), 'info');
  assert.equal(toPinoLevel(30), 'warn');
  assert.equal(toPinoLevel(40), 'error');
  assert.equal(toPinoLevel(50), 'fatal');
  assert.equal(toPinoLevel('WARNING'), 'warn');
  assert.equal(toPinoLevel('critical'), 'fatal');
  assert.equal(toPinoLevel('20'), 'info');
  assert.equal(toPinoLevel('trace'), 'trace');
  assert.equal(toPinoLevel(undefined), 'info');
  const c = capture();
  const log = createLogger({ level: 30, destination: c.stream });
  log.info('hidden');
  log.warn('shown');
  assert.deepEqual(c.lines().map((l) => l.msg), ['shown']);
});

test('file destination is written synchronously; silentLogger writes nothing', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'log-'));
  const file = path.join(dir, 'sub', 'gw.log');
  const log = createLogger({ level: 'info', destination: file });
  log.info({ password: 'nope-secret' }, 'to file');
  const text = await fsp.readFile(file, 'utf8');
  assert.match(text, /"msg":"to file"/);
  assert.ok(!text.includes('nope-secret'));
  const s = silentLogger();
  assert.equal(s.isLevelEnabled('fatal'), false);
  s.error('nothing');
});
