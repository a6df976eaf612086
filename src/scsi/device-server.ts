/**
 * The SCSI device server as one I_T nexus sees it: a ScsiPort over a dynamic
 * LUN map (read per command, so mapping changes apply at once).
 */
import type { Nexus, PreparedCommand, ScsiPort, ScsiRequest, ScsiResult } from './command.js';
import { TmfFunction } from './command.js';
import type { CopyStatus, PortContext } from './descriptor.js';
import { errorToResult, executeCommand, prepareCommand, prepareNoLun } from './dispatch.js';
import type { ClientIo } from './io-stats.js';
import type { LogicalUnit } from './logical-unit.js';

export interface LunMap {
  get(lun: number): LogicalUnit | undefined;
  luns(): number[];
}

class DevicePort implements ScsiPort, PortContext {
  readonly nexus: Nexus;
  readonly lunMap: LunMap;
  /** LUs this nexus has sent commands to (for nexus loss), with the initiator's I/O counters there. */
  private readonly touched = new Map<LogicalUnit, ClientIo>();
  private closed = false;

  constructor(nexus: Nexus, lunMap: LunMap) {
    this.nexus = nexus;
    this.lunMap = lunMap;
  }

  readonly copyResults = new Map<number, CopyStatus>();

  luns(): number[] {
    return this.lunMap.luns();
  }

  logicalUnit(lun: number): LogicalUnit | undefined {
    return this.lunMap.get(lun);
  }

  prepare(req: ScsiRequest): PreparedCommand | ScsiResult {
    let lu: LogicalUnit | undefined;
    try {
      lu = this.lunMap.get(req.lun);
    } catch (err) {
      return errorToResult(err, 'fixed', false, 'lun-map');
    }
    if (lu === undefined) return prepareNoLun(req, this);
    let client = this.touched.get(lu);
    if (client === undefined) {
      client = lu.stats.client(this.nexus.initiatorName);
      this.touched.set(lu, client);
    }
    return prepareCommand(req, lu, this.nexus, this, client);
  }

  execute(_req: ScsiRequest, prepared: PreparedCommand): Promise<ScsiResult> {
    return executeCommand(prepared);
  }

  /** Resets told to the other gateways, not yet acknowledged (see settled()). */
  private settling: Promise<void>[] = [];

  settled(): Promise<void> {
    const pending = this.settling;
    this.settling = [];
    return Promise.all(pending).then(() => undefined);
  }

  taskManagement(fn: TmfFunction, lun: number): boolean {
    const key = this.nexus.key;
    switch (fn) {
      case TmfFunction.LOGICAL_UNIT_RESET: {
        const lu = this.lunMap.get(lun);
        if (lu === undefined) return false;
        // SAM-5 "LOGICAL UNIT RESET": RESERVE(6) released (SPC-2); BUS DEVICE RESET FUNCTION
        // OCCURRED for every I_T nexus, the requester's included (iscsi-test-cu MultipathIO.Reset).
        this.settling.push(lu.reset('BUS_DEVICE_RESET'));
        return true;
      }
      case TmfFunction.TARGET_WARM_RESET:
      case TmfFunction.TARGET_COLD_RESET: {
        const reason = fn === TmfFunction.TARGET_COLD_RESET ? 'POWER_ON_RESET' : 'BUS_DEVICE_RESET';
        for (const l of this.lunMap.luns()) {
          const lu = this.lunMap.get(l);
          if (lu === undefined) continue;
          this.settling.push(lu.reset(reason));
        }
        return true;
      }
      case TmfFunction.CLEAR_TASK_SET: {
        const lu = this.lunMap.get(lun);
        if (lu === undefined) return false;
        // SAM-5 "CLEAR TASK SET": with a shared task set (TST 000b) the other nexuses see COMMANDS CLEARED BY ANOTHER INITIATOR.
        lu.ua.establishAll('COMMANDS_CLEARED_BY_ANOTHER_INITIATOR', key);
        return true;
      }
      case TmfFunction.ABORT_TASK:
      case TmfFunction.ABORT_TASK_SET:
      case TmfFunction.CLEAR_ACA:
        return this.lunMap.get(lun) !== undefined;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const lu of this.touched.keys()) {
      // SAM-5 "I_T nexus loss": RESERVE(6) released. The nexus's unit attention queue is
      // dropped (initiators log in with fresh ISIDs: keeping queues would grow without bound);
      // if it returns it starts with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29h/00h,
      // the code that covers every 29h event, I_T nexus loss included).
      lu.pr.nexusLoss(this.nexus);
      lu.ua.forget(this.nexus.key);
    }
    this.touched.clear();
    this.copyResults.clear();
  }

  /** REPORTED LUNS DATA HAS CHANGED for this nexus on every LU it can reach (SPC-4). */
  lunMapChanged(): void {
    for (const l of this.lunMap.luns()) this.lunMap.get(l)?.ua.establish(this.nexus.key, 'REPORTED_LUNS_DATA_HAS_CHANGED');
    for (const lu of this.touched.keys()) lu.ua.establish(this.nexus.key, 'REPORTED_LUNS_DATA_HAS_CHANGED');
  }
}

/** The device server for one I_T nexus. */
export function createScsiPort(nexus: Nexus, lunMap: LunMap): ScsiPort {
  return new DevicePort(nexus, lunMap);
}

/** The LUN map of an open port changed (mapping added/removed): REPORTED LUNS DATA HAS CHANGED UA for that nexus. */
export function notifyLunMapChanged(port: ScsiPort): void {
  if (port instanceof DevicePort) port.lunMapChanged();
}
