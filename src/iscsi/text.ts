/**
 * Login / Text data segment codec: `key=value\0` pairs (RFC 7143 §6.1 "Text Format"),
 * with the Continue (C) bit accumulation of Login and Text requests
 * (RFC 7143 §11.10.2 / §11.12.2).
 */
import { GatewayError } from '../util/errors.js';

/** Thrown for malformed text; the caller answers with a protocol error (login 0x0200 / Reject). */
export class TextError extends GatewayError {
  constructor(message: string) {
    super('ERR_ISCSI_TEXT', message);
  }
}

export interface TextPair {
  readonly key: string;
  readonly value: string;
}

/** Special answer values (RFC 7143 §6.2 "Text Mode Negotiation"). */
export const TextAnswer = {
  NOT_UNDERSTOOD: 'NotUnderstood',
  IRRELEVANT: 'Irrelevant',
  REJECT: 'Reject',
} as const;

export interface TextLimits {
  /** Total bytes of one (possibly continued) text; RFC 7143 §6.1 requires at least 8192 per PDU sequence. */
  maxTotalBytes: number;
  /** RFC 7143 §6.1: "The maximum length of a key name is 63 bytes." */
  maxKeyLength: number;
  /** RFC 7143 §6.1: "The maximum length of an individual value ... is 255 bytes" (unless the key says otherwise). */
  maxValueLength: number;
}

export const DEFAULT_TEXT_LIMITS: TextLimits = {
  maxTotalBytes: 64 * 1024,
  maxKeyLength: 63,
  maxValueLength: 255,
};

/**
 * Keys whose values are allowed to be longer than 255 characters: CHAP binary
 * values (large-binary-value, RFC 7143 §6.1 "binary-value"/§12.1.3), SendTargets
 * answers and vendor extension keys.
 */
const LONG_VALUE_KEYS: ReadonlyMap<string, number> = new Map([
  ['CHAP_C', 8192],
  ['CHAP_R', 8192],
  ['CHAP_N', 1024],
  ['TargetAddress', 1024],
  ['TargetName', 223],
  ['InitiatorName', 223],
]);

const KEY_RE = /^[A-Za-z0-9.\-+@_]+$/;

function maxValueFor(key: string, limits: TextLimits): number {
  const special = LONG_VALUE_KEYS.get(key);
  if (special !== undefined) return Math.max(special, limits.maxValueLength);
  if (key.startsWith('X-') || key.startsWith('X#')) return 8192;
  return limits.maxValueLength;
}

/**
 * Decode a complete text (all continued PDUs joined). Empty entries (padding
 * NULs, a missing final NUL) are tolerated; anything else malformed throws TextError.
 * Duplicate keys in one text are a protocol error (RFC 7143 §6.1: "Neither the
 * initiator nor the target should attempt to declare or negotiate a parameter
 * more than once").
 */
export function decodeText(data: Buffer, limits: TextLimits = DEFAULT_TEXT_LIMITS): TextPair[] {
  if (data.length > limits.maxTotalBytes) {
    throw new TextError(`text of ${data.length} bytes exceeds ${limits.maxTotalBytes}`);
  }
  const pairs: TextPair[] = [];
  const seen = new Set<string>();
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0, start);
    if (end < 0) end = data.length;
    if (end > start) {
      const entry = data.toString('utf8', start, end);
      const eq = entry.indexOf('=');
      if (eq <= 0) throw new TextError(`malformed key=value entry "${entry.slice(0, 64)}"`);
      const key = entry.slice(0, eq);
      const value = entry.slice(eq + 1);
      if (key.length > limits.maxKeyLength) throw new TextError(`key "${key.slice(0, 64)}..." longer than ${limits.maxKeyLength}`);
      if (!KEY_RE.test(key)) throw new TextError(`invalid characters in key "${key}"`);
      if (value.length > maxValueFor(key, limits)) throw new TextError(`value of ${key} too long (${value.length})`);
      if (seen.has(key)) throw new TextError(`key ${key} sent twice`);
      seen.add(key);
      pairs.push({ key, value });
    }
    start = end + 1;
  }
  return pairs;
}

/** Encode pairs as key=value\0 (no padding: the writer pads the data segment). */
export function encodeText(pairs: Iterable<readonly [string, string]> | readonly TextPair[]): Buffer {
  const parts: string[] = [];
  for (const p of pairs as Iterable<readonly [string, string] | TextPair>) {
    if (Array.isArray(p)) parts.push(`${p[0]}=${p[1]}\0`);
    else {
      const tp = p as TextPair;
      parts.push(`${tp.key}=${tp.value}\0`);
    }
  }
  return Buffer.from(parts.join(''), 'utf8');
}

/**
 * Accumulates the data segments of PDUs sent with the Continue bit
 * (RFC 7143 §11.10.2: "When set to 1, this bit indicates that the text ... is
 * incomplete"). push() returns null while more is expected, the decoded pairs
 * when the final PDU (C = 0) arrived.
 */
export class TextAccumulator {
  private parts: Buffer[] = [];
  private total = 0;
  constructor(private readonly limits: TextLimits = DEFAULT_TEXT_LIMITS) {}

  get pending(): boolean {
    return this.parts.length > 0;
  }

  push(data: Buffer, continueFlag: boolean): TextPair[] | null {
    this.total += data.length;
    if (this.total > this.limits.maxTotalBytes) {
      this.reset();
      throw new TextError(`continued text exceeds ${this.limits.maxTotalBytes} bytes`);
    }
    if (data.length > 0) this.parts.push(data);
    if (continueFlag) {
      // keep a private copy: the caller's buffer may be a view into a reused chunk
      const last = this.parts.length - 1;
      const cur = this.parts[last];
      if (cur !== undefined) this.parts[last] = Buffer.from(cur);
      return null;
    }
    const all = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.reset();
    return decodeText(all, this.limits);
  }

  reset(): void {
    this.parts = [];
    this.total = 0;
  }
}

/**
 * Split an encoded text into chunks of at most `maxChunk` bytes for responses
 * larger than the initiator's MaxRecvDataSegmentLength (RFC 7143 §11.11.2: the
 * target sets C = 1 on all but the last).
 */
export function splitText(data: Buffer, maxChunk: number): Buffer[] {
  if (data.length <= maxChunk) return [data];
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += maxChunk) out.push(data.subarray(off, Math.min(off + maxChunk, data.length)));
  return out;
}
