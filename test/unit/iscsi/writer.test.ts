import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { PduWriter, type WritableLike } from '../../../src/iscsi/writer.js';
import { Framer, type RawPdu } from '../../../src/iscsi/framer.js';
import { PduEncodeError, decodePdu, encodePdu, type DataInPdu } from '../../../src/iscsi/pdu.js';
import { IscsiOp } from '../../../src/iscsi/constants.js';
import { VECTORS } from '../../vectors/pdus.js';
import { withDigests } from '../../vectors/digests.js';

class FakeSocket extends EventEmitter implements WritableLike {
  chunks: Buffer[] = [];
  bursts = 0;
  corked = 0;
  writeResult = true;
  destroyed = false;
  ended = false;
  write(chunk: Buffer): boolean {
    if (this.corked === 0) this.bursts++;
    this.chunks.push(chunk);
    return this.writeResult;
  }
  cork(): void {
    if (this.corked++ === 0) this.bursts++;
  }
  uncork(): void {
    this.corked--;
  }
  end(): void {
    this.ended = true;
  }
  get output(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));
const ALL = Buffer.concat(VECTORS.map((v) => v.bytes));

test('all vectors written in one turn go out as one corked burst, byte-exact', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s);
  for (const v of VECTORS) w.write(v.pdu);
  assert.equal(s.chunks.length, 0, 'nothing written synchronously');
  assert.equal(w.queuedBytes, ALL.length);
  await nextTurn();
  assert.equal(s.bursts, 1);
  assert.equal(s.corked, 0, 'uncorked');
  assert.equal(s.output.toString('hex'), ALL.toString('hex'));
  assert.equal(w.pdusWritten, VECTORS.length);
  assert.equal(w.bytesWritten, ALL.length);
  assert.equal(w.queuedBytes, 0);
});

for (const [hd, dd] of [
  [true, false],
  [false, true],
  [true, true],
] as const) {
  test(`digests header=${hd} data=${dd} match the reference`, () => {
    const s = new FakeSocket();
    const w = new PduWriter(s, { headerDigest: hd, dataDigest: dd, flush: 'manual' });
    for (const v of VECTORS) w.write(v.pdu);
    w.flush();
    const want = Buffer.concat(VECTORS.map((v) => withDigests(v.bytes, hd, dd)));
    assert.equal(s.output.toString('hex'), want.toString('hex'));
  });
}

test('large data segments are written as the caller view (no copy), with padding and digest after', () => {
  const s = new FakeSocket();
  const w = new PduWriter(s, { flush: 'manual', dataDigest: true });
  const backing = Buffer.alloc(70000, 0x5a);
  const view = backing.subarray(3, 3 + 65537); // odd length: 3 pad bytes
  const pdu: DataInPdu = {
    opcode: IscsiOp.SCSI_DATA_IN,
    final: true,
    statusPresent: true,
    status: 0,
    initiatorTaskTag: 7,
    statSN: 1,
    expCmdSN: 1,
    maxCmdSN: 2,
    dataSN: 0,
    bufferOffset: 0,
    data: view,
  };
  w.write(pdu);
  w.flush();
  assert.ok(s.chunks.includes(view), 'the exact view object was handed to the socket');
  const out = s.output;
  assert.equal(out.length, 48 + 65537 + 3 + 4);
  const got: RawPdu[] = [];
  new Framer({ headerDigest: false, dataDigest: true, maxRecvDataSegmentLength: 1 << 20, onPdu: (r) => got.push(r) }).push(out);
  assert.equal(got.length, 1);
  assert.ok(got[0]?.data.equals(view));
});

test('small data segments are packed with their header into one chunk', () => {
  const s = new FakeSocket();
  const w = new PduWriter(s, { flush: 'manual' });
  for (let i = 0; i < 10; i++) w.write(VECTORS[0]!.pdu);
  w.flush();
  assert.equal(s.chunks.length, 1);
  assert.equal(s.output.length, 10 * VECTORS[0]!.bytes.length);
});

test('arena rollover keeps order when one turn produces more than 16 KiB of headers', () => {
  const s = new FakeSocket();
  const w = new PduWriter(s, { flush: 'manual', headerDigest: true, dataDigest: true });
  const want: Buffer[] = [];
  for (let i = 0; i < 600; i++) {
    const v = VECTORS[i % VECTORS.length]!;
    w.write(v.pdu);
    want.push(withDigests(v.bytes, true, true));
  }
  w.flush();
  assert.ok(s.chunks.length > 1);
  assert.equal(s.output.toString('hex'), Buffer.concat(want).toString('hex'));
  // earlier chunks were not overwritten by later PDUs
});

test('writes in separate turns are separate bursts', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s);
  w.write(VECTORS[0]!.pdu);
  await nextTurn();
  w.write(VECTORS[1]!.pdu);
  w.write(VECTORS[2]!.pdu);
  await nextTurn();
  assert.equal(s.bursts, 2);
  assert.equal(s.output.toString('hex'), Buffer.concat([VECTORS[0]!.bytes, VECTORS[1]!.bytes, VECTORS[2]!.bytes]).toString('hex'));
});

test('microtask mode flushes before the next macrotask; manual mode waits for flush()', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s, { flush: 'microtask' });
  w.write(VECTORS[0]!.pdu);
  await Promise.resolve();
  assert.equal(s.output.length, VECTORS[0]!.bytes.length);

  const s2 = new FakeSocket();
  const m = new PduWriter(s2, { flush: 'manual' });
  m.write(VECTORS[0]!.pdu);
  await nextTurn();
  assert.equal(s2.chunks.length, 0);
  m.flush();
  assert.equal(s2.output.length, VECTORS[0]!.bytes.length);
  m.flush(); // nothing queued: no-op
  assert.equal(s2.chunks.length, 1);
});

test('digest settings apply per PDU at write time (final Login Response without, next PDU with)', () => {
  const s = new FakeSocket();
  const w = new PduWriter(s, { flush: 'manual' });
  const login = VECTORS.find((v) => v.name.startsWith('Login Response success'))!;
  const nop = VECTORS.find((v) => v.name.startsWith('NOP-In answer'))!;
  w.write(login.pdu);
  w.setDigests(true, true);
  w.write(nop.pdu);
  w.flush();
  assert.equal(s.output.toString('hex'), Buffer.concat([login.bytes, withDigests(nop.bytes, true, true)]).toString('hex'));
});

test('backpressure: needsDrain until the socket drains', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s, { flush: 'manual' });
  assert.equal(w.needsDrain, false);
  await w.drained(); // resolves at once when not saturated
  s.writeResult = false;
  w.write(VECTORS[0]!.pdu);
  w.flush();
  assert.equal(w.needsDrain, true);
  let resolved = false;
  const p = w.drained().then(() => {
    resolved = true;
  });
  await nextTurn();
  assert.equal(resolved, false);
  s.writeResult = true;
  s.emit('drain');
  await p;
  assert.equal(resolved, true);
  assert.equal(w.needsDrain, false);
  assert.equal(s.listenerCount('drain'), 0);
});

test('a malformed PDU throws PduEncodeError and queues nothing', () => {
  const s = new FakeSocket();
  const w = new PduWriter(s, { flush: 'manual' });
  assert.throws(
    () =>
      w.write({ opcode: IscsiOp.TASK_MGMT_RESPONSE, response: 0, initiatorTaskTag: -1, statSN: 0, expCmdSN: 0, maxCmdSN: 0 }),
    PduEncodeError,
  );
  assert.equal(w.queuedBytes, 0);
  w.flush();
  assert.equal(s.chunks.length, 0);
});

test('close() drops queued output and later writes; end() flushes then ends', async () => {
  const s = new FakeSocket();
  const w = new PduWriter(s);
  w.write(VECTORS[0]!.pdu);
  w.close();
  w.write(VECTORS[1]!.pdu);
  await nextTurn();
  assert.equal(s.chunks.length, 0);

  const s2 = new FakeSocket();
  const w2 = new PduWriter(s2);
  w2.write(VECTORS[0]!.pdu);
  w2.end();
  assert.equal(s2.ended, true);
  assert.equal(s2.output.length, VECTORS[0]!.bytes.length);
  w2.write(VECTORS[0]!.pdu);
  await nextTurn();
  assert.equal(s2.output.length, VECTORS[0]!.bytes.length);
});

test('writes to a destroyed socket are dropped', async () => {
  const s = new FakeSocket();
  s.destroyed = true;
  const w = new PduWriter(s);
  w.write(VECTORS[0]!.pdu);
  await nextTurn();
  assert.equal(s.chunks.length, 0);
});

test('writer → PassThrough → framer round trip with digests', async () => {
  const pt = new PassThrough();
  const w = new PduWriter(pt, { headerDigest: true, dataDigest: true });
  const got: RawPdu[] = [];
  const f = new Framer({ headerDigest: true, dataDigest: true, maxRecvDataSegmentLength: 8192, onPdu: (r) => got.push(r) });
  pt.on('data', (c: Buffer) => f.push(c));
  for (const v of VECTORS) w.write(v.pdu);
  const deadline = Date.now() + 5000;
  while (got.length < VECTORS.length && Date.now() < deadline) await nextTurn();
  assert.equal(got.length, VECTORS.length);
  got.forEach((r, i) => assert.deepEqual(decodePdu(r.bhs, r.ahs, r.data), VECTORS[i]!.pdu));
});

test('loopback TCP: 8 MiB of Data-In through a real socket with backpressure', async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address() as net.AddressInfo;
  const client = net.connect(addr.port, '127.0.0.1');
  const [conn] = (await once(server, 'connection')) as [net.Socket];
  try {
    const seg = 256 * 1024;
    const total = 8 * 1024 * 1024;
    const payload = Buffer.alloc(seg);
    for (let i = 0; i < seg; i++) payload[i] = i & 0xff;
    let received = 0;
    let pdus = 0;
    let bad = 0;
    const f = new Framer({
      headerDigest: true,
      dataDigest: true,
      maxRecvDataSegmentLength: seg,
      onPdu: (r) => {
        pdus++;
        received += r.data.length;
        if (r.bhs.readUInt32BE(40) !== (pdus - 1) * seg || !r.data.equals(payload)) bad++;
      },
    });
    client.on('data', (c: Buffer) => f.push(c));
    const w = new PduWriter(conn, { headerDigest: true, dataDigest: true });
    let sawBackpressure = false;
    for (let off = 0, sn = 0; off < total; off += seg, sn++) {
      w.write({
        opcode: IscsiOp.SCSI_DATA_IN,
        final: off + seg === total,
        initiatorTaskTag: 1,
        expCmdSN: 1,
        maxCmdSN: 1,
        dataSN: sn,
        bufferOffset: off,
        data: payload,
      });
      w.flush();
      if (w.needsDrain) {
        sawBackpressure = true;
        await w.drained();
      }
    }
    const deadline = Date.now() + 10000;
    while (received < total && Date.now() < deadline) await once(client, 'data');
    assert.equal(received, total);
    assert.equal(pdus, total / seg);
    assert.equal(bad, 0);
    assert.equal(sawBackpressure, true, 'socket reported backpressure at least once');
  } finally {
    client.destroy();
    conn.destroy();
    server.close();
  }
});

test('a write that fails to encode leaves no partial bytes behind', () => {
  const s = new FakeSocket();
  const w = new PduWriter(s, { flush: 'manual', headerDigest: true });
  const a = VECTORS[0]!;
  const b = VECTORS[1]!;
  w.write(a.pdu);
  assert.throws(() => w.write({ ...(b.pdu as object), statSN: -5 } as typeof b.pdu), PduEncodeError);
  w.write(b.pdu);
  w.flush();
  assert.equal(
    s.output.toString('hex'),
    Buffer.concat([withDigests(a.bytes, true, false), withDigests(b.bytes, true, false)]).toString('hex'),
  );
  assert.equal(w.pdusWritten, 2);
});

test('writeEncoded queues pre-encoded PDUs identically to write()', () => {
  const s1 = new FakeSocket();
  const s2 = new FakeSocket();
  const w1 = new PduWriter(s1, { flush: 'manual', headerDigest: true, dataDigest: true });
  const w2 = new PduWriter(s2, { flush: 'manual', headerDigest: true, dataDigest: true });
  for (const v of VECTORS) {
    w1.write(v.pdu);
    w2.writeEncoded(encodePdu(v.pdu));
  }
  w1.flush();
  w2.flush();
  assert.equal(s1.output.toString('hex'), s2.output.toString('hex'));
});

test('arena bytes already handed to the socket are never overwritten', () => {
  const s = new FakeSocket();
  const w = new PduWriter(s, { flush: 'manual' });
  const snapshots: string[] = [];
  for (let i = 0; i < 400; i++) {
    w.write(VECTORS[i % VECTORS.length]!.pdu);
    w.flush();
    snapshots.push(s.chunks[s.chunks.length - 1]!.toString('hex'));
  }
  // the socket may hold chunks long after flush(): they must still read the same
  s.chunks.slice(-400).forEach((c, i) => assert.equal(c.toString('hex'), snapshots[i], `chunk ${i}`));
});

test('whenSent: called after the socket has written the burst that holds the PDUs queued before it, not before', async () => {
  const cbs: Array<(err?: Error | null) => void> = [];
  const sock = new FakeSocket();
  sock.write = function (chunk: Buffer, cb?: (err?: Error | null) => void): boolean {
    this.chunks.push(chunk);
    if (cb !== undefined) cbs.push(cb);
    return true;
  };
  const w = new PduWriter(sock, { flush: 'manual' });
  const data = Buffer.alloc(8192, 7);
  const pdu: DataInPdu = { opcode: IscsiOp.SCSI_DATA_IN, final: true, initiatorTaskTag: 1, expCmdSN: 1, maxCmdSN: 2, dataSN: 0, bufferOffset: 0, data };
  w.write(pdu);
  let sent = 0;
  w.whenSent(() => sent++);
  assert.equal(sent, 0);
  w.flush();
  assert.equal(cbs.length, 1, 'one callback, on the last piece of the burst');
  assert.equal(sent, 0, 'not before the socket says it has written it');
  cbs[0]!();
  assert.equal(sent, 1);
  // nothing queued: at once
  w.whenSent(() => sent++);
  w.flush();
  assert.equal(sent, 2);
  // a write error or a closed writer: never (the buffer is left to the GC)
  w.write(pdu);
  w.whenSent(() => sent++);
  w.flush();
  cbs[1]!(new Error('EPIPE'));
  w.write(pdu);
  w.whenSent(() => sent++);
  w.close();
  w.flush();
  assert.equal(sent, 2);
});

test('whenSent over a real socket: the callback runs once the socket holds none of the data any more', async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  const [peer] = (await once(server, 'connection')) as [net.Socket];
  await once(client, 'connect');
  peer.resume();
  const w = new PduWriter(client);
  const data = Buffer.alloc(256 * 1024, 1);
  w.write({ opcode: IscsiOp.SCSI_DATA_IN, final: true, initiatorTaskTag: 1, expCmdSN: 1, maxCmdSN: 2, dataSN: 0, bufferOffset: 0, data });
  await new Promise<void>((resolve) => w.whenSent(resolve));
  assert.ok(client.writableLength === 0, 'nothing of it left in the socket buffer');
  client.destroy();
  peer.destroy();
  server.close();
});
