import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { IscsiOp, RESERVED_TAG } from '../../src/iscsi/constants.js';
import { decodeText, encodeText } from '../../src/iscsi/text.js';
import type { LoginResponsePdu, ScsiResponsePdu, TextResponsePdu, DataInPdu } from '../../src/iscsi/pdu.js';
import { IscsiServer } from '../../src/iscsi/server.js';
import { silentLogger } from '../../src/util/log.js';
import { BLOCK, FakeRegistry, TARGET } from './fake-target.js';
import { INITIATOR, TestInitiator, read10, startServer } from './initiator.js';

const login = (ini: TestInitiator, o: { csg: number; nsg: number; transit: boolean; cont?: boolean; data: Buffer }): void =>
  ini.send({
    opcode: IscsiOp.LOGIN_REQUEST,
    transit: o.transit,
    continue: o.cont ?? false,
    csg: o.csg,
    nsg: o.nsg,
    versionMax: 0,
    versionMin: 0,
    isid: 0x23d000000009,
    tsih: 0,
    initiatorTaskTag: 0,
    cid: 0,
    cmdSN: 1,
    expStatSN: 0,
    data: o.data,
  });

const keysOf = (r: LoginResponsePdu | TextResponsePdu): Map<string, string> => new Map(decodeText(r.data ?? Buffer.alloc(0)).map((p) => [p.key, p.value]));

test('login text split over PDUs with the C bit; each part acknowledged with an empty response', async () => {
  const { server, port } = await startServer(new FakeRegistry());
  try {
    const ini = await TestInitiator.connect(port);
    const text = encodeText([
      ['InitiatorName', INITIATOR],
      ['TargetName', TARGET],
      ['SessionType', 'Normal'],
      ['AuthMethod', 'None'],
    ]);
    login(ini, { csg: 0, nsg: 0, transit: false, cont: true, data: text.subarray(0, 20) });
    const ack = (await ini.recv()) as LoginResponsePdu;
    assert.equal(ack.opcode, IscsiOp.LOGIN_RESPONSE);
    assert.equal(ack.statusClass, 0);
    assert.equal(ack.data?.length ?? 0, 0);
    assert.equal(ack.transit, false);
    login(ini, { csg: 0, nsg: 1, transit: true, data: text.subarray(20) });
    const r = (await ini.recv()) as LoginResponsePdu;
    assert.equal(r.statusClass, 0);
    assert.equal(r.transit, true);
    assert.equal(keysOf(r).get('AuthMethod'), 'None');
    // StatSN advances by one per Login Response (RFC 7143 §11.13.4)
    assert.equal(r.statSN, (ack.statSN + 1) >>> 0);
  } finally {
    await server.close();
  }
});

test('target offers FirstBurstLength/ImmediateData it needs and waits for the answer before transit', async () => {
  const { server, port } = await startServer(new FakeRegistry({ limits: { firstBurstLength: 4096, immediateData: false } }));
  try {
    const ini = await TestInitiator.connect(port);
    login(ini, { csg: 0, nsg: 1, transit: true, data: encodeText([['InitiatorName', INITIATOR], ['TargetName', TARGET], ['AuthMethod', 'None']]) });
    await ini.recv();
    login(ini, { csg: 1, nsg: 3, transit: true, data: encodeText([['MaxRecvDataSegmentLength', '8192']]) });
    const r1 = (await ini.recv()) as LoginResponsePdu;
    assert.equal(r1.statusClass, 0);
    assert.equal(r1.transit, false, 'no transit while our offers are unanswered');
    const k = keysOf(r1);
    assert.equal(k.get('FirstBurstLength'), '4096');
    assert.equal(k.get('ImmediateData'), 'No');
    login(ini, { csg: 1, nsg: 3, transit: true, data: encodeText([['FirstBurstLength', '4096'], ['ImmediateData', 'No']]) });
    const r2 = (await ini.recv()) as LoginResponsePdu;
    assert.equal(r2.statusClass, 0);
    assert.equal(r2.transit, true);
    assert.equal(r2.nsg, 3);
    assert.notEqual(r2.tsih, 0);
  } finally {
    await server.close();
  }
});

test('redeclaring a key in the same login is an initiator error (0x0200)', async () => {
  const { server, port } = await startServer(new FakeRegistry());
  try {
    const ini = await TestInitiator.connect(port);
    login(ini, { csg: 1, nsg: 1, transit: false, data: encodeText([['InitiatorName', INITIATOR], ['TargetName', TARGET], ['MaxBurstLength', '4096']]) });
    assert.equal(((await ini.recv()) as LoginResponsePdu).statusClass, 0);
    login(ini, { csg: 1, nsg: 3, transit: true, data: encodeText([['MaxBurstLength', '8192']]) });
    const r = (await ini.recv()) as LoginResponsePdu;
    assert.equal((r.statusClass << 8) | r.statusDetail, 0x0200);
    assert.equal(await ini.waitClosed(), true);
  } finally {
    await server.close();
  }
});

test('ORDERED task waits for earlier tasks and holds later SIMPLE ones', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    await ini.login();
    const fp = reg.ports[0];
    assert.ok(fp);
    const order: number[] = [];
    let release!: () => void;
    fp.gate = new Promise<void>((r) => (release = r));
    let firstIn!: () => void;
    const started = new Promise<void>((r) => (firstIn = r));
    fp.onExecute = (req) => {
      order.push(req.cdb.readUInt32BE(2));
      if (order.length === 1) firstIn();
    };
    ini.command(read10(1, 1), { read: true, edtl: BLOCK, attr: 1 });
    await started;
    const o = ini.command(read10(2, 1), { read: true, edtl: BLOCK, attr: 2 }); // ORDERED
    const s = ini.command(read10(3, 1), { read: true, edtl: BLOCK, attr: 1 });
    await ini.expectNothing(100);
    assert.deepEqual(order, [1], 'ORDERED and the SIMPLE after it wait');
    fp.gate = null;
    release();
    const got: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = (await ini.recv()) as DataInPdu;
      got.push(p.initiatorTaskTag);
    }
    assert.deepEqual(order, [1, 2, 3]);
    assert.ok(got.indexOf(o) < got.indexOf(s));
  } finally {
    await server.close();
  }
});

test('Text request with the C bit in the full feature phase; unknown keys NotUnderstood', async () => {
  const { server, port } = await startServer(new FakeRegistry());
  try {
    const ini = await TestInitiator.connect(port);
    await ini.login();
    const data = encodeText([['X-com.example.key', 'v'], ['SendTargets', 'All']]);
    const send = (part: Buffer, cont: boolean, ttt: number) =>
      ini.send({ opcode: IscsiOp.TEXT_REQUEST, immediate: true, final: !cont, continue: cont, lun: 0n, initiatorTaskTag: 0x77, targetTransferTag: ttt, cmdSN: ini.cmdSN, expStatSN: ini.expStatSN, data: part });
    send(data.subarray(0, 10), true, RESERVED_TAG);
    const ack = (await ini.recv()) as TextResponsePdu;
    assert.equal(ack.opcode, IscsiOp.TEXT_RESPONSE);
    assert.equal(ack.final, false);
    assert.equal(ack.data?.length ?? 0, 0);
    send(data.subarray(10), false, RESERVED_TAG);
    const r = (await ini.recv()) as TextResponsePdu;
    assert.equal(r.final, true);
    const text = (r.data ?? Buffer.alloc(0)).toString();
    assert.ok(text.startsWith('X-com.example.key=NotUnderstood\0TargetName='), text);
    // renegotiating an operational key in FFP is refused
    ini.text([['MaxBurstLength', '4096']]);
    const r2 = (await ini.recv()) as TextResponsePdu;
    assert.equal(keysOf(r2).get('MaxBurstLength'), 'Reject');
    ini.close();
  } finally {
    await server.close();
  }
});

test('IPv6 loopback portal, unlisten, listening(), close() ends sessions', async () => {
  const reg = new FakeRegistry();
  const server = new IscsiServer({ registry: reg, logger: silentLogger() });
  assert.equal(server.listening(), false);
  await server.listen('::1', 0);
  await server.listen('127.0.0.1', 0);
  assert.equal(server.listening(), true);
  const p6 = server.boundPort('::1', 0) as number;
  const sock = await new Promise<net.Socket>((res, rej) => {
    const s = net.connect({ host: '::1', port: p6 }, () => res(s));
    s.once('error', rej);
  });
  sock.destroy();
  const p4 = server.boundPort('127.0.0.1', 0) as number;
  const ini = await TestInitiator.connect(p4);
  assert.equal((await ini.login()).status, 0);
  await server.unlisten('::1', 0);
  assert.equal(server.listening(), true);
  const itt = ini.command(Buffer.alloc(6), { edtl: 0 });
  assert.equal(((await ini.recv()) as ScsiResponsePdu).initiatorTaskTag, itt);
  await server.close();
  assert.equal(server.listening(), false);
  assert.equal(await ini.waitClosed(), true);
  assert.equal(server.sessions().length, 0);
  assert.equal(reg.events.closed, 1);
});

test('close({ logoutGraceMs }) sends an Async Message logout request; a clean logout ends it early', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg);
  const ini = await TestInitiator.connect(port);
  await ini.login();
  const t0 = Date.now();
  const closing = server.close({ logoutGraceMs: 5000 });
  const msg = await ini.recv();
  assert.equal(msg.opcode, IscsiOp.ASYNC_MESSAGE);
  assert.equal('asyncEvent' in msg && msg.asyncEvent, 1);
  ini.logout();
  const lo = await ini.recv();
  assert.equal(lo.opcode, IscsiOp.LOGOUT_RESPONSE);
  await closing;
  assert.ok(Date.now() - t0 < 4000, 'did not wait for the whole grace period');
  assert.equal(await ini.waitClosed(), true);
});

test('SendTargets in a normal session reports only its own target; duplicate login key is 0x0200', async () => {
  const reg = new FakeRegistry();
  const orig = reg.sendTargets.bind(reg);
  const asked: string[] = [];
  reg.sendTargets = (i, a, p, which) => {
    asked.push(which);
    return orig(i, a, p, which);
  };
  const { server, port } = await startServer(reg);
  try {
    const ini = await TestInitiator.connect(port);
    await ini.login();
    for (const v of ['All', '']) {
      ini.text([['SendTargets', v]]);
      const r = (await ini.recv()) as TextResponsePdu;
      assert.ok((r.data ?? Buffer.alloc(0)).toString().startsWith(`TargetName=${TARGET}\0`));
    }
    assert.deepEqual(asked, [TARGET, TARGET]);
    const dup = await TestInitiator.connect(port);
    dup.send({
      opcode: IscsiOp.LOGIN_REQUEST, transit: true, continue: false, csg: 0, nsg: 1, versionMax: 0, versionMin: 0, isid: 1, tsih: 0, initiatorTaskTag: 0, cid: 0, cmdSN: 1, expStatSN: 0,
      data: Buffer.from(`InitiatorName=${INITIATOR}\0InitiatorName=${INITIATOR}\0`),
    });
    const lr = (await dup.recv()) as LoginResponsePdu;
    assert.equal((lr.statusClass << 8) | lr.statusDetail, 0x0200);
  } finally {
    await server.close();
  }
});

test('Text request with a TTT we never handed out is rejected (INVALID PDU FIELD)', async () => {
  const { server, port } = await startServer(new FakeRegistry());
  try {
    const ini = await TestInitiator.connect(port);
    await ini.login();
    ini.text([], { ttt: 0x4242 });
    const rej = await ini.recv();
    assert.equal(rej.opcode, IscsiOp.REJECT);
    assert.equal('reason' in rej && rej.reason, 0x09);
    assert.equal('data' in rej && rej.data?.readUInt32BE(20), 0x4242, 'the rejected header is returned');
  } finally {
    await server.close();
  }
});

test('unlisten then listen again on the same port works while a session stays up', async () => {
  const reg = new FakeRegistry();
  const server = new IscsiServer({ registry: reg, logger: silentLogger() });
  try {
    await server.listen('127.0.0.1', 0);
    const p = server.boundPort('127.0.0.1', 0) as number;
    await server.unlisten('127.0.0.1', 0);
    await server.listen('127.0.0.1', p);
    const ini = await TestInitiator.connect(p);
    assert.equal((await ini.login()).status, 0);
    await server.unlisten('127.0.0.1', p);
    await server.listen('127.0.0.1', p);
    const itt = ini.command(Buffer.alloc(6), { edtl: 0 });
    assert.equal(((await ini.recv()) as ScsiResponsePdu).initiatorTaskTag, itt);
    const other = await TestInitiator.connect(p);
    assert.equal((await other.login({ isid: 0x23d000000077 })).status, 0);
    other.close();
    ini.close();
  } finally {
    await server.close();
  }
});
