/**
 * PDU output: encoding, 4-byte padding, CRC32C digests, batching and
 * backpressure.
 *
 * - Every PDU produced in one event-loop turn goes out in one corked write
 *   burst (net.Socket turns it into a single writev): headers, padding,
 *   digests and small data segments are packed into an append-only arena,
 *   large data segments (Data-In payloads) are passed as views, never copied.
 * - Digests are computed at write() time with the digest settings in force
 *   then, so the final Login Response goes out without digests and the next
 *   PDU with them, whatever the flush timing.
 * - Backpressure: `needsDrain` is true once the socket's buffer is over its
 *   high-water mark; `drained()` resolves on 'drain'. The session stops reading
 *   (and stops producing Data-In) meanwhile.
 */
import { padLength } from '../util/bytes.js';
import { crc32c } from '../util/crc32c.js';
import { DIGEST_LENGTH } from './constants.js';
import { encodePduInto, headerLength, type EncodedPdu, type Pdu } from './pdu.js';

/** What the writer needs from a socket (net.Socket, a Duplex, or a test double). */
export interface WritableLike {
  write(chunk: Buffer, cb?: (err?: Error | null) => void): boolean;
  cork?(): void;
  uncork?(): void;
  end?(): unknown;
  once(event: 'drain', listener: () => void): unknown;
  readonly destroyed?: boolean;
}

export type FlushMode =
  /** Flush in the check phase of this loop iteration (default: batches completions of one poll phase). */
  | 'setImmediate'
  /** Flush after the current synchronous run (microtask). */
  | 'microtask'
  /** No automatic flush: the owner calls flush(). */
  | 'manual';

export interface PduWriterOptions {
  headerDigest?: boolean;
  dataDigest?: boolean;
  flush?: FlushMode;
  /** Data segments shorter than this are copied into the arena instead of written as separate views. */
  copyThreshold?: number;
}

const ARENA_SIZE = 16 * 1024;
const ZERO_PAD = Buffer.alloc(4);

export class PduWriter {
  private readonly socket: WritableLike;
  private headerDigest: boolean;
  private dataDigest: boolean;
  private readonly mode: FlushMode;
  private readonly copyThreshold: number;

  private pieces: Buffer[] = [];
  private queued = 0;
  private arena: Buffer = Buffer.allocUnsafe(ARENA_SIZE);
  private arenaView: DataView = new DataView(this.arena.buffer, this.arena.byteOffset, this.arena.length);
  private arenaStart = 0;
  private arenaPos = 0;
  private scheduled = false;
  private drainWaiting = false;
  private waiters: (() => void)[] = [];
  /** Run once the socket has written everything queued before whenSent() was called. */
  private sentCallbacks: (() => void)[] = [];
  private closed = false;

  /** PDUs and bytes handed to the socket so far. */
  pdusWritten = 0;
  bytesWritten = 0;

  constructor(socket: WritableLike, opts: PduWriterOptions = {}) {
    this.socket = socket;
    this.headerDigest = opts.headerDigest ?? false;
    this.dataDigest = opts.dataDigest ?? false;
    this.mode = opts.flush ?? 'setImmediate';
    this.copyThreshold = opts.copyThreshold ?? 1024;
  }

  /** Applies to PDUs written from now on. */
  setDigests(header: boolean, data: boolean): void {
    this.headerDigest = header;
    this.dataDigest = data;
  }

  /**
   * Encodes a PDU straight into the output arena (no intermediate buffer) and
   * queues it. Throws PduEncodeError for a malformed PDU object; nothing is
   * queued then.
   */
  write(pdu: Pdu): void {
    if (this.closed) return;
    const hlen = headerLength(pdu);
    const hStart = this.reserve(hlen + (this.headerDigest ? DIGEST_LENGTH : 0));
    // arenaPos only moves once encoding succeeded: a throw leaves the queue untouched.
    const data = encodePduInto(pdu, this.arena, hStart, this.arenaView);
    this.arenaPos = hStart + hlen;
    this.afterHeader(hStart, data);
  }

  /** Queues an already encoded PDU (`bhs` = BHS + AHS). */
  writeEncoded(enc: EncodedPdu): void {
    if (this.closed) return;
    const { bhs, data } = enc;
    const hStart = this.reserve(bhs.length + (this.headerDigest ? DIGEST_LENGTH : 0));
    bhs.copy(this.arena, hStart);
    this.arenaPos = hStart + bhs.length;
    this.afterHeader(hStart, data);
  }

  /** Header digest, data (copied when small, else a view), padding, data digest. */
  private afterHeader(hStart: number, data: Buffer | undefined): void {
    if (this.headerDigest) {
      // RFC 7143 §11.2.3: the header digest covers the BHS and any AHS.
      this.arena.writeUInt32LE(crc32c(this.arena.subarray(hStart, this.arenaPos)), this.arenaPos);
      this.arenaPos += DIGEST_LENGTH;
    }
    let bytes = this.arenaPos - hStart;
    const dlen = data === undefined ? 0 : data.length;
    if (data !== undefined && dlen > 0) {
      // RFC 7143 §11.2.4: the data segment is padded to a 4-byte boundary.
      const pad = padLength(dlen);
      if (dlen < this.copyThreshold) {
        const start = this.reserve(dlen + pad + DIGEST_LENGTH);
        data.copy(this.arena, start);
        if (pad !== 0) this.arena.fill(0, start + dlen, start + dlen + pad);
        this.arenaPos = start + dlen + pad;
      } else {
        this.seal();
        this.pieces.push(data);
        if (pad !== 0) {
          const start = this.reserve(pad + DIGEST_LENGTH);
          this.arena.fill(0, start, start + pad);
          this.arenaPos = start + pad;
        }
      }
      if (this.dataDigest) {
        // RFC 7143 §11.2.3: the data digest covers the data segment and its padding; only present with data.
        const crc = pad === 0 ? crc32c(data) : crc32c(ZERO_PAD.subarray(0, pad), crc32c(data));
        const at = this.reserve(DIGEST_LENGTH);
        this.arena.writeUInt32LE(crc, at);
        this.arenaPos = at + DIGEST_LENGTH;
        bytes += DIGEST_LENGTH;
      }
      bytes += dlen + pad;
    }
    this.queued += bytes;
    this.pdusWritten++;
    this.schedule();
  }

  /** Bytes queued and not yet handed to the socket. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** True while the socket is over its high-water mark (stop producing until drained()). */
  get needsDrain(): boolean {
    return this.drainWaiting;
  }

  /** Resolves when the socket has drained (immediately if it is not saturated). */
  drained(): Promise<void> {
    if (!this.drainWaiting) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Calls cb once the socket has written (handed to the kernel) every PDU queued so far, so
   * that their data buffers may be reused. Never called if the connection fails first.
   */
  whenSent(cb: () => void): void {
    if (this.closed) return;
    this.sentCallbacks.push(cb);
    this.schedule();
  }

  /** Hands everything queued to the socket now, in one corked burst. */
  flush(): void {
    this.seal();
    const pieces = this.pieces;
    const sent = this.sentCallbacks;
    if (pieces.length === 0) {
      if (sent.length > 0 && !this.closed) {
        this.sentCallbacks = [];
        for (const cb of sent) cb(); // nothing of theirs is pending
      }
      return;
    }
    this.pieces = [];
    this.sentCallbacks = [];
    const bytes = this.queued;
    this.queued = 0;
    const s = this.socket;
    if (this.closed || s.destroyed === true) return;
    // net.Socket calls a write's callback when that chunk (and those before it) is written.
    const done = sent.length === 0 ? undefined : (err?: Error | null): void => {
      if (err == null) for (const cb of sent) cb();
    };
    let ok = true;
    if (pieces.length === 1) {
      ok = s.write(pieces[0] as Buffer, done);
    } else {
      s.cork?.();
      const last = pieces.length - 1;
      for (let i = 0; i < last; i++) ok = s.write(pieces[i] as Buffer);
      ok = s.write(pieces[last] as Buffer, done);
      s.uncork?.();
    }
    this.bytesWritten += bytes;
    if (!ok && !this.drainWaiting) {
      this.drainWaiting = true;
      s.once('drain', this.onDrain);
    }
  }

  /** Flushes, then ends the socket (after a Logout Response or a final Reject / Login Response). */
  end(): void {
    this.flush();
    this.closed = true;
    this.socket.end?.();
  }

  /** Drops everything queued and refuses further writes (connection torn down). */
  close(): void {
    this.closed = true;
    this.pieces = [];
    this.sentCallbacks = [];
    this.queued = 0;
    this.releaseWaiters();
  }

  private readonly onDrain = (): void => {
    this.drainWaiting = false;
    this.releaseWaiters();
  };

  private releaseWaiters(): void {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const r of w) r();
  }

  private schedule(): void {
    if (this.scheduled || this.mode === 'manual') return;
    this.scheduled = true;
    if (this.mode === 'microtask') queueMicrotask(this.scheduledFlush);
    else setImmediate(this.scheduledFlush);
  }

  private readonly scheduledFlush = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /**
   * Returns an arena offset with `n` free bytes at arenaPos (starting a new arena
   * when full). Arena bytes already handed out are never overwritten: the
   * socket may still hold them.
   */
  private reserve(n: number): number {
    if (this.arenaPos + n > this.arena.length) {
      this.seal();
      this.arena = Buffer.allocUnsafe(Math.max(ARENA_SIZE, n));
      this.arenaView = new DataView(this.arena.buffer, this.arena.byteOffset, this.arena.length);
      this.arenaStart = 0;
      this.arenaPos = 0;
    }
    return this.arenaPos;
  }

  /** Moves the filled arena region into the piece list. */
  private seal(): void {
    if (this.arenaPos > this.arenaStart) {
      this.pieces.push(this.arena.subarray(this.arenaStart, this.arenaPos));
      this.arenaStart = this.arenaPos;
    }
  }
}
