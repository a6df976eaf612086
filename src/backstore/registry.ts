/**
 * Backstore kind (settings `backstore`) → provider. Built explicitly by main.ts
 * (no registration side effects); optional back ends are loaded with a dynamic
 * import only when configured, so a build without librbd still starts on files.
 */
import { GatewayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { BackstoreProvider } from './backstore.js';
import { FileBackstoreProvider } from './file-provider.js';

/** The settings the registry reads (a structural subset of config's Settings: backstore must not import config). */
export interface BackstoreSettings {
  backstore: 'file' | 'rbd' | 'memory' | string;
  data_dir: string;
  /** The default pool (settings.pool, "rbd"). */
  pool?: string;
  cluster_name?: string;
  cluster_client_name?: string;
  ceph_config_dir?: string;
}

/** Creates and initialises the configured provider. Throws ERR_BACKSTORE_NOT_SUPPORTED with a clear message. */
export async function createBackstoreProvider(settings: BackstoreSettings, log: Logger): Promise<BackstoreProvider> {
  const defaultPool = settings.pool ?? 'rbd';
  switch (settings.backstore) {
    case 'file': {
      const p = new FileBackstoreProvider({ dataDir: settings.data_dir, defaultPool });
      await p.init();
      log.info({ backstore: 'file', dataDir: p.dataDir, defaultPool }, 'backstore ready');
      return p;
    }
    case 'memory': {
      const mod = (await import('./memory.js')) as { MemoryProvider?: new (opts?: { pools?: string[] }) => BackstoreProvider };
      if (mod.MemoryProvider === undefined) {
        throw new GatewayError('ERR_BACKSTORE_NOT_SUPPORTED', 'memory backstore is not available in this build');
      }
      log.warn({ backstore: 'memory' }, 'memory backstore: data is lost when the process exits');
      return new mod.MemoryProvider({ pools: [defaultPool] });
    }
    case 'rbd': {
      let mod: { createRbdProvider?: (s: BackstoreSettings, log: Logger) => Promise<BackstoreProvider> };
      try {
        // Kept out of the static graph: librbd bindings load only when configured.
        const specifier = './rbd/provider.js';
        mod = (await import(specifier)) as typeof mod;
      } catch (err) {
        throw new GatewayError('ERR_BACKSTORE_NOT_SUPPORTED', 'rbd backstore is not available in this build', { cause: err });
      }
      if (typeof mod.createRbdProvider !== 'function') {
        throw new GatewayError('ERR_BACKSTORE_NOT_SUPPORTED', 'rbd backstore is not available in this build');
      }
      return mod.createRbdProvider(settings, log);
    }
    default:
      throw new GatewayError(
        'ERR_BACKSTORE_NOT_SUPPORTED',
        `unknown backstore "${String(settings.backstore)}" (supported: file, memory, rbd)`,
      );
  }
}
