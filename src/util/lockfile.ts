/**
 * proper-lockfile, loaded on the first lock rather than at start (its module graph is ~10 ms of
 * loading before a gateway with 1,000 LUNs serves them; a restart takes no lock).
 */
import type lockfileModule from 'proper-lockfile';

let loaded: Promise<typeof lockfileModule> | undefined;

export function properLockfile(): Promise<typeof lockfileModule> {
  return (loaded ??= import('proper-lockfile').then((m) => m.default));
}
