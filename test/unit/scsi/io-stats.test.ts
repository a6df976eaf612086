// The LU's I/O statistics as the device server counts them: classes, bytes, per-client counters
// kept across nexuses, latency buckets, in-flight, backstore errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiStatus } from '../../../src/scsi/command.js';
import { ScsiOp } from '../../../src/scsi/constants.js';
import { createScsiPort } from '../../../src/scsi/device-server.js';
import { BUCKETS_PER_CLASS, IoClass, LATENCY_BUCKETS_SECONDS, LuIoStats } from '../../../src/scsi/io-stats.js';
import { cdb, cdb10, makeLu, makeNexus, mapOf, openPort, run } from './helpers.js';

const sum = (a: Float64Array, from: number, n: number): number => a.subarray(from, from + n).reduce((x, y) => x + y, 0);

test('io-stats: READ/WRITE bytes, classes and per-client counters', async () => {
  const { lu } = makeLu();
  const port = await openPort(lu);
  const base = [...lu.stats.commands];
  const w = await run(port, cdb10(ScsiOp.WRITE_10, 0, 8), { dataOut: Buffer.alloc(8 * 512, 0x5a) });
  assert.equal(w.status, ScsiStatus.GOOD);
  const r = await run(port, cdb10(ScsiOp.READ_10, 0, 4));
  assert.equal(r.status, ScsiStatus.GOOD);
  await run(port, cdb(ScsiOp.TEST_UNIT_READY));
  const s = lu.stats;
  assert.equal(s.writeBytes, 8 * 512);
  assert.equal(s.readBytes, 4 * 512);
  assert.equal((s.commands[IoClass.WRITE] ?? 0) - (base[IoClass.WRITE] ?? 0), 1);
  assert.equal((s.commands[IoClass.READ] ?? 0) - (base[IoClass.READ] ?? 0), 1);
  assert.equal((s.commands[IoClass.OTHER] ?? 0) - (base[IoClass.OTHER] ?? 0), 1);
  assert.equal(s.inflight, 0);
  // Every command observed once in its class's histogram.
  for (const c of [IoClass.READ, IoClass.WRITE, IoClass.OTHER]) assert.equal(sum(s.buckets, c * BUCKETS_PER_CLASS, BUCKETS_PER_CLASS), s.commands[c]);
  const client = s.clients().get(makeNexus().initiatorName);
  assert.deepEqual({ ...client }, { commands: 3, readBytes: 4 * 512, writeBytes: 8 * 512 });
});

test('io-stats: a refused write counts no bytes; a new nexus of the same initiator adds to its counters', async () => {
  const { lu } = makeLu(8 * 1024 * 1024, { readOnly: true });
  const port = await openPort(lu);
  const w = await run(port, cdb10(ScsiOp.WRITE_10, 0, 8), { dataOut: Buffer.alloc(8 * 512) });
  assert.equal(w.status, ScsiStatus.CHECK_CONDITION);
  assert.equal(lu.stats.writeBytes, 0);
  port.close();
  const again = createScsiPort(makeNexus(undefined, 1, '0x23d000000002'), mapOf([[0, lu]]));
  await run(again, cdb10(ScsiOp.READ_10, 0, 2)); // unit attention (new nexus)
  await run(again, cdb10(ScsiOp.READ_10, 0, 2));
  assert.equal(lu.stats.clients().size, 1);
  assert.equal(lu.stats.clients().get(makeNexus().initiatorName)?.readBytes, 2 * 512);
});

test('io-stats: latency buckets 50 µs - 5 s, the last is +Inf', () => {
  assert.equal(LATENCY_BUCKETS_SECONDS[0], 0.00005);
  assert.equal(LATENCY_BUCKETS_SECONDS.at(-1), 5);
  const s = new LuIoStats();
  const at = (ms: number): number => {
    const before = [...s.buckets];
    s.end(IoClass.READ, 0, performance.now() - ms, undefined);
    return s.buckets.findIndex((v, i) => v !== before[i]);
  };
  s.inflight = 3;
  assert.equal(at(0), 0); // ≤ 50 µs
  assert.equal(at(7), LATENCY_BUCKETS_SECONDS.indexOf(0.01)); // ≤ 10 ms
  assert.equal(at(6000), BUCKETS_PER_CLASS - 1); // > 5 s: +Inf
  assert.equal(s.inflight, 0);
  assert.ok((s.latencySum[IoClass.READ] ?? 0) >= 6.007);
});
