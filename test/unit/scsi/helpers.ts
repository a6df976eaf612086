// Test helpers for the SCSI device server: fake nexus, memory LU, one-call command runner.
import { MemoryBackingStore, type MemoryBackingStoreOptions } from '../../../src/backstore/memory.js';
import { ScsiStatus, type Nexus, type ScsiPort, type ScsiRequest, type ScsiResult } from '../../../src/scsi/command.js';
import { createScsiPort, type LunMap } from '../../../src/scsi/device-server.js';
import { LogicalUnit, type AluaGroup, type LogicalUnitOptions } from '../../../src/scsi/logical-unit.js';

export const TARGET = 'iqn.2003-01.org.example:target';

export function makeNexus(initiator = 'iqn.1994-05.com.example:init1', tpg = 1, isid = '0x23d000000001'): Nexus {
  const initiatorPortName = `${initiator},i,${isid}`;
  const targetPortName = `${TARGET},t,0x${tpg.toString(16).padStart(4, '0')}`;
  return {
    key: `${initiatorPortName}|${targetPortName}`,
    initiatorName: initiator,
    initiatorPortName,
    targetName: TARGET,
    targetPortName,
    relativeTargetPortId: tpg,
    targetPortGroupId: tpg,
    transportId: Buffer.from(initiatorPortName),
  };
}

export const WWN = '9ca31751-6a69-465c-883a-29603a1b2c3d';

export interface TestLu {
  lu: LogicalUnit;
  store: MemoryBackingStore;
  groups: AluaGroup[];
}

export function makeLu(
  sizeBytes = 8 * 1024 * 1024,
  opts: Partial<LogicalUnitOptions> = {},
  storeOpts: MemoryBackingStoreOptions = {},
): TestLu {
  const store = new MemoryBackingStore('rbd/disk1', sizeBytes, storeOpts);
  const groups: AluaGroup[] = [{ id: 1, state: 'active-optimized', relativePortIds: [1] }];
  const lu = new LogicalUnit({ name: 'rbd/disk1', backstore: store, wwn: WWN, aluaGroups: () => groups, ...opts });
  return { lu, store, groups };
}

export function mapOf(entries: Array<[number, LogicalUnit]>): LunMap & { m: Map<number, LogicalUnit> } {
  const m = new Map(entries);
  return { m, get: (l) => m.get(l), luns: () => [...m.keys()].sort((a, b) => a - b) };
}

/** A port with the power-on unit attention already consumed. */
export async function openPort(lu: LogicalUnit, nexus = makeNexus(), lun = 0): Promise<ScsiPort> {
  const port = createScsiPort(nexus, mapOf([[lun, lu]]));
  const r = await run(port, cdb(0x00), { lun });
  if (r.status !== ScsiStatus.CHECK_CONDITION) throw new Error('expected the power-on unit attention');
  return port;
}

export function cdb(...bytes: number[]): Buffer {
  const len = bytes.length <= 6 ? 6 : bytes.length <= 10 ? 10 : bytes.length <= 12 ? 12 : 16;
  const b = Buffer.alloc(len);
  bytes.forEach((v, i) => b.writeUInt8(v & 0xff, i));
  return b;
}

export function cdb10(op: number, lba: number, blocks: number, b1 = 0): Buffer {
  const b = Buffer.alloc(10);
  b.writeUInt8(op, 0);
  b.writeUInt8(b1, 1);
  b.writeUInt32BE(lba >>> 0, 2);
  b.writeUInt16BE(blocks, 7);
  return b;
}

export function cdb16(op: number, lba: bigint | number, blocks: number, b1 = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(op, 0);
  b.writeUInt8(b1, 1);
  b.writeBigUInt64BE(BigInt(lba), 2);
  b.writeUInt32BE(blocks, 10);
  return b;
}

export interface RunResult extends ScsiResult {
  prepared: boolean;
  dataOutLength: number;
}

/** prepare + execute like a transport: solicits exactly dataOutLength bytes from `dataOut`. */
export async function run(
  port: ScsiPort,
  c: Buffer,
  o: { lun?: number; dataOut?: Buffer; edtl?: number; allowShort?: boolean } = {},
): Promise<RunResult> {
  const req: ScsiRequest = {
    nexus: makeNexus(),
    lun: o.lun ?? 0,
    cdb: c,
    taskAttribute: 1,
    expectedDataLength: o.edtl ?? o.dataOut?.length ?? 0,
    dataOut: null,
  };
  const p = port.prepare(req);
  if (p.kind === 'result') return { ...p, prepared: false, dataOutLength: 0 };
  if (p.dataOutLength > 0) {
    const d = o.dataOut ?? Buffer.alloc(0);
    if (d.length < p.dataOutLength && o.allowShort !== true) {
      throw new Error(`test supplies ${d.length} bytes, command needs ${p.dataOutLength}`);
    }
    req.dataOut = d.subarray(0, p.dataOutLength);
  }
  const r = await port.execute(req, p);
  return { ...r, prepared: true, dataOutLength: p.dataOutLength };
}

/** [key, asc, ascq] of fixed or descriptor sense. */
export function senseOf(r: ScsiResult): [number, number, number] {
  const s = r.sense;
  if (s === undefined) throw new Error(`no sense (status ${r.status})`);
  const code = s.readUInt8(0) & 0x7f;
  if (code === 0x72 || code === 0x73) return [s.readUInt8(1) & 0x0f, s.readUInt8(2), s.readUInt8(3)];
  return [s.readUInt8(2) & 0x0f, s.readUInt8(12), s.readUInt8(13)];
}
