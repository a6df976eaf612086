import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  humanSize,
  normalizeIpAddress,
  normalizeIqn,
  parseSize,
  validChapCredentials,
  validGroupName,
  validImageName,
  validIpAddress,
  validIqn,
  validPoolName,
  validSize,
  validSnapshotName,
} from '../../../src/config/validate.js';
import { GatewayError } from '../../../src/util/errors.js';

test('normalizeIqn: lowercases and trims valid IQNs (rtslib normalize_wwn)', () => {
  assert.equal(normalizeIqn('iqn.2003-01.com.redhat.iscsi-gw:ceph-igw'), 'iqn.2003-01.com.redhat.iscsi-gw:ceph-igw');
  assert.equal(normalizeIqn('  IQN.1994-05.COM.RedHat:RH7-Client '), 'iqn.1994-05.com.redhat:rh7-client');
  assert.equal(normalizeIqn('iqn.2022-12.io.cloud-atlas.iscsi-gw:iscsi-igw'), 'iqn.2022-12.io.cloud-atlas.iscsi-gw:iscsi-igw');
  assert.equal(normalizeIqn('iqn.1989-06.io.cloud-atlas:libvirt-client'), 'iqn.1989-06.io.cloud-atlas:libvirt-client');
});

test('normalizeIqn: rejects what rtslib rejects, with ERR_CONFIG_INVALID_IQN', () => {
  const bad = [
    '',
    'iqn',
    'iqn.2003-01.com', // needs ".x.y" after the date: only one dot
    'iqn.03-01.com.redhat:x', // 4-digit year
    'iqn.2003-21.com.redhat:x', // month first digit 0/1
    'iqn.2003-1.com.redhat:x',
    'iqn.2003-01.com.red hat:x', // space
    'iqn.2003-01.com.redhat:my_client', // underscore
    'naa.5001405abcdef012', // only iqn accepted (as upstream)
    'eui.0123456789abcdef',
    'iqn.2003-01.com.redhat:x\u0001',
    `iqn.2003-01.com.redhat:${'a'.repeat(220)}`, // > 223 bytes (RFC 7143 §4.2.7.1)
  ];
  for (const s of bad) {
    assert.throws(() => normalizeIqn(s), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_CONFIG_INVALID_IQN' && e.message === 'WWN not valid as: iqn', s);
    assert.equal(validIqn(s), false, s);
  }
  assert.throws(() => normalizeIqn(undefined as unknown as string), { code: 'ERR_CONFIG_INVALID_IQN' });
});

test('validChapCredentials: upstream messages in upstream order', () => {
  const cases: Array<[Parameters<typeof validChapCredentials>[0], string | null]> = [
    [{}, null],
    [{ username: '', password: '', mutual_username: '', mutual_password: '' }, null],
    [{ username: 'myusername', password: 'mypassword12' }, null],
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'mytgtusername', mutual_password: 'mytgtpassword' }, null],
    [{ username: 'myusername' }, 'Password is required'],
    [{ password: 'mypassword12' }, 'Username is required'],
    [{ mutual_username: 'mytgtusername', mutual_password: 'mytgtpassword' }, 'Username is required'],
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'mytgtusername' }, 'Mutual password is required'],
    [{ username: 'myusername', password: 'mypassword12', mutual_password: 'mytgtpassword' }, 'Mutual username is required'],
    [{ username: 'short', password: 'mypassword12' }, 'Minimum length of username is 8 characters'],
    [{ username: 'u'.repeat(65), password: 'mypassword12' }, 'Maximum length of username is 64 characters'],
    [{ username: 'bad user!', password: 'mypassword12' }, 'Invalid username'],
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'short', mutual_password: 'mytgtpassword' }, 'Minimum length of mutual username is 8 characters'],
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'm'.repeat(65), mutual_password: 'mytgtpassword' }, 'Maximum length of mutual username is 64 characters'],
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'bad user!', mutual_password: 'mytgtpassword' }, 'Invalid mutual username'],
    [{ username: 'myusername', password: 'short' }, 'Minimum length of password is 12 characters'],
    [{ username: 'myusername', password: 'p'.repeat(17) }, 'Maximum length of password is 16 characters'],
    [{ username: 'myusername', password: 'bad.password' }, 'Invalid password'], // '.' not allowed in passwords
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'mytgtusername', mutual_password: 'short' }, 'Minimum length of mutual password is 12 characters'],
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'mytgtusername', mutual_password: 'p'.repeat(17) }, 'Maximum length of mutual password is 16 characters'],
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'mytgtusername', mutual_password: 'bad password' }, 'Invalid mutual password'],
    // docs: "For mutual CHAP, initiator and target usernames and passwords must not be the same."
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'myusername', mutual_password: 'mytgtpassword' }, 'Mutual username must not be the same as the username'],
    [{ username: 'myusername', password: 'mypassword12', mutual_username: 'mytgtusername', mutual_password: 'mypassword12' }, 'Mutual password must not be the same as the password'],
  ];
  for (const [creds, want] of cases) assert.equal(validChapCredentials(creds), want, JSON.stringify(creds));
});

test('CHAP character sets: usernames allow . : @ _ -, passwords allow @ - _ /', () => {
  assert.equal(validChapCredentials({ username: 'a.b:c@d_e-f', password: 'Ab1@-_/xyz99' }), null);
  assert.equal(validChapCredentials({ username: 'user/name', password: 'mypassword12' }), 'Invalid username');
  assert.equal(validChapCredentials({ username: 'myusername', password: 'pass:word1234' }), 'Invalid password');
  assert.equal(validChapCredentials({ username: 'myusérname', password: 'mypassword12' }), 'Invalid username');
  // exact boundaries
  assert.equal(validChapCredentials({ username: 'u'.repeat(8), password: 'p'.repeat(12) }), null);
  assert.equal(validChapCredentials({ username: 'u'.repeat(64), password: 'p'.repeat(16) }), null);
});

test('pool and image names: ^[a-zA-Z0-9\\-_.]+$', () => {
  for (const ok of ['rbd', 'disk_1', 'my-pool.2', 'A', '...']) {
    assert.equal(validPoolName(ok), true, ok);
    assert.equal(validImageName(ok), true, ok);
  }
  for (const bad of ['', 'a b', 'a/b', 'a@b', 'é', 'x\n']) {
    assert.equal(validPoolName(bad), false, JSON.stringify(bad));
    assert.equal(validImageName(bad), false, JSON.stringify(bad));
  }
});

test('parseSize: integer + M/G/T (binary), case-insensitive; nothing else', () => {
  assert.equal(parseSize('1M'), 1024 ** 2);
  assert.equal(parseSize('10G'), 10 * 1024 ** 3);
  assert.equal(parseSize('2t'), 2 * 1024 ** 4);
  assert.equal(parseSize('1g'), 1024 ** 3);
  assert.equal(parseSize(' 3G '), 3 * 1024 ** 3);
  for (const bad of ['', 'G', '10', '10K', '1.5G', '-1G', '10GB', '10 G', 'abc', '0x10G', '99999999999T']) {
    assert.throws(() => parseSize(bad), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_CONFIG_INVALID_SIZE' && e.message === 'Size is invalid', bad);
    assert.equal(validSize(bad), false, bad);
  }
  assert.equal(parseSize('4096', { allowBytes: true }), 4096);
  assert.equal(validSize('1G'), true);
});

test('humanSize matches ceph-iscsi human_size', () => {
  assert.equal(humanSize(1024 ** 3), '1G');
  assert.equal(humanSize(1536), '1536b');
  assert.equal(humanSize(5 * 1024), '5K');
  assert.equal(humanSize(1.5 * 1024 ** 4), '1536G');
  assert.equal(humanSize(3 * 1024 ** 4), '3.0T');
  assert.equal(humanSize(0), '0.00Y');
});

test('snapshot and group names', () => {
  assert.equal(validSnapshotName('snap-1 (before upgrade)'), true);
  assert.equal(validSnapshotName(''), false);
  assert.equal(validSnapshotName('a/b'), false);
  assert.equal(validSnapshotName('a@b'), false);
  assert.equal(validGroupName('grp1'), true);
  assert.equal(validGroupName('a@b-c_d'), true);
  assert.equal(validGroupName('g'.repeat(32)), true);
  assert.equal(validGroupName('g'.repeat(33)), false);
  assert.equal(validGroupName(''), false);
  assert.equal(validGroupName('a.b'), false);
  assert.equal(validGroupName('a b'), false);
});

test('IP addresses: brackets stripped from IPv6 literals (normalize_ip_address)', () => {
  assert.equal(normalizeIpAddress('[fe80::1]'), 'fe80::1');
  assert.equal(normalizeIpAddress('10.0.0.1'), '10.0.0.1');
  for (const ok of ['10.0.0.1', '::1', '[2001:db8::5]', '192.168.122.69', 'fe80::1%eth0']) assert.equal(validIpAddress(ok), true, ok);
  for (const bad of ['', 'gw1.example.com', '10.0.0.256', '10.0.0.1:3260', '[10.0.0.1']) assert.equal(validIpAddress(bad), false, bad);
});
