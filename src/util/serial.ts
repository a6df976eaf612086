/**
 * RFC 1982 serial number arithmetic for 32-bit sequence numbers (CmdSN,
 * StatSN, DataSN, R2TSN). RFC 7143 §4.2.2.1 "Numbering": "comparisons and
 * arithmetic on CmdSN ... MUST use Serial Number Arithmetic as defined in
 * [RFC1982] where SERIAL_BITS = 32". Same rule as SPDK spdk_sn32_lt/gt.
 *
 * Pairs exactly 2^31 apart are undefined by RFC 1982: here both snLt(a,b) and
 * snGt(a,b) are false for them.
 */

const HALF = 0x80000000;

/** a < b in serial arithmetic. */
export function snLt(a: number, b: number): boolean {
  a >>>= 0;
  b >>>= 0;
  return a !== b && ((a < b && b - a < HALF) || (a > b && a - b > HALF));
}

/** a > b in serial arithmetic. */
export function snGt(a: number, b: number): boolean {
  a >>>= 0;
  b >>>= 0;
  return a !== b && ((a < b && b - a > HALF) || (a > b && a - b < HALF));
}

/** a <= b in serial arithmetic. */
export function snLte(a: number, b: number): boolean {
  return (a >>> 0) === (b >>> 0) || snLt(a, b);
}

/** a >= b in serial arithmetic. */
export function snGte(a: number, b: number): boolean {
  return (a >>> 0) === (b >>> 0) || snGt(a, b);
}

/**
 * a + n modulo 2^32. RFC 1982 §3.1 allows adding 0..2^31-1; n outside that
 * range throws RangeError (a programming error, never wire input).
 */
export function snAdd(a: number, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > HALF - 1) throw new RangeError(`serial addend out of range: ${n}`);
  return ((a >>> 0) + n) >>> 0;
}

/** b - a modulo 2^32 (distance forward from a to b), for window sizes. */
export function snDiff(a: number, b: number): number {
  return ((b >>> 0) - (a >>> 0)) >>> 0;
}

/** a <= x <= b in serial arithmetic (e.g. ExpCmdSN <= CmdSN <= MaxCmdSN). */
export function snInWindow(x: number, lo: number, hi: number): boolean {
  return snLte(lo, x) && snLte(x, hi);
}
