/**
 * Read-only questions to the other gateways of a target, for the aggregated
 * `/api/targetinfo` and `/api/clientinfo` (upstream asks every portal's
 * `/api/_targetinfo` / `/api/_clientinfo` the same way). Only reads go to peers:
 * changes never fan out (the config store is the truth). A peer that does not
 * answer within the timeout is left out of the sum instead of failing the call.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Settings } from '../config/settings-types.js';

export interface ClientInfo {
  alias: string;
  /** "LOGGED_IN" or "" (upstream: the LIO session state). */
  state: string;
  ip_address: string[];
}

export interface PeerAnswer {
  status: number;
  body: unknown;
}

export interface PeerInfo {
  /** GET /api/sysinfo/<query> on `gateway` (gwcli utils.py valid_gateway); undefined when it does not answer. */
  sysinfo?(gateway: string, query: 'ip_addresses' | 'checkconf' | 'checkversions'): Promise<PeerAnswer | undefined>;
  /** Number of sessions of `targetIqn` on `gateway`; undefined when the gateway cannot be asked. */
  targetSessions(gateway: string, targetIqn: string): Promise<number | undefined>;
  /** One client's session state on `gateway`; undefined when the gateway cannot be asked. */
  clientInfo(gateway: string, targetIqn: string, clientIqn: string): Promise<ClientInfo | undefined>;
}

const PEER_TIMEOUT_MS = 2_000;

/** GETs `path` on a peer's API with the shared Basic credentials; the parsed JSON on 200, else undefined. */
async function getJson(settings: Settings, host: string, path: string, timeoutMs: number): Promise<unknown> {
  const a = await get(settings, host, path, timeoutMs);
  return a !== undefined && a.status === 200 ? a.body : undefined;
}

/** GETs `path` on a peer's API; status and parsed JSON body (undefined body when not JSON), undefined when no answer. */
function get(settings: Settings, host: string, path: string, timeoutMs: number): Promise<PeerAnswer | undefined> {
  const request = settings.api_secure ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(
      {
        host: isIP(host) === 6 ? host.replace(/%.*$/, '') : host,
        port: settings.api_port,
        path,
        method: 'GET',
        headers: { authorization: `Basic ${Buffer.from(`${settings.api_user}:${settings.api_password}`).toString('base64')}`, accept: 'application/json' },
        timeout: timeoutMs,
        ...(settings.api_secure ? { rejectUnauthorized: settings.api_ssl_verify } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** PeerInfo over the peers' rbd-target-api compatible `/api/_targetinfo` and `/api/_clientinfo`. */
export function httpPeerInfo(settings: Settings, timeoutMs = PEER_TIMEOUT_MS): PeerInfo {
  const enc = encodeURIComponent;
  return {
    sysinfo: (gateway, query) => get(settings, gateway, `/api/sysinfo/${query}`, timeoutMs),
    async targetSessions(gateway, targetIqn) {
      const body = await getJson(settings, gateway, `/api/_targetinfo/${enc(targetIqn)}`, timeoutMs);
      const n = (body as { num_sessions?: unknown } | undefined)?.num_sessions;
      return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
    },
    async clientInfo(gateway, targetIqn, clientIqn) {
      const body = (await getJson(settings, gateway, `/api/_clientinfo/${enc(targetIqn)}/${enc(clientIqn)}`, timeoutMs)) as Partial<ClientInfo> | undefined;
      if (body === undefined || typeof body !== 'object' || body === null) return undefined;
      return {
        alias: typeof body.alias === 'string' ? body.alias : '',
        state: typeof body.state === 'string' ? body.state : '',
        ip_address: Array.isArray(body.ip_address) ? body.ip_address.filter((x): x is string => typeof x === 'string') : [],
      };
    },
  };
}
