/**
 * Test fixtures for src/scsi/reservations.ts: fake I_T nexuses, PR IN/OUT CDB and
 * parameter list builders (independent of the code under test), a UA recorder and
 * an in-memory PrStore.
 */
import type { Nexus } from '../../../src/scsi/command.js';
import { Reservations, type PrStore } from '../../../src/scsi/reservations.js';
import type { SenseReason } from '../../../src/scsi/sense.js';

export const TARGET = 'iqn.2003-01.org.example:gw';

/** An iSCSI-like I_T nexus: initiator port = name + ISID, target port = target + TPGT. */
export function makeNexus(initiator: string, isid = '23d000000001', tpgt = 1): Nexus {
  const initiatorPortName = `${initiator},i,0x${isid}`;
  const targetPortName = `${TARGET},t,0x${tpgt.toString(16).padStart(4, '0')}`;
  // An iSCSI TransportID (SPC-4 / RFC 7143 format 01b): header + name string padded to 4.
  const name = Buffer.from(`${initiatorPortName}\0`, 'utf8');
  const padded = Math.ceil(name.length / 4) * 4;
  const tid = Buffer.alloc(4 + padded);
  tid.writeUInt8(0x45, 0); // FORMAT CODE 01b | PROTOCOL IDENTIFIER 5h (iSCSI)
  tid.writeUInt16BE(padded, 2); // ADDITIONAL LENGTH
  name.copy(tid, 4);
  return {
    key: `${initiatorPortName}|${targetPortName}`,
    initiatorName: initiator,
    initiatorPortName,
    targetName: TARGET,
    targetPortName,
    relativeTargetPortId: tpgt,
    targetPortGroupId: tpgt,
    transportId: tid,
  };
}

export const I1 = 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test';
export const I2 = 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2';
export const I3 = 'iqn.1994-05.com.redhat:third';

export const SA = {
  REGISTER: 0,
  RESERVE: 1,
  RELEASE: 2,
  CLEAR: 3,
  PREEMPT: 4,
  PREEMPT_AND_ABORT: 5,
  REGISTER_AND_IGNORE: 6,
  REGISTER_AND_MOVE: 7,
} as const;

export const TYPE = { WE: 1, EA: 3, WERO: 5, EARO: 6, WEAR: 7, EAAR: 8 } as const;
export const ALL_TYPES = [TYPE.WE, TYPE.EA, TYPE.WERO, TYPE.EARO, TYPE.WEAR, TYPE.EAAR] as const;

/** PERSISTENT RESERVE IN CDB (10 bytes). */
export function prInCdb(sa: number, allocationLength = 16384): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x5e; // OPERATION CODE
  c[1] = sa & 0x1f; // SERVICE ACTION
  c.writeUInt16BE(allocationLength, 7); // ALLOCATION LENGTH
  return c;
}

/** PERSISTENT RESERVE OUT CDB (10 bytes). */
export function prOutCdb(sa: number, type = 0, scope = 0, listLength = 24): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x5f; // OPERATION CODE
  c[1] = sa & 0x1f; // SERVICE ACTION
  c[2] = ((scope & 0xf) << 4) | (type & 0xf); // SCOPE | TYPE
  c.writeUInt32BE(listLength, 5); // PARAMETER LIST LENGTH
  return c;
}

export interface ParamOpts {
  rk?: bigint;
  sark?: bigint;
  allTgPt?: boolean;
  aptpl?: boolean;
  specIPt?: boolean;
  length?: number;
}

/** Basic PERSISTENT RESERVE OUT parameter list. */
export function prOutParam(o: ParamOpts = {}): Buffer {
  const p = Buffer.alloc(o.length ?? 24);
  if (p.length >= 8) p.writeBigUInt64BE(o.rk ?? 0n, 0); // RESERVATION KEY
  if (p.length >= 16) p.writeBigUInt64BE(o.sark ?? 0n, 8); // SERVICE ACTION RESERVATION KEY
  if (p.length >= 21) p[20] = (o.specIPt ? 0x08 : 0) | (o.allTgPt ? 0x04 : 0) | (o.aptpl ? 0x01 : 0);
  return p;
}

export class UaLog {
  readonly entries: { key: string; reason: SenseReason }[] = [];
  readonly fn = (key: string, reason: SenseReason): void => {
    this.entries.push({ key, reason });
  };
  for(n: Nexus): SenseReason[] {
    return this.entries.filter((e) => e.key === n.key).map((e) => e.reason);
  }
  clear(): void {
    this.entries.length = 0;
  }
}

export class MemoryPrStore implements PrStore {
  state: unknown = undefined;
  saves = 0;
  failNext = false;
  /** Optional gate: save() waits on it (to test ordering of concurrent saves). */
  gate: Promise<void> | undefined;
  load(): Promise<unknown> {
    return Promise.resolve(this.state === undefined ? undefined : structuredClone(this.state));
  }
  async save(state: unknown): Promise<void> {
    if (this.gate !== undefined) await this.gate;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    this.saves++;
    // Round-trip through JSON: the state must be JSON-able.
    this.state = JSON.parse(JSON.stringify(state)) as unknown;
  }
}

/** A Reservations instance with helpers that speak in keys and types. */
export class Harness {
  readonly ua = new UaLog();
  readonly aborted: string[][] = [];
  readonly r: Reservations;
  constructor(store?: PrStore) {
    this.r = new Reservations({
      ...(store !== undefined ? { store } : {}),
      establishUa: this.ua.fn,
      abortTasks: (keys) => {
        this.aborted.push([...keys]);
      },
    });
  }
  out(n: Nexus, sa: number, o: ParamOpts & { type?: number; scope?: number; listLength?: number } = {}) {
    const param = prOutParam(o);
    return this.r.persistentReserveOut(n, prOutCdb(sa, o.type ?? 0, o.scope ?? 0, o.listLength ?? param.length), param);
  }
  register(n: Nexus, sark: bigint, rk = 0n, extra: ParamOpts = {}) {
    return this.out(n, SA.REGISTER, { rk, sark, ...extra });
  }
  registerIgnore(n: Nexus, sark: bigint, extra: ParamOpts = {}) {
    return this.out(n, SA.REGISTER_AND_IGNORE, { sark, ...extra });
  }
  reserve(n: Nexus, key: bigint, type: number) {
    return this.out(n, SA.RESERVE, { rk: key, type });
  }
  release(n: Nexus, key: bigint, type: number) {
    return this.out(n, SA.RELEASE, { rk: key, type });
  }
  keys(n: Nexus): { generation: number; keys: bigint[] } {
    const b = this.r.persistentReserveIn(n, prInCdb(0));
    const len = b.readUInt32BE(4);
    const keys: bigint[] = [];
    for (let i = 0; i < len / 8; i++) keys.push(b.readBigUInt64BE(8 + 8 * i));
    return { generation: b.readUInt32BE(0), keys };
  }
  reservation(n: Nexus): { generation: number; key: bigint; type: number; scope: number } | null {
    const b = this.r.persistentReserveIn(n, prInCdb(1));
    if (b.readUInt32BE(4) === 0) return null;
    return { generation: b.readUInt32BE(0), key: b.readBigUInt64BE(8), type: b[21]! & 0xf, scope: b[21]! >> 4 };
  }
}

/** Common CDBs for conflict tests. */
export const CDB = {
  TUR: Buffer.from([0x00, 0, 0, 0, 0, 0]),
  REQUEST_SENSE: Buffer.from([0x03, 0, 0, 0, 252, 0]),
  INQUIRY: Buffer.from([0x12, 0, 0, 0, 96, 0]),
  REPORT_LUNS: Buffer.from([0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]),
  READ_10: Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
  WRITE_10: Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
  READ_16: Buffer.from([0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
  WRITE_16: Buffer.from([0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
  MODE_SENSE_6: Buffer.from([0x1a, 0, 0x3f, 0, 255, 0]),
  MODE_SELECT_6: Buffer.from([0x15, 0x10, 0, 0, 24, 0]),
  READ_CAPACITY_10: Buffer.from([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  READ_CAPACITY_16: Buffer.from([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]),
  GET_LBA_STATUS: Buffer.from([0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]),
  RTPG: Buffer.from([0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
  RSOC: Buffer.from([0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
  SYNC_CACHE_10: Buffer.from([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  UNMAP: Buffer.from([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]),
  WRITE_SAME_16: Buffer.from([0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
  COMPARE_AND_WRITE: Buffer.from([0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
  PREVENT: Buffer.from([0x1e, 0, 0, 0, 1, 0]),
  ALLOW: Buffer.from([0x1e, 0, 0, 0, 0, 0]),
  START_UNIT: Buffer.from([0x1b, 0, 0, 0, 1, 0]),
  STOP_UNIT: Buffer.from([0x1b, 0, 0, 0, 0, 0]),
  RESERVE_6: Buffer.from([0x16, 0, 0, 0, 0, 0]),
  RELEASE_6: Buffer.from([0x17, 0, 0, 0, 0, 0]),
  RESERVE_10: Buffer.from([0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  RELEASE_10: Buffer.from([0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  PR_IN: prInCdb(0),
  PR_OUT: prOutCdb(0),
  LOG_SENSE: Buffer.from([0x4d, 0, 0, 0, 0, 0, 0, 0, 0xff, 0]),
};
