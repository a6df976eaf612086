import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Framer, FramingError, type RawPdu } from '../../src/iscsi/framer.js';
import { PduDecodeError, decodePdu, encodePdu, type Pdu } from '../../src/iscsi/pdu.js';
import { IscsiOp } from '../../src/iscsi/constants.js';
import { PduWriter } from '../../src/iscsi/writer.js';
import { VECTORS } from '../vectors/pdus.js';
import { withDigests } from '../vectors/digests.js';

const hexOf = (r: RawPdu): string => `${r.bhs.toString('hex')}/${r.ahs.toString('hex')}/${r.data.toString('hex')}`;

/** Feeds `wire` cut at `cuts`; returns PDUs seen and the error thrown (if any). */
function feed(wire: Buffer, cuts: number[], hd: boolean, dd: boolean, maxRecv = 8192): { pdus: string[]; error: unknown } {
  const pdus: string[] = [];
  const f = new Framer({
    headerDigest: hd,
    dataDigest: dd,
    maxRecvDataSegmentLength: maxRecv,
    onPdu: (r) => {
      pdus.push(hexOf(r));
      try {
        decodePdu(r.bhs, r.ahs, r.data);
      } catch (e) {
        if (!(e instanceof PduDecodeError)) throw e;
      }
    },
    onDataDigestError: () => pdus.push('data-digest-error'),
  });
  const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  try {
    for (const p of [...points, wire.length]) {
      f.push(wire.subarray(prev, p));
      prev = p;
    }
  } catch (e) {
    return { pdus, error: e };
  }
  return { pdus, error: undefined };
}

const vectorSeq = fc.array(fc.integer({ min: 0, max: VECTORS.length - 1 }), { minLength: 1, maxLength: 12 });

test('random chunking ≡ one chunk (with and without digests)', () => {
  fc.assert(
    fc.property(vectorSeq, fc.array(fc.nat(), { maxLength: 20 }), fc.boolean(), fc.boolean(), (idx, cuts, hd, dd) => {
      const wire = Buffer.concat(idx.map((i) => withDigests(VECTORS[i]!.bytes, hd, dd)));
      const whole = feed(wire, [], hd, dd);
      const split = feed(wire, cuts, hd, dd);
      assert.equal(whole.error, undefined);
      assert.equal(split.error, undefined);
      assert.deepEqual(split.pdus, whole.pdus);
      assert.equal(whole.pdus.length, idx.length);
    }),
    { numRuns: 300 },
  );
});

const ours = (e: unknown): boolean => e === undefined || e instanceof FramingError;

test('random bytes never throw anything but FramingError (decode errors are PduDecodeError only)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 600 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.boolean(),
      fc.boolean(),
      (bytes, cuts, hd, dd) => {
        const { error } = feed(Buffer.from(bytes), cuts, hd, dd, 512);
        assert.ok(ours(error), String(error));
      },
    ),
    { numRuns: 1500 },
  );
});

test('mutated valid PDU streams only produce our error classes; chunking does not change the outcome', () => {
  fc.assert(
    fc.property(
      vectorSeq,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.boolean(),
      fc.boolean(),
      (idx, flips, cuts, hd, dd) => {
        const wire = Buffer.concat(idx.map((i) => withDigests(VECTORS[i]!.bytes, hd, dd)));
        for (const [pos, x] of flips) {
          const p = pos % wire.length;
          wire[p] = (wire[p] ?? 0) ^ x;
        }
        const a = feed(wire, [], hd, dd);
        const b = feed(wire, cuts, hd, dd);
        assert.ok(ours(a.error), String(a.error));
        assert.ok(ours(b.error), String(b.error));
        assert.deepEqual(b.pdus, a.pdus);
        assert.equal((b.error as FramingError | undefined)?.kind, (a.error as FramingError | undefined)?.kind);
      },
    ),
    { numRuns: 500 },
  );
});

test('decodePdu on random header/AHS/data combinations throws only PduDecodeError', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 48, maxLength: 48 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.integer({ min: 0, max: 0x3f }),
      (bhsBytes, ahsBytes, dataBytes, op) => {
        const bhs = Buffer.from(bhsBytes);
        bhs[0] = ((bhs[0] ?? 0) & 0xc0) | op;
        const ahs = Buffer.from(ahsBytes.subarray(0, ahsBytes.length & ~3));
        bhs[4] = ahs.length / 4;
        bhs.writeUIntBE(dataBytes.length, 5, 3);
        try {
          const pdu = decodePdu(bhs, ahs, Buffer.from(dataBytes));
          // whatever decodes must re-encode without throwing
          encodePdu(pdu);
        } catch (e) {
          assert.ok(e instanceof PduDecodeError, String(e));
        }
      },
    ),
    { numRuns: 3000 },
  );
});

const u32 = fc.nat({ max: 0xffffffff });
const lun = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const buf = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

function roundTrip(pdu: Pdu): void {
  const { bhs, data } = encodePdu(pdu);
  const head = bhs.subarray(0, 48);
  const ahs = bhs.subarray(48);
  const back = decodePdu(head, ahs, data ?? Buffer.alloc(0));
  const again = encodePdu(back);
  assert.equal(again.bhs.toString('hex'), bhs.toString('hex'));
  assert.equal((again.data ?? Buffer.alloc(0)).toString('hex'), (data ?? Buffer.alloc(0)).toString('hex'));
}

test('encode → decode → encode is stable for random SCSI Commands (incl. long CDBs)', () => {
  fc.assert(
    fc.property(
      fc.record({
        immediate: fc.boolean(),
        final: fc.boolean(),
        read: fc.boolean(),
        write: fc.boolean(),
        taskAttribute: fc.integer({ min: 0, max: 7 }),
        lun,
        initiatorTaskTag: u32,
        expectedDataTransferLength: u32,
        cmdSN: u32,
        expStatSN: u32,
        cdb: fc.uint8Array({ minLength: 16, maxLength: 260 }).map((a) => Buffer.from(a)),
        data: buf(100),
      }),
      fc.option(u32, { nil: undefined }),
      (r, bidi) => {
        const pdu: Pdu = { opcode: IscsiOp.SCSI_COMMAND, ...r };
        if (bidi !== undefined) pdu.bidiReadDataLength = bidi;
        roundTrip(pdu);
        const { bhs, data } = encodePdu(pdu);
        const back = decodePdu(bhs.subarray(0, 48), bhs.subarray(48), data ?? Buffer.alloc(0));
        assert.deepEqual(back, pdu);
      },
    ),
    { numRuns: 300 },
  );
});

test('encode → decode is exact for random Data-In and SCSI Response PDUs', () => {
  fc.assert(
    fc.property(
      fc.record({
        final: fc.boolean(),
        acknowledge: fc.boolean(),
        residualUnderflow: fc.boolean(),
        status: fc.integer({ min: 0, max: 255 }),
        lun,
        initiatorTaskTag: u32,
        targetTransferTag: u32,
        statSN: u32,
        expCmdSN: u32,
        maxCmdSN: u32,
        dataSN: u32,
        bufferOffset: u32,
        residualCount: u32,
        data: buf(50),
      }),
      (r) => {
        const pdu: Pdu = {
          opcode: IscsiOp.SCSI_DATA_IN,
          ...r,
          residualOverflow: false,
          statusPresent: r.final,
        };
        const { bhs, data } = encodePdu(pdu);
        assert.deepEqual(decodePdu(bhs, Buffer.alloc(0), data ?? Buffer.alloc(0)), pdu);
      },
    ),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(
      fc.record({
        response: fc.integer({ min: 0, max: 255 }),
        status: fc.integer({ min: 0, max: 255 }),
        initiatorTaskTag: u32,
        snackTag: u32,
        statSN: u32,
        expCmdSN: u32,
        maxCmdSN: u32,
        expDataSN: u32,
        bidiReadResidualCount: u32,
        residualCount: u32,
        residualOverflow: fc.boolean(),
        bidiReadResidualOverflow: fc.boolean(),
      }),
      fc.option(buf(252), { nil: undefined }),
      (r, sense) => {
        const pdu: Pdu = {
          opcode: IscsiOp.SCSI_RESPONSE,
          ...r,
          residualUnderflow: !r.residualOverflow,
          bidiReadResidualUnderflow: false,
        };
        if (sense !== undefined) pdu.sense = sense;
        const { bhs, data } = encodePdu(pdu);
        assert.deepEqual(decodePdu(bhs, Buffer.alloc(0), data ?? Buffer.alloc(0)), pdu);
      },
    ),
    { numRuns: 300 },
  );
});

test('writer → random chunking → framer → decode reproduces random PDU sequences', () => {
  const dataIn = fc.record({
    opcode: fc.constant(IscsiOp.SCSI_DATA_IN),
    final: fc.constant(false),
    acknowledge: fc.constant(false),
    residualOverflow: fc.constant(false),
    residualUnderflow: fc.constant(false),
    statusPresent: fc.constant(false),
    status: fc.constant(0),
    lun: fc.constant(0n),
    initiatorTaskTag: u32,
    targetTransferTag: fc.constant(0xffffffff),
    statSN: fc.constant(0),
    expCmdSN: u32,
    maxCmdSN: u32,
    dataSN: u32,
    bufferOffset: u32,
    residualCount: fc.constant(0),
    data: buf(3000),
  }) as fc.Arbitrary<Pdu>;
  const fromVectors = fc.integer({ min: 0, max: VECTORS.length - 1 }).map((i) => VECTORS[i]!.pdu);
  fc.assert(
    fc.property(
      fc.array(fc.oneof(dataIn, fromVectors), { minLength: 1, maxLength: 15 }),
      fc.boolean(),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 12 }),
      (pdus, hd, dd, cuts) => {
        const chunks: Buffer[] = [];
        const w = new PduWriter(
          { write: (c: Buffer) => (chunks.push(c), true), once: () => undefined },
          { headerDigest: hd, dataDigest: dd, flush: 'manual', copyThreshold: 512 },
        );
        for (const p of pdus) w.write(p);
        w.flush();
        const wire = Buffer.concat(chunks);
        const got: Pdu[] = [];
        const f = new Framer({
          headerDigest: hd,
          dataDigest: dd,
          maxRecvDataSegmentLength: 8192,
          onPdu: (r) => got.push(decodePdu(r.bhs, r.ahs, r.data)),
        });
        const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        let prev = 0;
        for (const p of [...points, wire.length]) {
          f.push(wire.subarray(prev, p));
          prev = p;
        }
        assert.equal(got.length, pdus.length);
        // data segments come back as Buffers with the same bytes; compare through re-encoding
        got.forEach((g, i) => {
          const a = encodePdu(g);
          const b = encodePdu(pdus[i]!);
          assert.equal(a.bhs.toString('hex'), b.bhs.toString('hex'));
          assert.equal((a.data ?? Buffer.alloc(0)).toString('hex'), (b.data ?? Buffer.alloc(0)).toString('hex'));
        });
      },
    ),
    { numRuns: 200 },
  );
});
