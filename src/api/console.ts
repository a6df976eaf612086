/**
 * The web console (issue 12): the static assets vite builds into `dist/ui/` at `npm install`
 * (`prepare`), served under `/ui/` by the API's own server, so the console gets the API's TLS,
 * Basic auth and IP allow-list (the access hook runs for these routes as for every route:
 * level 'restricted'). The console itself only calls the public REST routes and `/api/_stats`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { notFound } from './errors.js';

/** dist/ui next to dist/src (this file runs as dist/src/api/console.js). */
export const CONSOLE_DIR: string = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ui');

/**
 * The console's pages load only their own files and call only this origin; no framing
 * (clickjacking of the forms that change the target).
 */
const CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function consoleRoutes(app: FastifyInstance, dir: string | undefined): void {
  dir ??= CONSOLE_DIR;
  if (!existsSync(join(dir, 'index.html'))) {
    // A checkout where the build did not run (npm install --ignore-scripts): say so, do not 404 silently.
    const notBuilt = async (): Promise<never> => {
      throw notFound('the web console is not built (run: npm run build)');
    };
    app.get('/ui/', notBuilt);
    app.get('/ui/*', notBuilt);
    return;
  }
  void app.register(fastifyStatic, {
    root: dir,
    prefix: '/ui/',
    index: 'index.html',
    // Our own cache-control below (the plugin's default is max-age=0 for every file).
    cacheControl: false,
    // Hashed file names under assets/ never change; index.html must be read again after an upgrade.
    setHeaders: (res, path) => {
      res.setHeader('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('content-security-policy', CSP);
    },
  });
  // The plugin's wildcard serves files; the page itself is `/ui/` (and `/ui`: trailing slashes are ignored).
  app.get('/ui/', async (_req, reply) =>
    reply.header('cache-control', 'no-cache').header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').sendFile('index.html'));
}
