/**
 * SendTargets (RFC 7143 Appendix C "SendTargets Operation"): the answer is a
 * list of TargetName=<iqn> keys, each followed by its TargetAddress=<addr>,<tpgt>
 * keys. Repeated keys are allowed here (the one exception to "no key twice").
 */
import type { IscsiTargetRegistry } from './registry.js';

export interface SendTargetsQuery {
  initiatorName: string;
  localAddress: string;
  localPort: number;
  /** 'All', a target name, or '' (RFC: "SendTargets=<nothing>" = the session's own target). */
  value: string;
  sessionType: 'Normal' | 'Discovery';
  /** Normal session: its target (SendTargets without All answers only this one). */
  sessionTarget: string;
}

/** Builds the key=value list for a SendTargets request. */
export function sendTargetsAnswer(registry: IscsiTargetRegistry, q: SendTargetsQuery): Array<[string, string]> {
  let which: string;
  if (q.value === 'All') {
    // RFC 7143 Appendix C: "All" belongs to discovery sessions. In a normal session
    // (LIO does the same) only the session's own target is reported, with all its portals.
    which = q.sessionType === 'Discovery' ? 'All' : q.sessionTarget;
  } else if (q.value === '') {
    if (q.sessionType === 'Discovery') return [];
    which = q.sessionTarget;
  } else {
    which = q.value;
  }
  const out: Array<[string, string]> = [];
  for (const e of registry.sendTargets(q.initiatorName, q.localAddress, q.localPort, which)) {
    out.push(['TargetName', e.name]);
    for (const a of e.addresses) out.push(['TargetAddress', a]);
  }
  return out;
}

/** Formats "ip:port,tpgt" (IPv6 in brackets) as SendTargets needs. */
export function formatTargetAddress(ip: string, port: number, tpgt: number): string {
  const host = ip.includes(':') && !ip.startsWith('[') ? `[${ip}]` : ip;
  return `${host}:${port},${tpgt}`;
}
