/**
 * Imported first by main.ts: a larger libuv thread pool (file I/O, fs of the board and stores)
 * before anything uses it. Fewer queued jobs also shorten the window in which a write granted
 * before a freeze (SIGSTOP) waits in the pool and lands after it (docs/ha.md, "What remains").
 */
process.env['UV_THREADPOOL_SIZE'] ??= '64';
