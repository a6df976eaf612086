/**
 * CHAP for iSCSI login: RFC 1994 (response = H(identifier || secret || challenge)),
 * RFC 7143 §12.1.3 (CHAP_A/I/C/N/R keys, mutual CHAP, reflection check) and the
 * hash algorithms added by RFC 7143bis / Linux (5 MD5, 6 SHA1, 7 SHA-256, 8 SHA3-256).
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

export const ChapAlgorithm = {
  MD5: 5,
  SHA1: 6,
  SHA256: 7,
  SHA3_256: 8,
} as const;
export type ChapAlgorithm = (typeof ChapAlgorithm)[keyof typeof ChapAlgorithm];

const HASH_NAME: Readonly<Record<ChapAlgorithm, string>> = {
  5: 'md5',
  6: 'sha1',
  7: 'sha256',
  8: 'sha3-256',
};

/** Our preference, strongest first. */
const PREFERENCE: readonly ChapAlgorithm[] = [ChapAlgorithm.SHA3_256, ChapAlgorithm.SHA256, ChapAlgorithm.SHA1, ChapAlgorithm.MD5];

/**
 * Pick the strongest algorithm the initiator offers in CHAP_A (a comma list of
 * numbers). null when none is supported (the target then answers CHAP_A=Reject
 * and fails the login: RFC 7143 §12.1.3).
 */
export function chooseChapAlgorithm(offered: string): ChapAlgorithm | null {
  const set = new Set(offered.split(',').map((s) => s.trim()));
  for (const a of PREFERENCE) if (set.has(String(a))) return a;
  return null;
}

export function chapDigestLength(alg: ChapAlgorithm): number {
  return alg === ChapAlgorithm.MD5 ? 16 : alg === ChapAlgorithm.SHA1 ? 20 : 32;
}

/** RFC 1994 §4.1: Response = H(Identifier || secret || Challenge). */
export function chapResponse(alg: ChapAlgorithm, id: number, secret: string | Buffer, challenge: Buffer): Buffer {
  const h = createHash(HASH_NAME[alg]);
  h.update(Buffer.of(id & 0xff));
  h.update(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  h.update(challenge);
  return h.digest();
}

/**
 * RFC 7143 §6.1 binary-value: "0x" + hex or "0b" + base64 (either case of the prefix).
 * Returns null when the encoding is invalid or the value is empty.
 */
export function decodeChapBinary(value: string): Buffer | null {
  if (value.length < 3) return null;
  const prefix = value.slice(0, 2).toLowerCase();
  const body = value.slice(2);
  if (prefix === '0x') {
    if (!/^[0-9a-fA-F]+$/.test(body)) return null;
    // an odd number of digits: the first nibble is implied zero (RFC 7143 §6.1 allows leading-zero-less hex)
    return Buffer.from(body.length % 2 === 1 ? `0${body}` : body, 'hex');
  }
  if (prefix === '0b') {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return null;
    const b = Buffer.from(body, 'base64');
    return b.length === 0 ? null : b;
  }
  return null;
}

export function encodeChapHex(buf: Buffer): string {
  return `0x${buf.toString('hex')}`;
}

/** Constant-time compare (crypto.timingSafeEqual needs equal lengths). */
export function chapEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a); // keep timing independent of where the mismatch is
    return false;
  }
  return timingSafeEqual(a, b);
}

/** Largest challenge we accept from an initiator (mutual CHAP), in bytes. */
export const MAX_CHAP_CHALLENGE = 1024;

/** Outcome of one CHAP step; `fail` → login status 0x0201 AUTHENTICATION_FAILED. */
export type ChapStep =
  | { kind: 'continue'; reply: Array<[string, string]> }
  | { kind: 'done'; reply: Array<[string, string]>; mutual: boolean }
  | { kind: 'fail'; reason: string; reply?: Array<[string, string]> };

export interface ChapSecrets {
  initiator: { username: string; password: string };
  target?: { username: string; password: string };
}

/**
 * Target side of the CHAP exchange after AuthMethod=CHAP was agreed.
 *   1. initiator CHAP_A=<list>          → target CHAP_A=<alg>, CHAP_I, CHAP_C
 *   2. initiator CHAP_N, CHAP_R [+ CHAP_I, CHAP_C for mutual] → verify;
 *      mutual: target CHAP_N, CHAP_R
 */
export class ChapAuthenticator {
  private state: 'wait-a' | 'wait-r' | 'done' = 'wait-a';
  private alg: ChapAlgorithm = ChapAlgorithm.MD5;
  private id = 0;
  private challenge: Buffer = Buffer.alloc(0);

  constructor(private readonly secrets: ChapSecrets) {}

  get finished(): boolean {
    return this.state === 'done';
  }

  /** The chosen algorithm (after step 1). */
  get algorithm(): ChapAlgorithm {
    return this.alg;
  }

  step(keys: ReadonlyMap<string, string>): ChapStep {
    if (this.state === 'wait-a') {
      const a = keys.get('CHAP_A');
      if (a === undefined) {
        // Nothing CHAP in this PDU yet (e.g. AuthMethod only): keep waiting.
        if (keys.has('CHAP_N') || keys.has('CHAP_R')) return { kind: 'fail', reason: 'CHAP_R before CHAP_A' };
        return { kind: 'continue', reply: [] };
      }
      const alg = chooseChapAlgorithm(a);
      if (alg === null) return { kind: 'fail', reason: `no supported CHAP_A in "${a}"`, reply: [['CHAP_A', 'Reject']] };
      this.alg = alg;
      this.id = randomInt(0, 256);
      // RFC 7143 §12.1.3: the challenge length SHOULD be at least the hash length; we use 16..32+ random bytes.
      this.challenge = randomBytes(Math.max(16, chapDigestLength(alg)));
      this.state = 'wait-r';
      return {
        kind: 'continue',
        reply: [
          ['CHAP_A', String(alg)],
          ['CHAP_I', String(this.id)],
          ['CHAP_C', encodeChapHex(this.challenge)],
        ],
      };
    }
    if (this.state === 'wait-r') {
      const n = keys.get('CHAP_N');
      const r = keys.get('CHAP_R');
      if (n === undefined || r === undefined) return { kind: 'fail', reason: 'CHAP_N/CHAP_R missing' };
      const resp = decodeChapBinary(r);
      if (resp === null) return { kind: 'fail', reason: 'CHAP_R is not a valid binary value' };
      const expected = chapResponse(this.alg, this.id, this.secrets.initiator.password, this.challenge);
      // Compare the name too, in constant time over the secret path.
      const nameOk = n === this.secrets.initiator.username;
      const respOk = chapEqual(resp, expected);
      if (!nameOk || !respOk) return { kind: 'fail', reason: nameOk ? 'wrong CHAP response' : 'unknown CHAP name' };

      const ci = keys.get('CHAP_I');
      const cc = keys.get('CHAP_C');
      if (ci === undefined && cc === undefined) {
        // Mutual CHAP protects the initiator, so it is the initiator's choice (RFC 7143
        // §12.1.3: "If the initiator wants to authenticate the target..."). tgt accepts a
        // one-way login on an account with an outgoing secret; so do we: qemu only does
        // one-way CHAP and must be able to use an ACL that also has mutual credentials.
        this.state = 'done';
        return { kind: 'done', reply: [], mutual: false };
      }
      if (ci === undefined || cc === undefined) return { kind: 'fail', reason: 'CHAP_I/CHAP_C incomplete' };
      const target = this.secrets.target;
      if (target === undefined || target.username === '') return { kind: 'fail', reason: 'mutual CHAP requested, no target secret' };
      if (!/^[0-9]{1,3}$/.test(ci) || Number(ci) > 255) return { kind: 'fail', reason: 'invalid CHAP_I' };
      const ichal = decodeChapBinary(cc);
      if (ichal === null || ichal.length > MAX_CHAP_CHALLENGE) return { kind: 'fail', reason: 'invalid CHAP_C' };
      // RFC 7143 §12.1.3: "the target ... MUST NOT accept a challenge identical to the one it sent" (reflection).
      if (chapEqual(ichal, this.challenge)) return { kind: 'fail', reason: 'initiator reflected our CHAP challenge' };
      const tresp = chapResponse(this.alg, Number(ci), target.password, ichal);
      this.state = 'done';
      return {
        kind: 'done',
        mutual: true,
        reply: [
          ['CHAP_N', target.username],
          ['CHAP_R', encodeChapHex(tresp)],
        ],
      };
    }
    return { kind: 'fail', reason: 'CHAP keys after CHAP completed' };
  }
}
