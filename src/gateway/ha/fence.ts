/**
 * Fencing a peer gateway that runs on this host (file default).
 *
 * On Ceph a dead holder is fenced by the cluster: breaking its image lock blocklists its
 * client, so none of its queued writes can land. The file default has no such fence: a gateway
 * frozen (SIGSTOP, a stalled VM thread, a debugger) with writes already handed to its libuv
 * pool applies them when it resumes, whatever its own lease check said before the freeze (the
 * check and the pwrite are not atomic). The only sure fence is the one clusters use when the
 * storage cannot fence (STONITH): end the process. Gateways that share one data_dir run on one
 * host, so a survivor that sees a peer's lease lapse while that peer's process still exists
 * kills it with SIGKILL and waits until every thread of it has exited: a thread stopped before
 * its pwrite dies without entering it, one inside the kernel finishes before the process is
 * gone. The process manager (systemd `Restart=on-failure`) starts it again.
 *
 * A peer is identified by the boot id of its host, its pid and its start time (clock ticks
 * since boot, /proc/<pid>/stat field 22), so a reused pid or another host is never signalled.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** Which process a board record belongs to. */
export interface ProcessIdentity {
  /** /proc/sys/kernel/random/boot_id of the host. */
  boot: string;
  pid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  start: string;
}

/** What fencing a peer did: it was killed and has exited; it had exited already; not fenceable from here. */
export type FenceOutcome = 'killed' | 'gone' | 'elsewhere' | 'failed';

/** How often the exit of a killed peer is looked for. */
const EXIT_POLL_MS = 10;

interface ProcStat {
  state: string;
  start: string;
}

/** State and start time from /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  const state = fields[0];
  const start = fields[19];
  if (state === undefined || start === undefined) return undefined;
  return { state, start };
}

/** This process, or undefined where /proc is not there (then peers cannot fence it). */
export function localIdentity(): ProcessIdentity | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const st = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    if (boot === '' || st === undefined) return undefined;
    return { boot, pid: process.pid, start: st.start };
  } catch {
    return undefined;
  }
}

async function statOf(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // no such process
  }
}

/** The process named by `id` still runs (a zombie has exited: all its threads are gone). */
async function running(id: ProcessIdentity): Promise<boolean> {
  const st = await statOf(id.pid);
  return st !== undefined && st.start === id.start && st.state !== 'Z' && st.state !== 'X';
}

export interface FenceOptions {
  /** This host (default: localIdentity()). */
  self?: ProcessIdentity | undefined;
  /** How long to wait for the killed process to exit. */
  waitMs: number;
}

/**
 * Kills the peer process `id` if it runs on this host and waits for its exit. Never signals
 * this process, another host's, or a pid reused by another program.
 */
export async function fenceLocalProcess(id: ProcessIdentity, o: FenceOptions): Promise<FenceOutcome> {
  const self = o.self ?? localIdentity();
  if (self === undefined || self.boot !== id.boot) return 'elsewhere';
  if (id.pid === self.pid) return 'elsewhere';
  if (!(await running(id))) return 'gone';
  try {
    process.kill(id.pid, 'SIGKILL');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'failed';
  }
  const deadline = performance.now() + o.waitMs;
  while (await running(id)) {
    // A thread inside an uninterruptible write (state D) finishes it before the process exits.
    if (performance.now() >= deadline) return 'failed';
    await new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS));
  }
  return 'killed';
}
