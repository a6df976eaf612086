/**
 * Adds iSCSI digests to a wire image (BHS + AHS + data + pad) using the slow
 * reference CRC32C, independent of the framer/writer: header digest after
 * BHS+AHS, data digest after data+pad, only when DataSegmentLength > 0
 * (RFC 7143 §11.2.3). Digest words are little-endian (RFC 3720 B.4).
 */
import { crc32cReference } from '../../src/util/crc32c.js';
import { splitWire } from './split.js';

function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

export function withDigests(wire: Buffer, header: boolean, data: boolean): Buffer {
  const { ahs, data: seg, padded } = splitWire(wire);
  const headerEnd = 48 + ahs.length;
  const hdr = wire.subarray(0, headerEnd);
  const payload = wire.subarray(headerEnd, headerEnd + padded);
  const parts: Buffer[] = [hdr];
  if (header) parts.push(le32(crc32cReference(hdr)));
  parts.push(payload);
  if (data && seg.length > 0) parts.push(le32(crc32cReference(payload)));
  return Buffer.concat(parts);
}
