import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IscsiOp } from '../../src/iscsi/constants.js';
import type { DataInPdu, R2tPdu, ScsiResponsePdu, TargetPdu } from '../../src/iscsi/pdu.js';
import { BLOCK, FakeRegistry } from './fake-target.js';
import { TestInitiator, read10, startServer, write10 } from './initiator.js';

/**
 * Several sessions issue interleaved WRITEs (immediate data and R2T) and READs
 * with many commands in flight; every read returns what its session wrote.
 */
test('concurrent sessions with many outstanding mixed commands keep data and tags straight', async () => {
  const reg = new FakeRegistry({ limits: { cmdsnDepth: 32, maxBurstLength: 2048 } });
  const { server, port } = await startServer(reg);
  try {
    const run = async (n: number): Promise<void> => {
      const ini = await TestInitiator.connect(port);
      assert.equal((await ini.login({ isid: 0x600000000000 + n, ops: { FirstBurstLength: '1024', MaxRecvDataSegmentLength: '1024' } })).status, 0);
      const base = n * 200; // each session owns LBAs [base, base+200)
      const pending = new Map<number, { kind: 'w' | 'r'; lba: number; blocks: number; data?: Buffer; got: Buffer[] }>();
      const expected = new Map<number, Buffer>(); // lba -> block content
      let issued = 0;
      // 8 slots of 25 blocks: commands in different slots never overlap, so up to 8
      // are in flight at once while per-slot order stays well defined.
      const busy = new Set<number>();
      const slotOf = new Map<number, number>();
      const issue = (slot: number): void => {
        const i = issued++;
        const blocks = 1 + (i % 4);
        const lba = base + slot * 25 + ((i * 7) % (25 - blocks));
        let itt: number;
        if (i % 3 !== 2) {
          const data = Buffer.alloc(blocks * BLOCK, (n * 31 + i) & 0xff);
          const imm = data.subarray(0, Math.min(1024, data.length));
          itt = ini.command(write10(lba, blocks), { write: true, edtl: data.length, data: imm });
          pending.set(itt, { kind: 'w', lba, blocks, data, got: [] });
        } else {
          itt = ini.command(read10(lba, blocks), { read: true, edtl: blocks * BLOCK });
          pending.set(itt, { kind: 'r', lba, blocks, got: [] });
        }
        busy.add(slot);
        slotOf.set(itt, slot);
      };
      const total = 80;
      let done = 0;
      let maxInFlight = 0;
      while (done < total) {
        for (let slot = 0; slot < 8 && issued < total; slot++) if (!busy.has(slot)) issue(slot);
        maxInFlight = Math.max(maxInFlight, pending.size);
        const p: TargetPdu = await ini.recv(5000);
        const itt = 'initiatorTaskTag' in p ? p.initiatorTaskTag : -1;
        const t = pending.get(itt);
        assert.ok(t, `PDU for unknown ITT ${itt} (opcode ${p.opcode})`);
        if (p.opcode === IscsiOp.R2T) {
          const r = p as R2tPdu;
          const d = t.data as Buffer;
          for (let o = 0, sn = 0; o < r.desiredDataTransferLength; o += 1024, sn++) {
            const len = Math.min(1024, r.desiredDataTransferLength - o);
            ini.dataOut(itt, r.targetTransferTag, sn, r.bufferOffset + o, d.subarray(r.bufferOffset + o, r.bufferOffset + o + len), o + len === r.desiredDataTransferLength);
          }
          continue;
        }
        if (p.opcode === IscsiOp.SCSI_DATA_IN) {
          const d = p as DataInPdu;
          t.got.push(d.data);
          if (d.statusPresent !== true) continue;
          assert.equal(d.status, 0);
        } else {
          assert.equal(p.opcode, IscsiOp.SCSI_RESPONSE);
          assert.equal((p as ScsiResponsePdu).status, 0);
        }
        pending.delete(itt);
        busy.delete(slotOf.get(itt) as number);
        done++;
        if (t.kind === 'w') {
          for (let b = 0; b < t.blocks; b++) expected.set(t.lba + b, (t.data as Buffer).subarray(b * BLOCK, (b + 1) * BLOCK));
        } else {
          const all = Buffer.concat(t.got);
          for (let b = 0; b < t.blocks; b++) {
            const want: Buffer = expected.get(t.lba + b) ?? reg.disk.data.subarray((t.lba + b) * BLOCK, (t.lba + b + 1) * BLOCK);
            assert.deepEqual(all.subarray(b * BLOCK, (b + 1) * BLOCK), want);
          }
        }
      }
      assert.equal(maxInFlight, 8);
      ini.close();
    };
    await Promise.all([0, 1, 2, 3].map(run));
  } finally {
    await server.close();
  }
});

test('pipelined independent reads: 64 in flight on one session all complete with correct tags', async () => {
  const reg = new FakeRegistry({ limits: { cmdsnDepth: 64 } });
  for (let i = 0; i < 64; i++) reg.disk.data.fill(i, i * BLOCK, (i + 1) * BLOCK);
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    await ini.login();
    const want = new Map<number, number>();
    for (let i = 0; i < 64; i++) want.set(ini.command(read10(i, 1), { read: true, edtl: BLOCK }), i);
    let maxCmdSN = 0;
    for (let i = 0; i < 64; i++) {
      const d = (await ini.recv()) as DataInPdu;
      assert.equal(d.opcode, IscsiOp.SCSI_DATA_IN);
      const lba = want.get(d.initiatorTaskTag);
      assert.notEqual(lba, undefined);
      assert.equal(d.data[0], lba);
      want.delete(d.initiatorTaskTag);
      maxCmdSN = d.maxCmdSN;
    }
    assert.equal(want.size, 0);
    assert.equal(maxCmdSN, (ini.cmdSN + 63) >>> 0, 'the whole window is free again');
  } finally {
    await server.close();
  }
});

test('backpressure: a client that stops reading makes the target stop taking commands; resuming completes all', async () => {
  const reg = new FakeRegistry({ limits: { cmdsnDepth: 256 } });
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    await ini.login();
    ini.socket.pause();
    const N = 200;
    const itts = new Set<number>();
    for (let i = 0; i < N; i++) itts.add(ini.command(read10(0, 512), { read: true, edtl: 512 * BLOCK }));
    // wait until the target stops executing (its writer is saturated and it paused reading)
    let last = -1;
    let stableSince = Date.now();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      if (reg.events.executed !== last) {
        last = reg.events.executed;
        stableSince = Date.now();
      } else if (Date.now() - stableSince > 300) break;
    }
    // The window allowed all N; the target's writer is now saturated. More commands
    // must not be taken while the client does not read.
    const before = reg.events.executed;
    const M = 50;
    for (let i = 0; i < M; i++) itts.add(ini.command(read10(0, 512), { read: true, edtl: 512 * BLOCK }));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(reg.events.executed, before, `executed ${reg.events.executed - before} more while the client was not reading`);
    ini.socket.resume();
    let statuses = 0;
    while (statuses < N + M) {
      const p = (await ini.recv(5000)) as DataInPdu;
      assert.equal(p.opcode, IscsiOp.SCSI_DATA_IN);
      if (p.statusPresent === true) {
        assert.ok(itts.delete(p.initiatorTaskTag));
        statuses++;
      }
    }
    assert.equal(reg.events.executed, N + M);
    ini.close();
  } finally {
    await server.close();
  }
});
