import type * as NetModule from 'node:net';
import type { LookupFunction } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { ConfigError, SecurityError } from '../errors.ts';

/**
 * What an IP address is, for deciding whether a download may connect to it. Only `public` is
 * reachable by default; `allowPrivateNetworks` adds the kinds in PRIVATE_KINDS. `metadata`,
 * `unspecified`, `multicast` and `reserved` are never reachable unless the host is allowed by name.
 */
export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

export interface AddressClass {
  kind: AddressKind;
  family: 4 | 6;
  /** The IPv4 address carried inside an IPv6 one (mapped, compatible, NAT64, 6to4), when there is one. */
  embeddedIPv4?: string;
}

/** Kinds that `allowPrivateNetworks` makes reachable: the machine itself and the networks around it. */
const PRIVATE_KINDS: ReadonlySet<AddressKind> = new Set(['loopback', 'private', 'link-local', 'shared']);

interface Range {
  bytes: Uint8Array;
  prefix: number;
  kind: AddressKind;
}

/**
 * The ranges, parsed on first use: parsing them at import compiled node:net's IPv6 pattern and
 * cost a library import about 15 ms that a program which never fetches a URL has no use for.
 */
interface Ranges {
  ipv4: readonly Range[];
  ipv6: readonly Range[];
  embedding: readonly { range: Range; offset: number }[];
  globalUnicastV6: Range;
}

let parsed: Ranges | undefined;

function ranges(): Ranges {
  return parsed ??= { ipv4: IPV4_RANGES.map(parseRange), ipv6: IPV6_RANGES.map(parseRange), embedding: EMBEDDING.map(({ cidr, offset }) => ({ range: range(cidr, 'reserved'), offset })), globalUnicastV6: range('2000::/3', 'public') };
}

function parseRange([cidr, kind]: readonly [string, AddressKind]): Range {
  return range(cidr, kind);
}

/** First match wins: the specific metadata addresses come before the ranges that contain them. */
const IPV4_RANGES: readonly (readonly [string, AddressKind])[] = [
  ['169.254.169.254/32', 'metadata'], // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack instance metadata
  ['169.254.169.253/32', 'metadata'], // AWS VPC DNS
  ['169.254.170.2/32', 'metadata'], // AWS ECS task metadata and credentials
  ['100.100.100.200/32', 'metadata'], // Alibaba Cloud
  ['192.0.0.192/32', 'metadata'], // Oracle Cloud (classic)
  ['0.0.0.0/8', 'unspecified'], // "this network": 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared'], // carrier-grade NAT
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'reserved'], // documentation
  ['192.88.99.0/24', 'reserved'], // 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'], // benchmarking
  ['198.51.100.0/24', 'reserved'], // documentation
  ['203.0.113.0/24', 'reserved'], // documentation
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'], // future use, and 255.255.255.255 broadcast
];

const IPV6_RANGES: readonly (readonly [string, AddressKind])[] = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fd00:ec2::254/128', 'metadata'], // AWS instance metadata over IPv6
  ['64:ff9b:1::/48', 'private'], // local-use NAT64
  ['100::/64', 'reserved'], // discard
  ['2001::/23', 'reserved'], // IETF protocol assignments, Teredo included
  ['2001:db8::/32', 'reserved'], // documentation
  ['3fff::/20', 'reserved'], // documentation
  ['5f00::/16', 'reserved'], // segment routing
  ['fc00::/7', 'private'], // unique local
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'], // site local (deprecated)
  ['ff00::/8', 'multicast'],
];

/** IPv6 prefixes that carry an IPv4 address, and where: such an address is what the IPv4 inside it is. */
const EMBEDDING: readonly { cidr: string; offset: number }[] = [
  { cidr: '::ffff:0:0/96', offset: 12 }, // IPv4-mapped
  { cidr: '::/96', offset: 12 }, // IPv4-compatible (deprecated)
  { cidr: '64:ff9b::/96', offset: 12 }, // NAT64
  { cidr: '2002::/16', offset: 2 }, // 6to4
];

/**
 * Classify an IP address (IPv4 dotted quad or IPv6, with or without brackets or a zone). Returns
 * undefined for anything that is not an IP address. IPv6 forms that carry an IPv4 address
 * (`::ffff:7f00:1`, `64:ff9b::a00:1`, `2002:a9fe:a9fe::`) are classified by the IPv4 inside.
 */
export function classifyAddress(address: string): AddressClass | undefined {
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const { ipv4, ipv6, embedding, globalUnicastV6 } = ranges();
  const v4 = ipv4Bytes(text);
  if (v4) return { kind: match(ipv4, v4) ?? 'public', family: 4 };
  const v6 = ipv6Bytes(text);
  if (!v6) return undefined;
  const direct = match(ipv6, v6);
  if (direct) return { kind: direct, family: 6 };
  for (const { range: r, offset } of embedding) {
    if (inRange(r, v6)) {
      const inner = v6.subarray(offset, offset + 4);
      return { kind: match(ipv4, inner) ?? 'public', family: 6, embeddedIPv4: inner.join('.') };
    }
  }
  // Outside 2000::/3 nothing is allocated for global unicast: refuse it rather than guess.
  return { kind: inRange(globalUnicastV6, v6) ? 'public' : 'reserved', family: 6 };
}

/** Whether a connection to an address of this kind is permitted. */
export function isKindAllowed(kind: AddressKind, allowPrivateNetworks: boolean): boolean {
  return kind === 'public' || (allowPrivateNetworks && PRIVATE_KINDS.has(kind));
}

/** The IP address a URL names directly (`127.0.0.1`, `::1`), or undefined when it names a host. */
export function ipLiteral(url: URL): string | undefined {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return net().isIPv4(host) || net().isIPv6(host) ? host : undefined;
}

/** Resolves a host name to every address it has. The default is the system resolver (getaddrinfo). */
export type HostResolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: HostResolver = (hostname) => process.getBuiltinModule('node:dns/promises').lookup(hostname, { all: true, order: 'verbatim' });

/**
 * A `lookup` for net/http/https that resolves the name, passes every address to `check` (which
 * throws to refuse) and hands the connection exactly the addresses that were checked. Because the
 * socket connects to what this function returns, a name cannot resolve to one address for the
 * check and another for the connection (DNS rebinding).
 */
export function guardedLookup(check: (address: string) => void, resolver: HostResolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    resolver(hostname)
      .then((found) => {
        const addresses = found.filter((a) => family === 0 || a.family === family);
        if (addresses.length === 0) {
          const error: NodeJS.ErrnoException = new Error(`${hostname} has no ${family === 0 ? '' : `IPv${family} `}address`);
          error.code = 'ENOTFOUND';
          throw error;
        }
        // Every address, not only the first: the connection may try each of them in turn.
        for (const { address } of addresses) check(address);
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      })
      .catch((error: NodeJS.ErrnoException) => callback(error, ''));
  };
}

export interface AllowedHost {
  /** As `URL.hostname` writes it: lowercase, IPv4 normalised, IPv6 in brackets. */
  hostname: string;
  /** Undefined: any port. */
  port?: number;
}

/**
 * Parse `allowHosts` entries: `host`, `host:port`, `[v6]`, `[v6]:port`. Host names are compared as
 * the URL parser normalises them, so `2130706433` and `127.0.0.1` are one entry.
 */
export function parseAllowedHosts(entries: readonly string[], path = 'allowHosts'): AllowedHost[] {
  return entries.map((entry, i) => {
    const where = `${path}[${i}]`;
    const found = /^(\[[0-9A-Fa-f:.]+\]|[^:/[\]*@?#\s]+)(?::(\d{1,5}))?$/.exec(typeof entry === 'string' ? entry.trim() : '');
    if (!found) {
      throw new ConfigError(`${where}: "${String(entry)}" is not a host or host:port (no scheme, path or wildcard; IPv6 in brackets)`);
    }
    let hostname: string;
    try {
      hostname = withoutTrailingDot(new URL(`http://${found[1]}`).hostname);
    } catch (error) {
      throw new ConfigError(`${where}: "${entry}" is not a valid host name`, { cause: error });
    }
    const port = found[2] === undefined ? undefined : Number(found[2]);
    if (port !== undefined && (port < 1 || port > 65535)) throw new ConfigError(`${where}: port ${port} is out of range`);
    return { hostname, ...(port === undefined ? {} : { port }) };
  });
}

/** Whether a URL's host (and port, where the entry names one) is on the list. */
export function isHostAllowed(url: URL, allowed: readonly AllowedHost[]): boolean {
  const hostname = withoutTrailingDot(url.hostname);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return allowed.some((entry) => entry.hostname === hostname && (entry.port === undefined || entry.port === port));
}

/**
 * Throw a SecurityError unless a connection to `address` is permitted: a public address, or a
 * private one when private networks are allowed. The message names the URL's host, never what the
 * address answered.
 */
export function assertAddressAllowed(address: string, host: string, allowPrivateNetworks: boolean): void {
  const found = classifyAddress(address);
  if (!found) throw new SecurityError(`${host} resolved to "${address}", which is not an IP address`, { details: { host } });
  if (isKindAllowed(found.kind, allowPrivateNetworks)) return;
  const hint = PRIVATE_KINDS.has(found.kind) ? '; allow the host (allowHosts) or private networks (allowPrivateNetworks) to permit it' : '';
  throw new SecurityError(`refusing to connect to ${host}: ${address} is a ${found.kind} address${hint}`, { details: { host, address, kind: found.kind, reason: 'address_not_allowed' } });
}

function withoutTrailingDot(hostname: string): string {
  return hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
}

function range(cidr: string, kind: AddressKind): Range {
  const [address, bits] = cidr.split('/') as [string, string];
  const bytes = ipv4Bytes(address) ?? ipv6Bytes(address);
  if (!bytes) throw new Error(`bad range ${cidr}`);
  return { bytes, prefix: Number(bits), kind };
}

function match(ranges: readonly Range[], bytes: Uint8Array): AddressKind | undefined {
  return ranges.find((r) => inRange(r, bytes))?.kind;
}

function inRange(r: Range, bytes: Uint8Array): boolean {
  if (r.bytes.length !== bytes.length) return false;
  const whole = r.prefix >> 3;
  for (let i = 0; i < whole; i++) if (r.bytes[i] !== bytes[i]) return false;
  const rest = r.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((r.bytes[whole]! ^ bytes[whole]!) & mask) === 0;
}

/** Strict dotted-quad IPv4 (the URL parser has already turned `0x7f.1` and `2130706433` into this form). */
function ipv4Bytes(text: string): Uint8Array | undefined {
  if (!net().isIPv4(text)) return undefined;
  return Uint8Array.from(text.split('.').map(Number));
}

function ipv6Bytes(address: string): Uint8Array | undefined {
  const text = address.replace(/%.*$/, '');
  if (!net().isIPv6(text)) return undefined;
  const bytes = new Uint8Array(16);
  let body = text;
  const lastColon = text.lastIndexOf(':');
  const dotted = text.includes('.') ? text.slice(lastColon + 1) : undefined;
  if (dotted !== undefined) body = `${text.slice(0, lastColon + 1)}0:0`;
  const [left = '', right] = body.split('::') as [string, string | undefined];
  const head = left === '' ? [] : left.split(':');
  const tail = right === undefined || right === '' ? [] : right.split(':');
  const groups = right === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  if (groups.length !== 8) return undefined;
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  if (dotted !== undefined) bytes.set(dotted.split('.').map(Number), 12);
  return bytes;
}

/** node:net (and node:dns/promises above) load with the first address checked, not with the package. */
function net(): typeof NetModule {
  return process.getBuiltinModule('node:net');
}
