/**
 * Annotated iSCSI PDU byte vectors (RFC 7143 §11), written by hand from the
 * RFC layouts — independent of src/iscsi/pdu.ts. Each vector is the full
 * wire image without digests: BHS (48) + AHS + data segment + padding.
 * mqtt-packet testParseGenerate style: decode(bytes) deep-equals `pdu`,
 * encode(pdu) + padding equals `bytes`.
 */
import type { Pdu } from '../../src/iscsi/pdu.js';

/** Concatenates byte arrays / ASCII strings / Buffers. */
export function bytes(...parts: (number | readonly number[] | string | Buffer)[]): Buffer {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const ch of p) out.push(ch.charCodeAt(0));
    else for (const b of p) out.push(b);
  }
  return Buffer.from(out);
}

const z = (n: number): number[] => new Array<number>(n).fill(0);

export interface PduVector {
  name: string;
  /** Wire image without digests (BHS + AHS + data + pad). */
  bytes: Buffer;
  /** What decode produces (every field filled) and encode consumes. */
  pdu: Pdu;
}

/** RFC 3720 Appendix B.4 "iSCSI Read PDU" (a READ(10) SCSI Command); its CRC32C is 56 3a 96 d9. */
export const RFC_READ_PDU = bytes(
  [0x01, 0xc0, 0x00, 0x00], // opcode SCSI Command; F|R, ATTR 0 (untagged); reserved
  [0x00, 0x00, 0x00, 0x00], // TotalAHSLength 0; DataSegmentLength 0
  z(8), //                     LUN 0
  [0x14, 0x00, 0x00, 0x00], // Initiator Task Tag 0x14000000
  [0x00, 0x00, 0x04, 0x00], // Expected Data Transfer Length 1024
  [0x00, 0x00, 0x00, 0x14], // CmdSN 0x14
  [0x00, 0x00, 0x00, 0x18], // ExpStatSN 0x18
  [0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // CDB READ(10), 2 blocks
);

const SENSE_INVALID_FIELD = bytes(
  [0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0a], // fixed format, ILLEGAL REQUEST, additional length 10
  [0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00], // ASC 0x24 ASCQ 0 (INVALID FIELD IN CDB)
);
const SENSE_UA_CAPACITY = bytes(
  [0x70, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x0a], // fixed, UNIT ATTENTION
  [0x00, 0x00, 0x00, 0x00, 0x2a, 0x09, 0x00, 0x00, 0x00, 0x00], // 2A/09 CAPACITY DATA HAS CHANGED
);

const CDB32 = bytes(
  [0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18], // VARIABLE LENGTH CDB, additional length 0x18
  [0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // service action READ(32)
  [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10], // LBA 16
  [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // tags; TRANSFER LENGTH (bytes 28-31)
);

const LOGIN_TEXT = 'InitiatorName=iqn.2026-01.test:abc\0SessionType=Normal\0'; // 35 + 19 = 54 bytes
const LOGIN_RESP_TEXT = 'HeaderDigest=None\0'; // 18 bytes
const SENDTARGETS = 'SendTargets=All\0'; // 16 bytes
const TARGETS_TEXT = 'TargetName=iqn.2026-01.test:t\0TargetAddress=127.0.0.1:3260,1\0'; // 30 + 31 = 61 bytes

export const VECTORS: PduVector[] = [
  {
    name: 'NOP-Out ping (immediate, with data)',
    bytes: bytes(
      [0x40, 0x80, 0x00, 0x00], // I | NOP-Out; F; reserved
      [0x00, 0x00, 0x00, 0x04], // TotalAHSLength 0; DataSegmentLength 4
      [0x00, 0x01, 0, 0, 0, 0, 0, 0], // LUN 1 (peripheral)
      [0x00, 0x00, 0x00, 0x10], // ITT 0x10
      [0xff, 0xff, 0xff, 0xff], // TTT 0xffffffff (initiator-originated ping)
      [0x00, 0x00, 0x00, 0x05], // CmdSN 5
      [0x00, 0x00, 0x00, 0x07], // ExpStatSN 7
      z(16), //                    reserved
      'ping', //                   ping data
    ),
    pdu: {
      opcode: 0x00,
      immediate: true,
      lun: 0x0001000000000000n,
      initiatorTaskTag: 0x10,
      targetTransferTag: 0xffffffff,
      cmdSN: 5,
      expStatSN: 7,
      data: Buffer.from('ping'),
    },
  },
  {
    name: 'NOP-In answer with data',
    bytes: bytes(
      [0x20, 0x80, 0x00, 0x00], // NOP-In; F
      [0x00, 0x00, 0x00, 0x04], // DataSegmentLength 4
      [0x00, 0x01, 0, 0, 0, 0, 0, 0], // LUN 1
      [0x00, 0x00, 0x00, 0x10], // ITT 0x10
      [0xff, 0xff, 0xff, 0xff], // TTT 0xffffffff
      [0x00, 0x00, 0x00, 0x07], // StatSN 7
      [0x00, 0x00, 0x00, 0x06], // ExpCmdSN 6
      [0x00, 0x00, 0x00, 0x25], // MaxCmdSN 37
      z(12), //                    reserved
      'ping',
    ),
    pdu: {
      opcode: 0x20,
      lun: 0x0001000000000000n,
      initiatorTaskTag: 0x10,
      targetTransferTag: 0xffffffff,
      statSN: 7,
      expCmdSN: 6,
      maxCmdSN: 37,
      data: Buffer.from('ping'),
    },
  },
  {
    name: 'NOP-In target ping (no data)',
    bytes: bytes(
      [0x20, 0x80, 0x00, 0x00], // NOP-In; F
      [0x00, 0x00, 0x00, 0x00], // no data
      z(8), //                     LUN 0
      [0xff, 0xff, 0xff, 0xff], // ITT 0xffffffff (target-originated)
      [0x00, 0x00, 0x12, 0x34], // TTT 0x1234 (answer wanted)
      [0x00, 0x00, 0x00, 0x09], // StatSN 9 (not advanced)
      [0x00, 0x00, 0x00, 0x06], // ExpCmdSN 6
      [0x00, 0x00, 0x00, 0x25], // MaxCmdSN 37
      z(12),
    ),
    pdu: {
      opcode: 0x20,
      lun: 0n,
      initiatorTaskTag: 0xffffffff,
      targetTransferTag: 0x1234,
      statSN: 9,
      expCmdSN: 6,
      maxCmdSN: 37,
      data: Buffer.alloc(0),
    },
  },
  {
    name: 'SCSI Command READ(10) (RFC 3720 B.4 read PDU)',
    bytes: RFC_READ_PDU,
    pdu: {
      opcode: 0x01,
      immediate: false,
      final: true,
      read: true,
      write: false,
      taskAttribute: 0,
      lun: 0n,
      initiatorTaskTag: 0x14000000,
      expectedDataTransferLength: 1024,
      cmdSN: 0x14,
      expStatSN: 0x18,
      cdb: RFC_READ_PDU.subarray(32, 48),
      data: Buffer.alloc(0),
    },
  },
  {
    name: 'SCSI Command WRITE(16) with 6 bytes of immediate data (padded)',
    bytes: bytes(
      [0x01, 0xa1, 0x00, 0x00], // SCSI Command; F|W, ATTR 1 (SIMPLE)
      [0x00, 0x00, 0x00, 0x06], // DataSegmentLength 6
      [0x40, 0x05, 0, 0, 0, 0, 0, 0], // LUN 5 (flat addressing)
      [0x00, 0x00, 0x00, 0x02], // ITT 2
      [0x00, 0x00, 0x00, 0x06], // EDTL 6
      [0x80, 0x00, 0x00, 0x00], // CmdSN 0x80000000
      [0xff, 0xff, 0xff, 0xff], // ExpStatSN 0xffffffff
      [0x8a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x01, 0x00, 0x00], // CDB WRITE(16) LBA 1, 1 block
      [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02], // immediate data
      [0x00, 0x00], //             pad to 4
    ),
    pdu: {
      opcode: 0x01,
      immediate: false,
      final: true,
      read: false,
      write: true,
      taskAttribute: 1,
      lun: 0x4005000000000000n,
      initiatorTaskTag: 2,
      expectedDataTransferLength: 6,
      cmdSN: 0x80000000,
      expStatSN: 0xffffffff,
      cdb: Buffer.from([0x8a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x01, 0x00, 0x00]),
      data: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02]),
    },
  },
  {
    name: 'SCSI Command with Extended CDB AHS (32-byte CDB) and Bidirectional Read Data Length AHS',
    bytes: bytes(
      [0x01, 0xe2, 0x00, 0x00], // SCSI Command; F|R|W, ATTR 2 (ORDERED)
      [0x07, 0x00, 0x00, 0x00], // TotalAHSLength 7 words (28 bytes); DataSegmentLength 0
      z(8), //                     LUN 0
      [0x00, 0x00, 0x00, 0x03], // ITT 3
      [0x00, 0x00, 0x02, 0x00], // EDTL 512
      [0x00, 0x00, 0x00, 0x01], // CmdSN 1
      [0x00, 0x00, 0x00, 0x01], // ExpStatSN 1
      CDB32.subarray(0, 16), //    CDB bytes 0-15
      // AHS 1: Extended CDB
      [0x00, 0x11, 0x01, 0x00], // AHSLength 17 (= 32 - 15); AHSType 1; reserved
      CDB32.subarray(16, 32), //   CDB bytes 16-31 (3 + 17 = 20 bytes: no AHS padding)
      // AHS 2: Bidirectional Read Data Length
      [0x00, 0x05, 0x02, 0x00], // AHSLength 5; AHSType 2; reserved
      [0x00, 0x00, 0x10, 0x00], // Bidirectional Read Data Length 4096
    ),
    pdu: {
      opcode: 0x01,
      immediate: false,
      final: true,
      read: true,
      write: true,
      taskAttribute: 2,
      lun: 0n,
      initiatorTaskTag: 3,
      expectedDataTransferLength: 512,
      cmdSN: 1,
      expStatSN: 1,
      cdb: CDB32,
      bidiReadDataLength: 4096,
      data: Buffer.alloc(0),
    },
  },
  {
    name: 'SCSI Command with Extended CDB AHS needing padding (20-byte CDB)',
    bytes: bytes(
      [0x41, 0x81, 0x00, 0x00], // I | SCSI Command; F, ATTR SIMPLE
      [0x02, 0x00, 0x00, 0x00], // TotalAHSLength 2 words; no data
      z(8), //                     LUN 0
      [0x00, 0x00, 0x00, 0x04], // ITT 4
      [0x00, 0x00, 0x00, 0x00], // EDTL 0
      [0x00, 0x00, 0x00, 0x02], // CmdSN 2
      [0x00, 0x00, 0x00, 0x02], // ExpStatSN 2
      [0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], // CDB bytes 0-15
      [0x00, 0x05, 0x01, 0x00], // AHSLength 5 (= 20 - 15); type 1; reserved
      [16, 17, 18, 19], //         CDB bytes 16-19 (3 + 5 = 8 bytes: no padding)
    ),
    pdu: {
      opcode: 0x01,
      immediate: true,
      final: true,
      read: false,
      write: false,
      taskAttribute: 1,
      lun: 0n,
      initiatorTaskTag: 4,
      expectedDataTransferLength: 0,
      cmdSN: 2,
      expStatSN: 2,
      cdb: Buffer.from([0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]),
      data: Buffer.alloc(0),
    },
  },
  {
    name: 'SCSI Command with Extended CDB AHS, 17-byte CDB (AHS padded by 3)',
    bytes: bytes(
      [0x01, 0x81, 0x00, 0x00], // SCSI Command; F, SIMPLE
      [0x02, 0x00, 0x00, 0x00], // TotalAHSLength 2 words (3 + 2 = 5 bytes, padded to 8)
      z(8),
      [0x00, 0x00, 0x00, 0x05], // ITT 5
      z(4), //                     EDTL 0
      [0x00, 0x00, 0x00, 0x03], // CmdSN 3
      [0x00, 0x00, 0x00, 0x03], // ExpStatSN 3
      [0xc1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], // CDB bytes 0-15
      [0x00, 0x02, 0x01, 0x00], // AHSLength 2 (= 17 - 15); type 1; reserved
      [0xaa, 0x00, 0x00, 0x00], // CDB byte 16; 3 bytes AHS padding
    ),
    pdu: {
      opcode: 0x01,
      immediate: false,
      final: true,
      read: false,
      write: false,
      taskAttribute: 1,
      lun: 0n,
      initiatorTaskTag: 5,
      expectedDataTransferLength: 0,
      cmdSN: 3,
      expStatSN: 3,
      cdb: Buffer.from([0xc1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xaa]),
      data: Buffer.alloc(0),
    },
  },
  {
    name: 'SCSI Response GOOD',
    bytes: bytes(
      [0x21, 0x80, 0x00, 0x00], // SCSI Response; F; Response 0 (completed at target); Status GOOD
      [0x00, 0x00, 0x00, 0x00], // no data
      z(8), //                     reserved
      [0x14, 0x00, 0x00, 0x00], // ITT 0x14000000
      [0x00, 0x00, 0x00, 0x00], // SNACK Tag 0
      [0x00, 0x00, 0x00, 0x18], // StatSN 0x18
      [0x00, 0x00, 0x00, 0x15], // ExpCmdSN 0x15
      [0x00, 0x00, 0x00, 0x34], // MaxCmdSN 0x34
      [0x00, 0x00, 0x00, 0x00], // ExpDataSN 0
      [0x00, 0x00, 0x00, 0x00], // Bidirectional Read Residual Count 0
      [0x00, 0x00, 0x00, 0x00], // Residual Count 0
    ),
    pdu: {
      opcode: 0x21,
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow: false,
      residualUnderflow: false,
      response: 0,
      status: 0,
      initiatorTaskTag: 0x14000000,
      snackTag: 0,
      statSN: 0x18,
      expCmdSN: 0x15,
      maxCmdSN: 0x34,
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
    },
  },
  {
    name: 'SCSI Response CHECK CONDITION with sense and underflow',
    bytes: bytes(
      [0x21, 0x82, 0x00, 0x02], // SCSI Response; F|U; Response 0; Status CHECK CONDITION
      [0x00, 0x00, 0x00, 0x14], // DataSegmentLength 20 (2 + 18)
      z(8),
      [0x00, 0x00, 0x00, 0x09], // ITT 9
      z(4), //                     SNACK Tag
      [0x00, 0x00, 0x01, 0x00], // StatSN 256
      [0x00, 0x00, 0x00, 0x0a], // ExpCmdSN 10
      [0x00, 0x00, 0x00, 0x29], // MaxCmdSN 41
      [0x00, 0x00, 0x00, 0x01], // ExpDataSN 1
      z(4), //                     Bidirectional Read Residual Count
      [0x00, 0x00, 0x02, 0x00], // Residual Count 512
      [0x00, 0x12], //             SenseLength 18
      SENSE_INVALID_FIELD, //      sense data (18 bytes, no padding: 20 % 4 == 0)
    ),
    pdu: {
      opcode: 0x21,
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow: false,
      residualUnderflow: true,
      response: 0,
      status: 2,
      initiatorTaskTag: 9,
      snackTag: 0,
      statSN: 256,
      expCmdSN: 10,
      maxCmdSN: 41,
      expDataSN: 1,
      bidiReadResidualCount: 0,
      residualCount: 512,
      sense: SENSE_INVALID_FIELD,
    },
  },
  {
    name: 'SCSI Response with overflow, bidi underflow, TARGET FAILURE',
    bytes: bytes(
      [0x21, 0x8c, 0x01, 0x00], // SCSI Response; F|u|O; Response 1 (target failure); status 0
      z(4),
      z(8),
      [0xde, 0xad, 0xbe, 0xef], // ITT
      [0x00, 0x00, 0x00, 0x07], // SNACK Tag 7
      [0xff, 0xff, 0xff, 0xff], // StatSN 0xffffffff
      [0x00, 0x00, 0x00, 0x00], // ExpCmdSN 0 (wrapped)
      [0x00, 0x00, 0x00, 0x1f], // MaxCmdSN 31
      [0x00, 0x00, 0x00, 0x02], // ExpDataSN 2
      [0x00, 0x00, 0x00, 0x40], // Bidirectional Read Residual Count 64
      [0x00, 0x00, 0x00, 0x80], // Residual Count 128
    ),
    pdu: {
      opcode: 0x21,
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: true,
      residualOverflow: true,
      residualUnderflow: false,
      response: 1,
      status: 0,
      initiatorTaskTag: 0xdeadbeef,
      snackTag: 7,
      statSN: 0xffffffff,
      expCmdSN: 0,
      maxCmdSN: 31,
      expDataSN: 2,
      bidiReadResidualCount: 64,
      residualCount: 128,
    },
  },
  {
    name: 'Task Management Request ABORT TASK (immediate)',
    bytes: bytes(
      [0x42, 0x81, 0x00, 0x00], // I | TMF Request; 1 | function 1 (ABORT TASK)
      z(4), //                     no AHS, no data
      [0x00, 0x02, 0, 0, 0, 0, 0, 0], // LUN 2
      [0x00, 0x00, 0x00, 0x20], // ITT 0x20
      [0x00, 0x00, 0x00, 0x11], // Referenced Task Tag 0x11
      [0x00, 0x00, 0x00, 0x09], // CmdSN 9
      [0x00, 0x00, 0x00, 0x08], // ExpStatSN 8
      [0x00, 0x00, 0x00, 0x07], // RefCmdSN 7
      [0x00, 0x00, 0x00, 0x00], // ExpDataSN 0
      z(8), //                     reserved
    ),
    pdu: {
      opcode: 0x02,
      immediate: true,
      function: 1,
      lun: 0x0002000000000000n,
      initiatorTaskTag: 0x20,
      referencedTaskTag: 0x11,
      cmdSN: 9,
      expStatSN: 8,
      refCmdSN: 7,
      expDataSN: 0,
    },
  },
  {
    name: 'Task Management Response TASK DOES NOT EXIST',
    bytes: bytes(
      [0x22, 0x80, 0x01, 0x00], // TMF Response; F; Response 1; reserved
      z(4),
      z(8), //                     reserved
      [0x00, 0x00, 0x00, 0x20], // ITT 0x20
      z(4), //                     reserved
      [0x00, 0x00, 0x00, 0x08], // StatSN 8
      [0x00, 0x00, 0x00, 0x09], // ExpCmdSN 9
      [0x00, 0x00, 0x00, 0x28], // MaxCmdSN 40
      z(12),
    ),
    pdu: {
      opcode: 0x22,
      response: 1,
      initiatorTaskTag: 0x20,
      statSN: 8,
      expCmdSN: 9,
      maxCmdSN: 40,
    },
  },
  {
    name: 'Login Request operational → full feature, with text (padded)',
    bytes: bytes(
      [0x43, 0x87, 0x00, 0x00], // I | Login Request; T | CSG 1 | NSG 3; Version-max 0; Version-min 0
      [0x00, 0x00, 0x00, 0x36], // DataSegmentLength 54
      [0x00, 0x02, 0x3d, 0x00, 0x00, 0x01], // ISID 0x00023d000001
      [0x00, 0x00], //             TSIH 0
      [0x00, 0x00, 0x00, 0x00], // ITT 0
      [0x00, 0x00], //             CID 0
      [0x00, 0x00], //             reserved
      [0x00, 0x00, 0x00, 0x01], // CmdSN 1
      [0x00, 0x00, 0x00, 0x00], // ExpStatSN 0
      z(16), //                    reserved
      LOGIN_TEXT, //               54 bytes of key=value\0
      [0x00, 0x00], //             pad
    ),
    pdu: {
      opcode: 0x03,
      transit: true,
      continue: false,
      csg: 1,
      nsg: 3,
      versionMax: 0,
      versionMin: 0,
      isid: 0x00023d000001,
      tsih: 0,
      initiatorTaskTag: 0,
      cid: 0,
      cmdSN: 1,
      expStatSN: 0,
      data: Buffer.from(LOGIN_TEXT, 'latin1'),
    },
  },
  {
    name: 'Login Request security stage, continue bit',
    bytes: bytes(
      [0x43, 0x40, 0x00, 0x00], // I | Login Request; C | CSG 0 | NSG 0
      z(4),
      [0x80, 0x12, 0x34, 0x56, 0x78, 0x9a], // ISID (random format)
      [0x00, 0x07], //             TSIH 7
      [0x00, 0x00, 0x00, 0x01], // ITT 1
      [0x00, 0x03], //             CID 3
      z(2),
      [0x00, 0x00, 0x00, 0x05], // CmdSN 5
      [0x00, 0x00, 0x00, 0x02], // ExpStatSN 2
      z(16),
    ),
    pdu: {
      opcode: 0x03,
      transit: false,
      continue: true,
      csg: 0,
      nsg: 0,
      versionMax: 0,
      versionMin: 0,
      isid: 0x80123456789a,
      tsih: 7,
      initiatorTaskTag: 1,
      cid: 3,
      cmdSN: 5,
      expStatSN: 2,
      data: Buffer.alloc(0),
    },
  },
  {
    name: 'Login Response success with text (padded)',
    bytes: bytes(
      [0x23, 0x87, 0x00, 0x00], // Login Response; T | CSG 1 | NSG 3; Version-max 0; Version-active 0
      [0x00, 0x00, 0x00, 0x12], // DataSegmentLength 18
      [0x00, 0x02, 0x3d, 0x00, 0x00, 0x01], // ISID
      [0x00, 0x01], //             TSIH 1
      [0x00, 0x00, 0x00, 0x00], // ITT 0
      z(4), //                     reserved
      [0x00, 0x00, 0x01, 0x00], // StatSN 256
      [0x00, 0x00, 0x00, 0x01], // ExpCmdSN 1
      [0x00, 0x00, 0x00, 0x20], // MaxCmdSN 32
      [0x00, 0x00], //             Status-Class 0; Status-Detail 0
      z(10), //                    reserved
      LOGIN_RESP_TEXT,
      [0x00, 0x00], //             pad
    ),
    pdu: {
      opcode: 0x23,
      transit: true,
      continue: false,
      csg: 1,
      nsg: 3,
      versionMax: 0,
      versionActive: 0,
      isid: 0x00023d000001,
      tsih: 1,
      initiatorTaskTag: 0,
      statSN: 256,
      expCmdSN: 1,
      maxCmdSN: 32,
      statusClass: 0,
      statusDetail: 0,
      data: Buffer.from(LOGIN_RESP_TEXT, 'latin1'),
    },
  },
  {
    name: 'Login Response AUTHENTICATION FAILED',
    bytes: bytes(
      [0x23, 0x00, 0x00, 0x00], // Login Response; no T, CSG 0, NSG 0
      z(4),
      [0x00, 0x02, 0x3d, 0x00, 0x00, 0x01], // ISID
      z(2), //                     TSIH 0
      [0x00, 0x00, 0x00, 0x02], // ITT 2
      z(4),
      [0x00, 0x00, 0x00, 0x01], // StatSN 1
      [0x00, 0x00, 0x00, 0x01], // ExpCmdSN 1
      [0x00, 0x00, 0x00, 0x01], // MaxCmdSN 1
      [0x02, 0x01], //             Status-Class 2 (initiator error); Status-Detail 1 (authentication failure)
      z(10),
    ),
    pdu: {
      opcode: 0x23,
      transit: false,
      continue: false,
      csg: 0,
      nsg: 0,
      versionMax: 0,
      versionActive: 0,
      isid: 0x00023d000001,
      tsih: 0,
      initiatorTaskTag: 2,
      statSN: 1,
      expCmdSN: 1,
      maxCmdSN: 1,
      statusClass: 2,
      statusDetail: 1,
      data: Buffer.alloc(0),
    },
  },
  {
    name: 'Text Request SendTargets=All',
    bytes: bytes(
      [0x04, 0x80, 0x00, 0x00], // Text Request; F
      [0x00, 0x00, 0x00, 0x10], // DataSegmentLength 16
      z(8), //                     LUN 0
      [0x00, 0x00, 0x00, 0x05], // ITT 5
      [0xff, 0xff, 0xff, 0xff], // TTT 0xffffffff (new request)
      [0x00, 0x00, 0x00, 0x02], // CmdSN 2
      [0x00, 0x00, 0x00, 0x02], // ExpStatSN 2
      z(16),
      SENDTARGETS, //              no padding
    ),
    pdu: {
      opcode: 0x04,
      immediate: false,
      final: true,
      continue: false,
      lun: 0n,
      initiatorTaskTag: 5,
      targetTransferTag: 0xffffffff,
      cmdSN: 2,
      expStatSN: 2,
      data: Buffer.from(SENDTARGETS, 'latin1'),
    },
  },
  {
    name: 'Text Response with continue bit (padded by 3)',
    bytes: bytes(
      [0x24, 0x40, 0x00, 0x00], // Text Response; C
      [0x00, 0x00, 0x00, 0x3d], // DataSegmentLength 61
      z(8),
      [0x00, 0x00, 0x00, 0x05], // ITT 5
      [0x00, 0x00, 0x00, 0x01], // TTT 1 (more to come)
      [0x00, 0x00, 0x00, 0x02], // StatSN 2
      [0x00, 0x00, 0x00, 0x03], // ExpCmdSN 3
      [0x00, 0x00, 0x00, 0x22], // MaxCmdSN 34
      z(12),
      TARGETS_TEXT,
      [0x00, 0x00, 0x00], //       pad
    ),
    pdu: {
      opcode: 0x24,
      final: false,
      continue: true,
      lun: 0n,
      initiatorTaskTag: 5,
      targetTransferTag: 1,
      statSN: 2,
      expCmdSN: 3,
      maxCmdSN: 34,
      data: Buffer.from(TARGETS_TEXT, 'latin1'),
    },
  },
  {
    name: 'SCSI Data-Out (final, solicited)',
    bytes: bytes(
      [0x05, 0x80, 0x00, 0x00], // Data-Out; F
      [0x00, 0x00, 0x00, 0x08], // DataSegmentLength 8
      [0x00, 0x01, 0, 0, 0, 0, 0, 0], // LUN 1
      [0x00, 0x00, 0x00, 0x03], // ITT 3
      [0x00, 0x00, 0x00, 0x77], // TTT 0x77
      z(4), //                     reserved
      [0x00, 0x00, 0x00, 0x04], // ExpStatSN 4
      z(4), //                     reserved
      [0x00, 0x00, 0x00, 0x01], // DataSN 1
      [0x00, 0x00, 0x02, 0x00], // Buffer Offset 512
      z(4), //                     reserved
      [1, 2, 3, 4, 5, 6, 7, 8],
    ),
    pdu: {
      opcode: 0x05,
      final: true,
      lun: 0x0001000000000000n,
      initiatorTaskTag: 3,
      targetTransferTag: 0x77,
      expStatSN: 4,
      dataSN: 1,
      bufferOffset: 512,
      data: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]),
    },
  },
  {
    name: 'SCSI Data-In (not final)',
    bytes: bytes(
      [0x25, 0x00, 0x00, 0x00], // Data-In; no flags; reserved; status (unused)
      [0x00, 0x00, 0x00, 0x10], // DataSegmentLength 16
      z(8), //                     LUN 0
      [0x00, 0x00, 0x00, 0x01], // ITT 1
      [0xff, 0xff, 0xff, 0xff], // TTT 0xffffffff
      z(4), //                     StatSN (reserved: no S bit)
      [0x00, 0x00, 0x00, 0x02], // ExpCmdSN 2
      [0x00, 0x00, 0x00, 0x21], // MaxCmdSN 33
      [0x00, 0x00, 0x00, 0x00], // DataSN 0
      [0x00, 0x00, 0x00, 0x00], // Buffer Offset 0
      z(4), //                     Residual Count
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    ),
    pdu: {
      opcode: 0x25,
      final: false,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: false,
      statusPresent: false,
      status: 0,
      lun: 0n,
      initiatorTaskTag: 1,
      targetTransferTag: 0xffffffff,
      statSN: 0,
      expCmdSN: 2,
      maxCmdSN: 33,
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 0,
      data: Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]),
    },
  },
  {
    name: 'SCSI Data-In final with status (phase collapse), underflow, 5 bytes (padded by 3)',
    bytes: bytes(
      [0x25, 0x83, 0x00, 0x00], // Data-In; F|U|S; reserved; Status GOOD
      [0x00, 0x00, 0x00, 0x05], // DataSegmentLength 5
      z(8),
      [0x00, 0x00, 0x00, 0x01], // ITT 1
      [0xff, 0xff, 0xff, 0xff], // TTT
      [0x00, 0x00, 0x00, 0x09], // StatSN 9
      [0x00, 0x00, 0x00, 0x02], // ExpCmdSN 2
      [0x00, 0x00, 0x00, 0x21], // MaxCmdSN 33
      [0x00, 0x00, 0x00, 0x01], // DataSN 1
      [0x00, 0x00, 0x00, 0x10], // Buffer Offset 16
      [0x00, 0x00, 0x00, 0x0b], // Residual Count 11
      [0xa, 0xb, 0xc, 0xd, 0xe],
      [0x00, 0x00, 0x00], //       pad
    ),
    pdu: {
      opcode: 0x25,
      final: true,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: true,
      statusPresent: true,
      status: 0,
      lun: 0n,
      initiatorTaskTag: 1,
      targetTransferTag: 0xffffffff,
      statSN: 9,
      expCmdSN: 2,
      maxCmdSN: 33,
      dataSN: 1,
      bufferOffset: 16,
      residualCount: 11,
      data: Buffer.from([0xa, 0xb, 0xc, 0xd, 0xe]),
    },
  },
  {
    name: 'Logout Request close session',
    bytes: bytes(
      [0x46, 0x80, 0x00, 0x00], // I | Logout Request; 1 | reason 0 (close session)
      z(4),
      z(8), //                     reserved
      [0x00, 0x00, 0x00, 0x30], // ITT 0x30
      [0x00, 0x01], //             CID 1
      z(2), //                     reserved
      [0x00, 0x00, 0x00, 0x0a], // CmdSN 10
      [0x00, 0x00, 0x00, 0x0b], // ExpStatSN 11
      z(16),
    ),
    pdu: {
      opcode: 0x06,
      immediate: true,
      reasonCode: 0,
      initiatorTaskTag: 0x30,
      cid: 1,
      cmdSN: 10,
      expStatSN: 11,
    },
  },
  {
    name: 'Logout Response',
    bytes: bytes(
      [0x26, 0x80, 0x00, 0x00], // Logout Response; F; Response 0 (closed successfully)
      z(4),
      z(8),
      [0x00, 0x00, 0x00, 0x30], // ITT 0x30
      z(4),
      [0x00, 0x00, 0x00, 0x0b], // StatSN 11
      [0x00, 0x00, 0x00, 0x0a], // ExpCmdSN 10
      [0x00, 0x00, 0x00, 0x29], // MaxCmdSN 41
      z(4), //                     reserved
      [0x00, 0x02], //             Time2Wait 2
      [0x00, 0x14], //             Time2Retain 20
      z(4),
    ),
    pdu: {
      opcode: 0x26,
      response: 0,
      initiatorTaskTag: 0x30,
      statSN: 11,
      expCmdSN: 10,
      maxCmdSN: 41,
      time2Wait: 2,
      time2Retain: 20,
    },
  },
  {
    name: 'R2T',
    bytes: bytes(
      [0x31, 0x80, 0x00, 0x00], // R2T; F
      z(4),
      [0x00, 0x01, 0, 0, 0, 0, 0, 0], // LUN 1
      [0x00, 0x00, 0x00, 0x03], // ITT 3
      [0x00, 0x00, 0x00, 0x77], // TTT 0x77
      [0x00, 0x00, 0x00, 0x04], // StatSN 4
      [0x00, 0x00, 0x00, 0x05], // ExpCmdSN 5
      [0x00, 0x00, 0x00, 0x24], // MaxCmdSN 36
      [0x00, 0x00, 0x00, 0x00], // R2TSN 0
      [0x00, 0x00, 0x20, 0x00], // Buffer Offset 8192
      [0x00, 0x01, 0x00, 0x00], // Desired Data Transfer Length 65536
    ),
    pdu: {
      opcode: 0x31,
      lun: 0x0001000000000000n,
      initiatorTaskTag: 3,
      targetTransferTag: 0x77,
      statSN: 4,
      expCmdSN: 5,
      maxCmdSN: 36,
      r2tSN: 0,
      bufferOffset: 8192,
      desiredDataTransferLength: 65536,
    },
  },
  {
    name: 'Async Message: SCSI async event with sense (unit attention)',
    bytes: bytes(
      [0x32, 0x80, 0x00, 0x00], // Async Message; F
      [0x00, 0x00, 0x00, 0x14], // DataSegmentLength 20
      [0x00, 0x03, 0, 0, 0, 0, 0, 0], // LUN 3
      [0xff, 0xff, 0xff, 0xff], // ITT 0xffffffff
      z(4), //                     reserved
      [0x00, 0x00, 0x00, 0x0c], // StatSN 12
      [0x00, 0x00, 0x00, 0x0d], // ExpCmdSN 13
      [0x00, 0x00, 0x00, 0x2c], // MaxCmdSN 44
      [0x00, 0x00], //             AsyncEvent 0 (SCSI async event); AsyncVCode 0
      [0x00, 0x00], //             Parameter1
      [0x00, 0x00], //             Parameter2
      [0x00, 0x00], //             Parameter3
      z(4), //                     reserved
      [0x00, 0x12], //             SenseLength 18
      SENSE_UA_CAPACITY,
    ),
    pdu: {
      opcode: 0x32,
      lun: 0x0003000000000000n,
      statSN: 12,
      expCmdSN: 13,
      maxCmdSN: 44,
      asyncEvent: 0,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 0,
      sense: SENSE_UA_CAPACITY,
      eventData: Buffer.alloc(0),
    },
  },
  {
    name: 'Async Message: logout request (no data)',
    bytes: bytes(
      [0x32, 0x80, 0x00, 0x00], // Async Message; F
      z(4),
      z(8),
      [0xff, 0xff, 0xff, 0xff], // ITT 0xffffffff
      z(4),
      [0x00, 0x00, 0x00, 0x0c], // StatSN 12
      [0x00, 0x00, 0x00, 0x0d], // ExpCmdSN 13
      [0x00, 0x00, 0x00, 0x2c], // MaxCmdSN 44
      [0x01, 0x00], //             AsyncEvent 1 (logout request); AsyncVCode 0
      [0x00, 0x00], //             Parameter1
      [0x00, 0x00], //             Parameter2
      [0x00, 0x0a], //             Parameter3: 10 s to logout
      z(4),
    ),
    pdu: {
      opcode: 0x32,
      lun: 0n,
      statSN: 12,
      expCmdSN: 13,
      maxCmdSN: 44,
      asyncEvent: 1,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 10,
    },
  },
  {
    name: 'Reject PROTOCOL ERROR carrying the rejected header',
    bytes: bytes(
      [0x3f, 0x80, 0x04, 0x00], // Reject; F; Reason 0x04 (protocol error)
      [0x00, 0x00, 0x00, 0x30], // DataSegmentLength 48
      z(8),
      [0xff, 0xff, 0xff, 0xff], // ITT 0xffffffff
      z(4),
      [0x00, 0x00, 0x00, 0x0c], // StatSN 12
      [0x00, 0x00, 0x00, 0x0d], // ExpCmdSN 13
      [0x00, 0x00, 0x00, 0x2c], // MaxCmdSN 44
      z(4), //                     DataSN/R2TSN 0
      z(8),
      RFC_READ_PDU, //             the rejected BHS
    ),
    pdu: {
      opcode: 0x3f,
      reason: 4,
      statSN: 12,
      expCmdSN: 13,
      maxCmdSN: 44,
      dataSN: 0,
      data: RFC_READ_PDU,
    },
  },
  {
    name: 'SNACK Request (status SNACK)',
    bytes: bytes(
      [0x10, 0x81, 0x00, 0x00], // SNACK; 1 | type 1 (status)
      z(4),
      z(8), //                     LUN
      [0xff, 0xff, 0xff, 0xff], // ITT 0xffffffff
      [0x00, 0x00, 0x00, 0x00], // SNACK Tag 0
      z(4),
      [0x00, 0x00, 0x00, 0x03], // ExpStatSN 3
      z(8),
      [0x00, 0x00, 0x00, 0x02], // BegRun 2
      [0x00, 0x00, 0x00, 0x01], // RunLength 1
    ),
    pdu: {
      opcode: 0x10,
      type: 1,
      lun: 0n,
      initiatorTaskTag: 0xffffffff,
      targetTransferTag: 0,
      expStatSN: 3,
      begRun: 2,
      runLength: 1,
    },
  },
];

/** Header bytes that decode must refuse, with the Reject reason expected (RFC 7143 §11.17.1). */
export interface DecodeErrorVector {
  name: string;
  bytes: Buffer;
  reason: number;
}

/** A 48-byte BHS from a template with some bytes patched. */
function patch(base: Buffer, edits: Record<number, number>): Buffer {
  const b = Buffer.from(base);
  for (const [k, v] of Object.entries(edits)) b[Number(k)] = v;
  return b;
}

const NOP_OUT_BHS = bytes([0x40, 0x80, 0, 0], z(4), z(8), [0, 0, 0, 1], [0xff, 0xff, 0xff, 0xff], z(24));

export const DECODE_ERRORS: DecodeErrorVector[] = [
  { name: 'unknown opcode 0x07', bytes: patch(NOP_OUT_BHS, { 0: 0x07 }), reason: 0x05 },
  { name: 'unknown opcode 0x3e', bytes: patch(NOP_OUT_BHS, { 0: 0x3e }), reason: 0x05 },
  { name: 'Login Request with T and C', bytes: patch(NOP_OUT_BHS, { 0: 0x43, 1: 0xc7 }), reason: 0x04 },
  { name: 'Login Request with reserved CSG 2', bytes: patch(NOP_OUT_BHS, { 0: 0x43, 1: 0x08 }), reason: 0x09 },
  { name: 'Login Request with T and reserved NSG 2', bytes: patch(NOP_OUT_BHS, { 0: 0x43, 1: 0x82 }), reason: 0x09 },
  { name: 'Text Request with F and C', bytes: patch(NOP_OUT_BHS, { 0: 0x04, 1: 0xc0 }), reason: 0x04 },
  {
    name: 'TMF Request with a data segment',
    bytes: bytes(patch(NOP_OUT_BHS, { 0: 0x02, 1: 0x81, 7: 4 }), [1, 2, 3, 4]),
    reason: 0x04,
  },
  {
    name: 'Logout Request with a data segment',
    bytes: bytes(patch(NOP_OUT_BHS, { 0: 0x06, 7: 4 }), [1, 2, 3, 4]),
    reason: 0x04,
  },
  {
    name: 'NOP-Out with an AHS',
    bytes: bytes(patch(NOP_OUT_BHS, { 4: 1 }), [0x00, 0x01, 0x01, 0x00]),
    reason: 0x04,
  },
  {
    name: 'SCSI Command AHS length overruns TotalAHSLength',
    bytes: bytes(patch(RFC_READ_PDU, { 4: 1 }), [0x00, 0x09, 0x01, 0x00]),
    reason: 0x04,
  },
  {
    name: 'SCSI Command AHS with AHSLength 0',
    bytes: bytes(patch(RFC_READ_PDU, { 4: 1 }), [0x00, 0x00, 0x01, 0x00]),
    reason: 0x04,
  },
  {
    name: 'SCSI Command with unknown AHS type',
    bytes: bytes(patch(RFC_READ_PDU, { 4: 1 }), [0x00, 0x01, 0x3f, 0x00]),
    reason: 0x09,
  },
  {
    name: 'SCSI Command with Bidirectional AHS of wrong length',
    bytes: bytes(patch(RFC_READ_PDU, { 4: 2 }), [0x00, 0x04, 0x02, 0x00, 0, 0, 0, 0]),
    reason: 0x04,
  },
  {
    name: 'SCSI Command with two Extended CDB AHS',
    bytes: bytes(patch(RFC_READ_PDU, { 4: 4 }), [0x00, 0x05, 0x01, 0x00, 1, 2, 3, 4], [0x00, 0x05, 0x01, 0x00, 1, 2, 3, 4]),
    reason: 0x04,
  },
  {
    name: 'SCSI Response SenseLength beyond the data segment',
    bytes: bytes(patch(NOP_OUT_BHS, { 0: 0x21, 7: 4 }), [0x00, 0x12, 0x70, 0x00]),
    reason: 0x04,
  },
  {
    name: 'SCSI Response data segment of 1 byte',
    bytes: bytes(patch(NOP_OUT_BHS, { 0: 0x21, 7: 1 }), [0x00, 0, 0, 0]),
    reason: 0x04,
  },
  { name: 'SCSI Response with O and U', bytes: patch(NOP_OUT_BHS, { 0: 0x21, 1: 0x86 }), reason: 0x04 },
  { name: 'Data-In with S but not F', bytes: patch(NOP_OUT_BHS, { 0: 0x25, 1: 0x01 }), reason: 0x04 },
  { name: 'R2T with a data segment', bytes: bytes(patch(NOP_OUT_BHS, { 0: 0x31, 7: 4 }), [0, 0, 0, 0]), reason: 0x04 },
];
