/**
 * Incremental PDU reader: socket chunks → raw PDUs `{ bhs, ahs, data }`.
 *
 * Technique: undici's chunk list + consume(n) (views when the bytes lie in
 * one chunk, one exact-size copy otherwise), and SPDK's header-before-payload
 * order (iscsi_read_pdu): BHS (48) → AHS (TotalAHSLength × 4) → HeaderDigest
 * → length caps + onHeader(bhs) → data + padding → DataDigest → onPdu.
 * Nothing is allocated from a length that has not been validated first.
 *
 * Errors
 * - FramingError kind HEADER_DIGEST / DATA_SEGMENT_TOO_LONG: connection-fatal
 *   (RFC 7143 §7.8: a header digest error means framing is lost; ERL 0 drops
 *   the connection). The framer is then failed: further push() calls throw.
 * - Data digest mismatch: RFC 7143 §7.8 "the target MUST ... discard the PDU
 *   and send a Reject with reason Data Digest Error" (ERL > 0) — ERL 0 may also
 *   just drop the connection. With `onDataDigestError` set, the framer reports
 *   the PDU there and keeps going (framing is intact); without it, it throws
 *   FramingError kind DATA_DIGEST.
 */
import { GatewayError } from '../util/errors.js';
import { EMPTY_BUFFER, padLength } from '../util/bytes.js';
import { crc32c } from '../util/crc32c.js';
import { BHS_LENGTH, DIGEST_LENGTH, MAX_DATA_SEGMENT_LENGTH } from './constants.js';

/** One PDU as read from the wire: `data` excludes padding and digests. */
export interface RawPdu {
  bhs: Buffer;
  ahs: Buffer;
  data: Buffer;
}

export type FramingErrorKind =
  /** Header digest mismatch: framing lost, close the connection. */
  | 'HEADER_DIGEST'
  /** Data digest mismatch and no onDataDigestError handler. */
  | 'DATA_DIGEST'
  /** DataSegmentLength > MaxRecvDataSegmentLength: caller may send a Reject (PROTOCOL_ERROR) with `bhs`, then close. */
  | 'DATA_SEGMENT_TOO_LONG'
  /** push() after an earlier fatal error. */
  | 'FAILED';

export class FramingError extends GatewayError {
  readonly kind: FramingErrorKind;
  /** The offending BHS when known (for a Reject's data segment). */
  readonly bhs: Buffer | undefined;
  constructor(kind: FramingErrorKind, message: string, bhs?: Buffer) {
    super('ERR_ISCSI_FRAMING', message);
    this.kind = kind;
    this.bhs = bhs;
  }
}

export interface FramerOptions {
  /** HeaderDigest=CRC32C negotiated (changes after login: setDigests()). */
  headerDigest: boolean;
  /** DataDigest=CRC32C negotiated. */
  dataDigest: boolean;
  /** Our MaxRecvDataSegmentLength, checked from the header BEFORE the payload is buffered. */
  maxRecvDataSegmentLength: number;
  /** Each complete PDU, in order. */
  onPdu: (raw: RawPdu) => void;
  /**
   * Called once the header (BHS + AHS, digest verified) is in, before the payload
   * is read. Throw to fail (the error propagates out of push() and the framer is
   * failed); return false to have the payload read and discarded without onPdu;
   * return a Buffer of exactly DataSegmentLength bytes to have the payload read
   * straight into it (SPDK reads Data-Out into the task's buffer): `data` is then
   * that buffer, and no copy of the framer's own is made.
   */
  onHeader?: (bhs: Buffer, ahs: Buffer) => boolean | Buffer | void;
  /** A PDU whose data digest did not match; without this handler a mismatch throws FramingError DATA_DIGEST. */
  onDataDigestError?: (raw: RawPdu) => void;
  /**
   * The chunks given to push() are lent for the call only (the socket reads into one buffer
   * that it reuses): nothing handed out (bhs, ahs, data) is then a view of a chunk, and the
   * bytes of an unfinished PDU are kept in a carry buffer of the framer's own (two, reused).
   * A payload goes straight into onHeader's buffer as it arrives, else into one allocated
   * for it once the header is in.
   */
  lentChunks?: boolean;
}

const S_BHS = 0;
const S_HEADER_REST = 1;
/** The payload as one piece, once all of it (with padding and digest) is buffered. */
const S_DATA = 2;
/** The payload copied into `dest` (or skipped, when discarded) as it arrives. */
const S_STREAM = 3;
/** After S_STREAM: padding and data digest. */
const S_TAIL = 4;

/**
 * lentChunks: what is still to come of a payload of at least this many bytes is read by the
 * socket straight into its destination (nextRead()), skipping the copy out of the read
 * buffer; and after such a payload, the next read takes just a header, so that a following
 * large Data-Out lands directly too. Smaller payloads are not worth the extra read call.
 */
export const DIRECT_READ_MIN = 32 * 1024;

export class Framer {
  private headerDigest: boolean;
  private dataDigest: boolean;
  private maxRecv: number;
  private readonly onPdu: (raw: RawPdu) => void;
  private readonly onHeader: ((bhs: Buffer, ahs: Buffer) => boolean | Buffer | void) | undefined;
  private readonly onDataDigestError: ((raw: RawPdu) => void) | undefined;

  private readonly chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed (saves re-slicing the head chunk). */
  private head = 0;
  private buffered = 0;
  private state = S_BHS;
  private need = BHS_LENGTH;
  private bhs: Buffer = EMPTY_BUFFER;
  private ahs: Buffer = EMPTY_BUFFER;
  private dsl = 0;
  private discard = false;
  /** Where onHeader asked the current payload to go. */
  private dest: Buffer | undefined = undefined;
  private pdd = false; // data digest expected for the current PDU
  /** Payload bytes already in `dest` (S_STREAM). */
  private filled = 0;
  private readonly lent: boolean;
  /** Carry buffers (lentChunks): the unfinished bytes of each push, alternately in one and the other. */
  private readonly carries: Buffer[] = [EMPTY_BUFFER, EMPTY_BUFFER];
  private carryNext = 0;
  private failed = false;
  private paused = false;
  private running = false;
  /** The last PDU's payload was large (≥ DIRECT_READ_MIN): the next header is read alone. */
  private afterLarge = false;

  constructor(opts: FramerOptions) {
    this.headerDigest = opts.headerDigest;
    this.dataDigest = opts.dataDigest;
    this.maxRecv = checkMaxRecv(opts.maxRecvDataSegmentLength);
    this.onPdu = opts.onPdu;
    this.onHeader = opts.onHeader;
    this.onDataDigestError = opts.onDataDigestError;
    this.lent = opts.lentChunks === true;
  }

  /** Applies to the next PDU header read (digests switch on after the final Login Response). */
  setDigests(header: boolean, data: boolean): void {
    this.headerDigest = header;
    this.dataDigest = data;
  }

  /** Applies to the next PDU header read. */
  setMaxRecvDataSegmentLength(n: number): void {
    this.maxRecv = checkMaxRecv(n);
  }

  /** Bytes received but not yet handed out. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** True after a fatal error. */
  get isFailed(): boolean {
    return this.failed;
  }

  /** Stops emitting PDUs (bytes keep being buffered) until resume(); may be called from a callback. */
  pause(): void {
    this.paused = true;
  }

  /** Emits the PDUs buffered while paused, synchronously. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.running && !this.failed) this.guardedRun();
  }

  /** Feeds bytes; calls onPdu for every complete PDU. Throws FramingError (or what a callback threw). */
  push(chunk: Buffer): void {
    if (this.failed) throw new FramingError('FAILED', 'framer failed earlier; the connection must be closed');
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (!this.paused && !this.running) this.guardedRun();
    if (this.lent && !this.running) this.keepRest();
  }

  /**
   * lentChunks: where the socket's next read should go, asked after each read.
   * - A Buffer: the rest of the current payload's destination (a payload of DIRECT_READ_MIN
   *   bytes or more, when nothing is buffered and the framer is not paused): the read fills
   *   it in place, then landed(n) says how much came.
   * - A number: read at most that many bytes into the read buffer (one header after a large
   *   payload).
   * - undefined: the whole read buffer.
   * The destination stays valid until the payload is delivered: it is the buffer onHeader
   * gave for it (whose owner holds it until then) or one of the framer's own.
   */
  nextRead(): Buffer | number | undefined {
    if (!this.lent || this.paused || this.failed || this.running || this.buffered !== 0) return undefined;
    if (this.state === S_STREAM) {
      const dest = this.dest;
      if (dest === undefined || this.dsl < DIRECT_READ_MIN) return undefined;
      return dest.subarray(this.filled, this.dsl);
    }
    if (this.state === S_BHS && this.afterLarge) return BHS_LENGTH + (this.headerDigest ? DIGEST_LENGTH : 0);
    return undefined;
  }

  /** lentChunks: n bytes of the current payload were read in place into nextRead()'s buffer. */
  landed(n: number): void {
    if (this.failed) throw new FramingError('FAILED', 'framer failed earlier; the connection must be closed');
    if (this.state !== S_STREAM || this.dest === undefined || this.buffered !== 0 || n <= 0 || n > this.dsl - this.filled) {
      this.failed = true;
      throw new FramingError('FAILED', `a direct read of ${n} bytes does not fit the PDU being read (internal error)`);
    }
    this.filled += n;
    if (this.filled === this.dsl) {
      this.state = S_TAIL;
      this.need = padLength(this.dsl) + (this.pdd ? DIGEST_LENGTH : 0);
    }
    if (!this.paused && !this.running) this.guardedRun();
  }

  /**
   * lentChunks: moves what is still buffered (an unfinished header, padding or digest, or
   * whole PDUs while paused) out of the lent chunk into a carry buffer of the framer's. The
   * two carry buffers alternate so that a copy never overlaps its source.
   */
  private keepRest(): void {
    const n = this.buffered;
    if (n === 0) {
      this.chunks.length = 0;
      this.head = 0;
      return;
    }
    // The chunk list holds at most a view of the other carry buffer and the lent chunk.
    const i = this.carryNext;
    let into = this.carries[i] as Buffer;
    if (into.length < n) {
      into = Buffer.allocUnsafeSlow(Math.max(n, 2 * into.length, 4096));
      this.carries[i] = into;
    }
    const rest = into.subarray(0, n);
    this.consumeInto(rest);
    this.chunks.length = 0;
    this.chunks.push(rest);
    this.head = 0;
    this.buffered = n;
    this.carryNext = 1 - i;
  }

  private guardedRun(): void {
    this.running = true;
    try {
      this.run();
    } catch (e) {
      this.failed = true;
      this.chunks.length = 0;
      this.head = 0;
      this.buffered = 0;
      throw e;
    } finally {
      this.running = false;
    }
  }

  private run(): void {
    while (!this.paused && this.buffered >= this.need) {
      if (this.state === S_BHS) {
        const bhs = this.lent ? this.copyOut(BHS_LENGTH) : this.consume(BHS_LENGTH);
        this.bhs = bhs;
        // RFC 7143 §11.2.1.4 TotalAHSLength (4-byte words); §11.2.1.5 DataSegmentLength (24 bits)
        const ahsLen = bhs.readUInt8(4) * 4;
        this.dsl = bhs.readUIntBE(5, 3);
        this.state = S_HEADER_REST;
        this.need = ahsLen + (this.headerDigest ? DIGEST_LENGTH : 0);
        continue;
      }
      if (this.state === S_HEADER_REST) {
        const bhs = this.bhs;
        const ahsLen = bhs.readUInt8(4) * 4;
        const ahs = ahsLen === 0 ? EMPTY_BUFFER : this.lent ? this.copyOut(ahsLen) : this.consume(ahsLen);
        if (this.headerDigest) {
          // RFC 7143 §11.2.3: the header digest covers the BHS and any AHS.
          const got = this.readU32LE();
          const want = ahsLen === 0 ? crc32c(bhs) : crc32c(ahs, crc32c(bhs));
          if (got !== want)
            throw new FramingError(
              'HEADER_DIGEST',
              `header digest mismatch (got 0x${got.toString(16)}, computed 0x${want.toString(16)})`,
              bhs,
            );
        }
        const dsl = this.dsl;
        // RFC 7143 §13.12 MaxRecvDataSegmentLength: the receiver's limit, checked before buffering.
        if (dsl > this.maxRecv)
          throw new FramingError(
            'DATA_SEGMENT_TOO_LONG',
            `DataSegmentLength ${dsl} exceeds MaxRecvDataSegmentLength ${this.maxRecv}`,
            bhs,
          );
        this.ahs = ahs;
        const h = this.onHeader === undefined ? undefined : this.onHeader(bhs, ahs);
        this.discard = h === false;
        this.dest = dsl > 0 && Buffer.isBuffer(h) && h.length === dsl ? h : undefined;
        // RFC 7143 §11.2.4: data segment padded to 4 bytes; the data digest follows only when there is data.
        this.pdd = this.dataDigest && dsl > 0;
        if (dsl > 0 && this.dest === undefined && this.lent && !this.discard) this.dest = Buffer.allocUnsafe(dsl);
        if (dsl > 0 && (this.dest !== undefined || this.discard)) {
          // Copied (or skipped) as it arrives: nothing waits in socket chunks.
          this.state = S_STREAM;
          this.filled = 0;
          this.need = 1;
        } else {
          this.state = S_DATA;
          this.need = dsl + padLength(dsl) + (this.pdd ? DIGEST_LENGTH : 0);
        }
        continue;
      }
      if (this.state === S_STREAM) {
        const dest = this.dest;
        const n = Math.min(this.buffered, this.dsl - this.filled);
        if (dest !== undefined) this.consumeInto(dest.subarray(this.filled, this.filled + n));
        else this.skip(n);
        this.filled += n;
        if (this.filled < this.dsl) continue; // buffered is 0 now: wait for the next chunk
        this.state = S_TAIL;
        this.need = padLength(this.dsl) + (this.pdd ? DIGEST_LENGTH : 0);
        continue;
      }
      if (this.state === S_TAIL) {
        const data = this.dest ?? EMPTY_BUFFER;
        const pad = padLength(this.dsl);
        const checkDigest = this.pdd && !this.discard;
        let want = 0;
        let digest = 0;
        if (checkDigest) {
          want = crc32c(data);
          if (pad !== 0) want = crc32c(this.consume(pad), want);
          digest = this.readU32LE();
        } else {
          this.skip(this.need);
        }
        this.deliver({ bhs: this.bhs, ahs: this.ahs, data }, checkDigest, want, digest);
        continue;
      }
      // S_DATA
      const dsl = this.dsl;
      const pad = padLength(dsl);
      const checkDigest = this.pdd;
      let data: Buffer = EMPTY_BUFFER;
      let want = 0;
      let digest = 0;
      if (dsl !== 0) {
        const first = this.chunks[0] as Buffer;
        const h = this.head;
        const dest = this.dest;
        if (dest === undefined && first.length - h >= this.need) {
          // Whole payload in one chunk: one view, pad and digest read in place.
          data = first.subarray(h, h + dsl);
          if (checkDigest) {
            want = crc32c(pad === 0 ? data : first.subarray(h, h + dsl + pad));
            digest = first.readUInt32LE(h + dsl + pad);
          }
          this.skip(this.need);
        } else {
          if (dest !== undefined) {
            // Straight into the caller's buffer: one copy from the socket chunks, however many.
            this.consumeInto(dest);
            data = dest;
          } else {
            data = this.consume(dsl); // spans chunks: one exact-size copy
          }
          if (checkDigest) {
            want = crc32c(data);
            if (pad !== 0) want = crc32c(this.consume(pad), want);
            digest = this.readU32LE();
          } else if (pad !== 0) {
            this.skip(pad);
          }
        }
      }
      this.deliver({ bhs: this.bhs, ahs: this.ahs, data }, checkDigest, want, digest);
    }
  }

  /** The current PDU is complete: reset for the next header, then hand it out (unless discarded). */
  private deliver(raw: RawPdu, checkDigest: boolean, want: number, digest: number): void {
    const discard = this.discard;
    this.afterLarge = this.dsl >= DIRECT_READ_MIN;
    this.reset();
    if (discard) return;
    // RFC 7143 §11.2.3: the data digest covers the data segment and its padding.
    if (checkDigest && want !== digest) {
      if (this.onDataDigestError === undefined)
        throw new FramingError('DATA_DIGEST', `data digest mismatch (got 0x${digest.toString(16)}, computed 0x${want.toString(16)})`, raw.bhs);
      this.onDataDigestError(raw);
      return;
    }
    this.onPdu(raw);
  }

  /** Takes n (≤ buffered) bytes as a buffer of their own (lentChunks: never a view of a chunk). */
  private copyOut(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    this.consumeInto(out);
    return out;
  }

  private reset(): void {
    this.state = S_BHS;
    this.need = BHS_LENGTH;
    this.bhs = EMPTY_BUFFER;
    this.ahs = EMPTY_BUFFER;
    this.dsl = 0;
    this.discard = false;
    this.dest = undefined;
    this.pdd = false;
  }

  /** Copies the next dest.length (≤ buffered) bytes into dest. */
  private consumeInto(dest: Buffer): void {
    const chunks = this.chunks;
    const n = dest.length;
    this.buffered -= n;
    let off = 0;
    while (off < n) {
      const c = chunks[0] as Buffer;
      const ch = this.head;
      const take = Math.min(c.length - ch, n - off);
      c.copy(dest, off, ch, ch + take);
      off += take;
      if (ch + take === c.length) {
        chunks.shift();
        this.head = 0;
      } else {
        this.head = ch + take;
      }
    }
  }

  /** Takes n (≤ buffered) bytes: a view when they lie in the first chunk, else one exact-size copy. */
  private consume(n: number): Buffer {
    const chunks = this.chunks;
    const first = chunks[0] as Buffer;
    const h = this.head;
    const avail = first.length - h;
    if (avail > n) {
      this.buffered -= n;
      this.head = h + n;
      return first.subarray(h, h + n);
    }
    if (avail === n) {
      this.buffered -= n;
      chunks.shift();
      this.head = 0;
      return h === 0 ? first : first.subarray(h);
    }
    const out = Buffer.allocUnsafe(n);
    this.consumeInto(out);
    return out;
  }

  /** Drops n (≤ buffered) bytes without creating views. */
  private skip(n: number): void {
    const chunks = this.chunks;
    this.buffered -= n;
    while (n > 0) {
      const c = chunks[0] as Buffer;
      const avail = c.length - this.head;
      if (avail > n) {
        this.head += n;
        return;
      }
      chunks.shift();
      this.head = 0;
      n -= avail;
    }
  }

  /** Reads a little-endian digest word (4 ≤ buffered bytes). */
  private readU32LE(): number {
    const first = this.chunks[0] as Buffer;
    if (first.length - this.head >= 4) {
      const v = first.readUInt32LE(this.head);
      this.skip(4);
      return v;
    }
    return this.consume(4).readUInt32LE(0);
  }
}

function checkMaxRecv(n: number): number {
  // RFC 7143 §13.12: MaxRecvDataSegmentLength range 512 to 2^24-1; we accept any positive cap up to the field maximum.
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`invalid MaxRecvDataSegmentLength ${n}`);
  return Math.min(n, MAX_DATA_SEGMENT_LENGTH);
}
