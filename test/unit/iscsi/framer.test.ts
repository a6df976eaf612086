import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DIRECT_READ_MIN, Framer, FramingError, type FramerOptions, type RawPdu } from '../../../src/iscsi/framer.js';
import { decodePdu } from '../../../src/iscsi/pdu.js';
import { VECTORS } from '../../vectors/pdus.js';
import { splitWire } from '../../vectors/split.js';
import { withDigests } from '../../vectors/digests.js';

interface Seen {
  bhs: string;
  ahs: string;
  data: string;
}
const hex = (r: RawPdu): Seen => ({ bhs: r.bhs.toString('hex'), ahs: r.ahs.toString('hex'), data: r.data.toString('hex') });

function expected(wires: Buffer[]): Seen[] {
  return wires.map((w) => {
    const { bhs, ahs, data } = splitWire(w);
    return { bhs: bhs.toString('hex'), ahs: ahs.toString('hex'), data: data.toString('hex') };
  });
}

function run(chunks: Buffer[], opts: Partial<FramerOptions> = {}): Seen[] {
  const out: Seen[] = [];
  const f = new Framer({
    headerDigest: false,
    dataDigest: false,
    maxRecvDataSegmentLength: 262144,
    onPdu: (r) => out.push(hex(r)),
    ...opts,
  });
  for (const c of chunks) f.push(c);
  assert.equal(f.bufferedBytes, 0, 'nothing left over');
  return out;
}

const WIRES = VECTORS.map((v) => v.bytes);
const ALL = Buffer.concat(WIRES);

test('each vector as one chunk yields exactly its parts', () => {
  for (const w of WIRES) assert.deepEqual(run([w]), expected([w]));
});

test('all vectors as one big chunk', () => {
  assert.deepEqual(run([ALL]), expected(WIRES));
});

test('all vectors split at every offset (two chunks)', () => {
  const want = expected(WIRES);
  for (let i = 1; i < ALL.length; i++) {
    assert.deepEqual(run([ALL.subarray(0, i), ALL.subarray(i)]), want, `split at ${i}`);
  }
});

test('all vectors byte by byte', () => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < ALL.length; i++) chunks.push(ALL.subarray(i, i + 1));
  assert.deepEqual(run(chunks), expected(WIRES));
});

for (const [hd, dd] of [
  [true, false],
  [false, true],
  [true, true],
] as const) {
  test(`digests header=${hd} data=${dd}: every offset and byte by byte`, () => {
    const wire = Buffer.concat(WIRES.map((w) => withDigests(w, hd, dd)));
    const want = expected(WIRES);
    const opts = { headerDigest: hd, dataDigest: dd };
    assert.deepEqual(run([wire], opts), want);
    for (let i = 1; i < wire.length; i++)
      assert.deepEqual(run([wire.subarray(0, i), wire.subarray(i)], opts), want, `split at ${i}`);
    const bytes: Buffer[] = [];
    for (let i = 0; i < wire.length; i++) bytes.push(wire.subarray(i, i + 1));
    assert.deepEqual(run(bytes, opts), want);
  });
}

test('framed PDUs decode to the vector objects', () => {
  const got: RawPdu[] = [];
  const f = new Framer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 8192, onPdu: (r) => got.push(r) });
  f.push(ALL);
  assert.equal(got.length, VECTORS.length);
  got.forEach((r, i) => assert.deepEqual(decodePdu(r.bhs, r.ahs, r.data), VECTORS[i]?.pdu));
});

function framer(opts: Partial<FramerOptions> & Pick<FramerOptions, 'onPdu'>): Framer {
  return new Framer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 8192, ...opts });
}

const WITH_DATA = VECTORS.find((v) => v.name.startsWith('SCSI Command WRITE(16)'))!.bytes; // 6 bytes data + 2 pad
const NO_DATA = VECTORS.find((v) => v.name === 'R2T')!.bytes;

test('header digest mismatch is fatal and the framer stays failed', () => {
  const wire = withDigests(NO_DATA, true, false);
  wire[48] = (wire[48] ?? 0) ^ 0x01; // corrupt the digest word
  let n = 0;
  const f = framer({ headerDigest: true, onPdu: () => n++ });
  assert.throws(
    () => f.push(wire),
    (e: unknown) => e instanceof FramingError && e.kind === 'HEADER_DIGEST' && e.code === 'ERR_ISCSI_FRAMING',
  );
  assert.equal(n, 0);
  assert.equal(f.isFailed, true);
  assert.throws(() => f.push(NO_DATA), (e: unknown) => e instanceof FramingError && e.kind === 'FAILED');
});

test('a corrupted header byte is caught by the header digest', () => {
  const wire = withDigests(WITH_DATA, true, true);
  wire[20] = (wire[20] ?? 0) ^ 0x80; // EDTL bit flip
  const f = framer({ headerDigest: true, dataDigest: true, onPdu: () => assert.fail('no PDU expected') });
  assert.throws(() => f.push(wire), (e: unknown) => e instanceof FramingError && e.kind === 'HEADER_DIGEST');
});

test('data digest mismatch without a handler throws DATA_DIGEST', () => {
  const wire = withDigests(WITH_DATA, false, true);
  wire[48] = (wire[48] ?? 0) ^ 0xff; // corrupt a data byte
  const f = framer({ dataDigest: true, onPdu: () => assert.fail('no PDU expected') });
  assert.throws(
    () => f.push(wire),
    (e: unknown) => e instanceof FramingError && e.kind === 'DATA_DIGEST' && e.bhs?.length === 48,
  );
});

test('data digest mismatch with a handler: PDU reported, framing continues', () => {
  const bad = withDigests(WITH_DATA, true, true);
  bad[52 + 1] = (bad[52 + 1] ?? 0) ^ 0x10; // data byte 1 (after 48 BHS + 4 header digest)
  const good = withDigests(WITH_DATA, true, true);
  const pdus: RawPdu[] = [];
  const digestErrors: RawPdu[] = [];
  const f = framer({
    headerDigest: true,
    dataDigest: true,
    onPdu: (r) => pdus.push(r),
    onDataDigestError: (r) => digestErrors.push(r),
  });
  f.push(Buffer.concat([good, bad, good]));
  assert.equal(pdus.length, 2);
  assert.equal(digestErrors.length, 1);
  assert.equal(digestErrors[0]?.bhs.readUInt32BE(16), 2, 'the reported PDU carries its header (ITT 2)');
  assert.equal(f.isFailed, false);
});

test('a wrong pad byte is covered by the data digest', () => {
  const wire = withDigests(WITH_DATA, false, true);
  wire[48 + 6] = 0x01; // first pad byte: digest was computed over zero padding
  const errors: RawPdu[] = [];
  framer({ dataDigest: true, onPdu: () => assert.fail('no PDU expected'), onDataDigestError: (r) => errors.push(r) }).push(wire);
  assert.equal(errors.length, 1);
});

test('DataSegmentLength over MaxRecvDataSegmentLength fails from the header alone', () => {
  const hdr = Buffer.from(WITH_DATA.subarray(0, 48));
  hdr.writeUIntBE(8193, 5, 3);
  const f = framer({ onPdu: () => assert.fail('no PDU expected') });
  assert.throws(
    () => f.push(hdr), // no payload pushed: refused before buffering it
    (e: unknown) =>
      e instanceof FramingError && e.kind === 'DATA_SEGMENT_TOO_LONG' && e.bhs?.equals(hdr) === true,
  );
});

test('DataSegmentLength equal to the limit is accepted; setMaxRecvDataSegmentLength applies to the next PDU', () => {
  const mk = (n: number): Buffer => {
    const b = Buffer.alloc(48 + ((n + 3) & ~3));
    b[0] = 0x05; // Data-Out
    b.writeUIntBE(n, 5, 3);
    return b;
  };
  const seen: number[] = [];
  const f = framer({ maxRecvDataSegmentLength: 512, onPdu: (r) => seen.push(r.data.length) });
  f.push(mk(512));
  f.setMaxRecvDataSegmentLength(1024);
  f.push(mk(1024));
  f.setMaxRecvDataSegmentLength(100);
  assert.throws(() => f.push(mk(101)), (e: unknown) => e instanceof FramingError && e.kind === 'DATA_SEGMENT_TOO_LONG');
  assert.deepEqual(seen, [512, 1024]);
  assert.throws(() => framer({ maxRecvDataSegmentLength: -1, onPdu: () => undefined }), RangeError);
});

test('onHeader sees the header before the payload; false discards the payload', () => {
  const events: string[] = [];
  const f = framer({
    onHeader: (bhs) => {
      events.push(`h${bhs.readUInt32BE(16)}`);
      return bhs.readUInt32BE(16) !== 2; // discard ITT 2
    },
    onPdu: (r) => events.push(`p${r.bhs.readUInt32BE(16)}`),
  });
  f.push(WITH_DATA.subarray(0, 48));
  assert.deepEqual(events, ['h2'], 'header callback ran with only the BHS received');
  f.push(WITH_DATA.subarray(48));
  f.push(NO_DATA);
  assert.deepEqual(events, ['h2', 'h3', 'p3']);
});

test('an exception from onHeader propagates and fails the framer', () => {
  const boom = new Error('reject');
  const f = framer({
    onHeader: () => {
      throw boom;
    },
    onPdu: () => assert.fail('no PDU expected'),
  });
  assert.throws(() => f.push(NO_DATA), (e: unknown) => e === boom);
  assert.equal(f.isFailed, true);
});

test('data in one chunk is a view; data spanning chunks is one exact copy', () => {
  const got: RawPdu[] = [];
  const f = framer({ onPdu: (r) => got.push(r) });
  f.push(WITH_DATA);
  const r0 = got[0]!;
  assert.equal(r0.data.buffer, WITH_DATA.buffer, 'view into the pushed chunk');
  assert.equal(r0.data.byteOffset, WITH_DATA.byteOffset + 48);
  assert.equal(r0.bhs.buffer, WITH_DATA.buffer);
  f.push(WITH_DATA.subarray(0, 50));
  f.push(WITH_DATA.subarray(50));
  const r1 = got[1]!;
  assert.notEqual(r1.data.buffer, WITH_DATA.buffer);
  assert.equal(r1.data.length, 6);
  assert.equal(r1.data.toString('hex'), 'deadbeef0102');
});

test('digests switched on from onPdu apply to the rest of the same chunk', () => {
  // Login Response → then full feature phase with digests (RFC 7143 §13.1: digests start after login)
  const login = VECTORS.find((v) => v.name.startsWith('Login Request operational'))!.bytes;
  const next = withDigests(WITH_DATA, true, true);
  const got: number[] = [];
  const f: Framer = framer({
    onPdu: (r) => {
      got.push(r.bhs.readUInt8(0) & 0x3f);
      if (got.length === 1) f.setDigests(true, true);
    },
  });
  f.push(Buffer.concat([login, next, next]));
  assert.deepEqual(got, [0x03, 0x01, 0x01]);
});

test('pause() from onPdu holds later PDUs until resume()', () => {
  const got: number[] = [];
  const f: Framer = framer({
    onPdu: (r) => {
      got.push(r.bhs.readUInt32BE(16));
      if (got.length === 1) f.pause();
    },
  });
  f.push(Buffer.concat([WITH_DATA, NO_DATA, WITH_DATA]));
  assert.deepEqual(got, [2]);
  f.push(NO_DATA);
  assert.deepEqual(got, [2]);
  assert.equal(f.bufferedBytes, WITH_DATA.length + 2 * NO_DATA.length);
  f.resume();
  assert.deepEqual(got, [2, 3, 2, 3]);
  assert.equal(f.bufferedBytes, 0);
});

test('empty chunks are ignored', () => {
  assert.deepEqual(run([Buffer.alloc(0), NO_DATA, Buffer.alloc(0)]), expected([NO_DATA]));
});

test('a PDU with an AHS and header digest frames correctly', () => {
  const w = VECTORS.find((v) => v.name.includes('32-byte CDB'))!.bytes;
  const wire = withDigests(w, true, true);
  assert.deepEqual(run([wire], { headerDigest: true, dataDigest: true }), expected([w]));
});

test('an exception from onPdu propagates and fails the framer', () => {
  const boom = new Error('handler bug');
  const f = framer({
    onPdu: () => {
      throw boom;
    },
  });
  assert.throws(() => f.push(Buffer.concat([NO_DATA, NO_DATA])), (e: unknown) => e === boom);
  assert.equal(f.isFailed, true);
  assert.equal(f.bufferedBytes, 0);
});

test('onHeader receives the AHS', () => {
  const w = VECTORS.find((v) => v.name.includes('32-byte CDB'))!.bytes;
  let seen = '';
  framer({
    onHeader: (_bhs, ahs) => {
      seen = ahs.toString('hex');
    },
    onPdu: () => undefined,
  }).push(w);
  assert.equal(seen, splitWire(w).ahs.toString('hex'));
  assert.equal(seen.length, 28 * 2);
});

test('a data segment of exactly MaxRecvDataSegmentLength with digests, split inside pad and digest', () => {
  const n = 8190; // 2 pad bytes
  const bhs = Buffer.alloc(48);
  bhs[0] = 0x05;
  bhs.writeUIntBE(n, 5, 3);
  const payload = Buffer.alloc(n + 2);
  for (let i = 0; i < n; i++) payload[i] = (i * 7) & 0xff;
  const wire = withDigests(Buffer.concat([bhs, payload]), true, true);
  const want = payload.subarray(0, n).toString('hex');
  for (const cut of [48, 51, 52, 52 + n, 52 + n + 1, 52 + n + 2, 52 + n + 3, wire.length - 1]) {
    const got: RawPdu[] = [];
    const f = framer({ headerDigest: true, dataDigest: true, maxRecvDataSegmentLength: n, onPdu: (r) => got.push(r) });
    f.push(wire.subarray(0, cut));
    f.push(wire.subarray(cut));
    assert.equal(got.length, 1, `cut ${cut}`);
    assert.equal(got[0]?.data.toString('hex'), want);
    assert.equal(f.bufferedBytes, 0);
  }
});

test('onHeader placement: the payload is read into the given buffer, split at every offset, with and without digests', () => {
  const n = 1021; // 3 pad bytes
  const bhs = Buffer.alloc(48);
  bhs[0] = 0x05;
  bhs.writeUIntBE(n, 5, 3);
  const payload = Buffer.alloc(n + 3);
  for (let i = 0; i < n; i++) payload[i] = (i * 13 + 1) & 0xff;
  const want = payload.subarray(0, n).toString('hex');
  for (const digests of [false, true]) {
    const wire = Buffer.concat([withDigests(Buffer.concat([bhs, payload]), digests, digests), withDigests(NO_DATA, digests, digests)]);
    for (let cut = 1; cut < wire.length; cut++) {
      const target = Buffer.alloc(n + 8, 0xee);
      const got: RawPdu[] = [];
      const f = framer({
        headerDigest: digests,
        dataDigest: digests,
        onPdu: (r) => got.push(r),
        // only the Data-Out is placed, 4 bytes into a larger buffer; the R2T has no data
        onHeader: (h) => (h[0] === 0x05 ? target.subarray(4, 4 + n) : undefined),
      });
      f.push(wire.subarray(0, cut));
      f.push(wire.subarray(cut));
      assert.equal(got.length, 2, `cut ${cut}`);
      const d = got[0]!.data;
      assert.equal(d.buffer, target.buffer, `cut ${cut}: data is the placed buffer`);
      assert.equal(d.byteOffset, target.byteOffset + 4);
      assert.equal(d.toString('hex'), want, `cut ${cut}`);
      assert.equal(target.readUInt32BE(0), 0xeeeeeeee, 'nothing written before the slice');
      assert.equal(target.readUInt32BE(n + 4), 0xeeeeeeee, 'pad and digest not written after it');
      assert.equal(f.bufferedBytes, 0);
    }
  }
});

test('onHeader placement: a buffer of the wrong length is ignored; a placed payload with a bad data digest is reported', () => {
  const got: RawPdu[] = [];
  const f = framer({ onPdu: (r) => got.push(r), onHeader: () => Buffer.alloc(5) });
  f.push(WITH_DATA); // 6 bytes of data: the 5-byte buffer does not fit, the framer buffers as usual
  assert.equal(got[0]!.data.toString('hex'), 'deadbeef0102');
  assert.equal(got[0]!.data.buffer, WITH_DATA.buffer);

  const bhs = Buffer.alloc(48);
  bhs[0] = 0x05;
  bhs.writeUIntBE(8, 5, 3);
  const wire = withDigests(Buffer.concat([bhs, Buffer.from('0102030405060708', 'hex')]), false, true);
  wire[wire.length - 1]! ^= 0xff;
  const bad: RawPdu[] = [];
  const place = Buffer.alloc(8);
  const g = framer({ dataDigest: true, onPdu: () => assert.fail('not delivered'), onHeader: () => place, onDataDigestError: (r) => bad.push(r) });
  g.push(wire);
  assert.equal(bad.length, 1);
  assert.equal(bad[0]!.data, place);
});

// lentChunks: the socket reads into one buffer it reuses (portal.ts). Each chunk is pushed from
// one shared buffer that is scribbled over right after push() returns, and the PDUs are
// compared only at the end: a view of a lent chunk kept by the framer, or handed out, shows
// up as 0xa5 bytes.
function runLent(chunks: Buffer[], opts: Partial<FramerOptions> = {}): Seen[] {
  const got: RawPdu[] = [];
  const f = new Framer({
    headerDigest: false,
    dataDigest: false,
    maxRecvDataSegmentLength: 262144,
    onPdu: (r) => got.push(r),
    lentChunks: true,
    ...opts,
  });
  const shared = Buffer.alloc(Math.max(1, ...chunks.map((c) => c.length)));
  for (const c of chunks) {
    c.copy(shared);
    f.push(shared.subarray(0, c.length));
    shared.fill(0xa5);
  }
  assert.equal(f.bufferedBytes, 0, 'nothing left over');
  return got.map(hex);
}

test('lent chunks: every vector, split at every offset and byte by byte, with and without digests; nothing refers to a chunk after push()', () => {
  const want = expected(WIRES);
  for (const [hd, dd] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    const wire = Buffer.concat(WIRES.map((w) => withDigests(w, hd, dd)));
    const opts = { headerDigest: hd, dataDigest: dd };
    assert.deepEqual(runLent([wire], opts), want);
    for (let i = 1; i < wire.length; i++) assert.deepEqual(runLent([wire.subarray(0, i), wire.subarray(i)], opts), want, `split at ${i} (${hd}/${dd})`);
    const bytes: Buffer[] = [];
    for (let i = 0; i < wire.length; i++) bytes.push(wire.subarray(i, i + 1));
    assert.deepEqual(runLent(bytes, opts), want);
  }
});

test('lent chunks: PDUs held while paused survive the reuse of the chunk; onHeader placement and discard still apply', () => {
  const got: RawPdu[] = [];
  const place = Buffer.alloc(6);
  let writes = 0;
  const f: Framer = framer({
    lentChunks: true,
    onPdu: (r) => {
      got.push(r);
      if (got.length === 1) f.pause();
    },
    // the first WRITE(16) is placed, the second discarded, the third buffered by the framer
    onHeader: (h) => {
      if (h.readUInt32BE(16) !== 2) return undefined;
      writes++;
      return writes === 1 ? place : writes === 2 ? false : undefined;
    },
  });
  const shared = Buffer.concat([WITH_DATA, NO_DATA, WITH_DATA, WITH_DATA]);
  f.push(shared);
  shared.fill(0xa5);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.data, place);
  assert.equal(f.bufferedBytes, NO_DATA.length + 2 * WITH_DATA.length);
  const more = Buffer.from(NO_DATA);
  f.push(more);
  more.fill(0xa5);
  f.resume();
  const seen = got.map(hex);
  const w = expected([WITH_DATA])[0]!;
  const r2t = expected([NO_DATA])[0]!;
  assert.deepEqual(seen, [w, r2t, w, r2t]); // the discarded WRITE(16) is not delivered
  assert.equal(f.bufferedBytes, 0);
});

// nextRead()/landed(): the socket reads a large payload straight into its destination
// (portal.ts asks nextRead() after every read). Simulated here with a socket that delivers
// at most `maxRead` bytes per read, into the lent buffer or in place.
function bigDataOut(itt: number, dsl: number, fill: number): Buffer {
  const bhs = Buffer.alloc(48);
  bhs.writeUInt8(0x05, 0); // SCSI Data-Out (RFC 7143 §11.7)
  bhs.writeUInt8(0x80, 1); // F
  bhs.writeUIntBE(dsl, 5, 3);
  bhs.writeUInt32BE(itt, 16);
  const data = Buffer.alloc(dsl + ((4 - (dsl % 4)) % 4));
  for (let i = 0; i < dsl; i++) data[i] = (i * 7 + fill) & 0xff;
  return Buffer.concat([bhs, data]);
}

function runDirect(wire: Buffer, maxRead: number, opts: Partial<FramerOptions>): { seen: Seen[]; landed: number; reads: number } {
  const got: RawPdu[] = [];
  const f = new Framer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 1 << 20, onPdu: (r) => got.push(r), lentChunks: true, ...opts });
  const lent = Buffer.alloc(maxRead);
  let at = 0;
  let landed = 0;
  let reads = 0;
  while (at < wire.length) {
    const next = f.nextRead();
    reads++;
    if (Buffer.isBuffer(next)) {
      const n = Math.min(next.length, maxRead, wire.length - at);
      wire.copy(next, 0, at, at + n);
      at += n;
      landed += n;
      f.landed(n);
    } else {
      const n = Math.min(next ?? maxRead, maxRead, wire.length - at);
      wire.copy(lent, 0, at, at + n);
      at += n;
      f.push(lent.subarray(0, n));
      lent.fill(0xa5);
    }
  }
  assert.equal(f.bufferedBytes, 0, 'nothing left over');
  return { seen: got.map(hex), landed, reads };
}

test('direct reads: large payloads land in place, the PDUs are the same as from plain reads, with and without digests', () => {
  const pdus = [bigDataOut(1, DIRECT_READ_MIN * 3 + 2, 1), bigDataOut(2, DIRECT_READ_MIN + 5, 2), NO_DATA, WITH_DATA, bigDataOut(3, DIRECT_READ_MIN * 2, 3)];
  for (const [hd, dd] of [
    [false, false],
    [true, true],
  ] as const) {
    const wire = Buffer.concat(pdus.map((w) => withDigests(w, hd, dd)));
    const want = expected(pdus);
    for (const maxRead of [5000, 16384, 65536, 1 << 20]) {
      // the first payload goes to onHeader's buffer, the others to the framer's own
      let placedOnce: Buffer | undefined;
      const opts: Partial<FramerOptions> = {
        headerDigest: hd,
        dataDigest: dd,
        onHeader: (h) => {
          if (h.readUInt32BE(16) !== 1 || placedOnce !== undefined) return undefined;
          placedOnce = Buffer.alloc(h.readUIntBE(5, 3));
          return placedOnce;
        },
      };
      const r = runDirect(wire, maxRead, opts);
      assert.deepEqual(r.seen, want, `maxRead ${maxRead} (${hd}/${dd})`);
      // Most payload bytes came in place: all but what shared a read with a header.
      const payload = DIRECT_READ_MIN * 6 + 7;
      assert.ok(r.landed > payload - 3 * maxRead && r.landed <= payload, `landed ${r.landed} of ${payload} with reads of ${maxRead}`);
    }
  }
});

test('direct reads: nothing is offered while paused, while bytes are buffered, or for small or discarded payloads', () => {
  const got: RawPdu[] = [];
  const f = new Framer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 1 << 20, onPdu: (r) => got.push(r), lentChunks: true, onHeader: (h) => (h.readUInt32BE(16) === 9 ? false : undefined) });
  const big = bigDataOut(1, DIRECT_READ_MIN * 2, 0);
  assert.equal(f.nextRead(), undefined); // a header comes first
  f.push(big.subarray(0, 100)); // the header and 52 payload bytes
  const target = f.nextRead();
  assert.ok(Buffer.isBuffer(target) && target.length === DIRECT_READ_MIN * 2 - 52);
  f.pause();
  assert.equal(f.nextRead(), undefined);
  f.resume();
  big.copy(target, 0, 100);
  f.landed(target.length);
  assert.equal(got.length, 1);
  assert.deepEqual(hex(got[0]!), expected([big])[0]);
  // After a large payload, one header is read alone.
  assert.equal(f.nextRead(), 48);
  // A discarded payload is skipped, not read in place; a small one is read normally.
  f.push(bigDataOut(9, DIRECT_READ_MIN * 2, 0).subarray(0, 60));
  assert.equal(f.nextRead(), undefined);
  assert.throws(() => f.landed(10), FramingError);
});
