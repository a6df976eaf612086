/**
 * Reading CHAP passwords that upstream ceph-iscsi stored encrypted
 * (client.py CHAP: base64(RSA-OAEP-SHA256(password)) with the public key
 * `<ceph_config_dir>/<pub_key>`, decrypted with `<priv_key>`, falling back to
 * OAEP-SHA1 for data written by python-crypto). We never encrypt (we store
 * clear text with *_encryption_enabled=false, which upstream reads as is),
 * but a document written by an upstream gateway may hold encrypted values:
 * `GET /api/config?decrypt_passwords=true` returns them in clear, as upstream does.
 */
import { constants, privateDecrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ChapAuth, GatewayConfig } from '../config/schema.js';
import type { Settings } from '../config/settings-types.js';

function keyPath(settings: Settings, file: string): string {
  return isAbsolute(file) ? file : join(settings.ceph_config_dir, file);
}

/** Decrypts one upstream-encrypted password; undefined when it cannot be decrypted. */
export function decryptPassword(privateKeyPem: string | Buffer, encrypted: string): string | undefined {
  const data = Buffer.from(encrypted, 'base64');
  for (const oaepHash of ['sha256', 'sha1']) {
    try {
      return privateDecrypt({ key: privateKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, data).toString('utf8');
    } catch {
      // try the next hash
    }
  }
  return undefined;
}

function decryptAuth(auth: ChapAuth | undefined, key: () => Buffer | undefined): void {
  if (typeof auth !== 'object' || auth === null) return;
  const fix = (pwField: 'password' | 'mutual_password', flag: 'password_encryption_enabled' | 'mutual_password_encryption_enabled'): void => {
    const value = auth[pwField];
    if (auth[flag] !== true || typeof value !== 'string' || value === '') return;
    const k = key();
    const clear = k === undefined ? undefined : decryptPassword(k, value);
    // Upstream returns None for a password it cannot decode; we answer '' (never the ciphertext as a password).
    auth[pwField] = clear ?? '';
  };
  fix('password', 'password_encryption_enabled');
  fix('mutual_password', 'mutual_password_encryption_enabled');
}

/** Replaces every encrypted password of `doc` (in place) by its clear text. */
export function decryptDocPasswords(doc: GatewayConfig, settings: Settings): GatewayConfig {
  let cached: Buffer | undefined;
  let tried = false;
  const key = (): Buffer | undefined => {
    if (!tried) {
      tried = true;
      try {
        cached = readFileSync(keyPath(settings, settings.priv_key));
      } catch {
        cached = undefined;
      }
    }
    return cached;
  };
  decryptAuth(doc.discovery_auth, key);
  for (const t of Object.values(doc.targets ?? {})) {
    if (typeof t !== 'object' || t === null) continue;
    decryptAuth(t.auth, key);
    for (const c of Object.values(t.clients ?? {})) if (typeof c === 'object' && c !== null) decryptAuth(c.auth, key);
  }
  return doc;
}
