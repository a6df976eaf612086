/**
 * Splits a wire image (BHS + AHS + data + pad, no digests) into its parts by
 * reading the header fields directly (RFC 7143 §11.2.1: byte 4 TotalAHSLength
 * in words, bytes 5-7 DataSegmentLength). Independent of src/.
 */
export function splitWire(wire: Buffer): { bhs: Buffer; ahs: Buffer; data: Buffer; padded: number } {
  const ahsLen = (wire[4] ?? 0) * 4;
  const dsl = ((wire[5] ?? 0) << 16) | ((wire[6] ?? 0) << 8) | (wire[7] ?? 0);
  const padded = (dsl + 3) & ~3;
  return {
    bhs: wire.subarray(0, 48),
    ahs: wire.subarray(48, 48 + ahsLen),
    data: wire.subarray(48 + ahsLen, 48 + ahsLen + dsl),
    padded,
  };
}
