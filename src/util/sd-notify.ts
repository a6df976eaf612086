/**
 * sd_notify(3) without libsystemd: one datagram on the AF_UNIX socket systemd names in
 * $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). Node has no unix datagram
 * sockets, so the three libc calls go through koffi (already loaded for the backstores).
 * A unit with Type=notify then becomes active on READY=1, sent once the API and the portals
 * listen, instead of when the process starts; STOPPING=1 tells systemd a stop has begun.
 */
import { createRequire } from 'node:module';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
/** sizeof(struct sockaddr_un): sa_family_t + sun_path[108]. */
const SOCKADDR_UN_SIZE = 110;

type Fn = (...args: unknown[]) => number;
interface Libc {
  socket: Fn;
  sendto: Fn;
  close: Fn;
}

let libc: Libc | null | undefined;

function load(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as { load(name: string): { func(sig: string): Fn } };
    const lib = koffi.load('libc.so.6');
    libc = {
      socket: lib.func('int socket(int domain, int type, int protocol)'),
      sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
      close: lib.func('int close(int fd)'),
    };
  } catch {
    // not Linux/glibc: no notifications
  }
  return libc;
}

/** `struct sockaddr_un` for a NOTIFY_SOCKET value and its length, or undefined when unusable. */
export function notifyAddress(value: string): { addr: Buffer; length: number } | undefined {
  const abstract = value.startsWith('@');
  if (!abstract && !value.startsWith('/')) return undefined; // e.g. vsock: not supported
  const name = Buffer.from(abstract ? value.slice(1) : value, 'utf8');
  if (name.length === 0 || name.length > SOCKADDR_UN_SIZE - 3) return undefined;
  const addr = Buffer.alloc(SOCKADDR_UN_SIZE);
  addr.writeUInt16LE(AF_UNIX, 0); // host order on the little-endian Linux targets we run on
  // abstract: a leading NUL, no trailing one; a path: NUL-terminated
  name.copy(addr, abstract ? 3 : 2);
  return { addr, length: 2 + (abstract ? 1 : 0) + name.length + (abstract ? 0 : 1) };
}

/**
 * Sends `state` ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET. false when not run by systemd
 * with Type=notify (no variable) or when the datagram could not be sent; never throws.
 */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const where = env.NOTIFY_SOCKET;
  if (where === undefined || where === '') return false;
  const target = notifyAddress(where);
  const c = load();
  if (target === undefined || c === null) return false;
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  try {
    const msg = Buffer.from(state, 'utf8');
    return c.sendto(fd, msg, msg.length, 0, target.addr, target.length) === msg.length;
  } finally {
    c.close(fd);
  }
}
