/**
 * INQUIRY data: standard data and the VPD pages 00h, 80h, 83h, B0h, B1h, B2h
 * (SPC-4 "INQUIRY command", "Vital product data parameters"; SBC-4 "VPD pages").
 * Identity follows LIO + tcmu-runner so multipath/VMFS see the same device.
 */
import type { Nexus } from './command.js';
import { PeripheralDeviceType, VersionDescriptor, VpdPage } from './constants.js';
import type { LogicalUnit } from './logical-unit.js';
import { atomicLimits } from './sbc.js';

/** Pages in ascending order (SPC-4 "Supported VPD pages": "in ascending order beginning with 00h"). */
export const SUPPORTED_VPD_PAGES = [
  VpdPage.SUPPORTED_VPD_PAGES,
  VpdPage.UNIT_SERIAL_NUMBER,
  VpdPage.DEVICE_IDENTIFICATION,
  VpdPage.THIRD_PARTY_COPY,
  VpdPage.BLOCK_LIMITS,
  VpdPage.BLOCK_DEVICE_CHARACTERISTICS,
  VpdPage.LOGICAL_BLOCK_PROVISIONING,
] as const;

function putAscii(buf: Buffer, offset: number, width: number, text: string): void {
  buf.fill(0x20, offset, offset + width);
  // SPC-4 "ASCII data field requirements": printable 20h-7Eh only.
  const clean = text.replace(/[^\x20-\x7e]/g, ' ').slice(0, width);
  buf.write(clean, offset, 'latin1');
}

/** SPC-4 "Standard INQUIRY data" for a connected LU (96 bytes). */
export function standardInquiry(lu: LogicalUnit | undefined): Buffer {
  const b = Buffer.alloc(96);
  // PERIPHERAL QUALIFIER | PERIPHERAL DEVICE TYPE; no LU: 011b / 1Fh (SPC-4 "Peripheral qualifier")
  b.writeUInt8(lu === undefined ? 0x60 | PeripheralDeviceType.UNKNOWN_OR_NONE : PeripheralDeviceType.DIRECT_ACCESS_BLOCK, 0);
  b.writeUInt8(0x00, 1); // RMB 0: not removable
  b.writeUInt8(0x06, 2); // VERSION: SPC-4
  b.writeUInt8(0x12, 3); // HISUP | RESPONSE DATA FORMAT 2
  b.writeUInt8(b.length - 5, 4); // ADDITIONAL LENGTH (n - 4)
  // TPGS 01b implicit ALUA, or 11b implicit and explicit (SET TARGET PORT GROUPS) | 3PC: EXTENDED COPY (xcopy.ts), as tcmu-runner
  b.writeUInt8((lu?.aluaAccess === 'explicit' ? 0x30 : 0x10) | 0x08, 5);
  b.writeUInt8(0x00, 6);
  b.writeUInt8(0x02, 7); // CMDQUE
  putAscii(b, 8, 8, lu?.vendor ?? 'LIO-ORG');
  putAscii(b, 16, 16, lu?.product ?? 'TCMU device');
  putAscii(b, 32, 4, lu?.revision ?? '0002');
  // VERSION DESCRIPTORS (bytes 58-73)
  b.writeUInt16BE(VersionDescriptor.SAM_5, 58);
  b.writeUInt16BE(VersionDescriptor.SPC_4, 60);
  b.writeUInt16BE(VersionDescriptor.SBC_3, 62);
  b.writeUInt16BE(VersionDescriptor.ISCSI, 64);
  return b;
}

function vpdHeader(page: number, length: number): Buffer {
  const b = Buffer.alloc(4 + length);
  b.writeUInt8(PeripheralDeviceType.DIRECT_ACCESS_BLOCK, 0);
  b.writeUInt8(page, 1);
  b.writeUInt16BE(length, 2); // PAGE LENGTH
  return b;
}

export function vpdSupportedPages(): Buffer {
  const b = vpdHeader(VpdPage.SUPPORTED_VPD_PAGES, SUPPORTED_VPD_PAGES.length);
  SUPPORTED_VPD_PAGES.forEach((p, i) => b.writeUInt8(p, 4 + i));
  return b;
}

export function vpdUnitSerial(lu: LogicalUnit): Buffer {
  const serial = Buffer.from(lu.wwn.replace(/[^\x20-\x7e]/g, ''), 'latin1');
  const b = vpdHeader(VpdPage.UNIT_SERIAL_NUMBER, serial.length);
  serial.copy(b, 4);
  return b;
}

/**
 * NAA IEEE Registered Extended designator (SPC-4 "NAA IEEE Registered Extended
 * designator format"): NAA 6, IEEE OUI 00-14-05 (LIO), then 25 hex digits of
 * the unit serial (non-hex characters skipped), as LIO spc_gen_naa_6h_vendor_specific.
 * A wwn "9ca31751-6a69-465c-883a-29603..." gives the WWID 360014059ca317516a69465c883a29603.
 */
export function naaDesignator(wwn: string): Buffer {
  const d = Buffer.alloc(16);
  d.writeUInt8(0x60, 0);
  d.writeUInt8(0x01, 1);
  d.writeUInt8(0x40, 2);
  d.writeUInt8(0x50, 3);
  const hex = wwn.replace(/[^0-9a-fA-F]/g, '').slice(0, 25);
  let byte = 3;
  let low = true;
  for (const ch of hex) {
    const v = parseInt(ch, 16);
    if (low) {
      d.writeUInt8(d.readUInt8(byte) | v, byte);
      byte++;
      low = false;
    } else {
      d.writeUInt8(v << 4, byte);
      low = true;
    }
  }
  return d;
}

/** Pads a SCSI name string with NULs to a multiple of 4 bytes, at least one NUL (SPC-4 "SCSI name string designator format"). */
function scsiNameString(name: string): Buffer {
  const raw = Buffer.from(name, 'utf8');
  const len = (raw.length + 4) & ~3;
  const b = Buffer.alloc(len);
  raw.copy(b);
  return b;
}

function designator(protocolAndCodeSet: number, pivAssocType: number, value: Buffer): Buffer {
  const h = Buffer.alloc(4 + value.length);
  h.writeUInt8(protocolAndCodeSet, 0); // PROTOCOL IDENTIFIER | CODE SET
  h.writeUInt8(pivAssocType, 1); // PIV | ASSOCIATION | DESIGNATOR TYPE
  h.writeUInt8(value.length, 3); // DESIGNATOR LENGTH
  value.copy(h, 4);
  return h;
}

const PROTOCOL_ISCSI = 0x5 << 4;
const CODE_SET_BINARY = 0x1;
const CODE_SET_ASCII = 0x2;
const CODE_SET_UTF8 = 0x3;
const PIV = 0x80;
const ASSOC_LU = 0x00;
const ASSOC_TARGET_PORT = 0x10;
const ASSOC_TARGET_DEVICE = 0x20;
const TYPE_T10_VENDOR = 0x1;
const TYPE_NAA = 0x3;
const TYPE_RELATIVE_TARGET_PORT = 0x4;
const TYPE_TARGET_PORT_GROUP = 0x5;
const TYPE_SCSI_NAME = 0x8;

/** SPC-4 "Device Identification VPD page". */
export function vpdDeviceIdentification(lu: LogicalUnit, nexus: Nexus): Buffer {
  const parts: Buffer[] = [];
  parts.push(designator(CODE_SET_BINARY, ASSOC_LU | TYPE_NAA, naaDesignator(lu.wwn)));
  // T10 vendor ID based: vendor (8 bytes, space padded) + unit serial (LIO).
  const t10 = Buffer.alloc(8 + Buffer.byteLength(lu.wwn, 'latin1'));
  putAscii(t10, 0, 8, lu.vendor);
  t10.write(lu.wwn, 8, 'latin1');
  parts.push(designator(CODE_SET_ASCII, ASSOC_LU | TYPE_T10_VENDOR, t10));
  const rtp = Buffer.alloc(4);
  rtp.writeUInt16BE(nexus.relativeTargetPortId & 0xffff, 2);
  parts.push(designator(PROTOCOL_ISCSI | CODE_SET_BINARY, PIV | ASSOC_TARGET_PORT | TYPE_RELATIVE_TARGET_PORT, rtp));
  const tpg = Buffer.alloc(4);
  tpg.writeUInt16BE(nexus.targetPortGroupId & 0xffff, 2);
  parts.push(designator(PROTOCOL_ISCSI | CODE_SET_BINARY, PIV | ASSOC_TARGET_PORT | TYPE_TARGET_PORT_GROUP, tpg));
  parts.push(designator(PROTOCOL_ISCSI | CODE_SET_UTF8, PIV | ASSOC_TARGET_PORT | TYPE_SCSI_NAME, scsiNameString(nexus.targetPortName)));
  parts.push(designator(PROTOCOL_ISCSI | CODE_SET_UTF8, PIV | ASSOC_TARGET_DEVICE | TYPE_SCSI_NAME, scsiNameString(nexus.targetName)));
  const body = Buffer.concat(parts);
  const b = vpdHeader(VpdPage.DEVICE_IDENTIFICATION, body.length);
  body.copy(b, 4);
  return b;
}

/**
 * SPC-4 "Third-party Copy VPD page": one Supported Commands descriptor (0001h)
 * listing EXTENDED COPY (LID1) and the RECEIVE COPY RESULTS service actions.
 */
export function vpdThirdPartyCopy(): Buffer {
  const commands = Buffer.from([
    0x83, 1, 0x00, // EXTENDED COPY: LID1
    0x84, 2, 0x00, 0x03, // RECEIVE COPY RESULTS: COPY STATUS, OPERATING PARAMETERS
  ]);
  const bodyLen = (1 + commands.length + 3) & ~3; // padded to a multiple of 4
  const desc = Buffer.alloc(4 + bodyLen);
  desc.writeUInt16BE(0x0001, 0); // THIRD-PARTY COPY DESCRIPTOR TYPE: Supported Commands
  desc.writeUInt16BE(bodyLen, 2); // THIRD-PARTY COPY DESCRIPTOR LENGTH
  desc.writeUInt8(commands.length, 4); // COMMANDS SUPPORTED LIST LENGTH
  commands.copy(desc, 5);
  const b = vpdHeader(VpdPage.THIRD_PARTY_COPY, desc.length);
  desc.copy(b, 4);
  return b;
}

/** SBC-4 "Block Limits VPD page" (page length 3Ch). */
export function vpdBlockLimits(lu: LogicalUnit): Buffer {
  const b = vpdHeader(VpdPage.BLOCK_LIMITS, 0x3c);
  const granularity = 1 << lu.lbppbExponent;
  b.writeUInt8(0x00, 4); // WSNZ 0: zero NUMBER OF LOGICAL BLOCKS means "to the end", bounded by MAXIMUM WRITE SAME LENGTH
  b.writeUInt8(lu.maxCompareAndWriteBlocks, 5); // MAXIMUM COMPARE AND WRITE LENGTH
  b.writeUInt16BE(granularity, 6); // OPTIMAL TRANSFER LENGTH GRANULARITY
  b.writeUInt32BE(lu.maxTransferBlocks, 8); // MAXIMUM TRANSFER LENGTH
  b.writeUInt32BE(Math.min(lu.maxTransferBlocks, Math.max(granularity, Math.floor((1024 * 1024) / lu.blockSize))), 12); // OPTIMAL TRANSFER LENGTH
  b.writeUInt32BE(0, 16); // MAXIMUM PREFETCH LENGTH
  if (lu.thin) {
    b.writeUInt32BE(lu.maxUnmapBlocks, 20); // MAXIMUM UNMAP LBA COUNT
    b.writeUInt32BE(lu.maxUnmapDescriptors, 24); // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
    b.writeUInt32BE(granularity, 28); // OPTIMAL UNMAP GRANULARITY
    b.writeUInt32BE(0x80000000, 32); // UGAVALID | UNMAP GRANULARITY ALIGNMENT 0
  }
  b.writeBigUInt64BE(BigInt(lu.maxWriteSameBlocks), 36); // MAXIMUM WRITE SAME LENGTH
  const atomic = atomicLimits(lu);
  b.writeUInt32BE(atomic.maxBlocks, 44); // MAXIMUM ATOMIC TRANSFER LENGTH (WRITE ATOMIC (16))
  b.writeUInt32BE(atomic.alignment, 48); // ATOMIC ALIGNMENT
  b.writeUInt32BE(atomic.granularity, 52); // ATOMIC TRANSFER LENGTH GRANULARITY
  // MAXIMUM ATOMIC TRANSFER LENGTH WITH ATOMIC BOUNDARY and MAXIMUM ATOMIC BOUNDARY SIZE 0: no ATOMIC BOUNDARY.
  return b;
}

/** SBC-4 "Block Device Characteristics VPD page". */
export function vpdBlockDeviceCharacteristics(): Buffer {
  const b = vpdHeader(VpdPage.BLOCK_DEVICE_CHARACTERISTICS, 0x3c);
  b.writeUInt16BE(0x0001, 4); // MEDIUM ROTATION RATE: non-rotating medium
  // WABEREQ 01b: a read after SANITIZE BLOCK ERASE succeeds (deallocated LBAs read as zeroes);
  // WACEREQ 00b: no CRYPTO ERASE; NOMINAL FORM FACTOR not reported (SBC-4 "Block Device Characteristics VPD page").
  b.writeUInt8(0x40, 7);
  return b;
}

/** SBC-4 "Logical Block Provisioning VPD page". */
export function vpdLogicalBlockProvisioning(lu: LogicalUnit): Buffer {
  const b = vpdHeader(VpdPage.LOGICAL_BLOCK_PROVISIONING, 4);
  b.writeUInt8(0, 4); // THRESHOLD EXPONENT
  if (lu.thin) {
    // LBPU | LBPWS | LBPWS10 | LBPRZ (bits 7..2); ANC_SUP 0, DP 0
    b.writeUInt8(0x80 | 0x40 | 0x20 | 0x04, 5);
    b.writeUInt8(0x02, 6); // PROVISIONING TYPE: thin provisioned
  }
  return b;
}
