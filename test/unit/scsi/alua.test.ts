// Explicit and implicit ALUA: INQUIRY TPGS, REPORT TARGET PORT GROUPS descriptor bytes, SET TARGET PORT GROUPS
// (CDB and parameter list validation, the HA handler, unit attentions, ALUA and reservation gates, RSOC).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScsiStatus, type Nexus } from '../../../src/scsi/command.js';
import type { AluaGroup, LogicalUnitOptions, SetTargetPortGroups, TargetPortGroupRequest } from '../../../src/scsi/logical-unit.js';
import type { SenseReason } from '../../../src/scsi/sense.js';
import { cdb, makeLu, makeNexus, openPort, run, senseOf, type TestLu } from './helpers.js';
import { prOutCdb, prOutParam, SA, TYPE } from './reservations-fixtures.js';

const ILLEGAL = 0x5;
const NA = makeNexus('iqn.1994-05.com.example:a', 1);
const NB = makeNexus('iqn.1994-05.com.example:b', 2);

/** SET TARGET PORT GROUPS CDB (SPC-4 "SET TARGET PORT GROUPS command"). */
function stpgCdb(parameterListLength: number, control = 0): Buffer {
  return Buffer.from([
    0xa4, // OPERATION CODE: MAINTENANCE OUT
    0x0a, // SERVICE ACTION: SET TARGET PORT GROUPS
    0, 0, 0, 0, // reserved
    (parameterListLength >>> 24) & 0xff, (parameterListLength >>> 16) & 0xff, (parameterListLength >>> 8) & 0xff, parameterListLength & 0xff, // PARAMETER LIST LENGTH
    0, // reserved
    control, // CONTROL
  ]);
}

/** SET TARGET PORT GROUPS parameter list: 4 reserved bytes, then [ASYMMETRIC ACCESS STATE, reserved, TARGET PORT GROUP]. */
function stpgParam(...descriptors: Array<[state: number, group: number]>): Buffer {
  return Buffer.from([0, 0, 0, 0, ...descriptors.flatMap(([state, group]) => [state, 0, group >> 8, group & 0xff])]);
}

function rtpgCdb(extended = false): Buffer {
  return Buffer.from([0xa3, (extended ? 0x20 : 0) | 0x0a, 0, 0, 0, 0, 0, 0, 0x04, 0x00, 0, 0]);
}

/** Fixed sense bytes 15-17: SKSV | C/D | BPV | BIT POINTER, FIELD POINTER. */
function fieldPointer(r: { sense?: Buffer }): number[] {
  return [...r.sense!.subarray(15, 18)];
}

interface Explicit extends TestLu {
  calls: Array<{ requests: TargetPortGroupRequest[]; nexus: Nexus }>;
  /** What the handler answers on its next call. */
  answer: { next: () => ReturnType<SetTargetPortGroups> };
}

/** An explicit-ALUA LU with groups 1 (AO) and 2 (standby) whose handler records its calls. */
function explicitLu(opts: Partial<LogicalUnitOptions> = {}): Explicit {
  const calls: Explicit['calls'] = [];
  const answer: Explicit['answer'] = { next: () => undefined };
  const t = makeLu(8 * 1024 * 1024, {
    aluaAccess: 'explicit',
    setTargetPortGroups: (requests, nexus) => {
      calls.push({ requests, nexus });
      return answer.next();
    },
    ...opts,
  });
  t.groups.length = 0;
  t.groups.push({ id: 1, state: 'active-optimized', relativePortIds: [1] }, { id: 2, state: 'standby', relativePortIds: [2] });
  return { ...t, calls, answer };
}

test('INQUIRY standard data byte 5: TPGS 01b (implicit) by default, 11b with explicit ALUA, 3PC in both', async () => {
  const implicit = makeLu();
  const pi = await openPort(implicit.lu);
  const di = (await run(pi, cdb(0x12, 0, 0, 0, 96, 0))).dataIn!;
  assert.equal(di[5], 0x18); // TPGS 01b | 3PC
  const { lu } = explicitLu();
  const pe = await openPort(lu);
  const de = (await run(pe, cdb(0x12, 0, 0, 0, 96, 0))).dataIn!;
  assert.equal(de[5], 0x38); // TPGS 11b | 3PC
  assert.deepEqual(de.subarray(0, 5), di.subarray(0, 5));
  assert.deepEqual(de.subarray(6), di.subarray(6));
});

test('explicit ALUA without a SET TARGET PORT GROUPS handler is refused at construction', () => {
  assert.throws(() => makeLu(8 * 1024 * 1024, { aluaAccess: 'explicit' }), /setTargetPortGroups/);
});

test('RTPG bytes, explicit LU: PREF, S_SUP, STATUS CODE per group; extended header keeps the implicit transition time', async () => {
  const { lu, groups } = explicitLu();
  groups[0]!.preferred = true;
  groups[0]!.status = 'explicit';
  groups[1]!.status = 'none';
  const port = await openPort(lu, NA);
  const d = (await run(port, rtpgCdb())).dataIn!;
  assert.deepEqual(
    [...d],
    [
      0x00, 0x00, 0x00, 0x18, // RETURN DATA LENGTH 24
      0x80, 0x8f, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, // PREF | AO; T_SUP U_SUP S_SUP AN_SUP AO_SUP; group 1; STATUS 01h; 1 port
      0x00, 0x00, 0x00, 0x01, //   relative target port 1
      0x02, 0x8f, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, // standby; same bits; group 2; STATUS 00h; 1 port
      0x00, 0x00, 0x00, 0x02, //   relative target port 2
    ],
  );
  const x = (await run(port, rtpgCdb(true))).dataIn!;
  assert.deepEqual([...x.subarray(0, 8)], [0x00, 0x00, 0x00, 0x1c, 0x10, 45, 0x00, 0x00]); // +4 header; FORMAT TYPE 001b; 45 s
  assert.deepEqual(x.subarray(8), d.subarray(4));
});

test('RTPG bytes, implicit LU: no S_SUP unless a group is in standby, STATUS CODE 02h and PREF 0 by default', async () => {
  const { lu, groups } = makeLu();
  groups.push({ id: 2, state: 'active-non-optimized', relativePortIds: [2, 3] });
  const port = await openPort(lu);
  const d = (await run(port, rtpgCdb())).dataIn!;
  assert.deepEqual(
    [...d],
    [
      0x00, 0x00, 0x00, 0x1c, // RETURN DATA LENGTH 28
      0x00, 0x8b, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, // AO; T_SUP U_SUP AN_SUP AO_SUP; group 1; implicit; 1 port
      0x00, 0x00, 0x00, 0x01,
      0x01, 0x8b, 0x00, 0x02, 0x00, 0x02, 0x00, 0x02, // ANO; group 2; implicit; 2 ports
      0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03,
    ],
  );
  groups[1]!.state = 'standby'; // an HA layer may still use standby: never reported as unsupported
  const s = (await run(port, rtpgCdb())).dataIn!;
  assert.deepEqual([s[16], s[17]], [0x02, 0x8f]);
});

test('STPG on an implicit-only LU: INVALID COMMAND OPERATION CODE, the handler is not called', async () => {
  const calls: TargetPortGroupRequest[][] = [];
  const { lu } = makeLu(8 * 1024 * 1024, { setTargetPortGroups: (r) => void calls.push(r) });
  const port = await openPort(lu);
  const r = await run(port, stpgCdb(8), { dataOut: stpgParam([0, 1]) });
  assert.equal(r.prepared, false); // refused before any Data-Out is solicited
  assert.deepEqual(senseOf(r), [ILLEGAL, 0x20, 0x00]);
  assert.deepEqual(fieldPointer(r), [0xc0, 0x00, 0x00]); // C/D, byte 0
  assert.deepEqual(calls, []);
});

test('STPG parameter list length: 0 and 4 are a GOOD no-op; 1-3, 5, 6 and > 4 + 4*256 are INVALID FIELD IN CDB (byte 6)', async () => {
  const { lu, calls } = explicitLu();
  const port = await openPort(lu, NA);
  for (const len of [0, 4]) {
    const r = await run(port, stpgCdb(len), { dataOut: Buffer.alloc(len) });
    assert.equal(r.status, ScsiStatus.GOOD, `length ${len}`);
    assert.equal(r.dataOutLength, len);
  }
  for (const len of [1, 3, 5, 6, 4 + 4 * 257]) {
    const r = await run(port, stpgCdb(len));
    assert.equal(r.prepared, false, `length ${len}`);
    assert.deepEqual(senseOf(r), [ILLEGAL, 0x24, 0x00]);
    assert.deepEqual(fieldPointer(r), [0xc0, 0x00, 0x06]);
  }
  assert.equal((await run(port, stpgCdb(4 + 4 * 256), { dataOut: stpgParam(...new Array<[number, number]>(256).fill([0, 1])) })).status, ScsiStatus.GOOD);
  // CONTROL byte NACA
  assert.deepEqual(fieldPointer(await run(port, stpgCdb(8, 0x04))), [0xca, 0x00, 0x0b]);
  assert.equal(calls.length, 1); // only the 256-descriptor list (one group: asked once)
  assert.deepEqual(calls[0]!.requests, [{ groupId: 1, state: 0 }]);
});

test('STPG: the handler gets the validated descriptors in order and the sending nexus; GOOD; the other nexuses get ASYMMETRIC ACCESS STATE CHANGED', async () => {
  const { lu, calls } = explicitLu();
  const pa = await openPort(lu, NA);
  const pb = await openPort(lu, NB);
  // reserved bits in byte 0 are ignored: the state is the low nibble
  const param = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02, 0xf2, 0x00, 0x00, 0x01]);
  const r = await run(pb, stpgCdb(12), { dataOut: param });
  assert.equal(r.status, ScsiStatus.GOOD);
  assert.equal(r.dataOutLength, 12);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]!.requests, [
    { groupId: 2, state: 0x0 },
    { groupId: 1, state: 0x2 },
  ]);
  assert.equal(calls[0]!.nexus.key, NB.key);
  // REQUEST SENSE (allowed in standby) reports a pending unit attention as its data, else NO SENSE
  const requestSense = cdb(0x03, 0, 0, 0, 18, 0);
  assert.deepEqual(senseOf({ kind: 'result', status: 0, sense: (await run(pb, requestSense)).dataIn! }), [0x0, 0x00, 0x00]); // the sender: none
  assert.deepEqual(senseOf(await run(pa, cdb(0x00))), [0x6, 0x2a, 0x06]);
  assert.equal((await run(pa, cdb(0x00))).status, ScsiStatus.GOOD);
});

test('STPG: asymmetric access states other than 0h/1h/2h are INVALID FIELD IN PARAMETER LIST at the descriptor', async () => {
  const { lu, calls } = explicitLu();
  const port = await openPort(lu, NA);
  // 3h unavailable, 4h logical block dependent, 5h-Dh reserved, Eh offline (secondary), Fh transitioning
  for (const state of [0x3, 0x4, 0x5, 0xd, 0xe, 0xf]) {
    const r = await run(port, stpgCdb(12), { dataOut: stpgParam([0, 1], [state, 2]) });
    assert.deepEqual(senseOf(r), [ILLEGAL, 0x26, 0x00], `state ${state}`);
    assert.deepEqual(fieldPointer(r), [0x8b, 0x00, 0x08]); // SKSV | BPV | bit 3, parameter byte 8
  }
  for (const state of [0x0, 0x1, 0x2]) {
    assert.equal((await run(port, stpgCdb(8), { dataOut: stpgParam([state, 2]) })).status, ScsiStatus.GOOD, `state ${state}`);
  }
  assert.deepEqual(
    calls.map((c) => c.requests),
    [[{ groupId: 2, state: 0 }], [{ groupId: 2, state: 1 }], [{ groupId: 2, state: 2 }]],
  );
});

test('STPG: an unknown target port group or one group asked for two states is INVALID FIELD IN PARAMETER LIST; a repeat is passed once', async () => {
  const { lu, calls } = explicitLu();
  const port = await openPort(lu, NA);
  const unknown = await run(port, stpgCdb(8), { dataOut: stpgParam([0, 7]) });
  assert.deepEqual(senseOf(unknown), [ILLEGAL, 0x26, 0x00]);
  assert.deepEqual(fieldPointer(unknown), [0x80, 0x00, 0x06]); // TARGET PORT GROUP of descriptor 0
  const both = await run(port, stpgCdb(16), { dataOut: stpgParam([0, 1], [2, 2], [2, 1]) });
  assert.deepEqual(senseOf(both), [ILLEGAL, 0x26, 0x00]);
  assert.deepEqual(fieldPointer(both), [0x8b, 0x00, 0x0c]); // state of descriptor 2
  assert.equal(calls.length, 0);
  assert.equal((await run(port, stpgCdb(12), { dataOut: stpgParam([0, 2], [0, 2]) })).status, ScsiStatus.GOOD);
  assert.deepEqual(calls[0]!.requests, [{ groupId: 2, state: 0 }]);
});

test('STPG: less Data-Out than the parameter list length is PARAMETER LIST LENGTH ERROR', async () => {
  const { lu, calls } = explicitLu();
  const port = await openPort(lu, NA);
  const r = await run(port, stpgCdb(12), { dataOut: stpgParam([0, 2]), edtl: 8, allowShort: true });
  assert.equal(r.dataOutLength, 12);
  assert.deepEqual(senseOf(r), [ILLEGAL, 0x1a, 0x00]);
  assert.deepEqual(calls, []);
});

test("STPG: the handler's sense reason is the CHECK CONDITION; a throw or rejection is SET TARGET PORT GROUPS COMMAND FAILED", async () => {
  const { lu, calls, answer } = explicitLu();
  const pa = await openPort(lu, NA);
  const pb = await openPort(lu, NB);
  const send = () => run(pb, stpgCdb(8), { dataOut: stpgParam([0, 2]) });
  const cases: Array<[() => ReturnType<SetTargetPortGroups>, [number, number, number]]> = [
    [() => 'INVALID_FIELD_IN_PARAMETER_LIST', [ILLEGAL, 0x26, 0x00]],
    [() => Promise.resolve<SenseReason>('ALUA_TRANSITION'), [0x2, 0x04, 0x0a]],
    [() => Promise.resolve<SenseReason>('SET_TARGET_PORT_GROUPS_COMMAND_FAILED'), [0x4, 0x67, 0x0a]],
    [
      () => {
        throw new Error('ownership move failed');
      },
      [0x4, 0x67, 0x0a],
    ],
    [() => Promise.reject(new Error('lock not acquired')), [0x4, 0x67, 0x0a]],
  ];
  for (const [next, expected] of cases) {
    answer.next = next;
    const r = await send();
    assert.equal(r.status, ScsiStatus.CHECK_CONDITION);
    assert.deepEqual(senseOf(r), expected);
  }
  assert.equal(calls.length, cases.length);
  assert.equal((await run(pa, cdb(0x00))).status, ScsiStatus.GOOD); // no state change: no unit attention
  answer.next = () => Promise.resolve(undefined);
  assert.equal((await send()).status, ScsiStatus.GOOD);
  assert.deepEqual(senseOf(await run(pa, cdb(0x00))), [0x6, 0x2a, 0x06]);
});

test('STPG passes the ALUA gate in standby and unavailable, not while transitioning (NOT READY 04h/0Ah)', async () => {
  const { lu, calls, groups } = explicitLu();
  const pb = await openPort(lu, NB); // group 2
  const send = () => run(pb, stpgCdb(8), { dataOut: stpgParam([0, 2]) });
  for (const state of ['standby', 'unavailable', 'active-non-optimized'] as const) {
    groups[1]!.state = state;
    assert.equal((await send()).status, ScsiStatus.GOOD, state);
  }
  groups[1]!.state = 'transitioning';
  const r = await send();
  assert.equal(r.prepared, false);
  assert.deepEqual(senseOf(r), [0x2, 0x04, 0x0a]);
  assert.equal(calls.length, 3);
});

test('STPG under persistent reservations: conflicts like a write (SPC-4 table), allowed for registrants under a registrants-only type', async () => {
  const { lu, calls } = explicitLu();
  await lu.open();
  const pa = await openPort(lu, NA);
  const pb = await openPort(lu, NB);
  const pr = async (sa: number, type: number, rk: bigint, sark: bigint, port = pa) =>
    (await run(port, prOutCdb(sa, type), { dataOut: prOutParam({ rk, sark }) })).status;
  const send = () => run(pb, stpgCdb(8), { dataOut: stpgParam([0, 2]) });
  assert.equal(await pr(SA.REGISTER, 0, 0n, 0xaan), ScsiStatus.GOOD);
  assert.equal(await pr(SA.RESERVE, TYPE.WE, 0xaan, 0n), ScsiStatus.GOOD);
  assert.equal((await send()).status, ScsiStatus.RESERVATION_CONFLICT); // Write Exclusive, B not registered
  assert.equal(await pr(SA.RELEASE, TYPE.WE, 0xaan, 0n), ScsiStatus.GOOD);
  assert.equal(await pr(SA.RESERVE, TYPE.WERO, 0xaan, 0n), ScsiStatus.GOOD);
  assert.equal((await send()).status, ScsiStatus.RESERVATION_CONFLICT); // WE registrants only, B not registered
  assert.equal(calls.length, 0);
  assert.equal(await pr(SA.REGISTER, 0, 0n, 0xbbn, pb), ScsiStatus.GOOD);
  const r = await send();
  assert.equal(r.status, ScsiStatus.GOOD); // B registered: allowed
  assert.equal(calls.length, 1);
  // the holder itself is never in conflict (after the unit attention B's change raised)
  assert.deepEqual(senseOf(await run(pa, cdb(0x00))), [0x6, 0x2a, 0x06]);
  assert.equal((await run(pa, stpgCdb(8), { dataOut: stpgParam([0, 1]) })).status, ScsiStatus.GOOD);
});

function rsoc(options: number, op = 0, sa = 0): Buffer {
  return Buffer.from([0xa3, 0x0c, options, op, sa >> 8, sa & 0xff, 0, 0, 0xff, 0xff, 0, 0]);
}

/** [OPERATION CODE, SERVICE ACTION, SERVACTV] of each All_commands descriptor. */
function listed(d: Buffer): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let off = 4; off < 4 + d.readUInt32BE(0); off += 8) out.push([d[off]!, d.readUInt16BE(off + 2), d[off + 5]! & 1]);
  return out;
}

test('REPORT SUPPORTED OPERATION CODES lists SET TARGET PORT GROUPS only with explicit ALUA', async () => {
  const { lu } = explicitLu();
  const pe = await openPort(lu);
  const all = listed((await run(pe, rsoc(0))).dataIn!);
  assert.ok(all.some(([op, sa, servactv]) => op === 0xa4 && sa === 0x0a && servactv === 1));
  const one = (await run(pe, rsoc(2, 0xa4, 0x0a))).dataIn!;
  // SUPPORT 011b, CDB SIZE 12, CDB USAGE DATA
  assert.deepEqual([...one], [0x00, 0x03, 0x00, 0x0c, 0xa4, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00]);
  const implicit = makeLu();
  const pi = await openPort(implicit.lu);
  assert.ok(!listed((await run(pi, rsoc(0))).dataIn!).some(([op]) => op === 0xa4));
  assert.deepEqual([...(await run(pi, rsoc(2, 0xa4, 0x0a))).dataIn!], [0x00, 0x01, 0x00, 0x00]); // SUPPORT 001b
});

test('AluaGroup defaults keep the RTPG bytes of groups without preferred/status', async () => {
  const g: AluaGroup = { id: 5, state: 'active-optimized', relativePortIds: [5] };
  const { lu, groups } = makeLu();
  groups.splice(0, groups.length, g);
  const port = await openPort(lu);
  const d = (await run(port, rtpgCdb())).dataIn!;
  assert.deepEqual([d[4], d[9]], [0x00, 0x02]);
  g.preferred = false;
  g.status = 'implicit';
  assert.deepEqual((await run(port, rtpgCdb())).dataIn, d);
});
