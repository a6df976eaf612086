/**
 * The REST API, compatible with ceph-iscsi's rbd-target-api (anchors §1.2):
 * same routes, form fields, status codes and `{"message": ...}` texts, so the
 * Ceph Dashboard, gwcli and rbd-iscsi-client work unchanged.
 *
 * Design difference: upstream validates, then fans each change out to every
 * gateway's `/api/_...` routes one by one. Here every change is one
 * `store.update()` on the cluster document (validated against the fresh
 * document under the lock), then this gateway applies it (`reconcileNow`)
 * before answering; the other gateways reconcile from the store themselves.
 * A gateway that is down does not block changes; it converges when it returns.
 */
import { readFileSync } from 'node:fs';
import formbody from '@fastify/formbody';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Settings } from '../config/settings-types.js';
import { GatewayError } from '../util/errors.js';
import { AccessControl } from './access.js';
import { consoleRoutes } from './console.js';
import { ThrottledError } from './auth-guard.js';
import type { AccessLevel } from './access.js';
import { createContext } from './context.js';
import type { ApiDeps } from './context.js';
import { messageForError, statusForError } from './errors.js';
import { authRoutes } from './routes/auth.js';
import { clientRoutes } from './routes/clients.js';
import { clusterRoutes } from './routes/cluster.js';
import { diskRoutes } from './routes/disks.js';
import { gatewayRoutes } from './routes/gateways.js';
import { hostgroupRoutes } from './routes/hostgroups.js';
import { internalRoutes } from './routes/internal.js';
import { statsRoutes } from './routes/stats.js';
import { statusRoutes } from './routes/status.js';
import { targetRoutes } from './routes/targets.js';

export type { ApiDeps } from './context.js';
export type { ClientInfo, PeerInfo } from './peers.js';
export { httpPeerInfo } from './peers.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (default 'restricted'). */
    access?: AccessLevel;
    /** First line: summary shown by `GET /api`; further lines: details. Routes without doc are internal. */
    doc?: string;
  }
}

/** One row of `GET /api`: ["<url> : <summary>", "Methods: GET,PUT", [detail lines]]. */
export type ApiListingRow = [string, string, string[]];

/**
 * TLS options for the API server: with api_secure, the certificate and key at
 * settings.api_cert / settings.api_key (default /etc/ceph/iscsi-gateway.crt|key).
 * Throws ERR_CONFIG_INVALID with a clear message when they cannot be read
 * (upstream: "Secure API requested but the crt/key files missing/incompatible?", exit 16).
 */
export function apiServerOptions(settings: Settings): { https?: { cert: Buffer; key: Buffer } } {
  if (!settings.api_secure) return {};
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new GatewayError(
        'ERR_CONFIG_INVALID',
        `Secure API requested (api_secure = true) but the ${what} ${path} cannot be read: ${(err as Error).message}`,
      );
    }
  };
  return { https: { cert: read(settings.api_cert, 'certificate'), key: read(settings.api_key, 'private key') } };
}

/** Flask-style path for listings: `/api/target/:target_iqn` → `/api/target/<target_iqn>`. */
function flaskPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '<$1>');
}

/**
 * Builds the API (never listens: main.ts calls listen(); tests use inject()).
 * TLS is set up here when settings.api_secure (see apiServerOptions).
 */
export function buildApi(deps: ApiDeps): FastifyInstance {
  const tls = deps.https === undefined ? apiServerOptions(deps.settings).https : (deps.https ?? undefined);
  const app: FastifyInstance = Fastify({
    // Our own one-line-per-request log below: no bodies, no headers (CHAP/API secrets never logged).
    logger: false,
    // IQNs may be 223 bytes (RFC 7143 §4.2.7.1); find-my-way's default parameter cap is 100.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    bodyLimit: 1024 * 1024,
    ...(tls !== undefined ? { https: { ...tls, minVersion: 'TLSv1.2' as const } } : {}),
  }) as unknown as FastifyInstance;

  const ctx = createContext(deps);
  const access = new AccessControl(ctx);
  const log = deps.logger;
  const listing = new Map<string, { summary: string; details: string[]; methods: Set<string> }>();

  app.addHook('onRoute', (route) => {
    const url = flaskPath(route.url);
    if (url.split('/').some((seg) => seg.startsWith('_'))) return; // internal routes are not listed (upstream)
    if (!url.startsWith('/api')) return; // the web console's /ui/ is no API route
    const entry = listing.get(url) ?? { summary: '', details: [], methods: new Set<string>() };
    const doc = route.config?.doc;
    if (doc !== undefined && entry.summary === '') {
      const lines = doc.split('\n');
      entry.summary = lines[0] ?? '';
      entry.details = lines.slice(1);
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const m of methods) if (m !== 'HEAD' && m !== 'OPTIONS') entry.methods.add(m);
    listing.set(url, entry);
  });

  // Access control before any body is read (onRequest runs before parsing).
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const level = req.routeOptions.config?.access ?? 'restricted';
    await access.check(req, level);
  });

  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    // Route + status + client IP only (never bodies or headers: they carry secrets).
    // Successful reads (the Dashboard polls) at debug; changes and failures at info.
    const entry = { method: req.method, route: req.routeOptions.url ?? req.url.split('?')[0], status: reply.statusCode, ip: req.ip, ms: Math.round(reply.elapsedTime) };
    // 401/429 at debug: the guessing guard audits failures under a log budget (no flooding).
    if ((req.method === 'GET' && reply.statusCode < 400) || reply.statusCode === 401 || reply.statusCode === 429) log.debug(entry, 'api request');
    else log.info(entry, 'api request');
  });

  app.setErrorHandler(async (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const status = statusForError(err);
    if (err instanceof ThrottledError) void reply.header('retry-after', String(err.retryAfterS));
    // RFC 9110 §11.6.1: a 401 carries the challenge; browsers need it to ask for the password of /ui/
    // and to resend it to /api/ (the same realm). Clients that send credentials up front ignore it.
    if (status === 401) void reply.header('www-authenticate', 'Basic realm="ceph-iscsi-gateway", charset="UTF-8"');
    if (status >= 500) log.error({ err, method: req.method, route: req.routeOptions.url }, 'unhandled API error');
    return reply.code(status).send({ message: messageForError(err, status) });
  });

  app.setNotFoundHandler(async (req: FastifyRequest, reply: FastifyReply) => {
    return reply.code(404).send({ message: `${req.method} ${req.url.split('?')[0] ?? ''} is not a known API route` });
  });

  void app.register(formbody);

  // GET /api: unauthenticated listing of the public routes (rbd-target-api get_api_info).
  app.get('/api', { config: { access: 'open', doc: 'Display all the available API endpoints\n**UNRESTRICTED**' } }, async () => {
    const rows: ApiListingRow[] = [...listing.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([url, e]) => [`${url} : ${e.summary || 'Missing description'}`, `Methods: ${[...e.methods].join(',')}`, e.details]);
    return { api: rows };
  });

  void app.register(async (i) => { statusRoutes(i, ctx); });
  void app.register(async (i) => { targetRoutes(i, ctx); });
  void app.register(async (i) => { gatewayRoutes(i, ctx); });
  void app.register(async (i) => { diskRoutes(i, ctx); });
  void app.register(async (i) => { clientRoutes(i, ctx); });
  void app.register(async (i) => { hostgroupRoutes(i, ctx); });
  void app.register(async (i) => { authRoutes(i, ctx); });
  void app.register(async (i) => { internalRoutes(i, ctx); });
  void app.register(async (i) => { clusterRoutes(i, ctx); });
  void app.register(async (i) => { statsRoutes(i, ctx); });
  void app.register(async (i) => { consoleRoutes(i, deps.consoleDir); });

  return app;
}
