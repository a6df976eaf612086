import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  ChapAlgorithm,
  ChapAuthenticator,
  chapResponse,
  chooseChapAlgorithm,
  decodeChapBinary,
  encodeChapHex,
} from '../../../src/iscsi/chap.js';

test('RFC 1994 response: MD5(id || secret || challenge), hand-built vector', () => {
  const challenge = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
  const expected = createHash('md5')
    .update(Buffer.concat([Buffer.of(0x2a), Buffer.from('secretsecret1'), challenge]))
    .digest();
  assert.deepEqual(chapResponse(ChapAlgorithm.MD5, 42, 'secretsecret1', challenge), expected);
  // a known MD5 value: MD5("\x00" "a" "") computed independently
  assert.equal(chapResponse(ChapAlgorithm.MD5, 0, 'a', Buffer.alloc(0)).toString('hex'), createHash('md5').update('\u0000a').digest('hex'));
  assert.equal(chapResponse(ChapAlgorithm.SHA256, 1, 'x', Buffer.of(1)).length, 32);
  assert.equal(chapResponse(ChapAlgorithm.SHA1, 1, 'x', Buffer.of(1)).length, 20);
  assert.equal(chapResponse(ChapAlgorithm.SHA3_256, 1, 'x', Buffer.of(1)).length, 32);
});

test('chooseChapAlgorithm: strongest offered', () => {
  assert.equal(chooseChapAlgorithm('5'), 5);
  assert.equal(chooseChapAlgorithm('5,7'), 7);
  assert.equal(chooseChapAlgorithm('7,6,5'), 7);
  assert.equal(chooseChapAlgorithm('8,7,6,5'), 8);
  assert.equal(chooseChapAlgorithm('1,2'), null);
});

test('decodeChapBinary: hex, base64, odd hex, junk', () => {
  assert.deepEqual(decodeChapBinary('0xABcd'), Buffer.from([0xab, 0xcd]));
  assert.deepEqual(decodeChapBinary('0XaBc'), Buffer.from([0x0a, 0xbc]));
  assert.deepEqual(decodeChapBinary('0bAQID'), Buffer.from([1, 2, 3]));
  assert.deepEqual(decodeChapBinary('0BAQIDBA=='), Buffer.from([1, 2, 3, 4]));
  for (const s of ['0x', '0xzz', 'abcd', '0bA', '0b!!!!', '']) assert.equal(decodeChapBinary(s), null, s);
  assert.equal(encodeChapHex(Buffer.from([0, 255])), '0x00ff');
});

function run(secrets: ConstructorParameters<typeof ChapAuthenticator>[0], user: string, pass: string, alg = '5', mutual?: { i: number; c: Buffer }) {
  const a = new ChapAuthenticator(secrets);
  const s1 = a.step(new Map([['CHAP_A', alg]]));
  assert.equal(s1.kind, 'continue');
  const m = new Map(s1.kind === 'continue' ? s1.reply : []);
  const chosen = Number(m.get('CHAP_A')) as ChapAlgorithm;
  const id = Number(m.get('CHAP_I'));
  const chal = decodeChapBinary(m.get('CHAP_C') ?? '');
  assert.ok(chal !== null && chal.length >= 16);
  const keys = new Map([
    ['CHAP_N', user],
    ['CHAP_R', encodeChapHex(chapResponse(chosen, id, pass, chal))],
  ]);
  if (mutual) {
    keys.set('CHAP_I', String(mutual.i));
    keys.set('CHAP_C', encodeChapHex(mutual.c));
  }
  return { step: a.step(keys), chosen, chal, a };
}

test('one-way CHAP MD5 and SHA-256: good and wrong secret', () => {
  const secrets = { initiator: { username: 'user', password: 'pass12345678' } };
  const good = run(secrets, 'user', 'pass12345678');
  assert.equal(good.step.kind, 'done');
  assert.equal(good.chosen, 5);
  assert.equal(good.a.finished, true);
  const sha = run(secrets, 'user', 'pass12345678', '7,5');
  assert.equal(sha.chosen, 7);
  assert.equal(sha.step.kind, 'done');
  assert.equal(run(secrets, 'user', 'wrong').step.kind, 'fail');
  assert.equal(run(secrets, 'other', 'pass12345678').step.kind, 'fail');
});

test('mutual CHAP: target answers with its own secret; reflection rejected', () => {
  const secrets = { initiator: { username: 'user', password: 'pass12345678' }, target: { username: 'tgt', password: 'tpass1234567' } };
  const ic = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const r = run(secrets, 'user', 'pass12345678', '5', { i: 7, c: ic });
  assert.equal(r.step.kind, 'done');
  if (r.step.kind !== 'done') return;
  assert.equal(r.step.mutual, true);
  const m = new Map(r.step.reply);
  assert.equal(m.get('CHAP_N'), 'tgt');
  const expected = createHash('md5').update(Buffer.concat([Buffer.of(7), Buffer.from('tpass1234567'), ic])).digest();
  assert.equal(m.get('CHAP_R'), `0x${expected.toString('hex')}`);

  // reflection: initiator sends back our own challenge
  const a = new ChapAuthenticator(secrets);
  const s1 = a.step(new Map([['CHAP_A', '5']]));
  const mm = new Map(s1.kind === 'continue' ? s1.reply : []);
  const chal = decodeChapBinary(mm.get('CHAP_C') ?? '') as Buffer;
  const s2 = a.step(
    new Map([
      ['CHAP_N', 'user'],
      ['CHAP_R', encodeChapHex(chapResponse(5, Number(mm.get('CHAP_I')), 'pass12345678', chal))],
      ['CHAP_I', '1'],
      ['CHAP_C', encodeChapHex(chal)],
    ]),
  );
  assert.equal(s2.kind, 'fail');
});

test('mutual configured but not requested: one-way login accepted (the initiator decides); requested without target secret fails', () => {
  const withTarget = { initiator: { username: 'u', password: 'p' }, target: { username: 't', password: 'tp' } };
  const oneWayLogin = run(withTarget, 'u', 'p').step;
  assert.equal(oneWayLogin.kind, 'done');
  assert.equal(oneWayLogin.kind === 'done' ? oneWayLogin.mutual : undefined, false);
  assert.equal(run(withTarget, 'u', 'wrong').step.kind, 'fail');
  const oneWay = { initiator: { username: 'u', password: 'p' } };
  assert.equal(run(oneWay, 'u', 'p', '5', { i: 1, c: Buffer.alloc(16, 1) }).step.kind, 'fail');
});

test('unsupported CHAP_A -> fail with CHAP_A=Reject', () => {
  const a = new ChapAuthenticator({ initiator: { username: 'u', password: 'p' } });
  const s = a.step(new Map([['CHAP_A', '1']]));
  assert.equal(s.kind, 'fail');
  assert.deepEqual(s.kind === 'fail' ? s.reply : undefined, [['CHAP_A', 'Reject']]);
});
