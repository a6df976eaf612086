/**
 * Read-only and status routes: /api/_ping, /api/settings, /api/sysinfo/<q>,
 * /api/config, /api/targetinfo, /api/_targetinfo, /api/gatewayinfo,
 * /api/clientinfo, /api/_clientinfo (rbd-target-api.py; the Dashboard and
 * gwcli depend on their exact shapes).
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { controlsLimits, effectiveControls } from '../../config/controls.js';
import { settingsHash } from '../../config/settings.js';
import type { SessionInfo } from '../../gateway/status.js';
import { decryptDocPasswords } from '../chap-crypto.js';
import type { ApiContext } from '../context.js';
import type { ClientInfo } from '../peers.js';
import { clientOr404, ensureDocShape, gatewayEntry, targetOr404 } from '../doc.js';
import { notFound } from '../errors.js';
import { field, pathParam } from '../params.js';
import { BACKSTORES, DEFAULT_BACKSTORE, iqnParam } from './common.js';

/** Parses /etc/os-release (KEY=value, optionally quoted). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m === null || m[1] === undefined || m[2] === undefined) continue;
    let v = m[2];
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]] = v;
  }
  return out;
}

// Upstream (rbd-target-api.py pre_reqs_errors) accepts rhel/centos >= 7.4, suse/opensuse-leap >= 15.1,
// debian >= 10, ubuntu >= 18.04 and refuses everything else, because it needs a recent kernel
// LIO/TCMU. We run entirely in user space: known distributions keep upstream's minimums, any other
// Linux passes, and the only hard requirements are Linux and Node.js >= 20.
const MIN_RELEASE: Readonly<Record<string, number>> = { rhel: 7.4, suse: 15.1, debian: 10, ubuntu: 18.04 };
const DIST_ALIASES: Readonly<Record<string, string>> = { centos: 'rhel', rocky: 'rhel', almalinux: 'rhel', 'opensuse-leap': 'suse', sles: 'suse' };

/** The checkversions errors (empty = passed). */
export function versionErrors(osRelease: Record<string, string>, platform: string, nodeVersion: string): string[] {
  const errors: string[] = [];
  if (platform !== 'linux') errors.push('OS is unsupported');
  const major = Number(/^v?(\d+)/.exec(nodeVersion)?.[1] ?? '0');
  if (major < 20) errors.push('Node.js version is unsupported (>= 20 required)');
  const id = (osRelease['ID'] ?? '').toLowerCase();
  const dist = DIST_ALIASES[id] ?? id;
  const min = MIN_RELEASE[dist];
  const rel = osRelease['VERSION_ID'];
  if (min !== undefined && rel !== undefined) {
    const v = Number(rel.split('.').slice(0, 2).join('.'));
    if (Number.isFinite(v) && v < min) errors.push('OS version is unsupported');
  }
  return errors;
}

async function defaultOsRelease(): Promise<Record<string, string>> {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return parseOsRelease(await readFile(path, 'utf8'));
    } catch {
      // try the next one
    }
  }
  return {};
}

export function statusRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { settings, status } = ctx.deps;

  const peers = ctx.peers;
  /** The target's gateways other than this one (asked in parallel; silent ones are left out). */
  const otherPortals = (portals: Record<string, unknown>): string[] => Object.keys(portals).filter((g) => g !== status.gatewayName);

  // 200 "pong" when this host is not a gateway yet or its iSCSI listener is up; 503 otherwise.
  app.get('/api/_ping', async (_req, reply) => {
    const doc = await ctx.load();
    const isGateway = gatewayEntry(ensureDocShape(doc), status.gatewayName) !== undefined;
    return reply.code(isGateway && !status.iscsiListening() ? 503 : 200).send({ message: 'pong' });
  });

  app.get('/api/settings', { config: { doc: 'List settings (control defaults and limits, backstores, minimum_gateways)' } }, async () => ({
    target_default_controls: effectiveControls('target', undefined, settings.target_defaults),
    target_controls_limits: controlsLimits('target'),
    disk_default_controls: { [DEFAULT_BACKSTORE]: effectiveControls('disk', undefined, settings.disk_defaults) },
    disk_controls_limits: { [DEFAULT_BACKSTORE]: controlsLimits('disk') },
    // RBD features (lun.py RBDDev): none unsupported; exclusive-lock (4) required.
    unsupported_rbd_features: { [DEFAULT_BACKSTORE]: 0 },
    required_rbd_features: { [DEFAULT_BACKSTORE]: 4 },
    backstores: [...BACKSTORES],
    default_backstore: DEFAULT_BACKSTORE,
    config: { minimum_gateways: settings.minimum_gateways },
    api_version: 2,
  }));

  app.get(
    '/api/sysinfo/:query_type',
    { config: { access: 'basic', doc: 'Provide system information based on the query_type\nValid query types are: ip_addresses, hostname, checkconf and checkversions' } },
    async (req, reply) => {
      switch (pathParam(req, 'query_type')) {
        case 'ip_addresses':
          return { data: status.ipAddresses() };
        case 'hostname':
          return { data: status.gatewayName };
        case 'checkconf':
          return { data: settingsHash(settings) };
        case 'checkversions': {
          const errors = versionErrors(await (ctx.deps.osRelease ?? defaultOsRelease)(), process.platform, process.version);
          if (errors.length > 0) return reply.code(500).send({ data: errors });
          return { data: 'checks passed' };
        }
        default:
          return reply.code(404).send({ message: 'Unknown /sysinfo query' });
      }
    },
  );

  // We store passwords in clear (routes/auth.ts); decrypt_passwords=true also decrypts
  // the ones an upstream gateway stored RSA-encrypted (chap-crypto.ts).
  app.get('/api/config', { config: { doc: 'Return the complete config object to the caller (must be authenticated)\nWARNING: Contents will include any defined CHAP credentials\ndecrypt_passwords=true returns passwords in clear' } }, async (req) => {
    const doc = ensureDocShape(await ctx.load());
    const decrypt = (field(req, 'decrypt_passwords') ?? 'false').toLowerCase() === 'true';
    return decrypt ? decryptDocPasswords(doc, settings) : doc;
  });

  const targetSessions = (list: SessionInfo[], iqn: string): number => list.filter((s) => s.targetIqn === iqn).length;

  app.get('/api/targetinfo/:target_iqn', { config: { doc: 'Returns the total number of active sessions for <target_iqn>' } }, async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const t = targetOr404(await ctx.load(), iqn);
    let n = targetSessions(status.sessions(), iqn);
    if (peers !== null) {
      const counts = await Promise.all(otherPortals(t.portals).map((gw) => peers.targetSessions(gw, iqn).catch(() => undefined)));
      for (const c of counts) n += c ?? 0;
    }
    return { num_sessions: n };
  });

  app.get('/api/_targetinfo/:target_iqn', async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    targetOr404(await ctx.load(), iqn);
    return { num_sessions: targetSessions(status.sessions(), iqn) };
  });

  app.get('/api/gatewayinfo', { config: { doc: 'Returns the number of active sessions on the local gateway' } }, async () => {
    const doc = ensureDocShape(await ctx.load());
    const me = status.gatewayName;
    if (gatewayEntry(doc, me) === undefined) throw notFound(`Gateway ${me} does not exist in configuration`);
    const mine = new Set(Object.entries(doc.targets).filter(([, t]) => me in (t.portals ?? {})).map(([iqn]) => iqn));
    return { num_sessions: status.sessions().filter((s) => mine.has(s.targetIqn)).length };
  });

  const localClientInfo = (iqn: string, clientIqn: string, sessions: SessionInfo[]): ClientInfo => {
    const own = sessions.filter((s) => s.targetIqn === iqn && s.initiatorName.toLowerCase() === clientIqn);
    const first = own[0];
    return {
      alias: first?.initiatorAlias ?? '',
      state: first !== undefined ? 'LOGGED_IN' : '',
      ip_address: [...new Set(own.map((s) => s.ipAddress))],
    };
  };

  app.get('/api/clientinfo/:target_iqn/:client_iqn', { config: { doc: 'Returns client alias, ip_address and state for each connected portal' } }, async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const clientIqn = iqnParam(req, 'client_iqn');
    const t = targetOr404(await ctx.load(), iqn);
    clientOr404(t, iqn, clientIqn);
    const out: { alias: string; state: Record<string, string[]>; ip_address: string[] } = { alias: '', state: {}, ip_address: [] };
    const infos: Array<[string, ClientInfo | undefined]> = [[status.gatewayName, localClientInfo(iqn, clientIqn, status.sessions())]];
    if (peers !== null) {
      const others = otherPortals(t.portals);
      const answers = await Promise.all(others.map((gw) => peers.clientInfo(gw, iqn, clientIqn).catch(() => undefined)));
      others.forEach((gw, i) => infos.push([gw, answers[i]]));
    }
    for (const [gw, info] of infos) {
      if (info === undefined) continue;
      if (info.alias) out.alias = info.alias;
      if (info.state) (out.state[info.state] ??= []).push(gw);
      out.ip_address.push(...info.ip_address);
    }
    out.ip_address = [...new Set(out.ip_address)];
    return out;
  });

  app.get('/api/_clientinfo/:target_iqn/:client_iqn', async (req) => {
    const iqn = iqnParam(req, 'target_iqn');
    const clientIqn = iqnParam(req, 'client_iqn');
    const t = targetOr404(await ctx.load(), iqn);
    clientOr404(t, iqn, clientIqn);
    return localClientInfo(iqn, clientIqn, status.sessions());
  });
}
