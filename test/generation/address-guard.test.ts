import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAddress } from '../../src/index.ts';
import type { AddressKind } from '../../src/index.ts';
import { assertAddressAllowed, guardedLookup, ipLiteral, isHostAllowed, isKindAllowed, parseAllowedHosts } from '../../src/generation/address-guard.ts';
import { ConfigError, SecurityError } from '../../src/errors.ts';

const ADDRESSES: [string, AddressKind][] = [
  // IPv4
  ['8.8.8.8', 'public'],
  ['93.184.216.34', 'public'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['10.0.0.1', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.1', 'public'],
  ['192.168.1.1', 'private'],
  ['100.64.0.1', 'shared'],
  ['100.127.255.255', 'shared'],
  ['100.128.0.1', 'public'],
  ['169.254.0.1', 'link-local'],
  ['169.254.169.254', 'metadata'],
  ['169.254.170.2', 'metadata'],
  ['100.100.100.200', 'metadata'],
  ['192.0.0.192', 'metadata'],
  ['192.0.2.1', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.255', 'reserved'],
  // IPv6
  ['2606:4700:4700::1111', 'public'],
  ['2001:4860:4860::8888', 'public'],
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['fc00::1', 'private'],
  ['fd12:3456:789a::1', 'private'],
  ['fd00:ec2::254', 'metadata'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf::1', 'link-local'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  ['2001:db8::1', 'reserved'],
  ['2001::1', 'reserved'], // Teredo
  ['100::1', 'reserved'],
  ['4000::1', 'reserved'], // outside global unicast
  // IPv4 inside IPv6
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
  ['::ffff:169.254.169.254', 'metadata'],
  ['::ffff:a9fe:a9fe', 'metadata'],
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:8.8.8.8', 'public'],
  ['::127.0.0.1', 'loopback'], // IPv4-compatible
  ['64:ff9b::7f00:1', 'loopback'], // NAT64
  ['64:ff9b::808:808', 'public'],
  ['2002:7f00:1::', 'loopback'], // 6to4
  ['2002:a9fe:a9fe::1', 'metadata'],
  ['2002:808:808::1', 'public'],
];

describe('address classification', () => {
  for (const [address, kind] of ADDRESSES) {
    it(`${address} is ${kind}`, () => {
      assert.equal(classifyAddress(address)?.kind, kind);
    });
  }

  it('is undefined for what is not an IP address', () => {
    for (const text of ['localhost', 'example.com', '127.1', '0x7f000001', '2130706433', '1.2.3.4.5', '::ffff:999.0.0.1', '']) {
      assert.equal(classifyAddress(text), undefined, text);
    }
  });

  it('names the IPv4 address carried inside an IPv6 one', () => {
    assert.deepEqual(classifyAddress('::ffff:7f00:1'), { kind: 'loopback', family: 6, embeddedIPv4: '127.0.0.1' });
    assert.deepEqual(classifyAddress('2002:a9fe:a9fe::'), { kind: 'metadata', family: 6, embeddedIPv4: '169.254.169.254' });
  });

  it('sees through the decimal, octal, hex and mapped forms URLs may use', () => {
    const cases: [string, AddressKind][] = [
      ['http://2130706433/', 'loopback'],
      ['http://0x7f.1/', 'loopback'],
      ['http://0x7f000001/', 'loopback'],
      ['http://017700000001/', 'loopback'],
      ['http://0177.0.0.1/', 'loopback'],
      ['http://127.1/', 'loopback'],
      ['http://0/', 'unspecified'],
      ['http://[::ffff:7f00:1]/', 'loopback'],
      ['http://[::ffff:127.0.0.1]/', 'loopback'],
      ['http://[0:0:0:0:0:ffff:7f00:1]/', 'loopback'],
      ['http://[::1]:8080/', 'loopback'],
      ['http://[::]/', 'unspecified'],
      ['http://2852039166/', 'metadata'], // 169.254.169.254
      ['http://0xa9.0xfe.0xa9.0xfe/', 'metadata'],
      ['http://0251.0376.0251.0376/', 'metadata'],
      ['http://169.254.43518/', 'metadata'],
      ['http://[::ffff:a9fe:a9fe]/', 'metadata'],
      ['http://10.0.0.1./', 'private'],
      ['http://8.8.8.8/', 'public'],
    ];
    for (const [url, kind] of cases) {
      const literal = ipLiteral(new URL(url));
      assert.ok(literal !== undefined, `${url} names an address`);
      assert.equal(classifyAddress(literal)?.kind, kind, url);
    }
    assert.equal(ipLiteral(new URL('http://localhost/')), undefined);
    assert.equal(ipLiteral(new URL('http://example.com./')), undefined);
  });

  it('permits public addresses, and private networks only when allowed; metadata never', () => {
    assert.equal(isKindAllowed('public', false), true);
    for (const kind of ['loopback', 'private', 'link-local', 'shared'] as const) {
      assert.equal(isKindAllowed(kind, false), false, kind);
      assert.equal(isKindAllowed(kind, true), true, kind);
    }
    for (const kind of ['metadata', 'unspecified', 'multicast', 'reserved'] as const) assert.equal(isKindAllowed(kind, true), false, kind);
    assert.throws(() => assertAddressAllowed('169.254.169.254', 'evil.example', true), (e: unknown) => e instanceof SecurityError && e.details.kind === 'metadata' && e.message.includes('evil.example'));
    assert.doesNotThrow(() => assertAddressAllowed('192.168.0.10', 'nas.lan', true));
  });
});

describe('allowed hosts', () => {
  it('parses host and host:port entries, normalised as URLs write them', () => {
    assert.deepEqual(parseAllowedHosts(['Example.COM', 'models.example.com:8443', '127.0.0.1:9000', '[::1]:80', '2130706433', 'host.internal.']), [
      { hostname: 'example.com' },
      { hostname: 'models.example.com', port: 8443 },
      { hostname: '127.0.0.1', port: 9000 },
      { hostname: '[::1]', port: 80 },
      { hostname: '127.0.0.1' },
      { hostname: 'host.internal' },
    ]);
  });

  it('refuses entries that are not a host', () => {
    for (const entry of ['http://example.com', 'example.com/path', '*.example.com', '::1', 'a:b:c', 'host:0', 'host:99999', 'user@host', '']) {
      assert.throws(() => parseAllowedHosts([entry]), (e: unknown) => e instanceof ConfigError && e.message.includes('allowHosts[0]'), entry);
    }
  });

  it('matches the host, and the port when the entry names one', () => {
    const allowed = parseAllowedHosts(['cdn.example.com', 'api.example.com:8443', '[::1]:3000']);
    assert.equal(isHostAllowed(new URL('https://cdn.example.com/a.png'), allowed), true);
    assert.equal(isHostAllowed(new URL('http://CDN.example.com.:81/a.png'), allowed), true);
    assert.equal(isHostAllowed(new URL('https://api.example.com:8443/'), allowed), true);
    assert.equal(isHostAllowed(new URL('https://api.example.com/'), allowed), false);
    assert.equal(isHostAllowed(new URL('http://[::1]:3000/'), allowed), true);
    assert.equal(isHostAllowed(new URL('http://[::1]:3001/'), allowed), false);
    assert.equal(isHostAllowed(new URL('https://evil.cdn.example.com/'), allowed), false);
    assert.equal(isHostAllowed(new URL('https://cdn.example.com.evil.net/'), allowed), false);
  });
});

describe('guarded DNS lookup', () => {
  const lookup = (resolved: { address: string; family: number }[], options: { all?: boolean; family?: number } = {}) => new Promise<{ error: Error | null; address: unknown; family?: number }>((resolve) => {
    const guarded = guardedLookup((address) => assertAddressAllowed(address, 'host.example', false), async () => resolved);
    guarded('host.example', options, (error, address, family) => resolve({ error, address, ...(family === undefined ? {} : { family }) }));
  });

  it('hands over exactly the checked addresses, in both calling shapes', async () => {
    const both = [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }];
    assert.deepEqual(await lookup(both, { all: true }), { error: null, address: both });
    assert.deepEqual(await lookup(both), { error: null, address: '93.184.216.34', family: 4 });
    assert.deepEqual(await lookup(both, { family: 6 }), { error: null, address: '2606:2800:220:1::1', family: 6 });
  });

  it('refuses when any address is not allowed (the connection may try each)', async () => {
    const result = await lookup([{ address: '93.184.216.34', family: 4 }, { address: '::ffff:10.0.0.5', family: 6 }], { all: true });
    assert.ok(result.error instanceof SecurityError);
    assert.match(result.error.message, /private/);
  });

  it('reports a name without addresses as ENOTFOUND', async () => {
    const result = await lookup([{ address: '93.184.216.34', family: 4 }], { family: 6 });
    assert.equal((result.error as NodeJS.ErrnoException).code, 'ENOTFOUND');
  });
});
