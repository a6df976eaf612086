/** The package version (package.json next to dist/), for `--version` of the daemon and gwcli. */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  // dist/src/util/version.js → package.json at the package root
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
