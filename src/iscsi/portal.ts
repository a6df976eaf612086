/**
 * One listening portal (ip:port): a net.Server whose sockets get TCP_NODELAY
 * (small PDUs such as R2T and SCSI Response must not wait for Nagle) and
 * keepalive (dead peers are noticed even without NOP-In), then go to the
 * connection layer.
 */
import net from 'node:net';

export interface Portal {
  readonly host: string;
  readonly port: number;
  readonly server: net.Server;
  /** The port actually bound (differs from `port` when 0 was asked). */
  boundPort(): number;
  close(): Promise<void>;
}

const KEEPALIVE_DELAY_MS = 30_000;

export function openPortal(host: string, port: number, onSocket: (socket: net.Socket) => void): Promise<Portal> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS }, (socket) => {
      socket.setNoDelay(true);
      socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
      onSocket(socket);
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
