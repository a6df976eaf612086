import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLIENT_CONTROL_NAMES,
  builtinControlDefaults,
  controlsLimits,
  effectiveControls,
  mergeControls,
  normalizeControls,
  parseBool,
} from '../../../src/config/controls.js';
import { GatewayError } from '../../../src/util/errors.js';

function invalid(re: RegExp) {
  return (e: unknown): boolean => e instanceof GatewayError && e.code === 'ERR_CONFIG_INVALID' && re.test(e.message);
}

test('built-in defaults are upstream TGT_SETTINGS / TCMU_SETTINGS', () => {
  assert.deepEqual(builtinControlDefaults('target'), {
    dataout_timeout: 20,
    nopin_response_timeout: 5,
    nopin_timeout: 5,
    cmdsn_depth: 128,
    immediate_data: true,
    initial_r2t: true,
    max_outstanding_r2t: 1,
    first_burst_length: 262144,
    max_burst_length: 524288,
    max_recv_data_segment_length: 262144,
    max_xmit_data_segment_length: 262144,
  });
  assert.deepEqual(builtinControlDefaults('disk'), { max_data_area_mb: 8, qfull_timeout: 5, osd_op_timeout: 30, hw_max_sectors: 1024 });
  assert.deepEqual([...CLIENT_CONTROL_NAMES].sort(), ['cmdsn_depth', 'dataout_timeout', 'nopin_response_timeout', 'nopin_timeout']);
});

test('normalizeControls converts strings, drops defaults and empty values', () => {
  assert.deepEqual(normalizeControls('target', { cmdsn_depth: '64', immediate_data: 'No', initial_r2t: 'true', max_burst_length: 524288 }), {
    cmdsn_depth: 64,
    immediate_data: false,
  });
  assert.deepEqual(normalizeControls('target', { cmdsn_depth: '', nopin_timeout: null }), {});
  assert.deepEqual(normalizeControls('disk', { max_data_area_mb: 128, hw_max_sectors: '1024' }), { max_data_area_mb: 128 });
  // against cluster defaults: equal to the [target] default → not stored, even if ≠ built-in
  assert.deepEqual(normalizeControls('target', { cmdsn_depth: 64 }, { cmdsn_depth: 64 }), {});
  assert.deepEqual(normalizeControls('target', { cmdsn_depth: 128 }, { cmdsn_depth: 64 }), { cmdsn_depth: 128 });
});

test('booleans accept yes/no, true/false, on/off, 1/0 in any case', () => {
  for (const t of ['Yes', 'TRUE', 'on', '1', true, 1]) assert.equal(parseBool(t), true, String(t));
  for (const f of ['no', 'False', 'OFF', '0', false, 0]) assert.equal(parseBool(f), false, String(f));
  for (const x of ['maybe', '', 2, null, {}]) assert.equal(parseBool(x), undefined, String(x));
});

test('range, type and unknown-key errors name the control and the allowed range', () => {
  assert.throws(() => normalizeControls('target', { cmdsn_depth: 0 }), invalid(/^expected integer >= 1 for cmdsn_depth \(allowed: 1-512\)$/));
  assert.throws(() => normalizeControls('target', { cmdsn_depth: '513' }), invalid(/<= 512 for cmdsn_depth/));
  assert.throws(() => normalizeControls('target', { cmdsn_depth: 'abc' }), invalid(/expected integer for cmdsn_depth \(allowed: 1-512\)/));
  assert.throws(() => normalizeControls('target', { cmdsn_depth: 1.5 }), invalid(/cmdsn_depth/));
  assert.throws(() => normalizeControls('target', { cmdsn_depth: true }), invalid(/cmdsn_depth/));
  assert.throws(() => normalizeControls('target', { immediate_data: 'maybe' }), invalid(/^expected yes or no for immediate_data$/));
  assert.throws(() => normalizeControls('disk', { osd_op_timeout: 601 }), invalid(/osd_op_timeout/));
  assert.deepEqual(normalizeControls('disk', { osd_op_timeout: 0 }), { osd_op_timeout: 0 });
  assert.throws(
    () => normalizeControls('target', { bogus: 1 }),
    invalid(/^Supported controls: dataout_timeout,nopin_response_timeout,nopin_timeout,cmdsn_depth,immediate_data,initial_r2t,max_outstanding_r2t,first_burst_length,max_burst_length,max_recv_data_segment_length,max_xmit_data_segment_length$/),
  );
  assert.throws(() => normalizeControls('disk', { cmdsn_depth: 64 }), invalid(/^Supported controls: max_data_area_mb,qfull_timeout,osd_op_timeout,hw_max_sectors$/));
  assert.throws(() => normalizeControls('target', [] as unknown as Record<string, unknown>), invalid(/JSON object/));
});

test('mergeControls: set, reset with empty value, reset by giving the default', () => {
  const stored = { cmdsn_depth: 64, nopin_timeout: 10 };
  assert.deepEqual(mergeControls('target', stored, { dataout_timeout: '30' }), { cmdsn_depth: 64, nopin_timeout: 10, dataout_timeout: 30 });
  assert.deepEqual(mergeControls('target', stored, { cmdsn_depth: '' }), { nopin_timeout: 10 });
  assert.deepEqual(mergeControls('target', stored, { nopin_timeout: 5 }), { cmdsn_depth: 64 });
  // invalid stored values are dropped rather than propagated
  assert.deepEqual(mergeControls('target', { cmdsn_depth: 'junk', bogus: 1 }, {}), {});
  assert.throws(() => mergeControls('target', stored, { bogus: 1 }), invalid(/Supported controls/));
});

test('effectiveControls: stored overrides > cluster defaults > built-in; never throws on bad stored data', () => {
  const eff = effectiveControls('target', { cmdsn_depth: 64, immediate_data: 'no', junk: 1, nopin_timeout: 999 }, { dataout_timeout: 30 });
  assert.equal(eff.cmdsn_depth, 64);
  assert.equal(eff.immediate_data, false);
  assert.equal(eff.dataout_timeout, 30);
  assert.equal(eff.nopin_timeout, 5, 'out-of-range stored value ignored');
  assert.equal(eff.junk, undefined);
  assert.equal(eff.max_burst_length, 524288);
  assert.deepEqual(effectiveControls('disk', undefined), builtinControlDefaults('disk'));
});

test('controlsLimits has the /api/settings shape', () => {
  const t = controlsLimits('target');
  assert.deepEqual(t.cmdsn_depth, { min: 1, max: 512, type: 'int' });
  assert.deepEqual(t.immediate_data, { type: 'bool' });
  assert.deepEqual(t.first_burst_length, { min: 512, max: 16777215, type: 'int' });
  assert.equal(Object.keys(t).length, 11);
  assert.deepEqual(controlsLimits('disk'), {
    max_data_area_mb: { min: 1, max: 2048, type: 'int' },
    qfull_timeout: { min: 0, max: 600, type: 'int' },
    osd_op_timeout: { min: 0, max: 600, type: 'int' },
    hw_max_sectors: { min: 1, max: 8192, type: 'int' },
  });
});
