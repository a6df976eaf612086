/**
 * gateway/ha: the ALUA view (pure) and the coordinator's protocol with two gateways on an
 * in-memory board and an in-memory exclusive lock that behaves like RBD's (one owner, a break
 * blocklists the owner, a blocklisted client's calls fail). Short leases keep it quick.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ExclusiveLock } from '../../../src/backstore/backstore.js';
import { BackstoreError } from '../../../src/backstore/backstore.js';
import { emptyChapAuth, seedConfig, type GatewayConfig, type TargetEntry } from '../../../src/config/schema.js';
import type { Board, MemberRecord } from '../../../src/gateway/ha/board.js';
import { HaCoordinator, type HaOptions } from '../../../src/gateway/ha/coordinator.js';
import type { ProcessIdentity } from '../../../src/gateway/ha/fence.js';
import { activeGateway, designatedGateway, haAluaGroups } from '../../../src/gateway/ha/view.js';
import type { WriteArbiter } from '../../../src/scsi/logical-unit.js';
import { createLogger } from '../../../src/util/log.js';

const IQN = 'iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw';
const DISK = 'rbd/disk_1';

function target(gateways: string[]): TargetEntry {
  const ips = gateways.map((_, i) => `10.0.0.${i + 1}`);
  return {
    acl_enabled: false,
    auth: emptyChapAuth(),
    controls: {},
    ip_list: ips,
    portals: Object.fromEntries(
      gateways.map((g, i) => [g, { portal_ip_addresses: [ips[i]!], gateway_ip_list: ips, inactive_portal_ips: ips.filter((_, j) => j !== i), tpgs: gateways.length }]),
    ),
    disks: { [DISK]: { lun_id: 0 } },
    clients: {},
    groups: {},
    created: '',
    updated: '',
  };
}

function doc(t: TargetEntry): GatewayConfig {
  const d = seedConfig();
  d.targets[IQN] = t;
  return d;
}

describe('ALUA view', () => {
  const t = target(['gw-a', 'gw-b', 'gw-c']);

  test('the preferred owner serves when alive; otherwise a survivor chosen by the disk, the same for everyone', () => {
    assert.equal(designatedGateway(t, DISK, 'gw-a', new Set(['gw-a', 'gw-b', 'gw-c'])), 'gw-a');
    const survivor = designatedGateway(t, DISK, 'gw-a', new Set(['gw-b', 'gw-c']));
    assert.ok(survivor === 'gw-b' || survivor === 'gw-c');
    assert.equal(designatedGateway(t, DISK, 'gw-a', new Set(['gw-c', 'gw-b'])), survivor, 'independent of set order');
    assert.equal(designatedGateway(t, DISK, 'gw-a', new Set()), undefined);
    // A gateway that is not a portal of the target is never chosen.
    assert.equal(designatedGateway(t, DISK, 'gw-x', new Set(['gw-x', 'gw-b'])), 'gw-b');
  });

  test('the alive holder is AO whatever the preference; a dead holder is not', () => {
    assert.equal(activeGateway(t, DISK, 'gw-a', { alive: new Set(['gw-a', 'gw-b']), holders: new Map([[DISK, 'gw-b']]) }), 'gw-b');
    assert.equal(activeGateway(t, DISK, 'gw-a', { alive: new Set(['gw-a']), holders: new Map([[DISK, 'gw-b']]) }), 'gw-a');
  });

  test('groups: AO holder, ANO alive, unavailable dead, transitioning self when fenced; PREF only when asked', () => {
    const view = { alive: new Set(['gw-b', 'gw-c']), holders: new Map([[DISK, 'gw-c']]) };
    const g = haAluaGroups(t, DISK, 'gw-a', view, 'gw-b');
    assert.deepEqual(
      g.map((x) => [x.id, x.state, x.preferred === true]),
      [
        [1, 'unavailable', false],
        [2, 'active-non-optimized', false],
        [3, 'active-optimized', false],
      ],
    );
    const fenced = haAluaGroups(t, DISK, 'gw-a', { alive: new Set(['gw-a', 'gw-c']), holders: new Map() }, 'gw-b', true);
    assert.deepEqual(
      fenced.map((x) => [x.id, x.state, x.preferred === true]),
      [
        [1, 'active-optimized', true],
        [2, 'transitioning', false],
        [3, 'active-non-optimized', false],
      ],
    );
  });
});

// ------------------------------------------------------------------ the protocol

class MemoryBoard {
  readonly records = new Map<string, MemberRecord>();
  readonly listeners: (() => void)[] = [];
  /** Gateways whose writes fail (frozen / cut off). */
  readonly cut = new Set<string>();
  /** Gateways that read only their own record (not yet aware of their peers, as just after a start). */
  readonly blind = new Set<string>();
  /** Delay of the change notification after a publish (0: next turn of the event loop). */
  notifyDelayMs = 0;

  for(gateway: string): Board {
    return {
      publish: async (r) => {
        if (this.cut.has(gateway)) throw new Error('cut off');
        this.records.set(r.gateway, structuredClone(r));
        const notify = (): void => {
          for (const cb of this.listeners) cb();
        };
        if (this.notifyDelayMs > 0) setTimeout(notify, this.notifyDelayMs);
        else setImmediate(notify);
      },
      readAll: async () => {
        if (this.cut.has(gateway)) throw new Error('cut off');
        return [...this.records.values()].filter((r) => !this.blind.has(gateway) || r.gateway === gateway).map((r) => structuredClone(r));
      },
      read: async (g) => structuredClone(this.records.get(g)),
      onChange: (cb) => {
        this.listeners.push(cb);
      },
      close: async () => undefined,
    };
  }
}

class MemoryLock {
  owner: string | undefined;
  readonly blocklisted = new Set<string>();
  acquisitions: string[] = [];
  /** performance.now() of each acquisition. */
  acquiredAt: number[] = [];

  client(address: string): ExclusiveLock {
    let held = false;
    const fenced = (): void => {
      if (this.blocklisted.has(address)) throw new BackstoreError('ERR_BACKSTORE_LOCK_LOST', 'blocklisted');
    };
    return {
      clientAddress: address,
      manage: () => undefined,
      held: () => held && this.owner === address,
      owners: async () => {
        fenced();
        return this.owner === undefined ? [] : [this.owner];
      },
      acquire: async () => {
        fenced();
        if (this.owner !== undefined && this.owner !== address) throw new BackstoreError('ERR_BACKSTORE_IO', 'busy');
        if (this.owner !== address) {
          this.acquisitions.push(address);
          this.acquiredAt.push(performance.now());
        }
        this.owner = address;
        held = true;
      },
      release: async () => {
        held = false;
        if (this.owner === address) this.owner = undefined;
      },
      breakLock: async (owner) => {
        fenced();
        this.blocklisted.add(owner);
        if (this.owner === owner) this.owner = undefined;
      },
    };
  }
}

const LEASE = 600;
const silent = createLogger({ level: process.env.HA_DEBUG ? "debug" : "silent", name: "ha-test" });

function gateway(name: string, board: MemoryBoard, lock: MemoryLock, d: GatewayConfig, now?: () => number, fencing?: Pick<HaOptions, 'identity' | 'fencePeer'>) {
  const fenced: number[] = [];
  const resets: string[] = [];
  const ha = new HaCoordinator({
    gatewayName: name,
    board: board.for(name),
    leaseMs: LEASE,
    doc: () => d,
    log: silent,
    dataAddress: () => `addr-${name}`,
    onAluaChanged: () => undefined,
    onFenced: () => fenced.push(1),
    onPeerReset: (disk, reason) => resets.push(`${disk} ${reason}`),
    ...(now !== undefined ? { now } : {}),
    ...fencing,
  });
  return { ha, fenced, resets, lock: lock.client(`addr-${name}`) };
}

/** gw-a and gw-b on `board` and one lock, started, the disk (preferred on gw-a) attached to both. */
async function pair(d: GatewayConfig, board = new MemoryBoard()) {
  const lock = new MemoryLock();
  const a = gateway('gw-a', board, lock, d);
  const b = gateway('gw-b', board, lock, d);
  await a.ha.start();
  await b.ha.start();
  const disk = { id: DISK, target: IQN, owner: 'gw-a' };
  const wa = a.ha.attach(disk, a.lock);
  const wb = b.ha.attach(disk, b.lock);
  const stop = async (): Promise<void> => {
    await a.ha.stop();
    await b.ha.stop();
  };
  return { board, lock, a, b, wa, wb, stop };
}

/** Keeps a write (20 ms each) in flight through `arb` until stop() or a refusal. */
function busyWriter(arb: WriteArbiter): { stop(): Promise<void> } {
  let busy = true;
  const done = (async () => {
    while (busy) {
      const r = await arb.begin();
      if (r !== undefined) break;
      await new Promise((res) => setTimeout(res, 20));
      arb.end();
    }
  })();
  return {
    stop: async () => {
      busy = false;
      await done;
    },
  };
}

async function write(arb: WriteArbiter): Promise<string> {
  const r = await arb.begin();
  if (r !== undefined) return r;
  arb.end();
  return 'ok';
}

describe('HA coordinator', () => {
  const d = doc(target(['gw-a', 'gw-b']));
  d.disks[DISK] = { ...(d.disks[DISK] ?? {}), owner: 'gw-a' } as GatewayConfig['disks'][string];

  test('hand-off: the preferred owner takes the free lock; a write via the peer gets it once the holder is idle', async () => {
    const { lock, a, b, wa, wb, stop } = await pair(d);
    try {
      assert.equal(await write(wa), 'ok');
      assert.equal(lock.owner, 'addr-gw-a');
      assert.equal(a.ha.groups(DISK).find((g) => g.id === 1)?.state, 'active-optimized');
      assert.equal(await write(wb), 'ok', 'the write through gw-b waited for the hand-off, then ran');
      assert.equal(lock.owner, 'addr-gw-b');
      await b.ha.refresh();
      await a.ha.refresh();
      assert.deepEqual(a.ha.groups(DISK), b.ha.groups(DISK), 'both gateways report the same groups');
      // A hold taken for a write through the non-designated gateway has not settled: AO stays
      // with gw-a (no ALUA unit attention for a short burst through the other path).
      assert.equal(a.ha.groups(DISK).find((g) => g.id === 1)?.state, 'active-optimized');
      assert.equal(a.ha.groups(DISK).find((g) => g.id === 2)?.state, 'active-non-optimized');
      assert.equal(lock.blocklisted.size, 0, 'nobody alive is blocklisted');
    } finally {
      await stop();
    }
  });

  test('hysteresis: a busy holder keeps the lock for its minimum hold, then hands it over', async () => {
    const { lock, wa, wb, stop } = await pair(d);
    try {
      assert.equal(await write(wa), 'ok');
      const acquiredAt = performance.now();
      // gw-a keeps a write in flight all the time.
      const writer = busyWriter(wa);
      assert.equal(await write(wb), 'ALUA_TRANSITION', 'refused while the holder is busy and held it briefly');
      let answer = 'ALUA_TRANSITION';
      while (answer !== 'ok') answer = await write(wb);
      const movedAfter = performance.now() - acquiredAt;
      await writer.stop();
      assert.ok(movedAfter >= 3000, `moved after ${movedAfter.toFixed(0)} ms (minimum hold 3000)`);
      assert.deepEqual(lock.acquisitions, ['addr-gw-a', 'addr-gw-b']);
    } finally {
      await stop();
    }
  });

  test('a gateway that starts serving the disk before it has read the live holder does not pull the lock away', async () => {
    const board = new MemoryBoard();
    const lock = new MemoryLock();
    const a = gateway('gw-a', board, lock, d);
    const b = gateway('gw-b', board, lock, d);
    const disk = { id: DISK, target: IQN, owner: 'gw-b' }; // gw-b preferred: it is the designated one
    await a.ha.start();
    const wa = a.ha.attach(disk, a.lock);
    try {
      // gw-a took the free lock (gw-b not up yet) and serves writes.
      assert.equal(await write(wa), 'ok');
      assert.equal(lock.owner, 'addr-gw-a');
      // gw-b (re)starts and attaches the disk before it has read gw-a's record: it sees nobody
      // alive holding the disk and itself designated, and goes after the lock.
      board.blind.add('gw-b');
      await b.ha.start();
      b.ha.attach(disk, b.lock);
      board.blind.delete('gw-b');
      // Once it reads the board it finds gw-a alive, holding the lock: no write asked here, so no hand-off.
      const until = performance.now() + 3 * LEASE;
      while (performance.now() < until) await new Promise((res) => setTimeout(res, 50));
      assert.deepEqual(lock.acquisitions, ['addr-gw-a'], 'the lock stayed with the live holder');
      assert.equal(lock.blocklisted.size, 0);
      await b.ha.refresh();
      assert.equal(b.ha.groups(DISK).find((g) => g.id === 1)?.state, 'active-optimized', 'the holder is AO');
      assert.equal(b.ha.groups(DISK).find((g) => g.id === 2)?.state, 'active-non-optimized');
    } finally {
      await a.ha.stop();
      await b.ha.stop();
    }
  });

  test('a write the initiator gave up on (it moved to the AO path) does not move the lock after the minimum hold', async () => {
    const { lock, wa, wb, stop } = await pair(d);
    try {
      assert.equal(await write(wa), 'ok');
      const acquiredAt = performance.now();
      const writer = busyWriter(wa);
      // One stray write through gw-b; the initiator then writes through gw-a only.
      assert.equal(await write(wb), 'ALUA_TRANSITION');
      // Past gw-a's minimum hold (3 s): gw-b no longer asks, so gw-a keeps the lock.
      while (performance.now() - acquiredAt < 4500) await new Promise((res) => setTimeout(res, 50));
      await writer.stop();
      assert.deepEqual(lock.acquisitions, ['addr-gw-a'], 'the lock did not move');
    } finally {
      await stop();
    }
  });

  test('two busy gateways: the lock alternates, the one that handed it over does not grab it back', async () => {
    const slow = new MemoryBoard();
    slow.notifyDelayMs = 20; // as over RADOS: the peer learns of the release a little later
    const { lock, wa, wb, stop } = await pair(d, slow);
    const arbiters = [wa, wb];
    const ok = [0, 0];
    const RUN_MS = 7000;
    const t0 = performance.now();
    try {
      // Each gateway has an initiator writing all the time, retrying a refusal at once.
      await Promise.all(
        arbiters.map(async (arb, i) => {
          while (performance.now() - t0 < RUN_MS) {
            const r = await arb.begin();
            if (r === undefined) {
              await new Promise((res) => setTimeout(res, 10));
              arb.end();
              ok[i]!++;
            } else {
              await new Promise((res) => setImmediate(res));
            }
          }
        }),
      );
      // (The acquisitions while both write: once one writer stops, the other gateway gets it at once.)
      const seq = lock.acquisitions.filter((_, i) => (lock.acquiredAt[i] ?? Infinity) < t0 + RUN_MS);
      for (let i = 1; i < seq.length; i++) assert.notEqual(seq[i], seq[i - 1], `taken back by the gateway that handed it over: ${seq.join(' ')}`);
      // A busy holder keeps it 3 s: at most RUN_MS / 3000 + 1 holds.
      assert.ok(seq.length >= 2 && seq.length <= Math.floor(RUN_MS / 3000) + 1, seq.join(' '));
      assert.ok(ok[0]! > 0 && ok[1]! > 0, `writes through each gateway: ${ok.join(', ')}`);
    } finally {
      await stop();
    }
  });

  test('a holder that stops renewing is declared dead: its lock is broken (blocklisted), the survivor takes over; the cut-off one fences itself', async () => {
    const { board, lock, a, b, wa, wb, stop } = await pair(d);
    try {
      assert.equal(await write(wa), 'ok');
      board.cut.add('gw-a');
      const t0 = performance.now();
      let answer = await write(wb);
      while (answer !== 'ok') answer = await write(wb);
      const took = performance.now() - t0;
      assert.ok(took >= LEASE * 0.9, `took over after ${took.toFixed(0)} ms, not before the lease (${LEASE})`);
      assert.ok(lock.blocklisted.has('addr-gw-a'));
      assert.equal(lock.owner, 'addr-gw-b');
      assert.equal(await write(wa), 'ALUA_TRANSITION', 'the cut-off gateway refuses writes');
      assert.ok(a.fenced.length > 0, 'and dropped its sessions');
      assert.equal(b.ha.groups(DISK).find((g) => g.id === 1)?.state, 'unavailable');
      assert.equal(b.ha.groups(DISK).find((g) => g.id === 2)?.state, 'active-optimized');
    } finally {
      await stop();
    }
  });

  test('a frozen gateway (its clock jumps past the lease) refuses the write it resumes with', async () => {
    const board = new MemoryBoard();
    const lock = new MemoryLock();
    let skew = 0;
    const a = gateway('gw-a', board, lock, d, () => performance.now() + skew);
    await a.ha.start();
    const wa = a.ha.attach({ id: DISK, target: IQN, owner: 'gw-a' }, undefined); // file default: no lock
    try {
      assert.equal(await write(wa), 'ok');
      skew = 30_000; // SIGSTOP for 30 s: the first thing after SIGCONT is the queued write
      assert.equal(await write(wa), 'ALUA_TRANSITION');
      assert.equal(a.fenced.length, 1);
      assert.equal(a.ha.groups(DISK).find((g) => g.id === 1)?.state, 'transitioning');
    } finally {
      await a.ha.stop();
    }
  });

  test('a reset through one gateway is applied by every live peer before announceReset resolves, once', async () => {
    const board = new MemoryBoard();
    const lock = new MemoryLock();
    const a = gateway('gw-a', board, lock, d);
    const b = gateway('gw-b', board, lock, d);
    await a.ha.start();
    await b.ha.start();
    await a.ha.refresh();
    try {
      await a.ha.announceReset(DISK, 'BUS_DEVICE_RESET');
      assert.deepEqual(b.resets, [`${DISK} BUS_DEVICE_RESET`], 'applied by the peer before the TMF is answered');
      assert.deepEqual(a.resets, [], 'the sender queued its own unit attentions itself');
      await a.ha.announceReset(DISK, 'POWER_ON_RESET');
      await b.ha.refresh();
      await b.ha.refresh();
      assert.deepEqual(b.resets, [`${DISK} BUS_DEVICE_RESET`, `${DISK} POWER_ON_RESET`], 'each event once');
      // A gateway that starts later does not replay the history.
      const c = gateway('gw-c', board, lock, d);
      await c.ha.start();
      await c.ha.refresh();
      assert.deepEqual(c.resets, []);
      await c.ha.stop();
      // A frozen peer delays the answer by a bound, not for ever.
      board.cut.add('gw-b');
      const t0 = performance.now();
      await a.ha.announceReset(DISK, 'BUS_DEVICE_RESET');
      assert.ok(performance.now() - t0 < 5000);
    } finally {
      board.cut.clear();
      await a.ha.stop();
      await b.ha.stop();
    }
  });

  test('failback: the returning preferred owner gets the disk back only once the holder is idle, never from a busy writer', async () => {
    const board = new MemoryBoard();
    const lock = new MemoryLock();
    const b = gateway('gw-b', board, lock, d);
    await b.ha.start();
    const disk = { id: DISK, target: IQN, owner: 'gw-a' };
    const wb = b.ha.attach(disk, b.lock);
    const a = gateway('gw-a', board, lock, d);
    try {
      assert.equal(await write(wb), 'ok'); // gw-a is down: gw-b serves
      assert.equal(lock.owner, 'addr-gw-b');
      await a.ha.start();
      a.ha.attach(disk, a.lock);
      // A busy writer through gw-b for longer than the failback delay keeps the lock.
      const until = performance.now() + 6500;
      while (performance.now() < until) {
        assert.equal(await write(wb), 'ok');
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.equal(lock.owner, 'addr-gw-b', 'no failback under writes');
      // Idle: the disk goes back to gw-a, the same groups on both gateways.
      const idleAt = performance.now();
      while ((lock.owner as string | undefined) !== 'addr-gw-a') {
        assert.ok(performance.now() - idleAt < 5000, 'failback within the idle delay');
        await new Promise((res) => setTimeout(res, 50));
      }
      await a.ha.refresh();
      await b.ha.refresh();
      assert.equal(a.ha.groups(DISK).find((g) => g.id === 1)?.state, 'active-optimized');
      assert.deepEqual(a.ha.groups(DISK), b.ha.groups(DISK));
      assert.deepEqual(lock.acquisitions, ['addr-gw-b', 'addr-gw-a'], 'one move, no bounce');
    } finally {
      await a.ha.stop();
      await b.ha.stop();
    }
  });

  /** gw-a and gw-b of the file default (no lock) that publish a process identity and record the fences they do. */
  async function filePair(clock: () => number) {
    const board = new MemoryBoard();
    const lock = new MemoryLock();
    const calls: { by: string; pid: number }[] = [];
    const fencing = (name: string, pid: number): Pick<HaOptions, 'identity' | 'fencePeer'> => ({
      identity: { boot: 'boot-1', pid, start: '42' },
      fencePeer: async (id: ProcessIdentity) => {
        calls.push({ by: name, pid: id.pid });
        return 'killed';
      },
    });
    const a = gateway('gw-a', board, lock, d, clock, fencing('gw-a', 1001));
    const b = gateway('gw-b', board, lock, d, clock, fencing('gw-b', 1002));
    await a.ha.start();
    await b.ha.start();
    const disk = { id: DISK, target: IQN, owner: 'gw-a' };
    a.ha.attach(disk, undefined);
    b.ha.attach(disk, undefined);
    return { board, a, b, calls };
  }

  async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
    const t0 = performance.now();
    while (!cond()) {
      assert.ok(performance.now() - t0 < ms, `${what} within ${ms} ms`);
      await new Promise((res) => setTimeout(res, 10));
    }
  }

  test('file default: a peer whose lease lapsed is fenced once, by its published process; a live peer never', async () => {
    const { board, a, b, calls } = await filePair(() => performance.now());
    try {
      await a.ha.refresh();
      await b.ha.refresh();
      assert.deepEqual(calls, [], 'live peers are not fenced');
      board.cut.add('gw-a'); // frozen: no renewal
      const t0 = performance.now();
      await until('gw-b fences gw-a', () => calls.length > 0, LEASE * 4);
      assert.ok(performance.now() - t0 >= LEASE * 0.7, `fenced after ${(performance.now() - t0).toFixed(0)} ms, before its lease could lapse`);
      assert.deepEqual(calls, [{ by: 'gw-b', pid: 1001 }]);
      for (let i = 0; i < 3; i++) await b.ha.refresh();
      assert.equal(calls.length, 1, 'once per lapsed record');
    } finally {
      await a.ha.stop();
      await b.ha.stop();
    }
  });

  test('file default: after a stall of this gateway (both frozen, the host paused), a peer gets time to renew before it is judged', async () => {
    let skew = 0;
    const { board, a, b, calls } = await filePair(() => performance.now() + skew);
    try {
      await b.ha.refresh();
      skew += 10_000; // every clock jumps: the host was paused for 10 s
      board.cut.add('gw-a'); // gw-a resumes later than gw-b
      await b.ha.refresh(); // gw-b's first look after the stall
      await until('gw-b renews its own lease', () => b.ha.leaseValid(), LEASE);
      await b.ha.refresh();
      assert.deepEqual(calls, [], 'a peer that could not yet renew after the pause is not fenced');
      const seq = board.records.get('gw-a')?.seq;
      board.cut.delete('gw-a');
      await until('gw-a renews', () => board.records.get('gw-a')?.seq !== seq, LEASE);
      for (let i = 0; i < 3; i++) await b.ha.refresh();
      assert.deepEqual(calls, []);
      assert.ok(a.ha.leaseValid());
    } finally {
      await a.ha.stop();
      await b.ha.stop();
    }
  });
});
