/**
 * What every route plugin gets: the dependencies, and `mutate()`, the only way
 * routes change the cluster configuration.
 */
import type { BackstoreProvider } from '../backstore/backstore.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Settings } from '../config/settings-types.js';
import type { ConfigStore } from '../config/store.js';
import type { GatewayStatus } from '../gateway/status.js';
import type { Logger } from '../util/log.js';
import { httpPeerInfo } from './peers.js';
import type { PeerInfo } from './peers.js';

export interface ApiDeps {
  settings: Settings;
  /** The cluster config document: the ONLY source of truth. */
  store: ConfigStore;
  /** Pools and images (create, resize, delete, snapshots). */
  backstore: BackstoreProvider;
  /** This gateway: name, sessions, iscsiListening, ipAddresses, reconcileNow(). */
  status: GatewayStatus;
  logger: Logger;
  /**
   * Optional: how to ask the target's other gateways for their sessions (aggregated
   * `/api/targetinfo`, `/api/clientinfo`). Default: their `/api/_targetinfo` and
   * `/api/_clientinfo` over HTTP(S) (peers.ts); `null`: this gateway only.
   */
  peers?: PeerInfo | null;
  /** Optional: host name → IP addresses for the API allow-list (default: dns.lookup, cached 60 s). */
  resolveHost?: (name: string) => Promise<string[]>;
  /** Optional: /etc/os-release as key/values (for `/api/sysinfo/checkversions`; tests inject one). */
  osRelease?: () => Promise<Record<string, string>>;
  /** Optional: TLS material; default: read from settings.api_cert/api_key when settings.api_secure. */
  https?: { cert: Buffer | string; key: Buffer | string } | null;
  /** Optional: the directory of the built web console (default dist/ui, see console.ts). */
  consoleDir?: string;
}

export interface ApiContext {
  readonly deps: ApiDeps;
  /** Read-only access to other gateways' APIs (deps.peers, default HTTP); null: none. */
  readonly peers: PeerInfo | null;
  /** A fresh read of the document. */
  load(): Promise<GatewayConfig>;
  /**
   * Runs `fn` on the fresh document under the store's lock (validation
   * included: throw ApiError to abort with nothing written; return `false`
   * for "no change"), then lets the local gateway apply it before answering
   * (read-your-writes). Other gateways follow through their store watch.
   */
  mutate<T>(fn: (doc: GatewayConfig) => T | Promise<T>): Promise<T>;
}

export function createContext(deps: ApiDeps): ApiContext {
  return {
    deps,
    peers: deps.peers === undefined ? httpPeerInfo(deps.settings) : deps.peers,
    load: () => deps.store.load(),
    async mutate<T>(fn: (doc: GatewayConfig) => T | Promise<T>): Promise<T> {
      const { result } = await deps.store.update(fn);
      if (result === false) return result; // nothing written: nothing to apply
      try {
        await deps.status.reconcileNow();
      } catch (err) {
        // The document is committed (it is the truth); the gateway retries on its own.
        deps.logger.error({ err }, 'applying the new configuration on this gateway failed');
      }
      return result;
    },
  };
}
