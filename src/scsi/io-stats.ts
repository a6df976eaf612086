/**
 * I/O statistics of a logical unit, counted on the data path into plain numbers and
 * fixed-bucket typed arrays: no allocation and no label lookup per command. The metrics
 * layer reads them at scrape time (src/metrics/); nothing here knows about Prometheus.
 */
import { ScsiOp } from './constants.js';

/** Operation classes of the latency histograms and command counters. */
export const IoClass = { READ: 0, WRITE: 1, OTHER: 2 } as const;
export type IoClass = (typeof IoClass)[keyof typeof IoClass];
export const IO_CLASS_NAMES = ['read', 'write', 'other'] as const;

/**
 * Upper bounds of the latency buckets in seconds, 50 µs to 5 s (a 4K read from a page cache
 * takes tens of µs; an RBD write during a lock transition seconds). A last bucket (+Inf) follows.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];
const BUCKET_BOUNDS_MS = Float64Array.from(LATENCY_BUCKETS_SECONDS, (s) => s * 1000);
/** Buckets per class, +Inf included. */
export const BUCKETS_PER_CLASS = LATENCY_BUCKETS_SECONDS.length + 1;

/** Opcodes whose Data-In is medium data (the read bytes). */
const READ_OPCODES: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const op of [ScsiOp.READ_6, ScsiOp.READ_10, ScsiOp.READ_12, ScsiOp.READ_16]) t[op] = 1;
  return t;
})();

/** Whether a CDB opcode reads medium data (READ (6/10/12/16)). */
export function isReadOpcode(op: number): boolean {
  return READ_OPCODES[op] === 1;
}

/** Commands and bytes of one initiator on one LU (upstream's per-client LUN counters). */
export class ClientIo {
  commands = 0;
  readBytes = 0;
  writeBytes = 0;
}

/** What the exporter reads of an LU's statistics. */
export class LuIoStats {
  /** Commands completed, per IoClass. */
  readonly commands = new Float64Array(3);
  readBytes = 0;
  writeBytes = 0;
  /** Commands being executed now (queue depth as the device server sees it). */
  inflight = 0;
  /** Commands that failed in the backstore (MEDIUM/WRITE ERROR, NOT READY, lock lost). */
  backstoreErrors = 0;
  /** Latency bucket counts (not cumulative), BUCKETS_PER_CLASS per IoClass. */
  readonly buckets = new Float64Array(3 * BUCKETS_PER_CLASS);
  /** Sum of the latencies per IoClass, seconds. */
  readonly latencySum = new Float64Array(3);
  readonly #clients = new Map<string, ClientIo>();

  /**
   * The counters of one initiator: resolved once per I_T nexus (not per command) and kept for
   * the LU's life, so they never go back when the initiator logs in again.
   */
  client(initiatorName: string): ClientIo {
    let c = this.#clients.get(initiatorName);
    if (c === undefined) {
      c = new ClientIo();
      this.#clients.set(initiatorName, c);
    }
    return c;
  }

  clients(): ReadonlyMap<string, ClientIo> {
    return this.#clients;
  }

  /** A command starts executing: its start time (ms, performance.now()). */
  begin(): number {
    this.inflight++;
    return performance.now();
  }

  /** A command finished: `bytes` read or written (0 for other classes), started at `startMs`. */
  end(cls: IoClass, bytes: number, startMs: number, client: ClientIo | undefined): void {
    const ms = performance.now() - startMs;
    this.inflight--;
    this.commands[cls] = (this.commands[cls] ?? 0) + 1;
    this.latencySum[cls] = (this.latencySum[cls] ?? 0) + ms / 1000;
    let b = 0;
    while (b < BUCKET_BOUNDS_MS.length && ms > (BUCKET_BOUNDS_MS[b] ?? Infinity)) b++;
    const i = cls * BUCKETS_PER_CLASS + b;
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    if (cls === IoClass.READ) this.readBytes += bytes;
    else if (cls === IoClass.WRITE) this.writeBytes += bytes;
    if (client !== undefined) {
      client.commands++;
      if (cls === IoClass.READ) client.readBytes += bytes;
      else if (cls === IoClass.WRITE) client.writeBytes += bytes;
    }
  }
}
