import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginMachine, LoginStatus, type LoginRequestFields, type LoginAnswer } from '../../../src/iscsi/login.js';
import { DEFAULT_TARGET_LIMITS, type ChapPolicy, type InitiatorAccess, type IscsiTargetNode, type IscsiTargetRegistry } from '../../../src/iscsi/registry.js';
import { chapResponse, decodeChapBinary, encodeChapHex } from '../../../src/iscsi/chap.js';
import type { ScsiPort } from '../../../src/scsi/command.js';

const IQN = 'iqn.2003-01.org.example:t1';
const INI = 'iqn.1993-08.org.debian:01:host';

function registry(opts: { access?: InitiatorAccess; discovery?: ChapPolicy | null; served?: boolean; alias?: string } = {}): IscsiTargetRegistry {
  const node: IscsiTargetNode = {
    name: IQN,
    alias: opts.alias ?? '',
    tpgtFor: () => (opts.served === false ? undefined : 3),
    access: () => opts.access ?? { allowed: true, chap: null },
    limits: () => ({ ...DEFAULT_TARGET_LIMITS }),
    openPort: () => ({}) as ScsiPort,
  };
  return {
    findTarget: (n) => (n === IQN ? node : undefined),
    sendTargets: () => [],
    discoveryChap: () => opts.discovery ?? null,
  };
}

const machine = (r: IscsiTargetRegistry, exists = false) =>
  new LoginMachine({ registry: r, localAddress: '127.0.0.1', localPort: 3260, sessionExists: () => exists });

const req = (o: Partial<LoginRequestFields> = {}): LoginRequestFields => ({
  transit: true,
  csg: 0,
  nsg: 1,
  versionMax: 0,
  versionMin: 0,
  isid: Buffer.from('23d000000001', 'hex'),
  tsih: 0,
  cid: 0,
  ...o,
});
const kv = (o: Record<string, string>) => Object.entries(o).map(([key, value]) => ({ key, value }));
const pairs = (a: LoginAnswer) => new Map(a.pairs);

const OPS = { HeaderDigest: 'None', DataDigest: 'None', MaxRecvDataSegmentLength: '65536', ImmediateData: 'Yes', InitialR2T: 'Yes', MaxBurstLength: '262144', FirstBurstLength: '65536' };

test('AuthMethod=None, security -> operational -> FFP', () => {
  const m = machine(registry({ alias: 'gw1' }));
  const a1 = m.handle(req(), kv({ InitiatorName: INI, TargetName: IQN, SessionType: 'Normal', AuthMethod: 'None' }));
  assert.equal(a1.status, LoginStatus.SUCCESS);
  assert.equal(a1.transit, true);
  assert.equal(a1.nsg, 1);
  assert.equal(pairs(a1).get('AuthMethod'), 'None');
  assert.equal(pairs(a1).get('TargetPortalGroupTag'), '3');
  const a2 = m.handle(req({ csg: 1, nsg: 3 }), kv(OPS));
  assert.equal(a2.status, 0);
  assert.equal(a2.transit, true);
  assert.equal(a2.nsg, 3);
  assert.equal(pairs(a2).get('MaxRecvDataSegmentLength'), '262144');
  assert.equal(pairs(a2).get('TargetAlias'), 'gw1');
  assert.equal(pairs(a2).has('TargetPortalGroupTag'), false);
  assert.ok(a2.complete);
  assert.equal(a2.complete?.tpgt, 3);
  assert.equal(a2.complete?.authMethod, 'None');
  assert.equal(a2.complete?.params.initiatorMaxRecvDataSegmentLength, 65536);
});

test('leading login straight into operational stage', () => {
  const m = machine(registry());
  const a = m.handle(req({ csg: 1, nsg: 3 }), kv({ InitiatorName: INI, TargetName: IQN, ...OPS }));
  assert.equal(a.status, 0);
  assert.ok(a.complete);
});

test('error statuses: missing names, unknown target, not served, not allowed, version, session type', () => {
  assert.equal(machine(registry()).handle(req(), kv({ TargetName: IQN })).status, LoginStatus.MISSING_PARAMETER);
  assert.equal(machine(registry()).handle(req(), kv({ InitiatorName: INI })).status, LoginStatus.MISSING_PARAMETER);
  assert.equal(machine(registry()).handle(req(), kv({ InitiatorName: INI, TargetName: 'iqn.x:y' })).status, LoginStatus.NOT_FOUND);
  assert.equal(machine(registry({ served: false })).handle(req(), kv({ InitiatorName: INI, TargetName: IQN })).status, LoginStatus.NOT_FOUND);
  assert.equal(
    machine(registry({ access: { allowed: false, reason: 'not-authorized' } })).handle(req(), kv({ InitiatorName: INI, TargetName: IQN })).status,
    LoginStatus.AUTHORIZATION_FAILURE,
  );
  assert.equal(machine(registry()).handle(req({ versionMin: 1, versionMax: 2 }), kv({ InitiatorName: INI, TargetName: IQN })).status, LoginStatus.UNSUPPORTED_VERSION);
  assert.equal(machine(registry()).handle(req(), kv({ InitiatorName: INI, SessionType: 'Weird' })).status, LoginStatus.SESSION_TYPE_NOT_SUPPORTED);
  assert.equal(machine(registry()).handle(req({ tsih: 5 }), kv({ InitiatorName: INI, TargetName: IQN })).status, LoginStatus.SESSION_DOES_NOT_EXIST);
  assert.equal(machine(registry(), true).handle(req({ tsih: 5 }), kv({ InitiatorName: INI, TargetName: IQN })).status, LoginStatus.TOO_MANY_CONNECTIONS);
  assert.equal(machine(registry()).handle(req({ csg: 3 }), kv({ InitiatorName: INI, TargetName: IQN })).status, LoginStatus.INITIATOR_ERROR);
  assert.equal(machine(registry()).handle(req({ csg: 1, nsg: 0 }), kv({ InitiatorName: INI, TargetName: IQN })).status, LoginStatus.INITIATOR_ERROR);
});

const CHAP: ChapPolicy = { initiator: { username: 'user', password: 'secretsecret' } };

function chapLogin(policy: ChapPolicy, pass: string, alg = '5') {
  const m = machine(registry({ access: { allowed: true, chap: policy } }));
  const a1 = m.handle(req(), kv({ InitiatorName: INI, TargetName: IQN, AuthMethod: 'CHAP,None' }));
  assert.equal(a1.status, 0);
  assert.equal(a1.transit, false, 'no transit while CHAP runs');
  assert.equal(pairs(a1).get('AuthMethod'), 'CHAP');
  const a2 = m.handle(req({ transit: false }), kv({ CHAP_A: alg }));
  const p2 = pairs(a2);
  const chosen = Number(p2.get('CHAP_A')) as 5 | 7;
  const resp = chapResponse(chosen, Number(p2.get('CHAP_I')), pass, decodeChapBinary(p2.get('CHAP_C') ?? '') as Buffer);
  const a3 = m.handle(req(), kv({ CHAP_N: 'user', CHAP_R: encodeChapHex(resp) }));
  return { m, a3, chosen };
}

test('CHAP MD5 and SHA-256: good secret passes, wrong secret -> 0x0201', () => {
  const good = chapLogin(CHAP, 'secretsecret');
  assert.equal(good.a3.status, 0);
  assert.equal(good.a3.transit, true);
  const a4 = good.m.handle(req({ csg: 1, nsg: 3 }), kv(OPS));
  assert.equal(a4.complete?.authMethod, 'CHAP');
  assert.equal(chapLogin(CHAP, 'secretsecret', '7,5').chosen, 7);
  assert.equal(chapLogin(CHAP, 'secretsecret', '7,5').a3.status, 0);
  assert.equal(chapLogin(CHAP, 'wrongwrong').a3.status, LoginStatus.AUTHENTICATION_FAILED);
});

test('CHAP required, initiator offers only None -> 0x0201; skipping security -> 0x0201', () => {
  const r = registry({ access: { allowed: true, chap: CHAP } });
  assert.equal(machine(r).handle(req(), kv({ InitiatorName: INI, TargetName: IQN, AuthMethod: 'None' })).status, LoginStatus.AUTHENTICATION_FAILED);
  assert.equal(machine(r).handle(req({ csg: 1, nsg: 3 }), kv({ InitiatorName: INI, TargetName: IQN })).status, LoginStatus.AUTHENTICATION_FAILED);
  assert.equal(machine(r).handle(req(), kv({ InitiatorName: INI, TargetName: IQN })).status, LoginStatus.AUTHENTICATION_FAILED);
});

test('discovery session with discovery CHAP and without', () => {
  const m = machine(registry());
  const a = m.handle(req({ csg: 1, nsg: 3 }), kv({ InitiatorName: INI, SessionType: 'Discovery', MaxBurstLength: '4096' }));
  assert.equal(a.status, 0);
  assert.equal(a.complete?.sessionType, 'Discovery');
  assert.equal(pairs(a).get('MaxBurstLength'), 'Irrelevant');
  assert.equal(pairs(a).has('TargetPortalGroupTag'), false);
  const c = machine(registry({ discovery: CHAP }));
  assert.equal(c.handle(req({ csg: 1, nsg: 3 }), kv({ InitiatorName: INI, SessionType: 'Discovery' })).status, LoginStatus.AUTHENTICATION_FAILED);
});

test('operational stage: security keys rejected, target-initiated offers delay transit', () => {
  const m = machine(registry());
  m.handle(req(), kv({ InitiatorName: INI, TargetName: IQN, AuthMethod: 'None' }));
  assert.equal(m.handle(req({ csg: 1, nsg: 3 }), kv({ CHAP_A: '5' })).status, LoginStatus.INITIATOR_ERROR);
});

test('ISID change during login is an initiator error', () => {
  const m = machine(registry());
  m.handle(req({ transit: false }), kv({ InitiatorName: INI, TargetName: IQN, AuthMethod: 'None' }));
  assert.equal(m.handle(req({ isid: Buffer.alloc(6, 1) }), kv({})).status, LoginStatus.INITIATOR_ERROR);
});
