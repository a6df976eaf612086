/**
 * Manual/interop helper: starts an IscsiServer with the fake registry and a
 * memory disk on 127.0.0.1:<port> for libiscsi tools.
 *   npx tsx test/session/serve.ts [port] [chapUser chapSecret [targetUser targetSecret]]
 * Prints "listening <port>" when ready.
 */
import { IscsiServer } from '../../src/iscsi/server.js';
import { createLogger } from '../../src/util/log.js';
import { FakeRegistry } from './fake-target.js';

const [portArg, user, secret, tuser, tsecret] = process.argv.slice(2);
const chap =
  user !== undefined && secret !== undefined
    ? { initiator: { username: user, password: secret }, ...(tuser !== undefined && tsecret !== undefined ? { target: { username: tuser, password: tsecret } } : {}) }
    : null;
const reg = new FakeRegistry({ access: () => ({ allowed: true, chap }), portals: [{ ip: '127.0.0.1', port: Number(portArg ?? 0), tpgt: 1 }] });
const server = new IscsiServer({ registry: reg, logger: createLogger({ level: process.env.LOG_LEVEL ?? 'info', destination: 2 }) });
await server.listen('127.0.0.1', Number(portArg ?? 0));
const port = server.boundPort('127.0.0.1', Number(portArg ?? 0));
reg.opts.portals = [{ ip: '127.0.0.1', port: port ?? 0, tpgt: 1 }];
process.stdout.write(`listening ${port}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
