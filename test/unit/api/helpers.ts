/**
 * Test doubles for the API: an in-memory ConfigStore (serialised updates,
 * copy-on-read, no write when the mutator throws or returns false; mutators run
 * on a copy-on-write draft of a frozen document, as in the real stores), a fake
 * GatewayStatus, and a buildApi() wrapper with helpers for Basic auth, form
 * and JSON bodies.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { MemoryProvider } from '../../../src/backstore/memory.js';
import type { BackstoreProvider } from '../../../src/backstore/backstore.js';
import { configTime, seedConfig } from '../../../src/config/schema.js';
import type { GatewayConfig } from '../../../src/config/schema.js';
import { defaultSettings } from '../../../src/config/settings.js';
import type { Settings } from '../../../src/config/settings-types.js';
import { editDoc, freezeDeep } from '../../../src/config/snapshot.js';
import type { ConfigStore } from '../../../src/config/store.js';
import type { GatewayStatus, MaintenanceReport, MetricsSnapshot, SessionInfo } from '../../../src/gateway/status.js';
import { buildApi } from '../../../src/api/server.js';
import type { ApiDeps } from '../../../src/api/server.js';
import { silentLogger } from '../../../src/util/log.js';

export class MemoryConfigStore implements ConfigStore {
  private doc: GatewayConfig;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly watchers = new Set<(doc: GatewayConfig) => void>();
  writes = 0;

  constructor(initial: GatewayConfig = seedConfig()) {
    this.doc = freezeDeep(structuredClone(initial));
  }

  load(): Promise<GatewayConfig> {
    return Promise.resolve(structuredClone(this.doc));
  }

  snapshot(): Promise<GatewayConfig> {
    return Promise.resolve(this.doc);
  }

  /** Synchronous peek for assertions. */
  current(): GatewayConfig {
    return structuredClone(this.doc);
  }

  update<T>(mutator: (doc: GatewayConfig) => T | Promise<T>): Promise<{ doc: GatewayConfig; result: T }> {
    const run = async (): Promise<{ doc: GatewayConfig; result: T }> => {
      const edit = await editDoc(this.doc, mutator);
      if (edit.result === false) return { doc: structuredClone(this.doc), result: edit.result };
      const fresh = edit.finish((d) => {
        d.epoch = this.doc.epoch + 1;
        d.updated = configTime();
      });
      this.doc = fresh;
      this.writes++;
      for (const w of this.watchers) w(fresh);
      return { doc: structuredClone(fresh), result: edit.result };
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  watch(onChange: (doc: GatewayConfig) => void): () => void {
    this.watchers.add(onChange);
    return () => this.watchers.delete(onChange);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class FakeStatus implements GatewayStatus {
  listening = true;
  reconciles = 0;
  reconcileError: Error | undefined;
  sessionList: SessionInfo[] = [];
  ips: string[] = ['192.168.122.10', '192.168.122.11'];
  inMaintenance?: () => boolean;
  setMaintenance?: (on: boolean) => Promise<MaintenanceReport>;
  metricsSnapshot?: () => MetricsSnapshot;
  constructor(readonly gatewayName: string = 'gw1.example.com') {}
  iscsiListening(): boolean {
    return this.listening;
  }
  sessions(): SessionInfo[] {
    return this.sessionList;
  }
  ipAddresses(): string[] {
    return this.ips;
  }
  reconcileNow(): Promise<void> {
    this.reconciles++;
    return this.reconcileError === undefined ? Promise.resolve() : Promise.reject(this.reconcileError);
  }
}

export function session(targetIqn: string, initiatorName: string, ipAddress = '10.0.0.50'): SessionInfo {
  return {
    targetIqn,
    initiatorName,
    initiatorAlias: 'client-alias',
    ipAddress,
    portal: '192.168.122.10:3260',
    tpgt: 1,
    isid: '400001370000',
    tsih: 1,
    loginTime: new Date(0),
    authMethod: 'None',
  };
}

export const USER = 'admin';
export const PASSWORD = 'admin-secret-pw';
export const TARGET = 'iqn.2003-01.com.redhat.iscsi-gw:ceph-gw';
export const CLIENT = 'iqn.1994-05.com.redhat:client';
export const GW1 = 'gw1.example.com';
export const GW2 = 'gw2.example.com';

export interface Harness {
  app: FastifyInstance;
  store: MemoryConfigStore;
  status: FakeStatus;
  backstore: BackstoreProvider;
  settings: Settings;
  /** Sends a request with valid Basic credentials from 127.0.0.1; `form` is sent url-encoded, `json` as JSON. */
  call(method: 'GET' | 'PUT' | 'DELETE', url: string, opts?: { form?: Record<string, string>; json?: unknown; query?: Record<string, string>; remoteAddress?: string; auth?: string | null }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function makeHarness(opts: { settings?: Partial<Settings>; backstore?: BackstoreProvider; doc?: GatewayConfig; deps?: Partial<ApiDeps> } = {}): Harness {
  const settings: Settings = {
    ...defaultSettings({ hostname: () => GW1 }),
    api_user: USER,
    api_password: PASSWORD,
    api_secure: false,
    minimum_gateways: 1,
    trusted_ip_list: ['10.9.9.9'],
    ...opts.settings,
  };
  const store = new MemoryConfigStore(opts.doc);
  const status = new FakeStatus(GW1);
  const backstore = opts.backstore ?? new MemoryProvider({ pools: ['rbd', 'datapool'] });
  const app = buildApi({
    settings,
    store,
    backstore,
    status,
    logger: silentLogger(),
    resolveHost: (name: string) => Promise.resolve(name === GW2 ? ['192.168.122.20'] : name === 'localhost' ? ['127.0.0.1'] : []),
    osRelease: () => Promise.resolve({ ID: 'debian', VERSION_ID: '12' }),
    peers: null,
    ...opts.deps,
  });
  return {
    app,
    store,
    status,
    backstore,
    settings,
    async call(method, url, o = {}) {
      const headers: Record<string, string> = {};
      if (o.auth !== null) headers['authorization'] = o.auth ?? basic(USER, PASSWORD);
      let payload: string | undefined;
      if (o.form !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        payload = new URLSearchParams(o.form).toString();
      } else if (o.json !== undefined) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(o.json);
      }
      return await app.inject({
        method,
        url,
        headers,
        ...(payload !== undefined ? { payload } : {}),
        ...(o.query !== undefined ? { query: o.query } : {}),
        remoteAddress: o.remoteAddress ?? '127.0.0.1',
      });
    },
    close: () => app.close(),
  };
}

/** `{ message }` of a response body. */
export function msg(res: LightMyRequestResponse): string {
  const body = res.json<{ message?: unknown }>();
  return typeof body.message === 'string' ? body.message : JSON.stringify(body);
}

/**
 * The seed flow of ceph's rest_api_create.t through one harness:
 * disk datapool/block1 (or rbd/disk_1) → target → gateway (skipchecks) → target LUN → client → LUN.
 */
export async function seedFlow(h: Harness, o: { disk?: string; withClient?: boolean } = {}): Promise<void> {
  const disk = o.disk ?? 'rbd/disk_1';
  const expect = async (p: Promise<LightMyRequestResponse>, message: string): Promise<void> => {
    const r = await p;
    if (r.statusCode !== 200 || msg(r) !== message) throw new Error(`seed step failed: ${r.statusCode} ${r.body}`);
  };
  await expect(h.call('PUT', `/api/disk/${disk}`, { form: { mode: 'create', size: '1G' } }), 'disk create/update successful');
  await expect(h.call('PUT', `/api/target/${TARGET}`), 'Target defined successfully');
  await expect(h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } }), 'Gateway creation successful');
  await expect(h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk } }), 'Target LUN mapping updated successfully');
  if (o.withClient !== false) {
    await expect(h.call('PUT', `/api/client/${TARGET}/${CLIENT}`), 'client create/update successful');
    await expect(h.call('PUT', `/api/clientlun/${TARGET}/${CLIENT}`, { form: { disk } }), 'client masking update successful');
  }
}
