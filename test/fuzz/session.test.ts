/**
 * Session-level fuzzing: after a login, random bytes and mutated valid PDUs are
 * thrown at the target. Whatever happens to that connection (Reject, close),
 * the server must stay up and another session must keep working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IscsiOp } from '../../src/iscsi/constants.js';
import { encodePdu, encodeLun } from '../../src/iscsi/pdu.js';
import type { ScsiResponsePdu } from '../../src/iscsi/pdu.js';
import { FakeRegistry } from '../session/fake-target.js';
import { TestInitiator, read10, startServer, write10 } from '../session/initiator.js';

function validPdus(): Buffer[] {
  const out: Buffer[] = [];
  const cmd = (cdb: Buffer, write: boolean, edtl: number, data: Buffer) => {
    const c = Buffer.alloc(16);
    cdb.copy(c);
    const e = encodePdu({
      opcode: IscsiOp.SCSI_COMMAND,
      immediate: false,
      final: true,
      read: !write,
      write,
      taskAttribute: 1,
      lun: encodeLun(0),
      initiatorTaskTag: 0x100,
      expectedDataTransferLength: edtl,
      cmdSN: 1,
      expStatSN: 0,
      cdb: c,
      data,
    });
    const pad = (4 - (data.length % 4)) % 4;
    return Buffer.concat([e.bhs, data, Buffer.alloc(pad)]);
  };
  out.push(cmd(read10(0, 1), false, 512, Buffer.alloc(0)));
  out.push(cmd(write10(0, 1), true, 512, Buffer.alloc(512, 7)));
  const nop = encodePdu({ opcode: IscsiOp.NOP_OUT, immediate: true, lun: 0n, initiatorTaskTag: 5, targetTransferTag: 0xffffffff, cmdSN: 1, expStatSN: 0, data: Buffer.alloc(0) });
  out.push(nop.bhs);
  const tmf = encodePdu({ opcode: IscsiOp.TASK_MGMT_REQUEST, immediate: true, function: 1, lun: 0n, initiatorTaskTag: 6, referencedTaskTag: 0x100, cmdSN: 1, expStatSN: 0, refCmdSN: 1, expDataSN: 0 });
  out.push(tmf.bhs);
  const txt = Buffer.from('SendTargets=All\0');
  const t = encodePdu({ opcode: IscsiOp.TEXT_REQUEST, immediate: true, final: true, continue: false, lun: 0n, initiatorTaskTag: 7, targetTransferTag: 0xffffffff, cmdSN: 1, expStatSN: 0, data: txt });
  out.push(Buffer.concat([t.bhs, txt]));
  const d = encodePdu({ opcode: IscsiOp.SCSI_DATA_OUT, final: true, lun: 0n, initiatorTaskTag: 0x100, targetTransferTag: 1, expStatSN: 0, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(512) });
  out.push(Buffer.concat([d.bhs, Buffer.alloc(512)]));
  return out;
}

test('random and mutated PDUs after login never take the server down', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg);
  const control = await TestInitiator.connect(port);
  assert.equal((await control.login({ isid: 0x111111111111 })).status, 0);
  const seeds = validPdus();
  let isid = 0x200000000000;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
          fc
            .tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat(64))
            .map(([i, muts, cut]) => {
              const b = Buffer.from(seeds[i] as Buffer);
              for (const [pos, val] of muts) b[pos % b.length] = val;
              return cut > 0 && cut < b.length ? b.subarray(0, b.length - cut) : b;
            }),
        ),
        async (bytes) => {
          const ini = await TestInitiator.connect(port);
          const r = await ini.login({ isid: isid++ });
          assert.equal(r.status, 0);
          ini.writeRaw(bytes);
          // let the target react (reject, close or wait for more bytes)
          await ini.expectNothing(20).catch(() => undefined);
          ini.close();
          // the control session still answers
          const itt = control.command(Buffer.alloc(6), { edtl: 0 });
          const resp = (await control.recv(3000, (p) => 'initiatorTaskTag' in p && p.initiatorTaskTag === itt)) as ScsiResponsePdu;
          assert.equal(resp.status, 0);
        },
      ),
      { numRuns: 60, seed: 42 },
    );
    assert.equal(server.listening(), true);
  } finally {
    control.close();
    await server.close();
  }
});

test('garbage before login closes only that connection', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg);
  try {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 48, maxLength: 200 }), async (a) => {
        const ini = await TestInitiator.connect(port);
        ini.writeRaw(Buffer.from(a));
        ini.close();
      }),
      { numRuns: 40, seed: 7 },
    );
    const ok = await TestInitiator.connect(port);
    assert.equal((await ok.login()).status, 0);
    ok.close();
  } finally {
    await server.close();
  }
});
