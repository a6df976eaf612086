import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { IscsiOp } from '../../src/iscsi/constants.js';
import { decodePdu, encodePdu, type TargetPdu, type InitiatorPdu } from '../../src/iscsi/pdu.js';
import { Framer } from '../../src/iscsi/framer.js';
import { IscsiServer } from '../../src/iscsi/server.js';
import { encodeText } from '../../src/iscsi/text.js';
import { silentLogger } from '../../src/util/log.js';
import { FakeRegistry, TARGET } from './fake-target.js';
import { duplexPair } from './duplex-pair.js';
import { INITIATOR, TestInitiator, startServer } from './initiator.js';

function client(end: Duplex) {
  const got: TargetPdu[] = [];
  let wake: (() => void) | null = null;
  const framer = new Framer({
    headerDigest: false,
    dataDigest: false,
    maxRecvDataSegmentLength: 1 << 20,
    onPdu: (raw) => {
      got.push(decodePdu(raw.bhs, raw.ahs, Buffer.from(raw.data)) as TargetPdu);
      wake?.();
    },
  });
  end.on('data', (c: Buffer) => framer.push(c));
  const send = (p: InitiatorPdu): void => {
    const e = encodePdu(p);
    const pad = e.data === undefined ? 0 : (4 - (e.data.length % 4)) % 4;
    end.write(Buffer.concat([e.bhs, e.data ?? Buffer.alloc(0), Buffer.alloc(pad)]));
  };
  const next = async (): Promise<TargetPdu> => {
    const deadline = Date.now() + 3000;
    while (got.length === 0) {
      if (Date.now() > deadline) throw new Error('timeout');
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
    return got.shift() as TargetPdu;
  };
  return { send, next };
}

test('handleConnection() accepts any Duplex (in-memory pair): login and a command', async () => {
  const reg = new FakeRegistry();
  const server = new IscsiServer({ registry: reg, logger: silentLogger() });
  const [srv, cli] = duplexPair();
  server.handleConnection(srv);
  const c = client(cli);
  c.send({
    opcode: IscsiOp.LOGIN_REQUEST,
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionMin: 0,
    isid: 0x400000000001,
    tsih: 0,
    initiatorTaskTag: 1,
    cid: 0,
    cmdSN: 10,
    expStatSN: 0,
    data: encodeText([
      ['InitiatorName', INITIATOR],
      ['TargetName', TARGET],
    ]),
  });
  const r = await c.next();
  assert.equal(r.opcode, IscsiOp.LOGIN_RESPONSE);
  assert.equal('statusClass' in r && r.statusClass, 0);
  assert.equal('transit' in r && r.transit, true);
  assert.equal(server.sessions().length, 1);
  const cdb = Buffer.alloc(16);
  c.send({ opcode: IscsiOp.SCSI_COMMAND, immediate: false, final: true, read: false, write: false, taskAttribute: 1, lun: 0n, initiatorTaskTag: 2, expectedDataTransferLength: 0, cmdSN: 10, expStatSN: 1, cdb, data: Buffer.alloc(0) });
  const resp = await c.next();
  assert.equal(resp.opcode, IscsiOp.SCSI_RESPONSE);
  assert.equal('expCmdSN' in resp && resp.expCmdSN, 11);
  await server.close();
  assert.equal(server.sessions().length, 0);
  assert.equal(reg.events.closed, 1);
});

test('many logins and logouts leave no connections or sessions behind', async () => {
  const reg = new FakeRegistry();
  const { server, port } = await startServer(reg);
  try {
    for (let i = 0; i < 30; i++) {
      const ini = await TestInitiator.connect(port);
      assert.equal((await ini.login({ isid: 0x500000000000 + i })).status, 0);
      if (i % 2 === 0) {
        ini.logout();
        await ini.recv();
      } else ini.close();
      assert.equal(await ini.waitClosed(), true);
    }
    const deadline = Date.now() + 3000;
    while ((server.connectionCount() > 0 || reg.events.closed < 30) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.connectionCount(), 0);
    assert.equal(server.sessions().length, 0);
    assert.equal(reg.events.closed, 30);
  } finally {
    await server.close();
  }
});
