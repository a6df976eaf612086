/**
 * Small pieces the HA tests share on top of mini-initiator.ts: READ(10)/WRITE(10) CDBs, the
 * sense triple of an answer, and a write retried as multipath retries it (NOT READY and
 * UNIT ATTENTION only: any other answer fails the test, MEDIUM ERROR above all).
 */
import assert from 'node:assert/strict';
import type { MiniInitiator, ScsiReply } from './mini-initiator.js';

export function rw10(op: 0x28 | 0x2a, lba: number, blocks: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = op;
  c.writeUInt32BE(lba, 2);
  c.writeUInt16BE(blocks, 7);
  return c;
}

export function senseOf(r: ScsiReply): { key: number; asc: number; ascq: number } {
  const s = r.sense;
  if (s.length < 3) return { key: -1, asc: -1, ascq: -1 };
  if ((s[0]! & 0x7f) >= 0x72) return { key: s[1]! & 0x0f, asc: s[2]!, ascq: s[3]! };
  return { key: s[2]! & 0x0f, asc: s[12] ?? -1, ascq: s[13] ?? -1 };
}

/** Writes 4 KiB of `fill` at `lba` until GOOD; transitional answers are appended to `seen`. Resolves with the time taken (ms). */
export async function writeUntilGood(i: MiniInitiator, lba: number, fill: number, seen: string[], limitMs = 20_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const r = await i.commandOut(0, rw10(0x2a, lba, 8), Buffer.alloc(4096, fill));
    if (r.status === 0) return performance.now() - t0;
    const s = senseOf(r);
    seen.push(`${r.status}/${s.key}/${s.asc.toString(16)}/${s.ascq.toString(16)}`);
    assert.ok(r.status === 2 && (s.key === 2 || s.key === 6), `write answered status ${r.status} sense ${JSON.stringify(s)}`);
    assert.ok(performance.now() - t0 < limitMs, `no GOOD within ${limitMs} ms`);
  }
}
