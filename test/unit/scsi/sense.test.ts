// Sense data byte vectors, written by hand from SPC-4 "Fixed format sense data" and
// "Descriptor format sense data", independent of the encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SENSE, ScsiError, checkCondition, encodeSense } from '../../../src/scsi/sense.js';
import { ScsiStatus } from '../../../src/scsi/command.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('fixed format: LBA OUT OF RANGE, no information', () => {
  assert.deepEqual(
    encodeSense('LBA_OUT_OF_RANGE'),
    hex(`70 00 05 00000000 0a 00000000 21 00 00 000000`),
    // RESPONSE CODE 70h (current, fixed; VALID=0) | SENSE KEY 5 | INFORMATION 0 | ADDITIONAL LENGTH 10
    // | COMMAND-SPECIFIC 0 | ASC 21h ASCQ 00h | FRU 0 | SKS 0
  );
});

test('fixed format: VALID + INFORMATION (miscompare offset) for MISCOMPARE', () => {
  assert.deepEqual(
    encodeSense('MISCOMPARE_DURING_VERIFY', { information: 0x1234 }),
    hex(`f0 00 0e 00001234 0a 00000000 1d 00 00 000000`),
  );
});

test('fixed format: INVALID FIELD IN CDB with a field pointer (C/D=1, BPV, bit 5 of byte 2)', () => {
  assert.deepEqual(
    encodeSense('INVALID_FIELD_IN_CDB', { field: { inCdb: true, byte: 2, bit: 5 } }),
    hex(`70 00 05 00000000 0a 00000000 24 00 00 cd 0002`),
    // SKS byte 15: SKSV 80h | C/D 40h | BPV 08h | BIT POINTER 5 = cdh; FIELD POINTER 0002h
  );
  assert.deepEqual(
    encodeSense('INVALID_FIELD_IN_PARAMETER_LIST', { field: { inCdb: false, byte: 0x102 } }).subarray(15),
    hex(`80 0102`),
  );
});

test('unit attention triples match SPC-4 Annex D', () => {
  const t = (r: keyof typeof SENSE): string => {
    const b = encodeSense(r);
    return `${b[2]!.toString(16)}/${b[12]!.toString(16)}/${b[13]!.toString(16)}`;
  };
  assert.equal(t('POWER_ON_RESET'), '6/29/0');
  assert.equal(t('BUS_DEVICE_RESET'), '6/29/3');
  assert.equal(t('MODE_PARAMETERS_CHANGED'), '6/2a/1');
  assert.equal(t('RESERVATIONS_PREEMPTED'), '6/2a/3');
  assert.equal(t('RESERVATIONS_RELEASED'), '6/2a/4');
  assert.equal(t('CAPACITY_DATA_HAS_CHANGED'), '6/2a/9');
  assert.equal(t('REPORTED_LUNS_DATA_HAS_CHANGED'), '6/3f/e');
  assert.equal(t('ALUA_STANDBY'), '2/4/b');
});

test('descriptor format: header only when there is nothing to describe', () => {
  assert.deepEqual(encodeSense('INVALID_COMMAND_OPCODE', {}, 'descriptor'), hex(`72 05 20 00 000000 00`));
});

test('descriptor format: information descriptor and sense-key-specific descriptor', () => {
  assert.deepEqual(
    encodeSense('INVALID_FIELD_IN_CDB', { information: 7, field: { inCdb: true, byte: 1 } }, 'descriptor'),
    hex(`72 05 24 00 000000 14
         00 0a 80 00 0000000000000007
         02 06 0000 c0 0001 00`),
    // header: ADDITIONAL SENSE LENGTH 20 | information descriptor (type 0, length 10, VALID)
    // | sense key specific descriptor (type 2, length 6, SKSV|C/D, field pointer 1)
  );
});

test('an INFORMATION value over 32 bits forces descriptor format', () => {
  const b = encodeSense('LBA_OUT_OF_RANGE', { information: 0x1_0000_0000n });
  assert.equal(b[0], 0x72);
  assert.equal(b.readBigUInt64BE(8 + 4), 0x1_0000_0000n);
});

test('checkCondition and ScsiError carry the reason', () => {
  const r = checkCondition('WRITE_PROTECTED');
  assert.equal(r.status, ScsiStatus.CHECK_CONDITION);
  assert.equal(r.sense[2], 0x07);
  assert.equal(r.sense[12], 0x27);
  const e = new ScsiError('LBA_OUT_OF_RANGE', { information: 5 });
  assert.equal(e.reason, 'LBA_OUT_OF_RANGE');
  assert.equal(e.detail.information, 5);
});
