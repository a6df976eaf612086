/**
 * Task management functions (RFC 7143 §11.5 "Task Management Function
 * Request", §11.6 response codes; SAM-5 §7). The transport aborts its own
 * tasks and waits for in-flight backstore I/O before answering (SAM-5: the
 * function completes only when the affected tasks are terminated); the device
 * server side effects go through ScsiPort.taskManagement().
 */
import { TmfFunction } from '../scsi/command.js';
import type { Session } from './session.js';
import { snInWindow } from '../util/serial.js';

// RFC 7143 §11.5.1 function codes (1-7 equal SAM's, 8 is iSCSI's TASK REASSIGN) and §11.6.1
// response codes: one table, in constants.ts.
export { TmfFunctionCode as IscsiTmf, TmfResponse } from './constants.js';
import { TmfFunctionCode as IscsiTmf, TmfResponse } from './constants.js';

export interface TmfRequestFields {
  fn: number;
  lun: number;
  referencedTaskTag: number;
  refCmdSN: number;
}

export interface TmfOutcome {
  response: number;
  /** TARGET COLD RESET: drop the session after the response is sent. */
  dropSession: boolean;
}

/**
 * Executes one TMF on a session. `others` are the other sessions of the same
 * target: with ceph-iscsi's LUN model (one LUN id per disk and target, clients
 * see subsets) a LUN number names the same logical unit in every session, so
 * LOGICAL UNIT RESET / CLEAR TASK SET and TARGET RESET also terminate their
 * tasks (SAM-5: the whole task set of the LU / target; those tasks get no
 * response, the device server queues the unit attentions).
 */
export async function executeTmf(session: Session, req: TmfRequestFields, others: () => Session[] = () => []): Promise<TmfOutcome> {
  const port = session.port;
  const done = (response: number, dropSession = false): TmfOutcome => ({ response, dropSession });
  if (port === null) return done(TmfResponse.FUNCTION_REJECTED);
  switch (req.fn) {
    case IscsiTmf.ABORT_TASK: {
      const task = session.tasks.get(req.referencedTaskTag);
      port.taskManagement(TmfFunction.ABORT_TASK, req.lun);
      if (task !== undefined) {
        // RFC 7143 §11.5.1 a): the task exists: abort it (no SCSI response), answer when its I/O ended.
        await session.abortAll((t) => t === task);
        return done(TmfResponse.FUNCTION_COMPLETE);
      }
      // RFC 7143 §11.5.1 b): not found but RefCmdSN inside the CmdSN window (not yet
      // received): "Function complete". c): RefCmdSN outside the window (e.g. the task
      // already completed): "Task does not exist" (iscsi-test-cu AbortTaskSimpleAsync).
      const inWindow = snInWindow(req.refCmdSN, session.expCmdSN, session.maxCmdSN);
      if (!inWindow) return done(TmfResponse.TASK_DOES_NOT_EXIST);
      session.cancel(req.refCmdSN);
      return done(TmfResponse.FUNCTION_COMPLETE);
    }
    case IscsiTmf.ABORT_TASK_SET:
    case IscsiTmf.CLEAR_TASK_SET:
    case IscsiTmf.LOGICAL_UNIT_RESET: {
      const fn =
        req.fn === IscsiTmf.ABORT_TASK_SET
          ? TmfFunction.ABORT_TASK_SET
          : req.fn === IscsiTmf.CLEAR_TASK_SET
            ? TmfFunction.CLEAR_TASK_SET
            : TmfFunction.LOGICAL_UNIT_RESET;
      const exists = port.taskManagement(fn, req.lun);
      const onLun = (t: { lun: number }): boolean => t.lun === req.lun;
      const sets = [session.abortAll(onLun)];
      // ABORT TASK SET is limited to the requesting I_T nexus (SAM-5); the others reach every initiator.
      if (exists && fn !== TmfFunction.ABORT_TASK_SET) for (const o of others()) sets.push(o.abortAll(onLun));
      await Promise.all(sets);
      await port.settled?.(); // the reset's unit attention is queued on the other gateways too
      return done(exists ? TmfResponse.FUNCTION_COMPLETE : TmfResponse.LUN_DOES_NOT_EXIST);
    }
    case IscsiTmf.TARGET_WARM_RESET:
    case IscsiTmf.TARGET_COLD_RESET: {
      await Promise.all([session.abortAll(), ...others().map((o) => o.abortAll())]);
      const cold = req.fn === IscsiTmf.TARGET_COLD_RESET;
      port.taskManagement(cold ? TmfFunction.TARGET_COLD_RESET : TmfFunction.TARGET_WARM_RESET, req.lun);
      await port.settled?.();
      // RFC 7143 §11.5.1: after a TARGET COLD RESET the target drops all connections.
      return done(TmfResponse.FUNCTION_COMPLETE, cold);
    }
    case IscsiTmf.CLEAR_ACA:
      // ACA (NACA=1) is not supported by the device server.
      return done(TmfResponse.FUNCTION_NOT_SUPPORTED);
    case IscsiTmf.TASK_REASSIGN:
      // RFC 7143 §11.5.1: at ErrorRecoveryLevel < 2 task reassignment is not supported.
      return done(TmfResponse.TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED);
    default:
      return done(TmfResponse.FUNCTION_REJECTED);
  }
}
