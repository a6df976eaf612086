/**
 * gwcli `import`: restores a configuration saved by `export` through the REST API, as the
 * calls an administrator would type (upstream has no import). The plan is computed against the
 * current document: what exists and matches is left alone, what is missing is created, what
 * differs is changed where the API can change it (otherwise a warning says so). Nothing is
 * deleted: objects that exist here but not in the file are listed as kept.
 */
import type { ChapAuth, GatewayConfig, TargetEntry } from '../config/schema.js';
import type { Form } from './client.js';
import { enc } from './nodes/common.js';

export interface ImportStep {
  /** What the step does, in words ("create target iqn..."). */
  what: string;
  method: 'PUT' | 'DELETE';
  path: string;
  form: Form;
}

export interface ImportPlan {
  steps: ImportStep[];
  warnings: string[];
  /** Objects present now and absent from the file (import never deletes). */
  kept: string[];
}

const IQN_RE = /^iqn\.\d{4}-[01]\d\..+/;
const NAME_RE = /^[a-zA-Z0-9\-_.]+$/;

type Doc = Pick<GatewayConfig, 'targets' | 'disks' | 'discovery_auth'>;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the shape of an export file; returns the problems, each naming the place. */
export function validateExport(v: unknown): string[] {
  const errs: string[] = [];
  if (!isObj(v)) return ['the file is not a JSON object (expected the output of `export`)'];
  if (typeof v['version'] === 'number' && v['version'] > 11) errs.push(`version ${v['version']} is newer than this gwcli understands (11)`);
  if (!isObj(v['targets'])) errs.push('"targets" is missing or not an object');
  if (!isObj(v['disks'])) errs.push('"disks" is missing or not an object');
  if (errs.length > 0) return errs;
  for (const [id, d] of Object.entries(v['disks'] as Record<string, unknown>)) {
    const [pool, image, extra] = id.split('/');
    if (pool === undefined || image === undefined || extra !== undefined || !NAME_RE.test(pool) || !NAME_RE.test(image)) errs.push(`disks: "${id}" is not pool/image`);
    if (!isObj(d)) errs.push(`disks.${id}: not an object`);
  }
  for (const [iqn, t] of Object.entries(v['targets'] as Record<string, unknown>)) {
    if (!IQN_RE.test(iqn)) errs.push(`targets: "${iqn}" is not an iqn`);
    if (!isObj(t)) {
      errs.push(`targets.${iqn}: not an object`);
      continue;
    }
    for (const k of ['portals', 'disks', 'clients', 'groups'] as const) {
      if (t[k] !== undefined && !isObj(t[k])) errs.push(`targets.${iqn}.${k}: not an object`);
    }
    for (const id of Object.keys(isObj(t['disks']) ? t['disks'] : {})) {
      if (!(id in (v['disks'] as Record<string, unknown>))) errs.push(`targets.${iqn}.disks: ${id} is not in "disks"`);
    }
    for (const c of Object.keys(isObj(t['clients']) ? t['clients'] : {})) if (!IQN_RE.test(c)) errs.push(`targets.${iqn}.clients: "${c}" is not an iqn`);
  }
  return errs;
}

function chapOf(a: ChapAuth | undefined): Form {
  return { username: a?.username ?? '', password: a?.password ?? '', mutual_username: a?.mutual_username ?? '', mutual_password: a?.mutual_password ?? '' };
}

function sameChap(a: ChapAuth | undefined, b: ChapAuth | undefined): boolean {
  return JSON.stringify(chapOf(a)) === JSON.stringify(chapOf(b));
}

/** The reconfigure form turning `have` overrides into `want` ('' resets a key). */
function controlsChange(have: Record<string, unknown> | undefined, want: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const change: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(want ?? {})) if (JSON.stringify(have?.[k]) !== JSON.stringify(v)) change[k] = v;
  for (const k of Object.keys(have ?? {})) if (!(k in (want ?? {}))) change[k] = '';
  return Object.keys(change).length > 0 ? change : undefined;
}

function encryptedWarning(where: string, a: ChapAuth | undefined, warnings: string[]): boolean {
  if (a?.password_encryption_enabled || a?.mutual_password_encryption_enabled) {
    warnings.push(`${where}: the CHAP password in the file is encrypted; it is not restored (export with this gwcli writes it in clear)`);
    return true;
  }
  return false;
}

/** Gateways of a target in TPG order (the order of their IPs in ip_list). */
function portalOrder(t: TargetEntry): string[] {
  const ipList = t.ip_list ?? [];
  const rank = (gw: string): number => {
    const ips = t.portals[gw]?.portal_ip_addresses ?? [];
    const idx = ips.map((ip) => ipList.indexOf(ip)).filter((i) => i >= 0);
    return idx.length > 0 ? Math.min(...idx) : Number.MAX_SAFE_INTEGER;
  };
  return Object.keys(t.portals ?? {}).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export function planImport(current: Doc, wanted: Doc): ImportPlan {
  const steps: ImportStep[] = [];
  const warnings: string[] = [];
  const kept: string[] = [];
  const step = (what: string, method: 'PUT' | 'DELETE', path: string, form: Form = {}): void => void steps.push({ what, method, path, form });
  const curTargets = current.targets ?? {};
  const curDisks = current.disks ?? {};

  if (!sameChap(current.discovery_auth, wanted.discovery_auth) && !encryptedWarning('discovery_auth', wanted.discovery_auth, warnings)) {
    step('set discovery CHAP', 'PUT', '/api/discoveryauth', chapOf(wanted.discovery_auth));
  }

  for (const [id, d] of Object.entries(wanted.disks).sort(([a], [b]) => a.localeCompare(b))) {
    const have = curDisks[id];
    if (have === undefined) {
      const form: Form = { mode: 'create', create_image: 'false' };
      if (d.wwn) form['wwn'] = d.wwn;
      if (d.backstore) form['backstore'] = d.backstore;
      step(`define disk ${id} on its existing image`, 'PUT', `/api/disk/${enc(id)}`, form);
    } else if (d.wwn && have.wwn !== d.wwn) {
      warnings.push(`disk ${id}: wwn ${have.wwn} here, ${d.wwn} in the file (a wwn cannot change; detach the disk first to restore it)`);
    }
  }

  for (const [iqn, t] of Object.entries(wanted.targets).sort(([a], [b]) => a.localeCompare(b))) {
    const have = curTargets[iqn];
    if (have === undefined) step(`create target ${iqn}`, 'PUT', `/api/target/${enc(iqn)}`);
    for (const gw of portalOrder(t)) {
      const p = t.portals[gw]!;
      const hp = have?.portals?.[gw];
      if (hp === undefined) {
        step(`add gateway ${gw} (${(p.portal_ip_addresses ?? []).join(',')}) to ${iqn}`, 'PUT', `/api/gateway/${enc(iqn)}/${enc(gw)}`, { ip_address: (p.portal_ip_addresses ?? []).join(','), skipchecks: 'true' });
      } else if ((hp.portal_ip_addresses ?? []).join(',') !== (p.portal_ip_addresses ?? []).join(',')) {
        warnings.push(`target ${iqn}: gateway ${gw} has portal ${(hp.portal_ip_addresses ?? []).join(',')} here, ${(p.portal_ip_addresses ?? []).join(',')} in the file (delete the gateway to change it)`);
      }
    }
    const tc = controlsChange(have?.controls, t.controls);
    if (tc !== undefined) step(`set controls of ${iqn}: ${Object.keys(tc).join(', ')}`, 'PUT', `/api/target/${enc(iqn)}`, { mode: 'reconfigure', controls: JSON.stringify(tc) });

    for (const [id, l] of Object.entries(t.disks ?? {}).sort((a, b) => a[1].lun_id - b[1].lun_id)) {
      if (have?.disks?.[id] === undefined) step(`map ${id} to ${iqn} as LUN ${l.lun_id}`, 'PUT', `/api/targetlun/${enc(iqn)}`, { disk: id, lun_id: String(l.lun_id) });
      else if (have.disks[id]!.lun_id !== l.lun_id) warnings.push(`target ${iqn}: ${id} is LUN ${have.disks[id]!.lun_id} here, ${l.lun_id} in the file`);
    }
    for (const id of Object.keys(t.disks ?? {}).sort()) {
      const dc = controlsChange(curDisks[id]?.controls, wanted.disks[id]?.controls);
      if (dc !== undefined) step(`set controls of ${id}: ${Object.keys(dc).join(', ')}`, 'PUT', `/api/disk/${enc(id)}`, { mode: 'reconfigure', controls: JSON.stringify(dc) });
    }

    const aclWanted = t.acl_enabled !== false;
    const aclHave = have === undefined ? true : have.acl_enabled !== false;
    if (aclWanted !== aclHave && aclWanted) step(`enable the ACL of ${iqn}`, 'PUT', `/api/targetauth/${enc(iqn)}`, { action: 'enable_acl' });
    if (!sameChap(have?.auth, t.auth) && !encryptedWarning(`target ${iqn}`, t.auth, warnings)) {
      if (aclWanted !== aclHave && !aclWanted) step(`disable the ACL of ${iqn}`, 'PUT', `/api/targetauth/${enc(iqn)}`, { action: 'disable_acl' });
      step(`set target CHAP of ${iqn}`, 'PUT', `/api/targetauth/${enc(iqn)}`, chapOf(t.auth));
    } else if (aclWanted !== aclHave && !aclWanted) step(`disable the ACL of ${iqn}`, 'PUT', `/api/targetauth/${enc(iqn)}`, { action: 'disable_acl' });

    for (const [c, ce] of Object.entries(t.clients ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      const hc = have?.clients?.[c];
      if (hc === undefined) step(`create client ${c} of ${iqn}`, 'PUT', `/api/client/${enc(iqn)}/${enc(c)}`);
      if (!sameChap(hc?.auth, ce.auth) && !encryptedWarning(`client ${c}`, ce.auth, warnings)) step(`set CHAP of ${c}`, 'PUT', `/api/clientauth/${enc(iqn)}/${enc(c)}`, chapOf(ce.auth));
      if (ce.group_name) continue; // a member's LUNs come from its group
      for (const [id] of Object.entries(ce.luns ?? {}).sort((a, b) => a[1].lun_id - b[1].lun_id)) {
        if (hc?.luns?.[id] === undefined) step(`give ${id} to ${c}`, 'PUT', `/api/clientlun/${enc(iqn)}/${enc(c)}`, { disk: id });
      }
    }
    for (const [g, ge] of Object.entries(t.groups ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      const hg = have?.groups?.[g];
      const members = (ge.members ?? []).filter((m) => !(hg?.members ?? []).includes(m));
      const disks = Object.entries(ge.disks ?? {}).sort((a, b) => a[1].lun_id - b[1].lun_id).map(([id]) => id).filter((id) => hg?.disks?.[id] === undefined);
      if (hg === undefined || members.length > 0 || disks.length > 0) {
        const form: Form = { action: 'add' };
        if (members.length > 0) form['members'] = members.join(',');
        if (disks.length > 0) form['disks'] = disks.join(',');
        step(`${hg === undefined ? 'create' : 'update'} host group ${g} of ${iqn}`, 'PUT', `/api/hostgroup/${enc(iqn)}/${enc(g)}`, form);
      }
    }
    if (have !== undefined) {
      for (const c of Object.keys(have.clients ?? {})) if (!(c in (t.clients ?? {}))) kept.push(`client ${c} of ${iqn}`);
      for (const id of Object.keys(have.disks ?? {})) if (!(id in (t.disks ?? {}))) kept.push(`LUN ${id} of ${iqn}`);
    }
  }
  for (const iqn of Object.keys(curTargets)) if (!(iqn in wanted.targets)) kept.push(`target ${iqn}`);
  for (const id of Object.keys(curDisks)) if (!(id in wanted.disks)) kept.push(`disk ${id}`);
  return { steps, warnings, kept };
}

/** How a step reads in a dry run: the words, then the call (secrets masked). */
export function describeStep(s: ImportStep): string {
  const form = Object.entries(s.form)
    .map(([k, v]) => `${k}=${/password/.test(k) && v !== '' ? '********' : v}`)
    .join(' ');
  return `${s.what}  (${s.method} ${s.path}${form ? ' ' + form : ''})`;
}
