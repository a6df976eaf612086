// Property tests: whatever the CDB and Data-Out, prepare() never throws, execute() never rejects,
// results are well-formed and Data-In never exceeds what prepare() announced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ScsiStatus, type ScsiRequest } from '../../../src/scsi/command.js';
import { createScsiPort } from '../../../src/scsi/device-server.js';
import { COMMANDS } from '../../../src/scsi/dispatch.js';
import { makeLu, makeNexus, mapOf } from './helpers.js';

const STATUSES = new Set<number>(Object.values(ScsiStatus));
const OPCODES = [...new Set(COMMANDS.map((c) => c.op))];

test('random CDBs and parameter data never crash the device server', async () => {
  const { lu } = makeLu(1024 * 1024, { maxTransferBlocks: 256, maxWriteSameBlocks: 64 });
  await lu.open();
  const port = createScsiPort(makeNexus(), mapOf([[0, lu]]));
  const cdbArb = fc.tuple(
    fc.oneof(fc.constantFrom(...OPCODES), fc.integer({ min: 0, max: 255 })),
    fc.uint8Array({ minLength: 15, maxLength: 15 }),
    fc.boolean(),
  ).map(([op, rest, smallLba]) => {
    const c = Buffer.alloc(16);
    c[0] = op;
    Buffer.from(rest).copy(c, 1);
    if (smallLba) {
      // keep LBAs and lengths mostly in range so execute() paths run too
      c.fill(0, 2, 9);
      c[9] = c[9]! & 0x0f;
      c[7] = 0;
      c[8] = c[8]! & 0x0f;
      c[10] = 0;
      c[11] = 0;
      c[12] = 0;
    }
    return c;
  });
  await fc.assert(
    fc.asyncProperty(cdbArb, fc.uint8Array({ maxLength: 4096 }), fc.integer({ min: 0, max: 2 }), async (cdb, data, lun) => {
      const req: ScsiRequest = {
        nexus: makeNexus(),
        lun,
        cdb,
        taskAttribute: 1,
        expectedDataLength: data.length,
        dataOut: null,
      };
      const p = port.prepare(req);
      if (p.kind === 'result') {
        assert.ok(STATUSES.has(p.status));
        if (p.status === ScsiStatus.CHECK_CONDITION) assert.ok(p.sense !== undefined && p.sense.length >= 8);
        return;
      }
      assert.ok(Number.isSafeInteger(p.dataOutLength) && p.dataOutLength >= 0);
      assert.ok(Number.isSafeInteger(p.dataInLength) && p.dataInLength >= 0);
      if (p.dataOutLength > 64 * 1024 * 1024) return; // the transport would solicit it; skip huge buffers here
      const out = Buffer.alloc(p.dataOutLength);
      Buffer.from(data).copy(out);
      req.dataOut = out;
      const r = await port.execute(req, p);
      assert.equal(r.kind, 'result');
      assert.ok(STATUSES.has(r.status));
      if (r.dataIn !== undefined) assert.ok(r.dataIn.length <= p.dataInLength, `${cdb.toString('hex')}: ${r.dataIn.length} > ${p.dataInLength}`);
      if (r.status === ScsiStatus.CHECK_CONDITION) {
        assert.ok(r.sense !== undefined);
        // only deliberate errors: never INTERNAL TARGET FAILURE (44h)
        const code = r.sense[0]! & 0x7f;
        const asc = code === 0x72 ? r.sense[2] : r.sense[12];
        assert.notEqual(asc, 0x44, `internal failure for CDB ${cdb.toString('hex')}`);
      }
    }),
    { numRuns: Number(process.env.FUZZ_RUNS ?? 3000), seed: Number(process.env.FUZZ_SEED ?? 4242) },
  );
});
