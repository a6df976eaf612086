/**
 * The multipath test initiator's policy (test/integration/multipath-initiator.ts) against two
 * in-process "gateways": two IscsiServers on loopback (TPG 1 and TPG 2) exporting one logical
 * unit of the real SCSI device server over one memory image, with ALUA groups the test sets and
 * a fault hook in front of each server's SCSI port (answer a CHECK CONDITION / BUSY instead, or
 * hold commands). Each case asserts the attempts the initiator made: which path, what answer,
 * which outcome — the retry/failover table of the initiator's header, one row at a time.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { MemoryBackingStore } from '../../src/backstore/memory.js';
import { DEFAULT_TARGET_LIMITS, type IscsiTargetRegistry } from '../../src/iscsi/registry.js';
import { IscsiServer } from '../../src/iscsi/server.js';
import { ScsiStatus, type PreparedCommand, type ScsiPort, type ScsiRequest, type ScsiResult } from '../../src/scsi/command.js';
import { createScsiPort } from '../../src/scsi/device-server.js';
import { LogicalUnit, type AluaGroup } from '../../src/scsi/logical-unit.js';
import { checkCondition, type SenseReason } from '../../src/scsi/sense.js';
import { silentLogger } from '../../src/util/log.js';
import { ALUA_STATE, IoError, MultipathDevice, type MultipathOptions } from '../integration/multipath-initiator.js';

const TARGET = 'iqn.2003-01.org.example.gw:mpath';
const INITIATOR = 'iqn.1994-05.com.example:mpath-policy';
const BLOCK = 512;

/** Answer instead of the device server (undefined: let it run). */
type Fault = (req: ScsiRequest) => ScsiResult | undefined;

/** A ScsiPort that consults the gateway's fault hook first and can hold commands before they run. */
class FaultPort implements ScsiPort {
  constructor(
    private readonly inner: ScsiPort,
    private readonly gw: FakeGateway,
  ) {}
  prepare(req: ScsiRequest): PreparedCommand | ScsiResult {
    return this.gw.fault?.(req) ?? this.inner.prepare(req);
  }
  async execute(req: ScsiRequest, prepared: PreparedCommand): Promise<ScsiResult> {
    const op = req.cdb.readUInt8(0);
    if (this.gw.hold && (op === 0x88 || op === 0x8a)) await this.gw.hold.promise;
    return this.inner.execute(req, prepared);
  }
  taskManagement(...a: Parameters<ScsiPort['taskManagement']>): boolean {
    return this.inner.taskManagement(...a);
  }
  close(): void {
    this.inner.close();
  }
}

class FakeGateway {
  server: IscsiServer | undefined;
  port = 0;
  fault: Fault | undefined;
  hold: { promise: Promise<void>; release: () => void } | undefined;
  constructor(
    readonly name: string,
    readonly tpgt: number,
    private readonly lu: LogicalUnit,
  ) {}

  private registry(): IscsiTargetRegistry {
    const lunMap = { get: (l: number) => (l === 0 ? this.lu : undefined), luns: () => [0] };
    return {
      findTarget: (name) =>
        name !== TARGET
          ? undefined
          : {
              name: TARGET,
              alias: this.name,
              tpgtFor: () => this.tpgt,
              access: () => ({ allowed: true, chap: null }),
              limits: () => DEFAULT_TARGET_LIMITS,
              openPort: (nexus) => new FaultPort(createScsiPort(nexus, lunMap), this),
            },
      sendTargets: () => [],
      discoveryChap: () => null,
    };
  }

  /** Listens (again, on the same port after a stop). */
  async start(): Promise<void> {
    const server = new IscsiServer({ registry: this.registry(), logger: silentLogger() });
    await server.listen('127.0.0.1', this.port);
    this.port = server.boundPort('127.0.0.1', this.port) ?? 0;
    this.server = server;
  }

  /** Closes the portal and every connection (with an Async Message logout request first when `logoutGraceMs`). */
  async stop(logoutGraceMs = 0): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await s?.close({ logoutGraceMs });
  }

  /** Holds READ/WRITE(16) before they run (TEST UNIT READY, RTPG, INQUIRY still answer) until releaseCommands(). */
  holdCommands(): void {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.hold = { promise, release };
  }

  releaseCommands(): void {
    this.hold?.release();
    this.hold = undefined;
  }
}

/** Answers `reason` (or `status`) to the next `times` READ/WRITE(16) commands, then lets them run. */
function failNext(times: number, answer: SenseReason | number): Fault & { hits: number } {
  const f = Object.assign(
    (req: ScsiRequest): ScsiResult | undefined => {
      const op = req.cdb.readUInt8(0);
      if ((op !== 0x88 && op !== 0x8a) || f.hits >= times) return undefined;
      f.hits++;
      return typeof answer === 'number' ? { kind: 'result', status: answer as ScsiStatus } : checkCondition(answer);
    },
    { hits: 0 },
  );
  return f;
}

interface Env {
  a: FakeGateway;
  b: FakeGateway;
  groups: AluaGroup[];
  lu: LogicalUnit;
  dev: MultipathDevice;
  /** Sets both groups' states; `announce` raises ASYMMETRIC ACCESS STATE CHANGED on every nexus. */
  setAlua(a: AluaGroup['state'], b: AluaGroup['state'], announce: boolean): void;
}

let live: Env | undefined;

async function pair(opts: Partial<MultipathOptions> = {}): Promise<Env> {
  const groups: AluaGroup[] = [
    { id: 1, state: 'active-optimized', relativePortIds: [1] },
    { id: 2, state: 'active-non-optimized', relativePortIds: [2] },
  ];
  const lu = new LogicalUnit({ name: 'rbd/disk_1', backstore: new MemoryBackingStore('disk_1', 8 * 1024 * 1024), wwn: '3d4e5f60-1111-2222-3333-444455556666', aluaGroups: () => groups });
  const a = new FakeGateway('gw-a', 1, lu);
  const b = new FakeGateway('gw-b', 2, lu);
  await a.start();
  await b.start();
  const dev = await MultipathDevice.open({
    paths: [
      { name: 'gw-a', host: '127.0.0.1', port: a.port },
      { name: 'gw-b', host: '127.0.0.1', port: b.port },
    ],
    target: TARGET,
    initiator: INITIATOR,
    minPaths: 2,
    ioTimeoutMs: 2_000,
    checkerIntervalMs: 60_000, // the cases that need the checker ask for it
    retryBackoffMs: 5,
    ...opts,
  });
  const setAlua = (sa: AluaGroup['state'], sb: AluaGroup['state'], announce: boolean): void => {
    groups[0] = { id: 1, state: sa, relativePortIds: [1] };
    groups[1] = { id: 2, state: sb, relativePortIds: [2] };
    if (announce) lu.aluaChanged();
  };
  live = { a, b, groups, lu, dev, setAlua };
  return live;
}

afterEach(async () => {
  const e = live;
  live = undefined;
  if (!e) return;
  e.a.releaseCommands();
  e.b.releaseCommands();
  await e.dev.close();
  await e.a.stop();
  await e.b.stop();
});

/** [path, outcome, answer] of the attempts of logical I/O `io`. */
function attemptsOf(dev: MultipathDevice, io: number): [string, string, string][] {
  return dev.records.filter((r) => r.io === io).map((r) => [r.path, r.outcome, r.detail.replace(/^(closed|timeout): .*/, '$1')]);
}

const block = (fill: number, blocks = 1): Buffer => Buffer.alloc(blocks * BLOCK, fill);

describe('multipath initiator: path choice and retry policy', { timeout: 60_000 }, () => {
  test('I/O goes to the active/optimized path; each path learnt its own group through RTPG and VPD 0x83', async () => {
    const { dev } = await pair();
    assert.deepEqual(
      dev.paths().map((p) => [p.name, p.state, p.aluaName, p.tpgId, p.relativePort]),
      [
        ['gw-a', 'up', 'AO', 1, 1],
        ['gw-b', 'up', 'ANO', 2, 2],
      ],
    );
    const r = await dev.write(10, block(0x11));
    assert.deepEqual(attemptsOf(dev, r.id), [['gw-a', 'ok', 'GOOD']]);
    assert.deepEqual(await dev.readVia('gw-b', 10, 1), block(0x11));
    assert.equal(dev.blockSize, BLOCK);
    assert.equal(dev.capacityBlocks, (8 * 1024 * 1024) / BLOCK);
  });

  test('UNIT ATTENTION 2A/06: RTPG is asked again and the retry goes to the new AO path at once', async () => {
    const { dev, setAlua } = await pair();
    await dev.refresh(); // the background RTPG round of open() is over: the UA is the write's to see
    setAlua('standby', 'active-optimized', true);
    const r = await dev.write(0, block(0x22));
    assert.deepEqual(attemptsOf(dev, r.id), [
      ['gw-a', 'retry', 'CHECK CONDITION UNIT ATTENTION 2A/06'],
      ['gw-b', 'ok', 'GOOD'],
    ]);
    assert.deepEqual(r.paths, ['gw-a', 'gw-b']);
    assert.deepEqual(dev.paths().map((p) => p.aluaName), ['STANDBY', 'AO']);
  });

  test('NOT READY 04/0B (standby) without a UA: the group state comes from the sense, the retry goes to the better path', async () => {
    const { dev, setAlua } = await pair();
    setAlua('standby', 'active-non-optimized', false);
    const r = await dev.write(0, block(0x33));
    assert.deepEqual(attemptsOf(dev, r.id), [
      ['gw-a', 'retry', 'CHECK CONDITION NOT READY 04/0B'],
      ['gw-b', 'ok', 'GOOD'],
    ]);
    assert.equal(dev.paths()[0]?.alua, ALUA_STATE.STANDBY);
    assert.equal(dev.activePath(), 'gw-b');
  });

  test('NOT READY 04/0A (transitioning) with no better path: retried on the same path after a back-off', async () => {
    const { dev, a } = await pair();
    a.fault = failNext(3, 'ALUA_TRANSITION');
    const r = await dev.write(0, block(0x44));
    // The other path is ANO: ranked above TRANSITIONING, so the first retry goes there.
    assert.deepEqual(attemptsOf(dev, r.id), [
      ['gw-a', 'retry', 'CHECK CONDITION NOT READY 04/0A'],
      ['gw-b', 'ok', 'GOOD'],
    ]);
    // Only one path: the retries stay on it until the transition ends.
    const single = await MultipathDevice.open({ paths: [{ name: 'gw-a', host: '127.0.0.1', port: a.port }], target: TARGET, initiator: INITIATOR, checkerIntervalMs: 60_000, retryBackoffMs: 5 });
    try {
      a.fault = failNext(3, 'ALUA_TRANSITION');
      const s = await single.write(0, block(0x45));
      assert.deepEqual(attemptsOf(single, s.id), [
        ['gw-a', 'retry', 'CHECK CONDITION NOT READY 04/0A'],
        ['gw-a', 'retry', 'CHECK CONDITION NOT READY 04/0A'],
        ['gw-a', 'retry', 'CHECK CONDITION NOT READY 04/0A'],
        ['gw-a', 'ok', 'GOOD'],
      ]);
      // Each retry waits for its back-off (5, 10, 20 ms) after the previous answer.
      const atts = single.records.filter((x) => x.io === s.id);
      for (let i = 1; i < atts.length; i++) {
        const gap = (atts[i]?.startedAt ?? 0) - (atts[i - 1]?.endedAt ?? Infinity);
        assert.ok(gap >= 3, `retry ${i} came ${gap.toFixed(2)} ms after the answer`);
      }
    } finally {
      await single.close();
    }
  });

  const table: { name: string; answer: SenseReason | number; times: number; outcome: 'ok' | 'failed'; attempts: number; detail: string }[] = [
    { name: 'BUSY', answer: ScsiStatus.BUSY, times: 2, outcome: 'ok', attempts: 3, detail: 'BUSY' },
    { name: 'TASK SET FULL', answer: ScsiStatus.TASK_SET_FULL, times: 1, outcome: 'ok', attempts: 2, detail: 'TASK SET FULL' },
    { name: 'UNIT ATTENTION (power on)', answer: 'POWER_ON_RESET', times: 1, outcome: 'ok', attempts: 2, detail: 'CHECK CONDITION UNIT ATTENTION 29/00' },
    { name: 'ABORTED COMMAND, once', answer: 'ABORTED_COMMAND', times: 1, outcome: 'ok', attempts: 2, detail: 'CHECK CONDITION ABORTED COMMAND 00/00' },
    { name: 'ABORTED COMMAND, always', answer: 'ABORTED_COMMAND', times: 99, outcome: 'failed', attempts: 4, detail: 'CHECK CONDITION ABORTED COMMAND 00/00' },
    { name: 'MEDIUM ERROR', answer: 'WRITE_ERROR', times: 99, outcome: 'failed', attempts: 1, detail: 'CHECK CONDITION MEDIUM ERROR 0C/00' },
    { name: 'HARDWARE ERROR', answer: 'INTERNAL_TARGET_FAILURE', times: 99, outcome: 'failed', attempts: 1, detail: 'CHECK CONDITION HARDWARE ERROR 44/00' },
    { name: 'ILLEGAL REQUEST', answer: 'LBA_OUT_OF_RANGE', times: 99, outcome: 'failed', attempts: 1, detail: 'CHECK CONDITION ILLEGAL REQUEST 21/00' },
    { name: 'DATA PROTECT', answer: 'WRITE_PROTECTED', times: 99, outcome: 'failed', attempts: 1, detail: 'CHECK CONDITION DATA PROTECT 27/00' },
    { name: 'RESERVATION CONFLICT', answer: ScsiStatus.RESERVATION_CONFLICT, times: 99, outcome: 'failed', attempts: 1, detail: 'RESERVATION CONFLICT' },
  ];
  for (const row of table) {
    test(`${row.name}: ${row.outcome === 'ok' ? `retried, ok after ${row.attempts} attempts` : `returned to the caller after ${row.attempts} attempt(s)`}`, async () => {
      const { dev, a } = await pair({ abortedRetries: 3 });
      const fault = failNext(row.times, row.answer);
      a.fault = fault;
      let rec;
      try {
        rec = await dev.write(0, block(0x55));
      } catch (e) {
        assert.ok(e instanceof IoError, String(e));
        rec = e.record;
      }
      assert.equal(rec.outcome, row.outcome, rec.detail);
      assert.equal(rec.attempts, row.attempts);
      assert.deepEqual(rec.paths, ['gw-a'], 'a SCSI answer is no reason to change paths');
      const atts = attemptsOf(dev, rec.id);
      assert.deepEqual(atts[0], ['gw-a', row.outcome === 'failed' && row.attempts === 1 ? 'failed' : 'retry', row.detail]);
      assert.equal(atts[atts.length - 1]?.[1], row.outcome === 'ok' ? 'ok' : 'failed');
      assert.equal(fault.hits, row.outcome === 'ok' ? row.attempts - 1 : row.attempts);
      if (typeof row.answer === 'string') assert.equal(dev.timeline.senseCounts().get(row.detail.replace('CHECK CONDITION ', '')), fault.hits);
    });
  }

  test('command timeout: the path is failed and its connection dropped, the I/O completes on the other path; the checker restores it', async () => {
    const { dev, a } = await pair({ ioTimeoutMs: 300, checkerIntervalMs: 50 });
    a.holdCommands();
    const r = await dev.write(0, block(0x66));
    assert.deepEqual(attemptsOf(dev, r.id), [
      ['gw-a', 'timeout', 'timeout'],
      ['gw-b', 'ok', 'GOOD'],
    ]);
    const down = dev.events.find((e) => e.path === 'gw-a' && e.kind === 'down');
    assert.match(down?.detail ?? '', /no answer within 300 ms/);
    a.releaseCommands();
    await dev.waitForPath('gw-a', { alua: ALUA_STATE.AO, timeoutMs: 10_000 });
    const again = await dev.write(1, block(0x67));
    assert.deepEqual(again.paths, ['gw-a'], 'failback: the restored AO path takes the I/O again');
  });

  test('Async Message "logout request": the path logs out and the I/O moves to the other path at once', async () => {
    const { dev, a } = await pair({ checkerIntervalMs: 50 });
    const t0 = performance.now();
    await a.stop(5_000); // the target asks every session to log out, then waits for it
    assert.ok(performance.now() - t0 < 4_000, 'the target had to wait out its logout grace: the initiator did not log out');
    const ev = dev.events.find((e) => e.path === 'gw-a' && e.kind === 'async');
    assert.match(ev?.detail ?? '', /AsyncEvent 1 .*logging out/);
    await dev.waitForPath('gw-a', { state: 'down' });
    const r = await dev.write(0, block(0x77));
    assert.deepEqual(attemptsOf(dev, r.id), [['gw-b', 'ok', 'GOOD']]);
  });

  test('no path: I/O is queued until the checker brings a path back; bounded by giveUpMs', async () => {
    const { dev, a, b } = await pair({ checkerIntervalMs: 50, giveUpMs: 20_000 });
    await a.stop();
    await b.stop();
    await dev.waitForPath('gw-a', { state: 'down' });
    await dev.waitForPath('gw-b', { state: 'down' });
    const pending = dev.write(5, block(0x88));
    const queued = dev.ios[dev.ios.length - 1];
    assert.equal(queued?.outcome, 'pending');
    assert.equal(queued?.attempts, 0, 'nothing is sent while no path is up');
    await b.start();
    const r = await pending;
    assert.deepEqual(attemptsOf(dev, r.id), [['gw-b', 'ok', 'GOOD']]);
    assert.deepEqual(await dev.readVia('gw-b', 5, 1), block(0x88));

    const bounded = await MultipathDevice.open({ paths: [{ name: 'gw-b', host: '127.0.0.1', port: b.port }], target: TARGET, initiator: INITIATOR, giveUpMs: 200, checkerIntervalMs: 50 });
    try {
      await b.stop();
      await bounded.waitForPath('gw-b', { state: 'down' });
      await assert.rejects(bounded.write(0, block(0x99)), (e: unknown) => e instanceof IoError && e.record.outcome === 'gave-up' && e.record.attempts === 0);
    } finally {
      await bounded.close();
    }
  });

  test('single-path I/O does not fail over: readVia a dead path fails at once, through a standby path it reports the sense', async () => {
    const { dev, a, setAlua } = await pair();
    setAlua('active-optimized', 'standby', false);
    await assert.rejects(dev.readVia('gw-b', 0, 1), (e: unknown) => e instanceof IoError && e.record.outcome === 'failed' && /NOT READY 04\/0B/.test(e.record.detail));
    await a.stop();
    await dev.waitForPath('gw-a', { state: 'down' });
    await assert.rejects(dev.writeVia('gw-a', 0, block(1)), (e: unknown) => e instanceof IoError && e.record.outcome === 'path-lost' && e.record.attempts === 0);
  });

  test('writes beyond FirstBurstLength go as immediate data + R2T/Data-Out; reads beyond MaxBurstLength come in several sequences', async () => {
    const { dev } = await pair();
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
    await dev.write(100, big);
    const back = await dev.read(100, big.length / BLOCK);
    assert.ok(back.equals(big), 'read back differs');
  });
});
