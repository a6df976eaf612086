/**
 * Persistent-reservation state (APTPL) of one logical unit, kept as a small JSON
 * file under <data_dir>/.state/pr/ on the embedded default. Written atomically
 * (temp file + rename) so a crash never leaves half a state behind.
 */
import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { PrStore } from '../scsi/reservations.js';

export class FilePrStore implements PrStore {
  readonly #path: string;
  constructor(dir: string, diskId: string) {
    // "pool/image" -> "pool.image.json": both names are restricted to [A-Za-z0-9._-].
    this.#path = join(dir, `${diskId.replace('/', '.')}.json`);
  }

  async load(): Promise<unknown> {
    try {
      return JSON.parse(await readFile(this.#path, 'utf8')) as unknown;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async save(state: unknown): Promise<void> {
    await mkdir(join(this.#path, '..'), { recursive: true });
    const tmp = `${this.#path}.tmp`;
    await writeFile(tmp, JSON.stringify(state));
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.#path);
  }
}
