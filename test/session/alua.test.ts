// SET TARGET PORT GROUPS over a real iSCSI session to the SCSI device server of an explicit-ALUA LU:
// Data-Out by immediate data and by R2T, the handler sees the session's I_T nexus, RTPG shows the result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IscsiOp } from '../../src/iscsi/constants.js';
import type { R2tPdu, ScsiResponsePdu } from '../../src/iscsi/pdu.js';
import { MemoryBackingStore } from '../../src/backstore/memory.js';
import type { Nexus } from '../../src/scsi/command.js';
import { createScsiPort } from '../../src/scsi/device-server.js';
import { LogicalUnit, type AluaGroup, type TargetPortGroupRequest } from '../../src/scsi/logical-unit.js';
import { FakeRegistry, TARGET } from './fake-target.js';
import { INITIATOR, TestInitiator, startServer } from './initiator.js';

/** SET TARGET PORT GROUPS, PARAMETER LIST LENGTH 8: header + one descriptor (state, group). */
const STPG_CDB = Buffer.from([0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0]);
const stpgParam = (state: number, group: number) => Buffer.from([0, 0, 0, 0, state, 0, group >> 8, group & 0xff]);
const RTPG_CDB = Buffer.from([0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0]);

function explicitRegistry() {
  // The session's portal is TPGT 1 (FakeRegistry): group 1 is this path, group 2 another gateway's.
  const groups: AluaGroup[] = [
    { id: 1, state: 'standby', relativePortIds: [1] },
    { id: 2, state: 'active-optimized', relativePortIds: [2], preferred: true },
  ];
  const calls: Array<{ requests: TargetPortGroupRequest[]; nexus: Nexus }> = [];
  const lu = new LogicalUnit({
    name: 'rbd/disk_1',
    backstore: new MemoryBackingStore('disk_1', 1024 * 1024),
    wwn: '3d4e5f60-1111-2222-3333-444455556666',
    aluaGroups: () => groups,
    aluaAccess: 'explicit',
    // A stand-in for the HA layer: the asked group becomes AO, the others standby.
    setTargetPortGroups: (requests, nexus) => {
      calls.push({ requests, nexus });
      const ao = requests.find((r) => r.state === 0);
      if (ao === undefined) return 'INVALID_FIELD_IN_PARAMETER_LIST';
      for (const g of groups) {
        g.state = g.id === ao.groupId ? 'active-optimized' : 'standby';
        g.status = 'explicit';
      }
      return undefined;
    },
  });
  const reg = new FakeRegistry();
  const node = reg.findTarget(TARGET)!;
  const lunMap = { get: (l: number) => (l === 0 ? lu : undefined), luns: () => [0] };
  reg.findTarget = (name) => (name === TARGET ? { ...node, openPort: (nexus: Nexus) => createScsiPort(nexus, lunMap) } : undefined);
  return { reg, groups, calls };
}

test('SET TARGET PORT GROUPS through a session: immediate data and R2T, nexus of the session, RTPG reflects the handler', async () => {
  const { reg, calls } = explicitRegistry();
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    assert.equal((await ini.login()).status, 0);
    const response = async (itt: number) => (await ini.recv(3000, (p) => p.opcode === IscsiOp.SCSI_RESPONSE && p.initiatorTaskTag === itt)) as ScsiResponsePdu;
    // power-on unit attention first
    assert.equal((await response(ini.command(Buffer.alloc(6), { edtl: 0 }))).status, 0x02);

    // group 1 (this path, standby) to active/optimized, Data-Out as immediate data
    const a = await response(ini.command(STPG_CDB, { write: true, edtl: 8, data: stpgParam(0x0, 1) }));
    assert.equal(a.status, 0x00);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.requests, [{ groupId: 1, state: 0 }]);
    assert.equal(calls[0]!.nexus.targetPortGroupId, 1);
    assert.equal(calls[0]!.nexus.initiatorName, INITIATOR);

    const rtpg = ini.command(RTPG_CDB, { read: true, edtl: 64 });
    const din = await ini.recv(3000, (p) => p.opcode === IscsiOp.SCSI_DATA_IN && p.initiatorTaskTag === rtpg);
    assert.ok(din.opcode === IscsiOp.SCSI_DATA_IN);
    // group 1: AO, S_SUP among the supported states, STATUS CODE 01h; group 2: PREF, standby, 01h
    assert.deepEqual([...din.data.subarray(4, 10)], [0x00, 0x8f, 0x00, 0x01, 0x00, 0x01]);
    assert.deepEqual([...din.data.subarray(16, 22)], [0x82, 0x8f, 0x00, 0x02, 0x00, 0x01]);

    // Data-Out solicited by R2T; a list without an AO group is refused by the handler
    const itt = ini.command(STPG_CDB, { write: true, edtl: 8 });
    const r2t = (await ini.recv(3000, (p) => p.opcode === IscsiOp.R2T)) as R2tPdu;
    assert.equal(r2t.initiatorTaskTag, itt);
    assert.equal(r2t.desiredDataTransferLength, 8);
    ini.dataOut(itt, r2t.targetTransferTag, 0, 0, stpgParam(0x2, 2), true);
    const b = await response(itt);
    assert.equal(b.status, 0x02);
    assert.deepEqual([b.sense?.[2], b.sense?.[12], b.sense?.[13]], [0x05, 0x26, 0x00]); // INVALID FIELD IN PARAMETER LIST
    assert.deepEqual(calls[1]!.requests, [{ groupId: 2, state: 2 }]);
    ini.close();
  } finally {
    await server.close();
  }
});
