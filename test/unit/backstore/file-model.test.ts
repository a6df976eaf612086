// Model-based test: random sequences of write / discard / writeSame / resize / read on a
// sparse file store behave exactly like a plain byte array, and mapAllocation never
// reports data where the model has non-zero bytes as deallocated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { FileBackingStore } from '../../../src/backstore/file.js';

const BLK = 4096;
const MAX_BLOCKS = 64;

type Op =
  | { kind: 'write'; block: number; count: number; seed: number; fua: boolean }
  | { kind: 'discard'; block: number; count: number }
  | { kind: 'writeSame'; block: number; count: number; byte: number }
  | { kind: 'resize'; blocks: number }
  | { kind: 'read'; offset: number; length: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), block: fc.nat(MAX_BLOCKS - 1), count: fc.integer({ min: 1, max: 8 }), seed: fc.nat(255), fua: fc.boolean() }),
  fc.record({ kind: fc.constant('discard' as const), block: fc.nat(MAX_BLOCKS - 1), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('writeSame' as const), block: fc.nat(MAX_BLOCKS - 1), count: fc.integer({ min: 1, max: 8 }), byte: fc.nat(255) }),
  fc.record({ kind: fc.constant('resize' as const), blocks: fc.integer({ min: 8, max: MAX_BLOCKS }) }),
  fc.record({ kind: fc.constant('read' as const), offset: fc.nat(MAX_BLOCKS * BLK - 1), length: fc.integer({ min: 1, max: 3 * BLK }) }),
);

function fill(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i * 13) & 0xff;
  return b;
}

test('file store ≡ byte-array model under random operation sequences', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'filemodel-'));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
      const file = path.join(dir, `img${run++}`);
      await fsp.writeFile(file, Buffer.alloc(0));
      await fsp.truncate(file, 32 * BLK);
      const s = await FileBackingStore.open(file);
      let model = Buffer.alloc(32 * BLK);
      try {
        for (const op of ops) {
          const size = model.length;
          switch (op.kind) {
            case 'write': {
              const off = op.block * BLK;
              if (off >= size) break;
              const len = Math.min(op.count * BLK, size - off);
              const data = fill(len, op.seed);
              await s.write(off, data, op.fua);
              data.copy(model, off);
              break;
            }
            case 'discard': {
              const off = op.block * BLK;
              if (off >= size) break;
              const len = Math.min(op.count * BLK, size - off);
              await s.discard!(off, len);
              model.fill(0, off, off + len);
              break;
            }
            case 'writeSame': {
              const off = op.block * BLK;
              if (off >= size) break;
              const len = Math.min(op.count * BLK, size - off);
              await s.writeSame(off, len, Buffer.alloc(512, op.byte));
              model.fill(op.byte, off, off + len);
              break;
            }
            case 'resize': {
              const n = op.blocks * BLK;
              await s.resize(n);
              const next = Buffer.alloc(n);
              model.copy(next, 0, 0, Math.min(n, model.length));
              model = next;
              break;
            }
            case 'read': {
              if (op.offset >= size) break;
              const len = Math.min(op.length, size - op.offset);
              const got = Buffer.alloc(len, 0xcc);
              await s.read(op.offset, got);
              assert.deepEqual(got, model.subarray(op.offset, op.offset + len));
              break;
            }
          }
          assert.equal(s.sizeBytes, model.length);
        }
        // whole-image check, then the allocation map: non-zero data is never "deallocated"
        const all = Buffer.alloc(model.length);
        await s.read(0, all);
        assert.deepEqual(all, model);
        const ext = await s.mapAllocation!(0, model.length);
        let pos = 0;
        for (const e of ext) {
          assert.equal(e.offset, pos);
          if (!e.allocated) assert.ok(model.subarray(e.offset, e.offset + e.length).every((b) => b === 0), `hole at ${e.offset} holds data`);
          pos += e.length;
        }
        assert.equal(pos, model.length);
      } finally {
        await s.close();
        await fsp.unlink(file);
      }
    }),
    { numRuns: 60 },
  );
  await fsp.rm(dir, { recursive: true, force: true });
});
