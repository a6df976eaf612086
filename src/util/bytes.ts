/** Small byte helpers shared by the codecs. */

/** Shared empty buffer (never written to). */
export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

/** Reads a 24-bit big-endian unsigned integer (e.g. iSCSI DataSegmentLength). */
export function readUInt24BE(buf: Buffer, offset: number): number {
  return buf.readUIntBE(offset, 3);
}

/** Writes a 24-bit big-endian unsigned integer; throws RangeError if value is out of range. */
export function writeUInt24BE(buf: Buffer, value: number, offset: number): number {
  return buf.writeUIntBE(value, offset, 3);
}

/** Bytes of padding needed to reach a multiple of 4 (RFC 7143 §11.2.4: data segments are padded to 4 bytes). */
export function padLength(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** Rounds n up to a multiple of 4. */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Hex dump for debug logs: `offset  hex bytes  |ascii|`, 16 bytes a line.
 * `max` limits the bytes shown (the rest is summarised), so a dump never floods a log.
 */
export function hexdump(buf: Uint8Array, max = 256): string {
  const n = Math.min(buf.length, max);
  const lines: string[] = [];
  for (let off = 0; off < n; off += 16) {
    const end = Math.min(off + 16, n);
    let hex = '';
    let ascii = '';
    for (let i = off; i < off + 16; i++) {
      if (i < end) {
        const b = buf[i] ?? 0;
        hex += b.toString(16).padStart(2, '0') + (i === off + 7 ? '  ' : ' ');
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hex += i === off + 7 ? '    ' : '   ';
      }
    }
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  if (buf.length > n) lines.push(`... ${buf.length - n} more bytes`);
  return lines.join('\n');
}
