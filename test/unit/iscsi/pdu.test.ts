import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PduDecodeError,
  PduEncodeError,
  dataSegmentLength,
  decodeLun,
  decodePdu,
  encodeLun,
  encodeLunBuffer,
  encodePdu,
  encodePduInto,
  headerLength,
  initiatorTaskTagOf,
  isImmediate,
  opcodeOf,
  totalAhsLength,
  type Pdu,
} from '../../../src/iscsi/pdu.js';
import { IscsiOp, RejectReason, opcodeName } from '../../../src/iscsi/constants.js';
import { DECODE_ERRORS, RFC_READ_PDU, VECTORS } from '../../vectors/pdus.js';
import { splitWire } from '../../vectors/split.js';

function wireOf(pdu: Pdu): Buffer {
  const { bhs, data } = encodePdu(pdu);
  const parts = [bhs];
  if (data !== undefined) {
    parts.push(data);
    parts.push(Buffer.alloc((4 - (data.length % 4)) % 4));
  }
  return Buffer.concat(parts);
}

for (const v of VECTORS) {
  test(`decode: ${v.name}`, () => {
    const { bhs, ahs, data, padded } = splitWire(v.bytes);
    assert.equal(v.bytes.length, 48 + ahs.length + padded, 'vector length is BHS + AHS + padded data');
    const pdu = decodePdu(bhs, ahs, data);
    assert.deepEqual(pdu, v.pdu);
  });
  test(`encode: ${v.name}`, () => {
    assert.deepEqual(wireOf(v.pdu).toString('hex'), v.bytes.toString('hex'));
  });
}

test('every opcode has at least one vector', () => {
  const seen = new Set(VECTORS.map((v) => v.pdu.opcode));
  for (const op of Object.values(IscsiOp)) assert.ok(seen.has(op), `no vector for ${opcodeName(op)}`);
});

for (const v of DECODE_ERRORS) {
  test(`decode error: ${v.name}`, () => {
    const { bhs, ahs, data } = splitWire(v.bytes);
    assert.throws(
      () => decodePdu(bhs, ahs, data),
      (e: unknown) => e instanceof PduDecodeError && e.reason === v.reason && e.code === 'ERR_ISCSI_PDU_DECODE',
    );
  });
}

test('decode rejects lengths that disagree with the header', () => {
  const { bhs } = splitWire(RFC_READ_PDU);
  assert.throws(() => decodePdu(bhs.subarray(0, 47), Buffer.alloc(0), Buffer.alloc(0)), PduDecodeError);
  assert.throws(() => decodePdu(bhs, Buffer.alloc(4), Buffer.alloc(0)), PduDecodeError);
  assert.throws(() => decodePdu(bhs, Buffer.alloc(0), Buffer.alloc(1)), PduDecodeError);
});

test('decoded data and CDB are views, not copies', () => {
  const v = VECTORS.find((x) => x.name.startsWith('SCSI Command WRITE(16)'));
  assert.ok(v);
  const { bhs, ahs, data } = splitWire(v.bytes);
  const pdu = decodePdu(bhs, ahs, data);
  assert.equal(pdu.opcode, IscsiOp.SCSI_COMMAND);
  if (pdu.opcode !== IscsiOp.SCSI_COMMAND) return;
  assert.equal(pdu.data.buffer, v.bytes.buffer);
  assert.equal(pdu.data.byteOffset, v.bytes.byteOffset + 48);
  assert.equal(pdu.cdb.byteOffset, v.bytes.byteOffset + 32);
});

test('encode passes Data-In data through as the same view', () => {
  const payload = Buffer.alloc(8192, 7).subarray(100, 4196);
  const enc = encodePdu({
    opcode: IscsiOp.SCSI_DATA_IN,
    final: false,
    initiatorTaskTag: 1,
    expCmdSN: 1,
    maxCmdSN: 2,
    dataSN: 0,
    bufferOffset: 0,
    data: payload,
  });
  assert.equal(enc.data, payload);
  assert.equal(dataSegmentLength(enc.bhs), 4096);
  assert.equal(enc.bhs.readUInt32BE(20), 0xffffffff, 'TTT defaults to 0xffffffff');
});

test('encode defaults of optional target fields', () => {
  const enc = encodePdu({
    opcode: IscsiOp.SCSI_RESPONSE,
    response: 0,
    status: 0,
    initiatorTaskTag: 0xabcdef01,
    statSN: 1,
    expCmdSN: 2,
    maxCmdSN: 3,
  });
  assert.equal(enc.data, undefined);
  assert.equal(enc.bhs.length, 48);
  assert.equal(enc.bhs[1], 0x80);
  assert.equal(enc.bhs.readUInt32BE(16), 0xabcdef01);
  assert.equal(enc.bhs.subarray(36).every((b) => b === 0), true);
});

test('encode refuses values that do not fit', () => {
  assert.throws(
    () =>
      encodePdu({
        opcode: IscsiOp.R2T,
        lun: 0n,
        initiatorTaskTag: 2 ** 32,
        targetTransferTag: 0,
        statSN: 0,
        expCmdSN: 0,
        maxCmdSN: 0,
        r2tSN: 0,
        bufferOffset: 0,
        desiredDataTransferLength: 0,
      }),
    PduEncodeError,
  );
  assert.throws(
    () =>
      encodePdu({
        opcode: IscsiOp.NOP_IN,
        initiatorTaskTag: 0,
        targetTransferTag: 0,
        statSN: 0,
        expCmdSN: 0,
        maxCmdSN: 0,
        data: Buffer.alloc(0x1000000),
      }),
    PduEncodeError,
  );
});

test('BHS helpers', () => {
  const v = VECTORS.find((x) => x.name.includes('Extended CDB AHS (32-byte'));
  assert.ok(v);
  assert.equal(opcodeOf(v.bytes), IscsiOp.SCSI_COMMAND);
  assert.equal(totalAhsLength(v.bytes), 28);
  assert.equal(dataSegmentLength(v.bytes), 0);
  assert.equal(initiatorTaskTagOf(v.bytes), 3);
  assert.equal(isImmediate(v.bytes), false);
  const nop = VECTORS[0];
  assert.ok(nop);
  assert.equal(isImmediate(nop.bytes), true);
  assert.equal(dataSegmentLength(nop.bytes), 4);
});

test('decodeLun: SAM single-level peripheral and flat addressing', () => {
  const cases: [number[], number][] = [
    [[0x00, 0x00, 0, 0, 0, 0, 0, 0], 0],
    [[0x00, 0x05, 0, 0, 0, 0, 0, 0], 5], // peripheral, bus 0
    [[0x00, 0xff, 0, 0, 0, 0, 0, 0], 255],
    [[0x40, 0x05, 0, 0, 0, 0, 0, 0], 5], // flat
    [[0x41, 0x00, 0, 0, 0, 0, 0, 0], 256],
    [[0x7f, 0xff, 0, 0, 0, 0, 0, 0], 16383],
    [[0x01, 0x05, 0, 0, 0, 0, 0, 0], -1], // peripheral with bus 1
    [[0x80, 0x05, 0, 0, 0, 0, 0, 0], -1], // logical unit addressing
    [[0xc0, 0x05, 0, 0, 0, 0, 0, 0], -1], // extended addressing
    [[0x00, 0x05, 0x00, 0x01, 0, 0, 0, 0], -1], // second level present
    [[0x00, 0x05, 0, 0, 0, 0, 0, 0x01], -1],
  ];
  for (const [b, n] of cases) {
    const buf = Buffer.from(b);
    assert.equal(decodeLun(buf), n, buf.toString('hex'));
    assert.equal(decodeLun(buf.readBigUInt64BE(0)), n, `bigint ${buf.toString('hex')}`);
  }
  assert.equal(decodeLun(Buffer.alloc(7)), -1);
});

test('encodeLun: < 256 peripheral, else flat; round trip', () => {
  assert.equal(encodeLunBuffer(0).toString('hex'), '0000000000000000');
  assert.equal(encodeLunBuffer(255).toString('hex'), '00ff000000000000');
  assert.equal(encodeLunBuffer(256).toString('hex'), '4100000000000000');
  assert.equal(encodeLunBuffer(16383).toString('hex'), '7fff000000000000');
  for (const n of [0, 1, 17, 255, 256, 1000, 16383]) assert.equal(decodeLun(encodeLun(n)), n);
  assert.throws(() => encodeLun(16384), RangeError);
  assert.throws(() => encodeLun(-1), RangeError);
  assert.throws(() => encodeLun(1.5), RangeError);
});

test('PduDecodeError carries the reject reason', () => {
  const e = new PduDecodeError(RejectReason.INVALID_PDU_FIELD, 'x');
  assert.equal(e.reason, 0x09);
  assert.equal(e.name, 'PduDecodeError');
});

test('encodePduInto writes every field over a dirty buffer at any offset', () => {
  for (const v of VECTORS) {
    const hlen = headerLength(v.pdu);
    const { bhs, ahs } = splitWire(v.bytes);
    assert.equal(hlen, 48 + ahs.length, v.name);
    const target = Buffer.alloc(hlen + 13, 0xaa);
    const data = encodePduInto(v.pdu, target, 5, new DataView(target.buffer, target.byteOffset, target.length));
    assert.equal(target.subarray(5, 5 + hlen).toString('hex'), Buffer.concat([bhs, ahs]).toString('hex'), v.name);
    assert.equal(target.subarray(0, 5).toString('hex'), 'aaaaaaaaaa', 'bytes before untouched');
    assert.equal(target.subarray(5 + hlen).every((b) => b === 0xaa), true, 'bytes after untouched');
    const { data: want } = splitWire(v.bytes);
    assert.equal((data ?? Buffer.alloc(0)).toString('hex'), want.toString('hex'));
  }
});

test('encode range checks: every bad value is a PduEncodeError, never a silent truncation', () => {
  const r2t = {
    opcode: IscsiOp.R2T,
    lun: 0n,
    initiatorTaskTag: 1,
    targetTransferTag: 1,
    statSN: 1,
    expCmdSN: 1,
    maxCmdSN: 1,
    r2tSN: 0,
    bufferOffset: 0,
    desiredDataTransferLength: 1,
  } as const;
  for (const bad of [-1, 2 ** 32, 1.5, Number.NaN, Infinity]) {
    assert.throws(() => encodePdu({ ...r2t, bufferOffset: bad }), PduEncodeError, `bufferOffset ${bad}`);
  }
  assert.throws(() => encodePdu({ ...r2t, lun: -1n }), PduEncodeError);
  assert.throws(() => encodePdu({ ...r2t, lun: 1n << 64n }), PduEncodeError);
  assert.doesNotThrow(() => encodePdu({ ...r2t, lun: (1n << 64n) - 1n }));
  const login = VECTORS.find((v) => v.pdu.opcode === IscsiOp.LOGIN_REQUEST)!.pdu;
  assert.throws(() => encodePdu({ ...login, isid: 2 ** 48 } as Pdu), PduEncodeError);
  assert.throws(() => encodePdu({ ...login, isid: -1 } as Pdu), PduEncodeError);
  assert.throws(() => encodePdu({ ...login, csg: 2 } as Pdu), PduEncodeError);
  assert.throws(() => encodePdu({ ...login, nsg: 4 } as Pdu), PduEncodeError);
  assert.throws(() => encodePdu({ ...login, tsih: 0x10000 } as Pdu), PduEncodeError);
  assert.throws(() => encodePdu({ ...login, versionMax: 256 } as Pdu), PduEncodeError);
  const tmf = VECTORS.find((v) => v.pdu.opcode === IscsiOp.TASK_MGMT_REQUEST)!.pdu;
  assert.throws(() => encodePdu({ ...tmf, function: 128 } as Pdu), PduEncodeError);
  const cmd = VECTORS.find((v) => v.pdu.opcode === IscsiOp.SCSI_COMMAND)!.pdu;
  assert.throws(() => encodePdu({ ...cmd, taskAttribute: 8 } as Pdu), PduEncodeError);
  assert.throws(() => encodePdu({ ...cmd, cdb: Buffer.alloc(16 + 1100) } as Pdu), PduEncodeError, 'AHS > 1020 bytes');
  const resp = VECTORS.find((v) => v.pdu.opcode === IscsiOp.SCSI_RESPONSE)!.pdu;
  assert.throws(() => encodePdu({ ...resp, status: 0x100 } as Pdu), PduEncodeError);
  assert.throws(() => encodePdu({ ...resp, sense: Buffer.alloc(0x10000) } as Pdu), PduEncodeError);
});

test('SCSI Command CDB shorter than 16 bytes is zero-padded in the BHS', () => {
  const { bhs } = encodePdu({
    opcode: IscsiOp.SCSI_COMMAND,
    immediate: false,
    final: true,
    read: false,
    write: false,
    taskAttribute: 1,
    lun: 0n,
    initiatorTaskTag: 1,
    expectedDataTransferLength: 0,
    cmdSN: 1,
    expStatSN: 1,
    cdb: Buffer.from([0x00, 0, 0, 0, 0, 0]), // TEST UNIT READY (6)
    data: Buffer.alloc(0),
  });
  assert.equal(bhs.length, 48);
  assert.equal(bhs.subarray(32).toString('hex'), '00'.repeat(16));
});

test('Async Message sense + event data and Reject defaults', () => {
  const sense = Buffer.from([0x70, 0, 6, 0, 0, 0, 0, 0]);
  const ev = Buffer.from([1, 2, 3]);
  const { bhs, data } = encodePdu({
    opcode: IscsiOp.ASYNC_MESSAGE,
    statSN: 1,
    expCmdSN: 2,
    maxCmdSN: 3,
    asyncEvent: 0,
    sense,
    eventData: ev,
  });
  assert.equal(data?.toString('hex'), '0008' + sense.toString('hex') + '010203');
  assert.equal(bhs.readUInt32BE(16), 0xffffffff);
  const back = decodePdu(bhs, Buffer.alloc(0), data ?? Buffer.alloc(0));
  assert.equal(back.opcode, IscsiOp.ASYNC_MESSAGE);
  if (back.opcode === IscsiOp.ASYNC_MESSAGE) {
    assert.deepEqual(back.sense, sense);
    assert.deepEqual(back.eventData, ev);
  }
  const rej = encodePdu({ opcode: IscsiOp.REJECT, reason: 9, statSN: 1, expCmdSN: 1, maxCmdSN: 1, data: RFC_READ_PDU });
  assert.equal(rej.bhs.readUInt32BE(16), 0xffffffff);
  assert.equal(rej.bhs.readUInt32BE(36), 0);
  assert.equal(rej.data, RFC_READ_PDU);
});

test('constants: login status class/detail (RFC 7143 §11.13.5) and reverse names', async () => {
  const c = await import('../../../src/iscsi/constants.js');
  const table: [keyof typeof c.LoginStatus, number, number][] = [
    ['SUCCESS', 0x00, 0x00],
    ['TARGET_MOVED_TEMPORARILY', 0x01, 0x01],
    ['TARGET_MOVED_PERMANENTLY', 0x01, 0x02],
    ['INITIATOR_ERROR', 0x02, 0x00],
    ['AUTHENTICATION_FAILED', 0x02, 0x01],
    ['AUTHORIZATION_FAILURE', 0x02, 0x02],
    ['NOT_FOUND', 0x02, 0x03],
    ['TARGET_REMOVED', 0x02, 0x04],
    ['UNSUPPORTED_VERSION', 0x02, 0x05],
    ['TOO_MANY_CONNECTIONS', 0x02, 0x06],
    ['MISSING_PARAMETER', 0x02, 0x07],
    ['CANT_INCLUDE_IN_SESSION', 0x02, 0x08],
    ['SESSION_TYPE_NOT_SUPPORTED', 0x02, 0x09],
    ['SESSION_DOES_NOT_EXIST', 0x02, 0x0a],
    ['INVALID_DURING_LOGIN', 0x02, 0x0b],
    ['TARGET_ERROR', 0x03, 0x00],
    ['SERVICE_UNAVAILABLE', 0x03, 0x01],
    ['OUT_OF_RESOURCES', 0x03, 0x02],
  ];
  assert.equal(Object.keys(c.LoginStatus).length, table.length);
  for (const [name, cls, detail] of table) {
    const v = c.LoginStatus[name];
    assert.equal(c.loginStatusClass(v), cls, name);
    assert.equal(c.loginStatusDetail(v), detail, name);
    assert.equal(c.loginStatusName(v), name);
  }
  assert.equal(c.loginStatusName(0x0299), 'LOGIN_STATUS_0x299');
  assert.equal(c.opcodeName(0x25), 'SCSI_DATA_IN');
  assert.equal(c.opcodeName(0x07), 'UNKNOWN_OP_0x07');
  assert.equal(c.rejectReasonName(0x09), 'INVALID_PDU_FIELD');
  assert.equal(c.rejectReasonName(0x02), 'DATA_DIGEST_ERROR');
  assert.equal(c.tmfFunctionName(5), 'LOGICAL_UNIT_RESET');
  assert.equal(c.tmfResponseName(255), 'FUNCTION_REJECTED');
  assert.equal(c.logoutReasonName(2), 'REMOVE_CONNECTION_FOR_RECOVERY');
  assert.equal(c.logoutResponseName(1), 'CID_NOT_FOUND');
  assert.equal(c.asyncEventName(4), 'NEGOTIATION_REQUEST');
  // RFC 7143 §11.17.1 reject reasons
  assert.deepEqual(Object.values(c.RejectReason), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  // opcodes: initiator 0x00-0x1f, target 0x20-0x3f
  for (const [k, v] of Object.entries(c.IscsiOp)) {
    const initiator = ['NOP_OUT', 'SCSI_COMMAND', 'TASK_MGMT_REQUEST', 'LOGIN_REQUEST', 'TEXT_REQUEST', 'SCSI_DATA_OUT', 'LOGOUT_REQUEST', 'SNACK_REQUEST'].includes(k);
    assert.equal(v < 0x20, initiator, k);
  }
});

test('SCSI Command with the largest Extended CDB AHS (TotalAHSLength >= 128 words) round-trips', () => {
  for (const cdbLen of [16 + 508, 16 + 1012]) {
    const cdb = Buffer.from(Array.from({ length: cdbLen }, (_, i) => (i * 13) & 0xff));
    const pdu: Pdu = {
      opcode: IscsiOp.SCSI_COMMAND,
      immediate: false,
      final: true,
      read: true,
      write: false,
      taskAttribute: 1,
      lun: 0n,
      initiatorTaskTag: 1,
      expectedDataTransferLength: 512,
      cmdSN: 1,
      expStatSN: 1,
      cdb,
      data: Buffer.alloc(0),
    };
    const { bhs, data } = encodePdu(pdu);
    const ahsLen = (4 + cdbLen - 16 + 3) & ~3;
    assert.equal(bhs.length, 48 + ahsLen);
    assert.equal(bhs[4], ahsLen / 4);
    assert.equal(bhs.readUIntBE(5, 3), 0);
    assert.equal(data, undefined);
    assert.deepEqual(decodePdu(bhs.subarray(0, 48), bhs.subarray(48), Buffer.alloc(0)), pdu);
  }
});
