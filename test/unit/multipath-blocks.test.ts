/**
 * The multipath test initiator's own logic that needs no target (test/integration/block-writer.ts
 * and the retry table of multipath-initiator.ts): block stamps round-trip and reject damage, the
 * ledger/judge rules, verifyAcked over a fake two-path device that can serve a stale view, and a
 * BlockWriter never racing itself on one LBA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckLedger, BlockWriter, judgeBlock, readStamp, stampBlocks, verifyAcked, type BlockDevice, type WriteAck } from '../integration/block-writer.js';
import { classify } from '../integration/multipath-initiator.js';

test('stampBlocks/readStamp: every block carries writer, seq, its own LBA and index; 512 and 4096-byte blocks', () => {
  for (const size of [512, 4096]) {
    const buf = stampBlocks(7, 123456789, 1000, 4, size, 42.5);
    assert.equal(buf.length, 4 * size);
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(readStamp(buf.subarray(i * size, (i + 1) * size)), { writer: 7, seq: 123456789, lba: 1000 + i, index: i, issuedAt: 42.5 });
    }
    // Same stamp, same bytes; another seq, other bytes beyond the header too.
    assert.ok(stampBlocks(7, 123456789, 1000, 1, size, 42.5).equals(buf.subarray(0, size)));
    const other = stampBlocks(7, 123456790, 1000, 1, size, 42.5);
    assert.ok(!other.subarray(64).equals(buf.subarray(64, size)), 'the pattern does not depend on the stamp');
  }
});

test('readStamp rejects zeroes, foreign data and any flipped byte (CRC over the whole block)', () => {
  assert.equal(readStamp(Buffer.alloc(512)), 'zero');
  assert.equal(readStamp(Buffer.alloc(512, 0xa5)), 'magic');
  const b = stampBlocks(1, 2, 3, 1, 512);
  for (const at of [8, 16, 24, 45, 300, 511]) {
    const bad = Buffer.from(b);
    bad.writeUInt8(bad.readUInt8(at) ^ 0x01, at);
    assert.equal(readStamp(bad), 'crc', `byte ${at} flipped`);
  }
  assert.throws(() => stampBlocks(1, 1, 0, 1, 32), /too small/);
});

const ack = (startedAt: number, endedAt: number): WriteAck => ({ startedAt, endedAt });

test('judgeBlock: one writer: newest acked or newer passes; older is stale; wrong LBA, unknown writer, no stamp are reported', () => {
  const l = new AckLedger();
  l.recordAck(1, 5, 100, 2, ack(10, 11));
  l.noteIssued(1, 6); // issued, never acknowledged (e.g. failed): may or may not have landed
  assert.equal(judgeBlock(l, 100, stampBlocks(1, 5, 100, 1, 512)), undefined);
  assert.equal(judgeBlock(l, 101, stampBlocks(1, 6, 101, 1, 512)), undefined);
  assert.deepEqual(judgeBlock(l, 100, stampBlocks(1, 4, 100, 1, 512)), {
    lba: 100,
    kind: 'stale',
    expectedWriter: 1,
    expectedSeq: 5,
    foundWriter: 1,
    foundSeq: 4,
    detail: 'writer 1 acknowledged seq 5 here',
  });
  assert.equal(judgeBlock(l, 100, stampBlocks(1, 5, 101, 1, 512))?.kind, 'misplaced');
  assert.equal(judgeBlock(l, 100, stampBlocks(9, 5, 100, 1, 512))?.kind, 'foreign');
  assert.equal(judgeBlock(l, 100, Buffer.alloc(512))?.kind, 'invalid');
  // An older ack does not replace a newer one.
  l.recordAck(1, 3, 100, 1, ack(12, 13));
  assert.equal(l.at(100).get(1)?.seq, 5);
});

test('judgeBlock: two writers on one LBA: a write acknowledged before the other one started cannot be the content', () => {
  const l = new AckLedger();
  l.recordAck(1, 8, 50, 1, ack(0, 10)); // writer 1 done at 10
  l.recordAck(2, 3, 50, 1, ack(20, 30)); // writer 2 started at 20: must win
  assert.equal(judgeBlock(l, 50, stampBlocks(2, 3, 50, 1, 512)), undefined);
  const p = judgeBlock(l, 50, stampBlocks(1, 8, 50, 1, 512));
  assert.equal(p?.kind, 'superseded');
  assert.equal(p?.expectedWriter, 2);
  // Overlapping in time: either may have landed last.
  const m = new AckLedger();
  m.recordAck(1, 1, 60, 1, ack(0, 10));
  m.recordAck(2, 1, 60, 1, ack(5, 15));
  assert.equal(judgeBlock(m, 60, stampBlocks(1, 1, 60, 1, 512)), undefined);
  assert.equal(judgeBlock(m, 60, stampBlocks(2, 1, 60, 1, 512)), undefined);
});

/** Two paths over one image; `stale` holds blocks one path serves instead of the image (a stale cache). */
class FakeDevice implements BlockDevice {
  readonly blockSize = 512;
  readonly image = new Map<number, Buffer>();
  readonly stale = new Map<string, Map<number, Buffer>>();
  readonly inFlight = new Set<number>();
  readonly overlaps: number[] = [];
  down = new Set<string>();
  private clock = 0;
  pathNames(): string[] {
    return ['p1', 'p2'];
  }
  async write(lba: number, data: Buffer): Promise<WriteAck> {
    const blocks = data.length / this.blockSize;
    for (let i = 0; i < blocks; i++) if (this.inFlight.has(lba + i)) this.overlaps.push(lba + i);
    for (let i = 0; i < blocks; i++) this.inFlight.add(lba + i);
    const startedAt = ++this.clock;
    await new Promise<void>((r) => setImmediate(r));
    for (let i = 0; i < blocks; i++) {
      this.image.set(lba + i, Buffer.from(data.subarray(i * this.blockSize, (i + 1) * this.blockSize)));
      this.inFlight.delete(lba + i);
    }
    return { startedAt, endedAt: ++this.clock };
  }
  writeVia(_path: string, lba: number, data: Buffer): Promise<WriteAck> {
    return this.write(lba, data);
  }
  async readVia(path: string, lba: number, blocks: number): Promise<Buffer> {
    if (this.down.has(path)) throw new Error(`${path} down`);
    const parts: Buffer[] = [];
    for (let i = 0; i < blocks; i++) parts.push(this.stale.get(path)?.get(lba + i) ?? this.image.get(lba + i) ?? Buffer.alloc(this.blockSize));
    return Buffer.concat(parts);
  }
  nextChange(): Promise<void> {
    return Promise.resolve();
  }
}

test('BlockWriter (depth 4, sequential with wrap-around and random): never two writes in flight on one LBA; the ledger holds the newest ack', async () => {
  for (const order of ['sequential', 'random'] as const) {
    const dev = new FakeDevice();
    const w = new BlockWriter(dev, { writerId: 3, startLba: 64, regionBlocks: 64, blocksPerWrite: 8, depth: 4, order });
    const stats = await w.run(100);
    assert.deepEqual(stats, { issued: 100, acked: 100, failed: 0, lastError: undefined });
    assert.deepEqual(dev.overlaps, []);
    const lbas = w.ledger.lbas();
    assert.ok(lbas.every((x) => x >= 64 && x < 128), `outside the region: ${lbas.join(',')}`);
    if (order === 'sequential') assert.equal(lbas.length, 64);
    for (const lba of lbas) {
      const st = readStamp(dev.image.get(lba) ?? Buffer.alloc(0));
      assert.ok(typeof st !== 'string');
      assert.equal(st.seq, w.ledger.at(lba).get(3)?.seq, `lba ${lba}`);
    }
  }
});

test('verifyAcked: clean through both paths; a path serving an older block or failing is reported by path, LBA and seqs', async () => {
  const dev = new FakeDevice();
  const w = new BlockWriter(dev, { writerId: 1, startLba: 0, regionBlocks: 32, blocksPerWrite: 4 });
  await w.run(8); // seq 1..8 over LBAs 0..31
  const old = Buffer.from(dev.image.get(9) ?? Buffer.alloc(0)); // seq 3
  await w.run(8); // seq 9..16 overwrite everything
  const clean = await verifyAcked(dev, w.ledger);
  assert.ok(clean.ok, clean.describe());
  assert.deepEqual(clean.checked, { p1: 32, p2: 32 });

  dev.stale.set('p2', new Map([[9, old]]));
  const rep = await verifyAcked(dev, w.ledger, { chunkBlocks: 5 });
  assert.equal(rep.ok, false);
  assert.deepEqual(
    rep.problems.map((p) => [p.path, p.lba, p.kind, p.expectedSeq, p.foundSeq]),
    [['p2', 9, 'stale', 11, 3]],
  );
  assert.match(rep.describe(), /p2 lba 9: stale \(expected writer 1 seq 11, found writer 1 seq 3\)/);

  dev.down.add('p1');
  const down = await verifyAcked(dev, w.ledger, { paths: ['p1'], chunkBlocks: 16 });
  assert.deepEqual(
    down.problems.map((p) => [p.path, p.lba, p.kind]),
    [
      ['p1', 0, 'read-failed'],
      ['p1', 16, 'read-failed'],
    ],
  );
});

test('retry policy table: which SCSI answers are retried, how, and which are failures', () => {
  const s = (key: number, asc: number, ascq: number) => ({ key, asc, ascq });
  const rows: [number, ReturnType<typeof s> | undefined, string][] = [
    [0x00, undefined, 'ok'],
    [0x02, s(0x01, 0x17, 0x00), 'ok'], // RECOVERED ERROR
    [0x08, undefined, 'backoff'], // BUSY
    [0x28, undefined, 'backoff'], // TASK SET FULL
    [0x40, undefined, 'backoff'], // TASK ABORTED
    [0x18, undefined, 'fail'], // RESERVATION CONFLICT
    [0x02, undefined, 'fail'], // CHECK CONDITION without sense
    [0x02, s(0x02, 0x04, 0x0a), 'alua'],
    [0x02, s(0x02, 0x04, 0x0b), 'alua'],
    [0x02, s(0x02, 0x04, 0x0c), 'alua'],
    [0x02, s(0x02, 0x04, 0x01), 'backoff'], // becoming ready
    [0x02, s(0x02, 0x3a, 0x00), 'fail'], // medium not present
    [0x02, s(0x06, 0x2a, 0x06), 'ua'],
    [0x02, s(0x0b, 0x00, 0x00), 'aborted'],
    [0x02, s(0x03, 0x11, 0x00), 'fail'],
    [0x02, s(0x04, 0x44, 0x00), 'fail'],
    [0x02, s(0x05, 0x24, 0x00), 'fail'],
    [0x02, s(0x07, 0x27, 0x00), 'fail'],
    [0x02, s(0x0e, 0x1d, 0x00), 'fail'], // MISCOMPARE
  ];
  for (const [status, sense, want] of rows) assert.equal(classify(status, sense).action, want, `status ${status} ${JSON.stringify(sense)}`);
  assert.deepEqual(classify(0x02, s(0x02, 0x04, 0x0b)), { action: 'alua', state: 2 });
  assert.deepEqual(classify(0x02, s(0x06, 0x2a, 0x06)), { action: 'ua', reprobe: true });
  assert.deepEqual(classify(0x02, s(0x06, 0x2f, 0x00)), { action: 'ua', reprobe: false });
});
