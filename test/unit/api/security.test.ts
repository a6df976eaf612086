/** Secrets never logged; upstream-encrypted CHAP passwords readable with decrypt_passwords. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, publicEncrypt } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { decryptPassword } from '../../../src/api/chap-crypto.js';
import { emptyChapAuth, seedConfig } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/util/log.js';
import { CLIENT, PASSWORD, TARGET, USER, basic, makeHarness, msg, seedFlow } from './helpers.js';

test('request logging carries route, status and IP, never bodies, credentials or CHAP secrets', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination: sink });
  const h = makeHarness({ deps: { logger } });
  try {
    await seedFlow(h);
    const r = await h.call('PUT', `/api/clientauth/${TARGET}/${CLIENT}`, {
      form: { username: 'myiscsiusername', password: 'Sup3rSecretPw', mutual_username: 'mutualuser1', mutual_password: 'MutualS3cretPw' },
    });
    assert.equal(r.statusCode, 200);
    await h.call('PUT', '/api/discoveryauth', { form: { username: 'discovery1', password: 'Disc0verySecret' } });
    await h.call('GET', '/api/config', { auth: basic(USER, 'wrong-password-123') });
    // An unexpected error is logged once, without the request body.
    h.status.reconcileError = new Error('reconcile exploded');
    await h.call('PUT', `/api/clientauth/${TARGET}/${CLIENT}`, { form: { username: 'myiscsiusername', password: 'An0therSecretPw' } });
  } finally {
    await h.close();
  }
  const all = lines.join('');
  assert.ok(all.includes('"route":"/api/clientauth/:target_iqn/:client_iqn"'), 'route logged');
  assert.ok(all.includes('"status":401'));
  for (const secret of ['Sup3rSecretPw', 'MutualS3cretPw', 'Disc0verySecret', 'An0therSecretPw', 'wrong-password-123', PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) {
    assert.ok(!all.includes(secret), `secret ${secret} leaked into the log`);
  }
});

function keys(dir: string): { pub: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(dir, 'iscsi-gateway.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'iscsi-gateway-pub.key'), pub);
  return { pub };
}

const enc = (pub: string, text: string, oaepHash: string): string =>
  publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, Buffer.from(text)).toString('base64');

test('decryptPassword: OAEP-SHA256 and the SHA1 fallback; garbage → undefined', () => {
  const dir = mkdtempSync(join(tmpdir(), 'api-chap-'));
  const { pub } = keys(dir);
  const priv = readFileSync(join(dir, 'iscsi-gateway.key'));
  assert.equal(decryptPassword(priv, enc(pub, 'myiscsipassword', 'sha256')), 'myiscsipassword');
  assert.equal(decryptPassword(priv, enc(pub, 'oldpythoncrypt', 'sha1')), 'oldpythoncrypt');
  assert.equal(decryptPassword(priv, 'bm90IGVuY3J5cHRlZA=='), undefined);
});

test('GET /api/config?decrypt_passwords=true decrypts what an upstream gateway encrypted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'api-chap-'));
  const { pub } = keys(dir);
  const doc = seedConfig();
  doc.discovery_auth = { ...emptyChapAuth(), username: 'discovery1', password: enc(pub, 'discoverypass1', 'sha256'), password_encryption_enabled: true, mutual_password_encryption_enabled: true };
  doc.targets[TARGET] = {
    acl_enabled: true,
    auth: emptyChapAuth(),
    controls: {},
    ip_list: [],
    portals: {},
    disks: {},
    clients: {
      [CLIENT]: {
        auth: { username: 'myiscsiusername', password: enc(pub, 'myiscsipassword', 'sha1'), password_encryption_enabled: true, mutual_username: 'mutualuser1', mutual_password: enc(pub, 'mutualpassword', 'sha256'), mutual_password_encryption_enabled: true },
        group_name: '',
        luns: {},
      },
    },
    groups: {},
    created: doc.created,
    updated: doc.updated,
  };
  const h = makeHarness({ doc, settings: { ceph_config_dir: dir } });
  try {
    let r = await h.call('GET', '/api/config', { query: { decrypt_passwords: 'True' } });
    assert.equal(r.statusCode, 200, msg(r));
    type Doc = typeof doc;
    let got = r.json<Doc>();
    assert.equal(got.discovery_auth.password, 'discoverypass1');
    assert.equal(got.targets[TARGET]?.clients[CLIENT]?.auth.password, 'myiscsipassword');
    assert.equal(got.targets[TARGET]?.clients[CLIENT]?.auth.mutual_password, 'mutualpassword');
    r = await h.call('GET', '/api/config');
    got = r.json<Doc>();
    assert.notEqual(got.discovery_auth.password, 'discoverypass1', 'without decrypt_passwords the stored value is returned');
    // Without the private key: '' instead of the ciphertext.
    const nokey = makeHarness({ doc, settings: { ceph_config_dir: join(dir, 'nowhere') } });
    try {
      r = await nokey.call('GET', '/api/config', { query: { decrypt_passwords: 'true' } });
      assert.equal(r.json<Doc>().discovery_auth.password, '');
    } finally {
      await nokey.close();
    }
  } finally {
    await h.close();
  }
});
