import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IscsiOp, RESERVED_TAG } from '../../src/iscsi/constants.js';
import type { DataInPdu, NopInPdu, R2tPdu, ScsiResponsePdu, TaskMgmtResponsePdu, TargetPdu } from '../../src/iscsi/pdu.js';
import { BLOCK, FakeRegistry } from './fake-target.js';
import { TestInitiator, read10, startServer, write10 } from './initiator.js';

async function withSession(
  reg: FakeRegistry,
  fn: (ini: TestInitiator, reg: FakeRegistry) => Promise<void>,
  ops: Record<string, string> = {},
): Promise<void> {
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    const r = await ini.login({ ops });
    assert.equal(r.status, 0);
    await fn(ini, reg);
    ini.close();
  } finally {
    await server.close();
  }
}

const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
};

async function readAll(ini: TestInitiator, itt: number): Promise<{ data: Buffer; pdus: DataInPdu[]; last: DataInPdu | ScsiResponsePdu }> {
  const pdus: DataInPdu[] = [];
  for (;;) {
    const p = await ini.recv(3000, (x) => 'initiatorTaskTag' in x && x.initiatorTaskTag === itt);
    if (p.opcode === IscsiOp.SCSI_DATA_IN) {
      pdus.push(p);
      if (p.statusPresent === true) return { data: Buffer.concat(pdus.map((d) => d.data)), pdus, last: p };
    } else if (p.opcode === IscsiOp.SCSI_RESPONSE) {
      return { data: Buffer.concat(pdus.map((d) => d.data)), pdus, last: p };
    } else throw new Error(`unexpected opcode ${p.opcode}`);
  }
}

test('WRITE(10) with immediate data, READ(10) back split by MaxRecvDataSegmentLength', async () => {
  await withSession(
    new FakeRegistry(),
    async (ini, reg) => {
      const data = pattern(8 * BLOCK, 3);
      const w = ini.command(write10(10, 8), { write: true, edtl: data.length, data });
      const resp = (await ini.recv()) as ScsiResponsePdu;
      assert.equal(resp.opcode, IscsiOp.SCSI_RESPONSE);
      assert.equal(resp.initiatorTaskTag, w);
      assert.equal(resp.status, 0);
      assert.equal(resp.residualOverflow, false);
      assert.equal(resp.residualUnderflow, false);
      assert.deepEqual(reg.disk.data.subarray(10 * BLOCK, 18 * BLOCK), data);
      const r = ini.command(read10(10, 8), { read: true, edtl: data.length });
      const got = await readAll(ini, r);
      assert.deepEqual(got.data, data);
      assert.equal(got.pdus.length, 4); // 4096 bytes / 1024
      got.pdus.forEach((p, i) => {
        assert.equal(p.dataSN, i);
        assert.equal(p.bufferOffset, i * 1024);
        assert.equal(p.data.length, 1024);
        assert.equal(p.final, i === 3);
      });
      assert.equal(got.last.opcode, IscsiOp.SCSI_DATA_IN);
    },
    { MaxRecvDataSegmentLength: '1024' },
  );
});

test('WRITE larger than FirstBurstLength: immediate data then R2T sequences (MaxBurstLength each)', async () => {
  await withSession(
    new FakeRegistry({ limits: { maxBurstLength: 4096 } }),
    async (ini, reg) => {
      const data = pattern(40 * BLOCK, 9); // 20480 bytes
      const first = 2048;
      const itt = ini.command(write10(100, 40), { write: true, edtl: data.length, data: data.subarray(0, first) });
      let offset = first;
      let r2ts = 0;
      while (offset < data.length) {
        const r2t = (await ini.recv()) as R2tPdu;
        assert.equal(r2t.opcode, IscsiOp.R2T);
        assert.equal(r2t.initiatorTaskTag, itt);
        assert.equal(r2t.r2tSN, r2ts++);
        assert.equal(r2t.bufferOffset, offset);
        assert.ok(r2t.desiredDataTransferLength <= 4096);
        // send in 1024-byte Data-Out PDUs
        let sn = 0;
        for (let o = 0; o < r2t.desiredDataTransferLength; o += 1024) {
          const len = Math.min(1024, r2t.desiredDataTransferLength - o);
          ini.dataOut(itt, r2t.targetTransferTag, sn++, r2t.bufferOffset + o, data.subarray(r2t.bufferOffset + o, r2t.bufferOffset + o + len), o + len === r2t.desiredDataTransferLength);
        }
        offset += r2t.desiredDataTransferLength;
      }
      const resp = (await ini.recv()) as ScsiResponsePdu;
      assert.equal(resp.opcode, IscsiOp.SCSI_RESPONSE);
      assert.equal(resp.status, 0);
      assert.equal(resp.expDataSN, r2ts);
      assert.deepEqual(reg.disk.data.subarray(100 * BLOCK, 140 * BLOCK), data);
    },
    { FirstBurstLength: '2048', MaxBurstLength: '65536' },
  );
});

test('InitialR2T=No: unsolicited Data-Out up to FirstBurstLength, then R2T', async () => {
  await withSession(
    new FakeRegistry({ limits: { initialR2T: false } }),
    async (ini, reg) => {
      const data = pattern(16 * BLOCK, 5); // 8192
      const itt = ini.command(write10(0, 16), { write: true, edtl: data.length, data: data.subarray(0, 1024), final: false });
      ini.dataOut(itt, RESERVED_TAG, 0, 1024, data.subarray(1024, 2048), false);
      ini.dataOut(itt, RESERVED_TAG, 1, 2048, data.subarray(2048, 4096), true);
      const r2t = (await ini.recv()) as R2tPdu;
      assert.equal(r2t.opcode, IscsiOp.R2T);
      assert.equal(r2t.bufferOffset, 4096);
      assert.equal(r2t.desiredDataTransferLength, 4096);
      ini.dataOut(itt, r2t.targetTransferTag, 0, 4096, data.subarray(4096), true);
      const resp = (await ini.recv()) as ScsiResponsePdu;
      assert.equal(resp.status, 0);
      assert.deepEqual(reg.disk.data.subarray(0, 16 * BLOCK), data);
    },
    { InitialR2T: 'No', FirstBurstLength: '4096' },
  );
});

test('wrong DataSN / offset on Data-Out fails the command with CHECK CONDITION; session continues', async () => {
  await withSession(new FakeRegistry(), async (ini, reg) => {
    for (const bad of [
      { dataSN: 1, offset: 0 },
      { dataSN: 0, offset: BLOCK },
      { dataSN: 0xffffffff, offset: 0 },
    ]) {
      reg.disk.data.fill(0, 0, 4 * BLOCK);
      const itt = ini.command(write10(0, 4), { write: true, edtl: 4 * BLOCK });
      const r2t = (await ini.recv()) as R2tPdu;
      assert.equal(r2t.opcode, IscsiOp.R2T);
      ini.dataOut(itt, r2t.targetTransferTag, bad.dataSN, bad.offset, Buffer.alloc(BLOCK, 1), false);
      // a late Data-Out of the failed task is discarded silently
      ini.dataOut(itt, r2t.targetTransferTag, 1, BLOCK, Buffer.alloc(BLOCK, 1), false);
      const resp = (await ini.recv()) as ScsiResponsePdu;
      assert.equal(resp.opcode, IscsiOp.SCSI_RESPONSE);
      assert.equal(resp.initiatorTaskTag, itt);
      assert.equal(resp.status, 0x02);
      assert.equal(resp.sense?.[2], 0x0b); // ABORTED COMMAND
      assert.equal(resp.sense?.[12], 0x4b); // DATA PHASE ERROR
      assert.equal(reg.disk.data[0], 0, 'nothing written');
    }
    // duplicate DataSN inside a sequence (iscsi-test-cu iSCSIdatasn case 1)
    const itt = ini.command(write10(0, 2), { write: true, edtl: 2 * BLOCK });
    const r2t = (await ini.recv()) as R2tPdu;
    ini.dataOut(itt, r2t.targetTransferTag, 0, 0, Buffer.alloc(BLOCK), false);
    ini.dataOut(itt, r2t.targetTransferTag, 0, BLOCK, Buffer.alloc(BLOCK), true);
    assert.equal(((await ini.recv()) as ScsiResponsePdu).status, 0x02);
    const ok = ini.command(Buffer.alloc(6), { edtl: 0 });
    const r = (await ini.recv()) as ScsiResponsePdu;
    assert.equal(r.initiatorTaskTag, ok);
    assert.equal(r.status, 0);
    assert.equal(ini.closed, false);
  });
});

test('residuals: read underflow/overflow, write overflow (EDTL < transfer) and underflow', async () => {
  await withSession(new FakeRegistry(), async (ini, reg) => {
    // READ of 1 block with EDTL 2 blocks: underflow 512
    let itt = ini.command(read10(0, 1), { read: true, edtl: 2 * BLOCK });
    let got = await readAll(ini, itt);
    let last = got.last as DataInPdu;
    assert.equal(got.data.length, BLOCK);
    assert.equal(last.residualUnderflow, true);
    assert.equal(last.residualCount, BLOCK);
    // READ of 2 blocks with EDTL 1 block: overflow 512, only EDTL bytes sent
    itt = ini.command(read10(0, 2), { read: true, edtl: BLOCK });
    got = await readAll(ini, itt);
    last = got.last as DataInPdu;
    assert.equal(got.data.length, BLOCK);
    assert.equal(last.residualOverflow, true);
    assert.equal(last.residualCount, BLOCK);
    // WRITE of 2 blocks with EDTL 1 block: overflow 512, only the first block written
    reg.disk.data.fill(0x61, 0, 2 * BLOCK);
    itt = ini.command(write10(0, 2), { write: true, edtl: BLOCK, data: Buffer.alloc(BLOCK, 0x62) });
    let resp = (await ini.recv()) as ScsiResponsePdu;
    assert.equal(resp.status, 0);
    assert.equal(resp.residualOverflow, true);
    assert.equal(resp.residualCount, BLOCK);
    assert.equal(reg.disk.data[0], 0x62);
    assert.equal(reg.disk.data[BLOCK], 0x61);
    // WRITE of 1 block with EDTL 10000: underflow 10000 - 512
    const extra = pattern(10000, 1);
    itt = ini.command(write10(4, 1), { write: true, edtl: 10000, data: extra.subarray(0, 8192) });
    // EDTL > FirstBurstLength (65536 here not hit) -> all immediate? 8192 immediate, rest not needed
    resp = (await ini.recv()) as ScsiResponsePdu;
    assert.equal(resp.opcode, IscsiOp.SCSI_RESPONSE);
    assert.equal(resp.residualUnderflow, true);
    assert.equal(resp.residualCount, 10000 - BLOCK);
    assert.deepEqual(reg.disk.data.subarray(4 * BLOCK, 5 * BLOCK), extra.subarray(0, BLOCK));
    // WRITE with EDTL 0: overflow of the whole transfer, nothing written
    itt = ini.command(write10(6, 1), { write: true, edtl: 0 });
    resp = (await ini.recv()) as ScsiResponsePdu;
    assert.equal(resp.residualOverflow, true);
    assert.equal(resp.residualCount, BLOCK);
  });
});

test('CHECK CONDITION carries sense with the 2-byte SenseLength; LBA out of range', async () => {
  await withSession(new FakeRegistry(), async (ini) => {
    const itt = ini.command(read10(1_000_000, 1), { read: true, edtl: BLOCK });
    const resp = (await ini.recv()) as ScsiResponsePdu;
    assert.equal(resp.initiatorTaskTag, itt);
    assert.equal(resp.status, 0x02);
    assert.equal(resp.sense?.[2], 0x05);
    assert.equal(resp.sense?.[12], 0x21);
  });
});

test('CmdSN window: command beyond MaxCmdSN and below ExpCmdSN are ignored', async () => {
  await withSession(new FakeRegistry({ limits: { cmdsnDepth: 4 } }), async (ini) => {
    const tur = Buffer.alloc(6);
    const ok = ini.command(tur, { edtl: 0 });
    const r0 = (await ini.recv()) as ScsiResponsePdu;
    assert.equal(r0.initiatorTaskTag, ok);
    const max = r0.maxCmdSN;
    assert.equal((max - r0.expCmdSN + 1) >>> 0, 4);
    ini.command(tur, { edtl: 0, cmdSN: (max + 1) >>> 0 });
    ini.command(tur, { edtl: 0, cmdSN: (r0.expCmdSN - 1) >>> 0 });
    await ini.expectNothing(300);
    const again = ini.command(tur, { edtl: 0 });
    const r1 = (await ini.recv()) as ScsiResponsePdu;
    assert.equal(r1.initiatorTaskTag, again);
  });
});

test('out-of-order CmdSN within the window is held until the gap fills', async () => {
  await withSession(new FakeRegistry(), async (ini) => {
    const tur = Buffer.alloc(6);
    const base = ini.cmdSN;
    const second = ini.command(tur, { edtl: 0, cmdSN: base + 1 });
    await ini.expectNothing(200);
    const first = ini.command(tur, { edtl: 0, cmdSN: base });
    const a = (await ini.recv()) as ScsiResponsePdu;
    const b = (await ini.recv()) as ScsiResponsePdu;
    assert.deepEqual([a.initiatorTaskTag, b.initiatorTaskTag], [first, second]);
    ini.cmdSN = base + 2;
  });
});

test('NOP-Out ping echoes data; target NOP-In ping answered keeps the connection, unanswered drops it', async () => {
  const reg = new FakeRegistry({ limits: { nopinTimeoutSec: 0.2, nopinResponseTimeoutSec: 0.3 } });
  await withSession(reg, async (ini) => {
    ini.nopOut(0x99, RESERVED_TAG, Buffer.from('ping'));
    const nin = (await ini.recv()) as NopInPdu;
    assert.equal(nin.opcode, IscsiOp.NOP_IN);
    assert.equal(nin.initiatorTaskTag, 0x99);
    assert.equal(nin.targetTransferTag, RESERVED_TAG);
    assert.equal(nin.data?.toString(), 'ping');
    // wait for the target's ping and answer it
    const ping = (await ini.recv(2000)) as NopInPdu;
    assert.equal(ping.opcode, IscsiOp.NOP_IN);
    assert.equal(ping.initiatorTaskTag, RESERVED_TAG);
    assert.notEqual(ping.targetTransferTag, RESERVED_TAG);
    ini.nopOut(RESERVED_TAG, ping.targetTransferTag);
    // the next ping comes, and we stay silent: dropped
    const ping2 = (await ini.recv(2000)) as NopInPdu;
    assert.equal(ping2.opcode, IscsiOp.NOP_IN);
    assert.equal(await ini.waitClosed(3000), true);
  });
});

test('ABORT TASK of an in-flight command: no SCSI response, TMF answered after I/O ends', async () => {
  const reg = new FakeRegistry();
  let release!: () => void;
  reg.gate = new Promise<void>((r) => (release = r));
  await withSession(reg, async (ini) => {
    const port = reg.ports[0];
    assert.ok(port);
    let started!: () => void;
    const executing = new Promise<void>((r) => (started = r));
    port.onExecute = () => started();
    const itt = ini.command(read10(0, 1), { read: true, edtl: BLOCK });
    await executing;
    const t = ini.tmf(1, { rtt: itt });
    await ini.expectNothing(150);
    port.gate = null;
    release();
    const resp = (await ini.recv()) as TaskMgmtResponsePdu;
    assert.equal(resp.opcode, IscsiOp.TASK_MGMT_RESPONSE);
    assert.equal(resp.initiatorTaskTag, t);
    assert.equal(resp.response, 0);
    await ini.expectNothing(150, (p: TargetPdu) => 'initiatorTaskTag' in p && p.initiatorTaskTag === itt);
    // ABORT TASK of a completed task (RefCmdSN below ExpCmdSN): task does not exist (RFC 7143 §11.5.1 c)
    const done = ini.command(Buffer.alloc(6), { edtl: 0 });
    assert.equal(((await ini.recv()) as ScsiResponsePdu).initiatorTaskTag, done);
    const t2 = ini.tmf(1, { rtt: done, refCmdSN: ini.cmdSN - 1 });
    const r2 = (await ini.recv()) as TaskMgmtResponsePdu;
    assert.equal(r2.initiatorTaskTag, t2);
    assert.equal(r2.response, 1);
    // not found but RefCmdSN within the window (command not received yet): function complete (§11.5.1 b)
    const t3 = ini.tmf(1, { rtt: 0x1234, refCmdSN: ini.cmdSN });
    const r3 = (await ini.recv()) as TaskMgmtResponsePdu;
    assert.equal(r3.initiatorTaskTag, t3);
    assert.equal(r3.response, 0);
    // that CmdSN now counts as received-and-aborted: the command carrying it is dropped
    ini.command(Buffer.alloc(6), { edtl: 0 });
    // the session still works
    const ok = ini.command(read10(0, 1), { read: true, edtl: BLOCK });
    const got = await readAll(ini, ok);
    assert.equal(got.data.length, BLOCK);
  });
});

test('LUN RESET aborts tasks on the LUN and reaches the device server; unknown LUN; CLEAR ACA / TASK REASSIGN', async () => {
  const reg = new FakeRegistry();
  await withSession(reg, async (ini) => {
    const port = reg.ports[0];
    assert.ok(port);
    let release!: () => void;
    port.gate = new Promise<void>((r) => (release = r));
    const itt = ini.command(read10(0, 1), { read: true, edtl: BLOCK });
    const t = ini.tmf(5, { lun: 0 });
    await ini.expectNothing(100);
    release();
    const resp = (await ini.recv()) as TaskMgmtResponsePdu;
    assert.equal(resp.initiatorTaskTag, t);
    assert.equal(resp.response, 0);
    assert.deepEqual(reg.events.tmf.at(-1), { fn: 5, lun: 0 });
    await ini.expectNothing(100, (p: TargetPdu) => 'initiatorTaskTag' in p && p.initiatorTaskTag === itt);
    ini.tmf(5, { lun: 7 });
    assert.equal(((await ini.recv()) as TaskMgmtResponsePdu).response, 2);
    ini.tmf(3, { lun: 0 });
    assert.equal(((await ini.recv()) as TaskMgmtResponsePdu).response, 5);
    ini.tmf(8, { lun: 0, rtt: 1 });
    assert.equal(((await ini.recv()) as TaskMgmtResponsePdu).response, 4);
  });
});

test('TARGET COLD RESET answers then drops the session', async () => {
  const reg = new FakeRegistry();
  await withSession(reg, async (ini) => {
    ini.tmf(7);
    const r = (await ini.recv()) as TaskMgmtResponsePdu;
    assert.equal(r.response, 0);
    assert.equal(await ini.waitClosed(), true);
  });
});

test('logout: response then close; port.close() called', async () => {
  const reg = new FakeRegistry();
  await withSession(reg, async (ini) => {
    const itt = ini.logout(0);
    const r = await ini.recv();
    assert.equal(r.opcode, IscsiOp.LOGOUT_RESPONSE);
    assert.equal('initiatorTaskTag' in r && r.initiatorTaskTag, itt);
    assert.equal(await ini.waitClosed(), true);
    const deadline = Date.now() + 2000;
    while (reg.events.closed === 0 && Date.now() < deadline) await new Promise((res) => setImmediate(res));
    assert.equal(reg.events.closed, 1);
  });
});

test('SNACK at ERL 0 and unknown opcodes get a Reject; session continues', async () => {
  await withSession(new FakeRegistry(), async (ini) => {
    const snack = Buffer.alloc(48);
    snack[0] = 0x10;
    snack[1] = 0x80;
    ini.writeRaw(snack);
    const rej = await ini.recv();
    assert.equal(rej.opcode, IscsiOp.REJECT);
    const bad = Buffer.alloc(48);
    bad[0] = 0x1c;
    bad[1] = 0x80;
    ini.writeRaw(bad);
    const rej2 = await ini.recv();
    assert.equal(rej2.opcode, IscsiOp.REJECT);
    assert.equal('reason' in rej2 && rej2.reason, 0x05);
    const itt = ini.command(Buffer.alloc(6), { edtl: 0 });
    const r = (await ini.recv()) as ScsiResponsePdu;
    assert.equal(r.initiatorTaskTag, itt);
  });
});

test('Data-Out timeout drops the connection', async () => {
  await withSession(new FakeRegistry({ limits: { dataoutTimeoutSec: 0.3 } }), async (ini) => {
    ini.command(write10(0, 4), { write: true, edtl: 4 * BLOCK });
    const r2t = await ini.recv();
    assert.equal(r2t.opcode, IscsiOp.R2T);
    assert.equal(await ini.waitClosed(3000), true);
  });
});

test('SIMPLE READs run concurrently (not serialised)', async () => {
  const reg = new FakeRegistry();
  await withSession(reg, async (ini) => {
    const port = reg.ports[0];
    assert.ok(port);
    let release!: () => void;
    port.gate = new Promise<void>((r) => (release = r));
    let started = 0;
    let allStarted!: () => void;
    const all = new Promise<void>((r) => (allStarted = r));
    port.onExecute = () => {
      if (++started === 3) allStarted();
    };
    const itts = [0, 1, 2].map((i) => ini.command(read10(i, 1), { read: true, edtl: BLOCK }));
    await all; // all three are inside execute() at once
    release();
    for (const itt of itts) assert.equal((await readAll(ini, itt)).data.length, BLOCK);
  });
});

test('a misbehaving ScsiPort (throwing prepare/execute) never takes the process down', async () => {
  const reg = new FakeRegistry();
  const node = reg.findTarget('iqn.2003-01.org.example.gw:target1');
  assert.ok(node);
  let mode: 'execute-sync' | 'execute-reject' | 'prepare' = 'execute-sync';
  reg.findTarget = () => ({
    ...node,
    openPort: () => ({
      prepare: () => {
        if (mode === 'prepare') throw new Error('prepare bug');
        return { kind: 'prepared', dataOutLength: 0, dataInLength: 0, state: null };
      },
      execute: () => {
        if (mode === 'execute-sync') throw new Error('execute bug');
        return Promise.reject(new Error('execute rejected'));
      },
      taskManagement: () => true,
      close: () => undefined,
    }),
  });
  const { server, port } = await startServer(reg);
  try {
    for (const m of ['execute-sync', 'execute-reject'] as const) {
      mode = m;
      const ini = await TestInitiator.connect(port);
      await ini.login();
      const itt = ini.command(Buffer.alloc(6), { edtl: 0 });
      const r = (await ini.recv()) as ScsiResponsePdu;
      assert.equal(r.initiatorTaskTag, itt);
      assert.equal(r.status, 0x02, m);
      assert.equal(r.sense?.[2], 0x04); // HARDWARE ERROR
      ini.close();
    }
    mode = 'prepare';
    const ini = await TestInitiator.connect(port);
    await ini.login();
    ini.command(Buffer.alloc(6), { edtl: 0 });
    assert.equal(await ini.waitClosed(), true, 'a throwing prepare() closes that connection');
    assert.equal(server.listening(), true);
  } finally {
    await server.close();
  }
});

test('DataSegmentLength above our MaxRecvDataSegmentLength: Reject, then the connection closes', async () => {
  await withSession(new FakeRegistry({ limits: { maxRecvDataSegmentLength: 4096 } }), async (ini) => {
    const bhs = Buffer.alloc(48);
    bhs[0] = 0x01; // SCSI Command
    bhs[1] = 0xa0; // F + W
    bhs.writeUIntBE(8192, 5, 3); // DataSegmentLength 8192 > 4096
    bhs.writeUInt32BE(1, 16);
    bhs.writeUInt32BE(8192, 20);
    bhs.writeUInt32BE(ini.cmdSN, 24);
    bhs[32] = 0x2a;
    ini.writeRaw(bhs);
    const rej = await ini.recv();
    assert.equal(rej.opcode, IscsiOp.REJECT);
    assert.equal('reason' in rej && rej.reason, 0x04);
    assert.equal(await ini.waitClosed(), true);
  });
});

test('InitialR2T=No and a failing prepare(): unsolicited data is drained, then CHECK CONDITION, no R2T', async () => {
  await withSession(
    new FakeRegistry({ limits: { initialR2T: false } }),
    async (ini) => {
      const itt = ini.command(write10(1_000_000, 8), { write: true, edtl: 8 * BLOCK, data: Buffer.alloc(1024), final: false });
      await ini.expectNothing(100);
      ini.dataOut(itt, RESERVED_TAG, 0, 1024, Buffer.alloc(1024), true);
      const r = (await ini.recv()) as ScsiResponsePdu;
      assert.equal(r.opcode, IscsiOp.SCSI_RESPONSE);
      assert.equal(r.initiatorTaskTag, itt);
      assert.equal(r.status, 0x02);
      assert.equal(r.sense?.[12], 0x21);
    },
    { InitialR2T: 'No', FirstBurstLength: '2048' },
  );
});

test('ABORT TASK of a write waiting for Data-Out: answered at once, late Data-Out ignored', async () => {
  await withSession(new FakeRegistry(), async (ini, reg) => {
    const itt = ini.command(write10(0, 4), { write: true, edtl: 4 * BLOCK });
    const r2t = (await ini.recv()) as R2tPdu;
    assert.equal(r2t.opcode, IscsiOp.R2T);
    const t = ini.tmf(1, { rtt: itt, refCmdSN: ini.cmdSN - 1 });
    const resp = (await ini.recv()) as TaskMgmtResponsePdu;
    assert.equal(resp.initiatorTaskTag, t);
    assert.equal(resp.response, 0);
    ini.dataOut(itt, r2t.targetTransferTag, 0, 0, Buffer.alloc(4 * BLOCK, 9), true);
    await ini.expectNothing(150);
    assert.equal(reg.events.executed, 0);
    const ok = ini.command(Buffer.alloc(6), { edtl: 0 });
    assert.equal(((await ini.recv()) as ScsiResponsePdu).initiatorTaskTag, ok);
  });
});

test('MaxOutstandingR2T=2: two R2Ts in flight, each at most MaxBurstLength', async () => {
  await withSession(
    new FakeRegistry({ limits: { maxOutstandingR2T: 4, maxBurstLength: 1024 } }),
    async (ini, reg) => {
      const data = pattern(4096, 11);
      const itt = ini.command(write10(20, 8), { write: true, edtl: data.length });
      const a = (await ini.recv()) as R2tPdu;
      const b = (await ini.recv()) as R2tPdu;
      assert.deepEqual([a.r2tSN, b.r2tSN], [0, 1]);
      assert.deepEqual([a.bufferOffset, b.bufferOffset], [0, 1024]);
      assert.notEqual(a.targetTransferTag, b.targetTransferTag);
      await ini.expectNothing(100);
      // answer the second first (sequences are independent)
      ini.dataOut(itt, b.targetTransferTag, 0, 1024, data.subarray(1024, 2048), true);
      ini.dataOut(itt, a.targetTransferTag, 0, 0, data.subarray(0, 1024), true);
      const c = (await ini.recv()) as R2tPdu;
      const d = (await ini.recv()) as R2tPdu;
      assert.deepEqual([c.bufferOffset, d.bufferOffset].sort((x, y) => x - y), [2048, 3072]);
      for (const r of [c, d]) ini.dataOut(itt, r.targetTransferTag, 0, r.bufferOffset, data.subarray(r.bufferOffset, r.bufferOffset + 1024), true);
      const resp = (await ini.recv()) as ScsiResponsePdu;
      assert.equal(resp.status, 0);
      assert.deepEqual(reg.disk.data.subarray(20 * BLOCK, 28 * BLOCK), data);
    },
    { MaxOutstandingR2T: '2', ImmediateData: 'No' },
  );
});

test('LUN RESET from one session aborts the LUN tasks of other sessions of the target too', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg);
  try {
    const a = await TestInitiator.connect(port);
    await a.login({ isid: 0x700000000001 });
    const b = await TestInitiator.connect(port);
    await b.login({ isid: 0x700000000002, initiatorName: 'iqn.1993-08.org.debian:01:other' });
    const pb = reg.ports[1];
    assert.ok(pb);
    let release!: () => void;
    pb.gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inExec = new Promise<void>((r) => (started = r));
    pb.onExecute = () => started();
    const bItt = b.command(read10(0, 1), { read: true, edtl: BLOCK });
    await inExec;
    const t = a.tmf(5, { lun: 0 });
    await a.expectNothing(100); // waits for B's in-flight I/O
    pb.gate = null;
    release();
    const resp = (await a.recv()) as TaskMgmtResponsePdu;
    assert.equal(resp.initiatorTaskTag, t);
    assert.equal(resp.response, 0);
    await b.expectNothing(150, (p: TargetPdu) => 'initiatorTaskTag' in p && p.initiatorTaskTag === bItt);
    const ok = b.command(read10(0, 1), { read: true, edtl: BLOCK });
    assert.equal((await readAll(b, ok)).data.length, BLOCK);
    // ABORT TASK SET stays within the requesting nexus
    pb.gate = new Promise<void>((r) => (release = r));
    const bItt2 = b.command(read10(0, 1), { read: true, edtl: BLOCK });
    const t2 = a.tmf(2, { lun: 0 });
    const r2 = (await a.recv()) as TaskMgmtResponsePdu;
    assert.equal(r2.initiatorTaskTag, t2);
    pb.gate = null;
    release();
    assert.equal((await readAll(b, bItt2)).data.length, BLOCK);
  } finally {
    await server.close();
  }
});

test('ABORT TASK before its command arrived (RefCmdSN in the window): the command is dropped on arrival', async () => {
  await withSession(new FakeRegistry(), async (ini, reg) => {
    const base = ini.cmdSN;
    const t = ini.tmf(1, { rtt: 0x999, refCmdSN: base });
    const r = (await ini.recv()) as TaskMgmtResponsePdu;
    assert.equal(r.initiatorTaskTag, t);
    assert.equal(r.response, 0);
    ini.command(read10(0, 1), { read: true, edtl: BLOCK, itt: 0x999 }); // CmdSN = base: cancelled
    const next = ini.command(Buffer.alloc(6), { edtl: 0 }); // CmdSN = base + 1
    const resp = (await ini.recv()) as ScsiResponsePdu;
    assert.equal(resp.initiatorTaskTag, next, 'the cancelled READ sent nothing');
    assert.equal(resp.expCmdSN, ini.cmdSN, 'its CmdSN was consumed');
    assert.equal(reg.events.executed, 1);
  });
});
