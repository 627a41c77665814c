/**
 * Which addresses the SFU may send ICE connectivity checks to (issue 13, item 15).
 *
 * An ICE agent that checks connectivity (werift is a full agent; mediasoup is ICE-lite and only
 * answers) sends STUN requests to every candidate the other side names. Unfiltered, any
 * participant could make the server probe addresses of its own network: loopback services,
 * private hosts, link-local ones, and the cloud metadata service at 169.254.169.254. So a named
 * candidate is only checked when its address is on the allow-list (RTC_ALLOWED_CANDIDATES):
 * by default public addresses and loopback (the embedded demo and the tests run on one machine).
 *
 * Peer-reflexive candidates are always allowed: they are the source addresses of STUN checks that
 * already reached us with the session's credentials, so answering them probes nothing new. That is
 * also how clients on a private LAN still connect with private ranges off: their checks arrive
 * from their private addresses and become peer-reflexive candidates.
 */
import { BlockList, isIP } from 'node:net';

/** Named address classes RTC_ALLOWED_CANDIDATES accepts besides CIDRs and single addresses. */
export const CANDIDATE_CLASSES = ['public', 'loopback', 'private', 'link-local'] as const;
export type CandidateClass = (typeof CANDIDATE_CLASSES)[number];

export const DEFAULT_ALLOWED_CANDIDATES = 'public,loopback';

type Range = [address: string, prefix: number, family: 'ipv4' | 'ipv6'];

const RANGES: Record<Exclude<CandidateClass, 'public'>, Range[]> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  // RFC 1918, carrier-grade NAT (RFC 6598) and IPv6 unique local addresses.
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['100.64.0.0', 10, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
  // Includes the cloud metadata address 169.254.169.254.
  'link-local': [
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
  ],
};

/** Never public: unspecified, "this network", multicast, reserved, documentation and benchmarking ranges. */
const NOT_PUBLIC: Range[] = [
  ...RANGES.loopback,
  ...RANGES.private,
  ...RANGES['link-local'],
  ['0.0.0.0', 8, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['64:ff9b:1::', 48, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

function blockList(ranges: Range[]): BlockList {
  const b = new BlockList();
  for (const [addr, prefix, family] of ranges) b.addSubnet(addr, prefix, family);
  return b;
}

const notPublic = blockList(NOT_PUBLIC);

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged as the IPv4 address it carries. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const v = isIP(address);
  if (v === 4) return { address, family: 'ipv4' };
  if (v !== 6) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? { address: mapped[1]!, family: 'ipv4' } : { address, family: 'ipv6' };
}

export interface CandidatePolicy {
  /** Whether a candidate the other side named, at this address, may be checked. */
  allows(address: string): boolean;
  /** The list as configured, for logs. */
  readonly text: string;
}

/**
 * Parses an allow-list: comma-separated `public`, `loopback`, `private`, `link-local`, CIDRs
 * (`10.1.0.0/16`, `fd00::/8`) or single addresses. Throws with the offending entry.
 */
export function parseCandidatePolicy(text: string): CandidatePolicy {
  const entries = text.split(',').map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('the list is empty (use "public" to allow public addresses only)');
  const allowed = new BlockList();
  let allowPublic = false;
  for (const entry of entries) {
    if (entry === 'public') {
      allowPublic = true;
    } else if (entry in RANGES) {
      for (const [addr, prefix, family] of RANGES[entry as keyof typeof RANGES]) allowed.addSubnet(addr, prefix, family);
    } else {
      const [addr, prefixText, extra] = entry.split('/');
      const n = addr ? normalise(addr) : undefined;
      const max = n?.family === 'ipv4' ? 32 : 128;
      const prefix = prefixText === undefined ? max : Number(prefixText);
      if (!n || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
        throw new Error(`"${entry}" is not one of ${CANDIDATE_CLASSES.join(', ')}, an IP address or a CIDR`);
      }
      allowed.addSubnet(n.address, prefix, n.family);
    }
  }
  return {
    text: entries.join(','),
    allows(address: string): boolean {
      const n = normalise(address);
      // Hostnames (an unresolved mDNS name, anything else) are never checked.
      if (!n) return false;
      if (allowed.check(n.address, n.family)) return true;
      return allowPublic && !notPublic.check(n.address, n.family);
    },
  };
}
