/**
 * Imported first by main.ts. libuv's thread pool runs file I/O and every blocking librados /
 * librbd call; its size is read once, when the pool starts. Measured (2026-12-06): the ESM
 * loader starts the pool while it reads the modules, before any of them runs, so only the
 * process's environment counts (a gateway started without UV_THREADPOOL_SIZE has 4 threads).
 * The assignment below therefore reaches only processes this one starts.
 */
const atStart = Number(process.env['UV_THREADPOOL_SIZE']);

/** The pool size this process started with (UV_THREADPOOL_SIZE at launch; libuv's default 4). */
export const threadPoolSize: number = Number.isInteger(atStart) && atStart > 0 ? Math.min(atStart, 1024) : 4;

process.env['UV_THREADPOOL_SIZE'] ??= '64';
