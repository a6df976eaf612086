/**
 * Manual/interop helper: starts an IscsiServer on 127.0.0.1:<port> for libiscsi tools.
 *   node --import tsx test/session/serve.ts [--real] [port] [chapUser chapSecret [targetUser targetSecret]]
 * (one process: stop it with kill <pid>; through `npx tsx` the PID you get is a wrapper)
 * Default: the fake memory-disk port of fake-target.ts. --real: the SCSI device
 * server (src/scsi) over a 64 MiB memory backstore, for iscsi-test-cu.
 * Prints "listening <port>" when ready.
 */
import { IscsiServer } from '../../src/iscsi/server.js';
import { createLogger } from '../../src/util/log.js';
import { FakeRegistry } from './fake-target.js';
import type { Nexus } from '../../src/scsi/command.js';

const args = process.argv.slice(2);
const real = args[0] === '--real';
if (real) args.shift();
const [portArg, user, secret, tuser, tsecret] = args;
const chap =
  user !== undefined && secret !== undefined
    ? { initiator: { username: user, password: secret }, ...(tuser !== undefined && tsecret !== undefined ? { target: { username: tuser, password: tsecret } } : {}) }
    : null;
// LIMITS='{"nopinTimeoutSec":1}' overrides TargetLimits members.
const limits = process.env.LIMITS !== undefined ? (JSON.parse(process.env.LIMITS) as Record<string, number | boolean>) : {};
const reg = new FakeRegistry({ access: () => ({ allowed: true, chap }), limits, portals: [{ ip: '127.0.0.1', port: Number(portArg ?? 0), tpgt: 1 }] });
if (real) {
  const { MemoryBackingStore } = await import('../../src/backstore/memory.js');
  const { LogicalUnit } = await import('../../src/scsi/logical-unit.js');
  const { createScsiPort } = await import('../../src/scsi/device-server.js');
  const lu = new LogicalUnit({
    name: 'rbd/disk_1',
    backstore: new MemoryBackingStore('disk_1', 64 * 1024 * 1024),
    wwn: '3d4e5f60-1111-2222-3333-444455556666',
    aluaGroups: () => [{ id: 1, state: 'active-optimized', relativePortIds: [1] }],
  });
  const lunMap = { get: (l: number) => (l === 0 ? lu : undefined), luns: () => [0] };
  const node = reg.findTarget('iqn.2003-01.org.example.gw:target1');
  if (node === undefined) throw new Error('no target');
  reg.findTarget = () => ({ ...node, openPort: (nexus: Nexus) => createScsiPort(nexus, lunMap) });
}
const server = new IscsiServer({ registry: reg, logger: createLogger({ level: process.env.LOG_LEVEL ?? 'info', destination: 2 }) });
await server.listen('127.0.0.1', Number(portArg ?? 0));
const port = server.boundPort('127.0.0.1', Number(portArg ?? 0));
reg.opts.portals = [{ ip: '127.0.0.1', port: port ?? 0, tpgt: 1 }];
process.stdout.write(`listening ${port}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
