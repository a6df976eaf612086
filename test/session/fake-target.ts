/**
 * Test doubles for session tests: a memory-disk ScsiPort (INQUIRY, TEST UNIT
 * READY, READ(10), WRITE(10), REPORT LUNS, READ CAPACITY(10)) with an optional
 * gate that holds execute() (for ABORT TASK tests), and a one-target registry.
 */
import {
  ScsiStatus,
  type Nexus,
  type PreparedCommand,
  type ScsiPort,
  type ScsiRequest,
  type ScsiResult,
  type TmfFunction,
} from '../../src/scsi/command.js';
import {
  DEFAULT_TARGET_LIMITS,
  type ChapPolicy,
  type InitiatorAccess,
  type IscsiTargetNode,
  type IscsiTargetRegistry,
  type SendTargetsEntry,
  type TargetLimits,
} from '../../src/iscsi/registry.js';

export const BLOCK = 512;

function checkCondition(key: number, asc: number): ScsiResult {
  const sense = Buffer.alloc(18);
  sense[0] = 0x70;
  sense[2] = key;
  sense[7] = 10;
  sense[12] = asc;
  return { kind: 'result', status: ScsiStatus.CHECK_CONDITION, sense };
}

export class MemoryDisk {
  readonly data: Buffer;
  constructor(readonly blocks = 2048) {
    this.data = Buffer.alloc(blocks * BLOCK);
  }
}

export interface PortEvents {
  tmf: Array<{ fn: TmfFunction; lun: number }>;
  executed: number;
  closed: number;
  nexus: Nexus[];
}

export class FakePort implements ScsiPort {
  /** When set, execute() waits for it (ABORT TASK / LUN RESET tests). */
  gate: Promise<void> | null = null;
  /** Called when execute() starts. */
  onExecute: ((req: ScsiRequest) => void) | null = null;
  constructor(
    readonly disk: MemoryDisk,
    readonly events: PortEvents,
    readonly luns: number[] = [0],
  ) {}

  prepare(req: ScsiRequest): PreparedCommand | ScsiResult {
    if (!this.luns.includes(req.lun) && req.cdb[0] !== 0x12 && req.cdb[0] !== 0xa0) return checkCondition(0x05, 0x25);
    const op = req.cdb.readUInt8(0);
    const p = (dataOutLength: number, dataInLength: number, state: unknown = null): PreparedCommand => ({ kind: 'prepared', dataOutLength, dataInLength, state });
    switch (op) {
      case 0x00: // TEST UNIT READY
        return p(0, 0);
      case 0x12: // INQUIRY
        return p(0, req.cdb.readUInt16BE(3));
      case 0xa0: // REPORT LUNS
        return p(0, req.cdb.readUInt32BE(6));
      case 0x25: // READ CAPACITY(10)
        return p(0, 8);
      case 0x28: // READ(10)
      case 0x2a: {
        // WRITE(10)
        const lba = req.cdb.readUInt32BE(2);
        const n = req.cdb.readUInt16BE(7);
        if (lba + n > this.disk.blocks) return checkCondition(0x05, 0x21);
        return op === 0x28 ? p(0, n * BLOCK, { lba, n }) : p(n * BLOCK, 0, { lba, n });
      }
      default:
        return checkCondition(0x05, 0x20);
    }
  }

  async execute(req: ScsiRequest, prepared: PreparedCommand): Promise<ScsiResult> {
    this.onExecute?.(req);
    if (this.gate !== null) await this.gate;
    this.events.executed++;
    const op = req.cdb.readUInt8(0);
    switch (op) {
      case 0x00:
        return { kind: 'result', status: ScsiStatus.GOOD };
      case 0x12: {
        const d = Buffer.alloc(36);
        d[2] = 6;
        d[3] = 2;
        d[4] = 31;
        d.write('FAKE    ', 8, 'latin1');
        d.write('MEMDISK         ', 16, 'latin1');
        d.write('0001', 32, 'latin1');
        return { kind: 'result', status: ScsiStatus.GOOD, dataIn: d.subarray(0, Math.min(36, prepared.dataInLength)) };
      }
      case 0xa0: {
        const d = Buffer.alloc(8 + 8 * this.luns.length);
        d.writeUInt32BE(8 * this.luns.length, 0);
        this.luns.forEach((l, i) => d.writeUInt16BE(l, 8 + 8 * i));
        return { kind: 'result', status: ScsiStatus.GOOD, dataIn: d.subarray(0, Math.min(d.length, prepared.dataInLength)) };
      }
      case 0x25: {
        const d = Buffer.alloc(8);
        d.writeUInt32BE(this.disk.blocks - 1, 0);
        d.writeUInt32BE(BLOCK, 4);
        return { kind: 'result', status: ScsiStatus.GOOD, dataIn: d };
      }
      case 0x28: {
        const { lba, n } = prepared.state as { lba: number; n: number };
        return { kind: 'result', status: ScsiStatus.GOOD, dataIn: Buffer.from(this.disk.data.subarray(lba * BLOCK, (lba + n) * BLOCK)) };
      }
      case 0x2a: {
        const { lba } = prepared.state as { lba: number; n: number };
        const d = req.dataOut ?? Buffer.alloc(0);
        // Only whole blocks of what arrived are written (EDTL < transfer length: overflow).
        const whole = d.length - (d.length % BLOCK);
        d.copy(this.disk.data, lba * BLOCK, 0, whole);
        return { kind: 'result', status: ScsiStatus.GOOD };
      }
      default:
        return checkCondition(0x05, 0x20);
    }
  }

  taskManagement(fn: TmfFunction, lun: number): boolean {
    this.events.tmf.push({ fn, lun });
    return this.luns.includes(lun);
  }

  close(): void {
    this.events.closed++;
  }
}

export const TARGET = 'iqn.2003-01.org.example.gw:target1';

export interface FakeRegistryOptions {
  limits?: Partial<TargetLimits>;
  access?: (initiator: string) => InitiatorAccess;
  discoveryChap?: ChapPolicy | null;
  alias?: string;
  portals?: Array<{ ip: string; port: number; tpgt: number }>;
}

export class FakeRegistry implements IscsiTargetRegistry {
  readonly disk = new MemoryDisk();
  readonly events: PortEvents = { tmf: [], executed: 0, closed: 0, nexus: [] };
  readonly ports: FakePort[] = [];
  /** Applied to each new port. */
  gate: Promise<void> | null = null;
  constructor(public opts: FakeRegistryOptions = {}) {}

  private node(): IscsiTargetNode {
    const o = this.opts;
    return {
      name: TARGET,
      alias: o.alias ?? 'gw-test',
      tpgtFor: () => 1,
      access: (i) => (o.access ? o.access(i) : { allowed: true, chap: null }),
      limits: () => ({ ...DEFAULT_TARGET_LIMITS, ...o.limits }),
      openPort: (nexus) => {
        this.events.nexus.push(nexus);
        const p = new FakePort(this.disk, this.events);
        p.gate = this.gate;
        this.ports.push(p);
        return p;
      },
    };
  }

  findTarget(name: string): IscsiTargetNode | undefined {
    return name === TARGET ? this.node() : undefined;
  }

  sendTargets(_initiator: string, _addr: string, _port: number, which: string): SendTargetsEntry[] {
    if (which !== 'All' && which !== TARGET) return [];
    const portals = this.opts.portals ?? [{ ip: '127.0.0.1', port: 3260, tpgt: 1 }];
    return [{ name: TARGET, addresses: portals.map((p) => `${p.ip}:${p.port},${p.tpgt}`) }];
  }

  discoveryChap(): ChapPolicy | null {
    return this.opts.discoveryChap ?? null;
  }
}
