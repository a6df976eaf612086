/**
 * One listening portal (ip:port): a net.Server whose sockets get TCP_NODELAY
 * (small PDUs such as R2T and SCSI Response must not wait for Nagle) and
 * keepalive (dead peers are noticed even without NOP-In), then go to the
 * connection layer.
 *
 * Reads go into one buffer per connection, reused for every read (net.Socket `onread`),
 * instead of a new 64 KiB ArrayBuffer per read: at 1 GB/s those are 16 k external
 * allocations a second, which V8 answers with a mark-compact GC every ~60 ms (measured:
 * 1 MiB QD8 writes took 3x longer, a third of the CPU in GC threads). The bytes of a read
 * are lent to the connection for the call only (Framer `lentChunks`). Node offers `onread`
 * to sockets it connects, not to those a server accepts: the accepted socket's handle is
 * moved to a new Socket made with `onread` (the server's own socket object is then
 * destroyed without its handle, which keeps the server's connection count right).
 */
import net from 'node:net';

/** Per-connection read buffer: one read takes at most this much. */
const READ_BUFFER_BYTES = 256 * 1024;

/**
 * The reads of an accepted socket: `onData` (set by the connection) receives each read's
 * bytes, valid during the call only. Return false, or pause() the socket, to stop reading
 * until socket.resume().
 *
 * `next`, asked after each read, may steer the next one: a Buffer to read into in place
 * (then `onLanded(n)` is called instead of onData; the buffer must stay valid until then,
 * even across a pause), or a number to read at most that many bytes (into the read buffer).
 */
export interface LentReads {
  onData: ((chunk: Buffer) => boolean | void) | undefined;
  next?: (() => Buffer | number | undefined) | undefined;
  onLanded?: ((n: number) => boolean | void) | undefined;
}

export interface Portal {
  readonly host: string;
  readonly port: number;
  readonly server: net.Server;
  /** The port actually bound (differs from `port` when 0 was asked). */
  boundPort(): number;
  close(): Promise<void>;
}

const KEEPALIVE_DELAY_MS = 30_000;

export function openPortal(host: string, port: number, onSocket: (socket: net.Socket, reads: LentReads | undefined) => void): Promise<Portal> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS }, (accepted) => {
      const lent = withLentReads(accepted);
      const socket = lent?.socket ?? accepted;
      socket.setNoDelay(true);
      socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
      onSocket(socket, lent?.reads);
      if (lent === undefined) socket.resume();
    });
    const onError = (err: Error): void => {
      server.removeListener('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      // later errors (EMFILE on accept...) must not crash the process
      server.on('error', () => undefined);
      resolve({
        host,
        port,
        server,
        boundPort: () => {
          const a = server.address();
          return a !== null && typeof a === 'object' ? a.port : port;
        },
        // Stops accepting at once; established connections are the connection layer's
        // business (net.Server.close() would otherwise wait for all of them to end).
        close: () =>
          new Promise<void>((res) => {
            server.close();
            setImmediate(res);
          }),
      });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // ipv6Only keeps "::" and "0.0.0.0" portals independent of each other.
    server.listen({ host, port, ipv6Only: host.includes(':') });
  });
}

/**
 * Moves an accepted (paused) socket's handle to a Socket that reads into one reused buffer.
 * undefined when the handle is not there to move (then the accepted socket is used as is).
 */
function withLentReads(accepted: net.Socket): { socket: net.Socket; reads: LentReads } | undefined {
  const holder = accepted as unknown as { _handle?: object | null };
  const handle = holder._handle;
  if (handle === undefined || handle === null) return undefined;
  holder._handle = null;
  accepted.destroy();
  const reads: LentReads = { onData: undefined };
  const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  const own = buffer.buffer;
  // Node asks for the next read's buffer after each read's callback.
  const nextBuffer = (): Buffer => {
    const next = reads.next?.();
    if (next === undefined) return buffer;
    if (typeof next === 'number') return buffer.subarray(0, Math.max(1, Math.min(next, READ_BUFFER_BYTES)));
    return next;
  };
  const socket: net.Socket = new net.Socket({
    handle,
    readable: true,
    writable: true,
    onread: {
      buffer: nextBuffer,
      callback: (n: number, buf: Uint8Array) => {
        const go = buf.buffer === own ? reads.onData?.((buf as Buffer).subarray(0, n)) : reads.onLanded?.(n);
        return go !== false && !socket.isPaused();
      },
    },
  } as net.SocketConstructorOpts);
  return { socket, reads };
}
