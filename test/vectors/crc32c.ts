/**
 * CRC32C examples from RFC 3720 Appendix B.4 "CRC Examples" (carried over
 * unchanged into RFC 7143's digest definition, §13.1). `digest` is the byte
 * sequence as sent on the wire (the CRC value little-endian), as printed in
 * the RFC.
 */
import { RFC_READ_PDU } from './pdus.js';

export interface CrcVector {
  name: string;
  input: Buffer;
  digest: Buffer;
}

export const CRC_VECTORS: CrcVector[] = [
  { name: '32 bytes of zeroes', input: Buffer.alloc(32, 0x00), digest: Buffer.from([0xaa, 0x36, 0x91, 0x8a]) },
  { name: '32 bytes of ones', input: Buffer.alloc(32, 0xff), digest: Buffer.from([0x43, 0xab, 0xa8, 0x62]) },
  {
    name: '32 bytes of incrementing 00..1f',
    input: Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
    digest: Buffer.from([0x4e, 0x79, 0xdd, 0x46]),
  },
  {
    name: '32 bytes of decrementing 1f..00',
    input: Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)),
    digest: Buffer.from([0x5c, 0xdb, 0x3f, 0x11]),
  },
  { name: 'an iSCSI - SCSI Read (10) Command PDU', input: RFC_READ_PDU, digest: Buffer.from([0x56, 0x3a, 0x96, 0xd9]) },
];
