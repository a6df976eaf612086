import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildNexus, iscsiTransportId, Session } from '../../src/iscsi/session.js';
import { DEFAULT_TARGET_LIMITS } from '../../src/iscsi/registry.js';
import { ParamNegotiator } from '../../src/iscsi/params.js';
import type { ScsiResponsePdu } from '../../src/iscsi/pdu.js';
import { FakeRegistry } from './fake-target.js';
import { TestInitiator, startServer } from './initiator.js';

test('iSCSI TransportID: format 01b, protocol 5, name,i,0xISID NUL-terminated, padded to 4', () => {
  const t = iscsiTransportId('iqn.a', '23d000000001');
  const name = 'iqn.a,i,0x23d000000001';
  // 22 chars + NUL = 23 -> padded to 24
  assert.equal(t.length, 4 + 24);
  assert.equal(t[0], 0x45);
  assert.equal(t[1], 0);
  assert.equal(t.readUInt16BE(2), 24);
  assert.equal(t.subarray(4, 4 + name.length).toString(), name);
  assert.equal(t[4 + name.length], 0);
  const n = buildNexus('iqn.a', '23d000000001', 'iqn.t', 0x12);
  assert.equal(n.initiatorPortName, 'iqn.a,i,0x23d000000001');
  assert.equal(n.targetPortName, 'iqn.t,t,0x0012');
  assert.equal(n.key, 'iqn.a,i,0x23d000000001|iqn.t,t,0x0012');
  assert.equal(n.relativeTargetPortId, 0x12);
  assert.equal(n.targetPortGroupId, 0x12);
});

test('CmdSN window arithmetic across the 2^32 wrap', () => {
  const params = new ParamNegotiator('Normal', DEFAULT_TARGET_LIMITS).result();
  const id = { tsih: 1, isid: '000000000001', initiatorName: 'i', initiatorAlias: '', targetName: 't', tpgt: 1, authMethod: 'None' as const, mutual: false, loginTime: new Date() };
  const s = new Session(id, params, { ...DEFAULT_TARGET_LIMITS, cmdsnDepth: 4 }, null, null, 0xfffffffe);
  assert.equal(s.maxCmdSN, 1); // 0xfffffffe + 3
  assert.equal(s.checkCmdSN(0xfffffffe, false), 'now');
  assert.equal(s.checkCmdSN(0xffffffff, false), 'hold');
  assert.equal(s.checkCmdSN(1, false), 'hold');
  assert.equal(s.checkCmdSN(2, false), 'drop');
  assert.equal(s.checkCmdSN(0xfffffffd, false), 'drop');
  assert.equal(s.checkCmdSN(12345, true), 'now');
  const order: number[] = [];
  s.hold(0, () => {
    order.push(0);
    s.advance();
  });
  s.hold(0xffffffff, () => {
    order.push(0xffffffff);
    s.advance();
  });
  s.advance(); // 0xfffffffe delivered
  assert.deepEqual(order, [0xffffffff, 0]);
  assert.equal(s.expCmdSN, 1);
  assert.equal(s.maxCmdSN, 4);
});

test('commands across the CmdSN wrap over a real session', async () => {
  const { server, port } = await startServer(new FakeRegistry({ limits: { cmdsnDepth: 8 } }));
  try {
    const ini = await TestInitiator.connect(port);
    ini.cmdSN = 0xfffffffd;
    assert.equal((await ini.login()).status, 0);
    for (let i = 0; i < 6; i++) {
      const itt = ini.command(Buffer.alloc(6), { edtl: 0 });
      const r = (await ini.recv()) as ScsiResponsePdu;
      assert.equal(r.initiatorTaskTag, itt);
      assert.equal(r.expCmdSN, ini.cmdSN);
      assert.equal(r.maxCmdSN, (ini.cmdSN + 7) >>> 0);
    }
    assert.equal(ini.cmdSN, 3);
  } finally {
    await server.close();
  }
});
