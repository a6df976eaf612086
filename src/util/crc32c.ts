/**
 * CRC32C (Castagnoli) for iSCSI header and data digests (RFC 7143 §13.1,
 * the generator polynomial 0x1EDC6F41). Wraps the SIMD implementation of
 * @node-rs/crc32.
 *
 * Byte order on the wire: the digest word is the CRC value stored
 * little-endian, i.e. the RFC 3720 Appendix B.4 example "32 bytes of zeroes"
 * (CRC32C value 0x8a9136aa) is transmitted as aa 36 91 8a.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of buf; pass the previous result as `seed` to continue over several buffers. */
export function crc32c(buf: Uint8Array, seed = 0): number {
  return nativeCrc32c(buf, seed) >>> 0;
}

/** The iSCSI digest word of buf as 4 bytes (little-endian CRC32C). */
export function digestBytes(crc: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(crc >>> 0, 0);
  return b;
}

/** Writes the digest word of crc at offset (little-endian). Returns offset + 4. */
export function writeDigest(target: Buffer, crc: number, offset: number): number {
  return target.writeUInt32LE(crc >>> 0, offset);
}

/** Reads a received digest word at offset (little-endian) as the CRC value. */
export function readDigest(source: Buffer, offset: number): number {
  return source.readUInt32LE(offset);
}

/**
 * Table-driven reference implementation (bitwise reflected, poly 0x82F63B78).
 * Slow: for tests that cross-check the native library only.
 */
export function crc32cReference(buf: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (let i = 0; i < buf.length; i++) {
    crc = (REF_TABLE[(crc ^ (buf[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}

const REF_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
