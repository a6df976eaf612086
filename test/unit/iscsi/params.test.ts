import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParamNegotiator, parseNumber } from '../../../src/iscsi/params.js';
import { DEFAULT_TARGET_LIMITS, type TargetLimits } from '../../../src/iscsi/registry.js';

const limits = (o: Partial<TargetLimits> = {}): TargetLimits => ({ ...DEFAULT_TARGET_LIMITS, ...o });

function answer(n: ParamNegotiator, key: string, value: string): string | null {
  const r = n.negotiate(key, value);
  assert.equal(r.kind, 'answer', `${key}=${value}`);
  return r.kind === 'answer' ? r.answer : null;
}

test('parseNumber: decimal and hex, rejects junk', () => {
  assert.equal(parseNumber('8192'), 8192);
  assert.equal(parseNumber('0x2000'), 8192);
  assert.equal(parseNumber('-1'), null);
  assert.equal(parseNumber('12a'), null);
  assert.equal(parseNumber(''), null);
});

test('Linux open-iscsi proposal within ceph-iscsi defaults', () => {
  const n = new ParamNegotiator('Normal', limits());
  assert.equal(answer(n, 'HeaderDigest', 'None'), 'None');
  assert.equal(answer(n, 'DataDigest', 'None'), 'None');
  assert.equal(answer(n, 'MaxRecvDataSegmentLength', '262144'), null);
  assert.equal(answer(n, 'InitialR2T', 'No'), 'Yes'); // OR with our Yes
  assert.equal(answer(n, 'ImmediateData', 'Yes'), 'Yes');
  assert.equal(answer(n, 'MaxBurstLength', '16776192'), '524288');
  assert.equal(answer(n, 'FirstBurstLength', '262144'), '262144');
  assert.equal(answer(n, 'MaxConnections', '1'), '1');
  assert.equal(answer(n, 'DefaultTime2Wait', '0'), '2');
  assert.equal(answer(n, 'DefaultTime2Retain', '0'), '0');
  assert.equal(answer(n, 'MaxOutstandingR2T', '1'), '1');
  assert.equal(answer(n, 'ErrorRecoveryLevel', '0'), '0');
  assert.equal(answer(n, 'DataPDUInOrder', 'Yes'), 'Yes');
  assert.equal(answer(n, 'DataSequenceInOrder', 'Yes'), 'Yes');
  assert.equal(answer(n, 'IFMarker', 'No'), 'No');
  assert.equal(answer(n, 'OFMarker', 'No'), 'No');
  assert.deepEqual(n.offers(), []);
  assert.deepEqual(n.declarations('gw'), [
    ['MaxRecvDataSegmentLength', '262144'],
    ['TargetAlias', 'gw'],
  ]);
  assert.deepEqual(n.declarations('gw'), []);
  const p = n.result();
  assert.equal(p.initialR2T, true);
  assert.equal(p.immediateData, true);
  assert.equal(p.maxBurstLength, 524288);
  assert.equal(p.firstBurstLength, 262144);
  assert.equal(p.initiatorMaxRecvDataSegmentLength, 262144);
  assert.equal(p.targetMaxRecvDataSegmentLength, 262144);
  assert.equal(p.headerDigest, false);
});

test('digests: first offered among {CRC32C, None}; unsupported -> Reject', () => {
  const n = new ParamNegotiator('Normal', limits());
  assert.equal(answer(n, 'HeaderDigest', 'CRC32C,None'), 'CRC32C');
  assert.equal(answer(n, 'DataDigest', 'None,CRC32C'), 'None');
  const p = n.result();
  assert.equal(p.headerDigest, true);
  assert.equal(p.dataDigest, false);
  const m = new ParamNegotiator('Normal', limits());
  assert.equal(answer(m, 'HeaderDigest', 'MD5'), 'Reject');
  assert.equal(m.result().headerDigest, false);
});

test('boolean AND/OR with target limits', () => {
  const n = new ParamNegotiator('Normal', limits({ immediateData: false, initialR2T: false }));
  assert.equal(answer(n, 'ImmediateData', 'Yes'), 'No');
  assert.equal(answer(n, 'InitialR2T', 'No'), 'No');
  assert.equal(answer(n, 'DataPDUInOrder', 'No'), 'Yes');
  assert.equal(answer(n, 'InitialR2T2', 'No'), 'NotUnderstood');
  const p = n.result();
  assert.equal(p.immediateData, false);
  assert.equal(p.initialR2T, false);
});

test('FirstBurstLength never exceeds MaxBurstLength', () => {
  const n = new ParamNegotiator('Normal', limits({ maxBurstLength: 65536, firstBurstLength: 262144 }));
  assert.equal(answer(n, 'MaxBurstLength', '262144'), '65536');
  assert.equal(answer(n, 'FirstBurstLength', '262144'), '65536');
  assert.equal(n.result().firstBurstLength, 65536);
});

test('invalid values -> Reject; unknown and X- keys -> NotUnderstood; target-only key -> error', () => {
  const n = new ParamNegotiator('Normal', limits());
  assert.equal(answer(n, 'MaxBurstLength', '100'), 'Reject');
  assert.equal(answer(n, 'ImmediateData', 'Maybe'), 'Reject');
  assert.equal(answer(n, 'MaxRecvDataSegmentLength', 'x'), 'Reject');
  assert.equal(answer(n, 'X-com.example.foo', '1'), 'NotUnderstood');
  assert.equal(n.negotiate('TargetPortalGroupTag', '1').kind, 'error');
  assert.equal(n.result().maxBurstLength, 262144); // default stays
});

test('key negotiated twice is a protocol error', () => {
  const n = new ParamNegotiator('Normal', limits());
  answer(n, 'MaxBurstLength', '4096');
  assert.equal(n.negotiate('MaxBurstLength', '4096').kind, 'error');
});

test('discovery session: session keys are Irrelevant', () => {
  const n = new ParamNegotiator('Discovery', limits());
  assert.equal(answer(n, 'MaxBurstLength', '4096'), 'Irrelevant');
  assert.equal(answer(n, 'InitialR2T', 'No'), 'Irrelevant');
  assert.equal(answer(n, 'HeaderDigest', 'None'), 'None');
  assert.deepEqual(n.offers(), []);
  assert.deepEqual(n.declarations('alias'), [['MaxRecvDataSegmentLength', '262144']]);
});

test('target offers keys whose defaults exceed its limits; initiator reply is checked', () => {
  const n = new ParamNegotiator('Normal', limits({ firstBurstLength: 8192, immediateData: false }));
  const offers = n.offers();
  assert.deepEqual(offers, [
    ['FirstBurstLength', '8192'],
    ['ImmediateData', 'No'],
  ]);
  assert.equal(n.awaitingOfferReplies, true);
  assert.equal(answer(n, 'FirstBurstLength', '4096'), null);
  assert.equal(n.negotiate('ImmediateData', 'Yes').kind, 'error');
  assert.equal(n.result().firstBurstLength, 4096);
  assert.deepEqual(n.offers(), []);
});

test('initiator MaxRecvDataSegmentLength is capped by MaxXmitDataSegmentLength', () => {
  const n = new ParamNegotiator('Normal', limits({ maxXmitDataSegmentLength: 65536 }));
  answer(n, 'MaxRecvDataSegmentLength', '1048576');
  assert.equal(n.result().initiatorMaxRecvDataSegmentLength, 65536);
  const d = new ParamNegotiator('Normal', limits());
  assert.equal(d.result().initiatorMaxRecvDataSegmentLength, 8192); // RFC default
});

import fc from 'fast-check';

test('property: answers never exceed the target limits; result is consistent', () => {
  const num = fc.integer({ min: 0, max: 20_000_000 }).map(String);
  fc.assert(
    fc.property(
      fc.record({
        maxBurstLength: fc.integer({ min: 512, max: 16777215 }),
        firstBurstLength: fc.integer({ min: 512, max: 16777215 }),
        maxOutstandingR2T: fc.integer({ min: 1, max: 65535 }),
        immediateData: fc.boolean(),
        initialR2T: fc.boolean(),
      }),
      fc.record({ MaxBurstLength: num, FirstBurstLength: num, MaxOutstandingR2T: num, ImmediateData: fc.constantFrom('Yes', 'No', 'x'), InitialR2T: fc.constantFrom('Yes', 'No') }),
      (lim, offer) => {
        const n = new ParamNegotiator('Normal', limits(lim));
        for (const [k, v] of Object.entries(offer)) assert.equal(n.negotiate(k, v).kind, 'answer');
        // answer the target's own offers as a compliant initiator would
        for (const [k, v] of n.offers()) assert.equal(n.negotiate(k, v).kind, 'answer');
        const p = n.result();
        assert.ok(p.maxBurstLength <= lim.maxBurstLength);
        assert.ok(p.firstBurstLength <= Math.min(lim.firstBurstLength, p.maxBurstLength));
        assert.ok(p.maxOutstandingR2T <= lim.maxOutstandingR2T);
        if (!lim.immediateData) assert.equal(p.immediateData, false);
        if (lim.initialR2T) assert.equal(p.initialR2T, true);
      },
    ),
    { numRuns: 300 },
  );
});
