import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IscsiOp } from '../../src/iscsi/constants.js';
import type { TextResponsePdu, DataInPdu } from '../../src/iscsi/pdu.js';
import { FakeRegistry, TARGET } from './fake-target.js';
import { INITIATOR, TestInitiator, inquiry, startServer } from './initiator.js';

const CHAP = { initiator: { username: 'iuser', password: 'isecret12345' } };
const MUTUAL = { ...CHAP, target: { username: 'tuser', password: 'tsecret12345' } };

test('login with AuthMethod=None, negotiated keys, session listed, INQUIRY works', async () => {
  const reg = new FakeRegistry({ alias: 'gw1' });
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    const r = await ini.login();
    assert.equal(r.status, 0);
    assert.notEqual(r.tsih, 0);
    assert.equal(r.keys.get('TargetPortalGroupTag'), '1');
    assert.equal(r.keys.get('TargetAlias'), 'gw1');
    assert.equal(r.keys.get('MaxRecvDataSegmentLength'), '262144');
    assert.equal(r.keys.get('InitialR2T'), 'Yes');
    assert.equal(r.keys.get('MaxBurstLength'), '262144');
    const s = server.sessions();
    assert.equal(s.length, 1);
    assert.equal(s[0]?.initiatorName, INITIATOR);
    assert.equal(s[0]?.targetName, TARGET);
    assert.equal(s[0]?.isid, '23d000000001');
    assert.equal(s[0]?.authMethod, 'None');
    assert.equal(reg.events.nexus[0]?.initiatorPortName, `${INITIATOR},i,0x23d000000001`);
    assert.equal(reg.events.nexus[0]?.targetPortName, `${TARGET},t,0x0001`);
    const tid = reg.events.nexus[0]?.transportId as Buffer;
    assert.equal(tid[0], 0x45);
    assert.equal(tid.length % 4, 0);
    const itt = ini.command(inquiry(36), { read: true, edtl: 36 });
    const d = (await ini.recv()) as DataInPdu;
    assert.equal(d.opcode, IscsiOp.SCSI_DATA_IN);
    assert.equal(d.initiatorTaskTag, itt);
    assert.equal(d.statusPresent, true);
    assert.equal(d.status, 0);
    assert.equal(d.data.subarray(8, 12).toString(), 'FAKE');
    ini.close();
  } finally {
    await server.close();
  }
});

test('CHAP MD5 and SHA-256 good secret; wrong secret -> 0x0201', async () => {
  const reg = new FakeRegistry({ access: () => ({ allowed: true, chap: CHAP }) });
  const { server, port } = await startServer(reg);
  try {
    for (const algorithms of ['5', '7,5']) {
      const ini = await TestInitiator.connect(port);
      const r = await ini.login({ chap: { user: 'iuser', secret: 'isecret12345', algorithms } });
      assert.equal(r.status, 0, algorithms);
      assert.equal(r.keys.get('CHAP_A'), algorithms === '5' ? '5' : '7');
      ini.close();
    }
    const bad = await TestInitiator.connect(port);
    const r = await bad.login({ chap: { user: 'iuser', secret: 'wrongsecret1' } });
    assert.equal(r.status, 0x0201);
    assert.equal(await bad.waitClosed(), true);
    const none = await TestInitiator.connect(port);
    assert.equal((await none.login({ authMethod: 'None' })).status, 0x0201);
  } finally {
    await server.close();
  }
});

test('mutual CHAP: the target proves its secret', async () => {
  const reg = new FakeRegistry({ access: () => ({ allowed: true, chap: MUTUAL }) });
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    const r = await ini.login({ chap: { user: 'iuser', secret: 'isecret12345', mutual: { user: 'tuser', secret: 'tsecret12345' } } });
    assert.equal(r.status, 0);
    assert.equal(server.sessions()[0]?.mutual, true);
    assert.equal(server.sessions()[0]?.authMethod, 'CHAP');
    ini.close();
  } finally {
    await server.close();
  }
});

test('unknown target 0x0203, initiator not allowed 0x0202, missing TargetName 0x0207', async () => {
  const reg = new FakeRegistry({ access: (i) => (i === INITIATOR ? { allowed: true, chap: null } : { allowed: false, reason: 'not-authorized' }) });
  const { server, port } = await startServer(reg);
  try {
    const a = await TestInitiator.connect(port);
    assert.equal((await a.login({ targetName: 'iqn.2003-01.org.example:nope' })).status, 0x0203);
    const b = await TestInitiator.connect(port);
    assert.equal((await b.login({ initiatorName: 'iqn.1993-08.org.other:x' })).status, 0x0202);
    const c = await TestInitiator.connect(port);
    assert.equal((await c.login({ targetName: null })).status, 0x0207);
    assert.equal(await c.waitClosed(), true);
    assert.equal(server.sessions().length, 0);
  } finally {
    await server.close();
  }
});

test('discovery session: SendTargets=All lists 2 portals with TPG tags; SCSI commands rejected', async () => {
  const reg = new FakeRegistry({
    portals: [
      { ip: '10.0.0.1', port: 3260, tpgt: 1 },
      { ip: '10.0.0.2', port: 3260, tpgt: 2 },
    ],
  });
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    const r = await ini.login({ sessionType: 'Discovery' });
    assert.equal(r.status, 0);
    assert.equal(r.keys.has('TargetPortalGroupTag'), false);
    const itt = ini.text([['SendTargets', 'All']]);
    const t = (await ini.recv()) as TextResponsePdu;
    assert.equal(t.opcode, IscsiOp.TEXT_RESPONSE);
    assert.equal(t.initiatorTaskTag, itt);
    assert.equal(t.final, true);
    const text = (t.data ?? Buffer.alloc(0)).toString('latin1');
    assert.equal(text, `TargetName=${TARGET}\0TargetAddress=10.0.0.1:3260,1\0TargetAddress=10.0.0.2:3260,2\0`);
    ini.command(inquiry(36), { read: true, edtl: 36 });
    const rej = await ini.recv();
    assert.equal(rej.opcode, IscsiOp.REJECT);
    ini.logout();
    const lo = await ini.recv();
    assert.equal(lo.opcode, IscsiOp.LOGOUT_RESPONSE);
    assert.equal(await ini.waitClosed(), true);
  } finally {
    await server.close();
  }
});

test('discovery CHAP required', async () => {
  const reg = new FakeRegistry({ discoveryChap: CHAP });
  const { server, port } = await startServer(reg);
  try {
    const a = await TestInitiator.connect(port);
    assert.equal((await a.login({ sessionType: 'Discovery' })).status, 0x0201);
    const b = await TestInitiator.connect(port);
    assert.equal((await b.login({ sessionType: 'Discovery', chap: { user: 'iuser', secret: 'isecret12345' } })).status, 0);
    b.close();
  } finally {
    await server.close();
  }
});

test('digests negotiated: later PDUs carry CRC32C header and data digests', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    const r = await ini.login({ ops: { HeaderDigest: 'CRC32C,None', DataDigest: 'CRC32C,None' } });
    assert.equal(r.keys.get('HeaderDigest'), 'CRC32C');
    assert.equal(r.keys.get('DataDigest'), 'CRC32C');
    // The initiator's framer now expects digests: a successful exchange proves both directions use them.
    const itt = ini.command(inquiry(36), { read: true, edtl: 36 });
    const d = (await ini.recv()) as DataInPdu;
    assert.equal(d.initiatorTaskTag, itt);
    assert.equal(d.data.length, 36);
  } finally {
    await server.close();
  }
});

test('non-login PDU before login closes the connection; server keeps serving', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg);
  try {
    const bad = await TestInitiator.connect(port);
    bad.nopOut(1);
    assert.equal(await bad.waitClosed(), true);
    const good = await TestInitiator.connect(port);
    assert.equal((await good.login()).status, 0);
    good.close();
  } finally {
    await server.close();
  }
});

test('login timeout closes an idle connection', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg, { loginTimeoutMs: 200 });
  try {
    const ini = await TestInitiator.connect(port);
    assert.equal(await ini.waitClosed(2000), true);
  } finally {
    await server.close();
  }
});

test('session reinstatement: same initiator+ISID+target closes the old session', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg);
  try {
    const a = await TestInitiator.connect(port);
    const ra = await a.login();
    const b = await TestInitiator.connect(port);
    const rb = await b.login();
    assert.equal(rb.status, 0);
    assert.notEqual(rb.tsih, ra.tsih);
    assert.equal(await a.waitClosed(), true);
    const deadline = Date.now() + 2000;
    while (server.sessions().length !== 1 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(server.sessions().length, 1);
    assert.equal(server.sessions()[0]?.tsih, rb.tsih);
    assert.ok(reg.events.closed >= 1);
    // a different ISID is a second session
    const c = await TestInitiator.connect(port);
    assert.equal((await c.login({ isid: 0x23d000000002 })).status, 0);
    assert.equal(server.sessions().length, 2);
    assert.equal(server.dropSessions((s) => s.isid === '23d000000002'), 1);
    assert.equal(await c.waitClosed(), true);
  } finally {
    await server.close();
  }
});

test('text response larger than MaxRecvDataSegmentLength is continued', async () => {
  const many = Array.from({ length: 40 }, (_, i) => ({ ip: `10.0.0.${i + 1}`, port: 3260, tpgt: i + 1 }));
  const reg = new FakeRegistry({ portals: many });
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    await ini.login({ sessionType: 'Discovery', ops: { MaxRecvDataSegmentLength: '512' } });
    const itt = ini.text([['SendTargets', 'All']]);
    const parts: Buffer[] = [];
    for (;;) {
      const t = (await ini.recv()) as TextResponsePdu;
      assert.equal(t.initiatorTaskTag, itt);
      assert.ok((t.data?.length ?? 0) <= 512);
      parts.push(t.data ?? Buffer.alloc(0));
      if (t.final) break;
      assert.equal(t.continue, true);
      ini.text([], { itt, ttt: t.targetTransferTag });
    }
    const pairs = decodeTextAll(Buffer.concat(parts));
    assert.equal(pairs.filter((p) => p.key === 'TargetAddress').length, 40);
  } finally {
    await server.close();
  }
});

function decodeTextAll(b: Buffer) {
  // SendTargets answers repeat TargetAddress: split manually (decodeText rejects duplicates).
  return b
    .toString('utf8')
    .split('\0')
    .filter((s) => s.length > 0)
    .map((s) => ({ key: s.slice(0, s.indexOf('=')), value: s.slice(s.indexOf('=') + 1) }));
}

test('a registry that throws during login gives 0x0300 TARGET_ERROR, not a crash', async () => {
  const reg = new FakeRegistry();
  reg.findTarget = () => {
    throw new Error('config not loaded');
  };
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    assert.equal((await ini.login()).status, 0x0300);
    assert.equal(await ini.waitClosed(), true);
    assert.equal(server.listening(), true);
  } finally {
    await server.close();
  }
});
