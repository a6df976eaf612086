/**
 * Where the cluster configuration document lives: a JSON file in data_dir on
 * the embedded default, a RADOS object (pool/gateway.conf) on Ceph.
 *
 * update() is the only way to write: it takes the store's lock, re-reads the
 * document, runs the mutator on that fresh copy, bumps `epoch`, stamps
 * `updated` and writes atomically, so concurrent writers (several gateway
 * processes, several API calls) never lose each other's changes.
 */
import type { GatewayConfig } from './schema.js';

export interface ConfigStore {
  /** A fresh read of the document (seeded when it does not exist yet), the caller's to change. */
  load(): Promise<GatewayConfig>;
  /**
   * The current document, deeply frozen and shared by every reader (never copy or change it):
   * cheap when the stored document did not change since the store last read or wrote it.
   * Consecutive epochs share the objects of every part that did not change.
   */
  snapshot(): Promise<GatewayConfig>;
  /**
   * Lock, re-read, mutate, write. When the mutator throws, nothing is written
   * and the error propagates. When it returns `false`, nothing is written either
   * (no change); any other return value is passed back as `result`.
   */
  update<T>(mutator: (doc: GatewayConfig) => T | Promise<T>): Promise<{ doc: GatewayConfig; result: T }>;
  /**
   * Calls `onChange` with each new document when the epoch moves (any writer), frozen as
   * snapshot() gives it. Returns a stop function.
   */
  watch(onChange: (doc: GatewayConfig) => void): () => void;
  close(): Promise<void>;
}
