/**
 * Device health as ceph-iscsi's API reports it in `GET /api/disk/<pool>/<image>` (`status`):
 * every `status_check_interval` seconds the cluster's service map is read (each gateway's
 * entry for each image: lock_owner and the counters lock_lost_cnt, conn_lost_cnt,
 * cmd_timed_out_cnt) and each image gets a state:
 *
 * - "Degraded - cluster access failure" when a gateway's cmd_timed_out_cnt or conn_lost_cnt moved
 *   since the previous read;
 * - "Degraded - excessive failovers" when its lock_lost_cnt moved by `lock_lost_cnt_threshhold`
 *   or more;
 * - back to "Online" after more than `stable_state_reset_count` reads without such a change.
 *
 * `lock_owner` is the gateway whose `lock_owner=true` status is the newest.
 */
import type { DeviceServiceEntry } from '../backstore/backstore.js';
import type { Logger } from '../util/log.js';
import type { DeviceStatus } from './status.js';

export const DEVICE_ONLINE = 'Online';
export const DEGRADED_ACCESS = 'Degraded - cluster access failure';
export const DEGRADED_FAILOVERS = 'Degraded - excessive failovers';

const COUNTERS = ['cmd_timed_out_cnt', 'conn_lost_cnt', 'lock_lost_cnt'] as const;
type CounterName = (typeof COUNTERS)[number];

export interface DeviceHealthThresholds {
  /** settings.lock_lost_cnt_threshhold */
  lockLostThreshold: number;
  /** settings.stable_state_reset_count */
  stableResetCount: number;
}

interface Device {
  state: string;
  /** Reads in a row without an entry for it (a client re-registering after a blocklist: briefly absent). */
  missing: number;
  /** Seen in an earlier read: a gateway that appears later started from 0 (tcmu-runner's counters do). */
  known: boolean;
  lockOwner: string;
  lockOwnerStamp: string;
  /** gateway → counter → value at the last read. */
  counters: Map<string, Map<CounterName, number>>;
  /** A degrading change was seen in the current round. */
  changed: boolean;
  /** Rounds without a degrading change. */
  stable: number;
}

/** The state machine, fed one service-map read at a time (pure: no timers, no I/O). */
export class DeviceHealthTracker {
  readonly #t: DeviceHealthThresholds;
  readonly #devices = new Map<string, Device>();

  constructor(t: DeviceHealthThresholds) {
    this.#t = t;
  }

  /** One read of the service map. Devices absent from it are forgotten. */
  update(entries: readonly DeviceServiceEntry[]): void {
    const seen = new Set<string>();
    for (const e of entries) {
      seen.add(e.disk);
      let d = this.#devices.get(e.disk);
      if (d === undefined) {
        d = { state: DEVICE_ONLINE, missing: 0, known: false, lockOwner: '', lockOwnerStamp: '', counters: new Map(), changed: false, stable: 0 };
        this.#devices.set(e.disk, d);
      }
      if (e.status !== undefined) this.#apply(d, e.gateway, e.status, e.statusStamp ?? '');
    }
    for (const [disk, d] of this.#devices) {
      d.known = true;
      if (!seen.has(disk)) {
        // gone for good after as many reads as it takes to become stable again
        if (++d.missing > this.#t.stableResetCount) this.#devices.delete(disk);
        continue;
      }
      d.missing = 0;
      if (d.changed) {
        d.changed = false;
      } else if (++d.stable > this.#t.stableResetCount) {
        d.stable = 0;
        d.state = DEVICE_ONLINE;
      }
    }
  }

  #apply(d: Device, gateway: string, status: Record<string, string>, stamp: string): void {
    if (status.lock_owner === 'true' && stamp > d.lockOwnerStamp) {
      d.lockOwnerStamp = stamp;
      d.lockOwner = gateway;
      d.stable = 0;
    }
    for (const name of COUNTERS) {
      const raw = status[name];
      const value = raw === undefined ? NaN : Number(raw);
      if (!Number.isSafeInteger(value)) continue;
      let counters = d.counters.get(gateway);
      if (counters === undefined) {
        counters = new Map();
        d.counters.set(gateway, counters);
      }
      // First sight: the current value is the baseline, unless the device was known before this
      // gateway's entry appeared (its counters then moved from 0 while it was not in the map).
      const before = counters.get(name) ?? (d.known ? 0 : value);
      counters.set(name, value);
      const delta = Math.abs(value - before);
      if (name === 'lock_lost_cnt' ? delta >= this.#t.lockLostThreshold : delta >= 1) {
        d.state = name === 'lock_lost_cnt' ? DEGRADED_FAILOVERS : DEGRADED_ACCESS;
        d.changed = true;
        d.stable = 0;
      }
    }
  }

  /** The `status` of GET /api/disk, or undefined when the service map has no entry for the disk. */
  status(disk: string): DeviceStatus | undefined {
    const d = this.#devices.get(disk);
    if (d === undefined) return undefined;
    const gateways: DeviceStatus['gateways'] = {};
    for (const [gw, counters] of d.counters) {
      const g: Record<string, number> = {};
      for (const [name, value] of counters) g[name] = value;
      gateways[gw] = g;
    }
    return { state: d.state, lock_owner: d.lockOwner, gateways };
  }
}

/** Reads the service map every `intervalSec` and keeps a DeviceHealthTracker current. */
export class DeviceHealthWatcher {
  readonly tracker: DeviceHealthTracker;
  readonly #read: () => Promise<DeviceServiceEntry[]>;
  readonly #intervalMs: number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;
  /** Given-up reads not ended yet. */
  #stuck = 0;
  #failing = false;

  constructor(o: { read: () => Promise<DeviceServiceEntry[]>; intervalSec: number; thresholds: DeviceHealthThresholds; logger: Logger }) {
    this.tracker = new DeviceHealthTracker(o.thresholds);
    this.#read = o.read;
    this.#intervalMs = o.intervalSec * 1000;
    this.#log = o.logger;
  }

  /** Reads once now, then every interval. */
  start(): void {
    if (this.#timer !== undefined) return;
    void this.poll();
    this.#timer = setInterval(() => void this.poll(), this.#intervalMs);
    this.#timer.unref();
  }

  /**
   * One read (a read still running is joined, not doubled). A read that has not answered within
   * max(5 s, 2 intervals) is given up so that the next one can start:
   * a mgr command sent by a client that has just been blocklisted never answers.
   */
  poll(): Promise<void> {
    if (this.#reading !== undefined) return this.#reading;
    // A given-up read holds a threadpool thread until librados answers: at most two of those.
    if (this.#stuck >= 2) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the service map read did not answer')), Math.max(5000, 2 * this.#intervalMs));
      timer.unref();
    });
    this.#reading = (async () => {
      try {
        const read = this.#read();
        // once given up, the read's late answer goes nowhere (the race is settled); it is counted
        // as stuck until it ends
        giveUp.catch(() => {
          this.#stuck++;
          void read.then(undefined, () => undefined).finally(() => this.#stuck--);
        });
        this.tracker.update(await Promise.race([read, giveUp]));
        if (this.#failing) this.#log.info('device health: the service map can be read again');
        this.#failing = false;
      } catch (err) {
        if (!this.#failing) this.#log.warn({ err }, 'device health: cannot read the service map');
        this.#failing = true;
      } finally {
        clearTimeout(timer);
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#reading;
  }
}
