/**
 * Where outgoing webhooks may go: the rules, without I/O. An address is public when it is globally
 * routable unicast; everything else (loopback, private, link-local such as the cloud metadata
 * service at 169.254.169.254, carrier-grade NAT, multicast, documentation and reserved ranges…) is
 * refused unless the operator lists it in WEBHOOK_ALLOW_PRIVATE. IPv4-mapped (::ffff:a.b.c.d) and
 * NAT64 (64:ff9b::a.b.c.d) addresses are judged by the IPv4 address they carry. IPv6 is public
 * only inside 2000::/3 (global unicast), minus its special-purpose blocks.
 *
 * Sources: the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and successors).
 */

/** An IP address as bytes: 4 for IPv4, 16 for IPv6. */
export interface Ip {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** What kind of address it is; only "public" receives webhooks without an allow-list entry. */
export type AddressClass =
  "public" | "unspecified" | "loopback" | "private" | "shared" | "link_local" | "multicast" | "broadcast" | "documentation" | "benchmarking" | "reserved";

/** A CIDR block (no host bits set). */
export interface Cidr {
  ip: Ip;
  prefix: number;
}

/**
 * Why an attempt got no 2xx, in coarse words only: never an error message, a host, a port or a
 * duration that would turn the deliveries list into a scanner of the network the worker sits in.
 */
export const DELIVERY_ERRORS = [
  /** The host did not resolve, or resolved to an address that is not public (and not allowed): nothing was sent. */
  "refused_destination",
  /** No connection could be made, or it broke before an answer. */
  "connection_failed",
  /** No answer within the delivery timeout. */
  "timeout",
  /** The TLS handshake failed (certificate, protocol). */
  "tls_error",
  /** An HTTP answer other than 2xx (its status is beside it; redirects are not followed). */
  "http_status",
  /** Not sent: the endpoint was disabled (by the brand, or after a 410 Gone). */
  "endpoint_disabled",
] as const;
export type DeliveryError = (typeof DELIVERY_ERRORS)[number];

const IPV4_PART = /^(?:0|[1-9][0-9]{0,2})$/;

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!IPV4_PART.test(parts[i]!)) return null;
    const value = Number(parts[i]);
    if (value > 255) return null;
    bytes[i] = value;
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | null {
  if (text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (v4 === null) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  // A dotted IPv4 part may only end the address.
  if (halves.length === 2 && halves[0]!.includes(".")) return null;
  let all: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    if (head.length !== 8) return null;
    all = head;
  }
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

/**
 * An IP address in its plain textual form (dotted-quad IPv4 with decimal parts, or IPv6, optionally
 * in brackets as URLs write it); null for anything else (names, zone ids, 0x7f.1 and other forms the
 * WHATWG URL parser has already normalised away).
 */
export function parseIp(text: string): Ip | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (bare.includes(":")) {
    const bytes = parseIpv6(bare);
    return bytes === null ? null : { family: 6, bytes };
  }
  const bytes = parseIpv4(bare);
  return bytes === null ? null : { family: 4, bytes };
}

/** The address in its usual form (IPv4 dotted, IPv6 as eight hex groups). */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) return [...ip.bytes].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((ip.bytes[i]! << 8) | ip.bytes[i + 1]!).toString(16));
  return groups.join(":");
}

function matches(bytes: Uint8Array, prefixBytes: Uint8Array, prefix: number): boolean {
  if (bytes.length !== prefixBytes.length) return false;
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== prefixBytes[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[whole]! & mask) === (prefixBytes[whole]! & mask);
}

type Range = readonly [block: string, prefix: number, kind: Exclude<AddressClass, "public">];

/** Non-public IPv4 blocks, most specific first. */
const IPV4_RANGES: readonly Range[] = [
  ["255.255.255.255", 32, "broadcast"],
  ["0.0.0.0", 8, "unspecified"], // "this network": 0.0.0.0 reaches the host itself
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "shared"], // carrier-grade NAT
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link_local"], // includes cloud metadata services
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "reserved"], // IETF protocol assignments
  ["192.0.2.0", 24, "documentation"],
  ["192.88.99.0", 24, "reserved"], // former 6to4 relay anycast
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["198.51.100.0", 24, "documentation"],
  ["203.0.113.0", 24, "documentation"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved"],
];

/** IPv6 blocks judged on their own (the embedded-IPv4 forms are handled before these). */
const IPV6_RANGES: readonly Range[] = [
  ["::", 128, "unspecified"],
  ["::1", 128, "loopback"],
  ["fe80::", 10, "link_local"],
  ["fc00::", 7, "private"], // unique local
  ["ff00::", 8, "multicast"],
  ["2001:db8::", 32, "documentation"],
  ["3fff::", 20, "documentation"],
  ["2001::", 23, "reserved"], // IETF protocol assignments: Teredo, benchmarking, ORCHID…
  ["2002::", 16, "reserved"], // 6to4: reaches an IPv4 address we would have to judge
];

const compile = (ranges: readonly Range[]) => ranges.map(([block, prefix, kind]) => ({ block: parseIp(block)!.bytes, prefix, kind }));
const V4 = compile(IPV4_RANGES);
const V6 = compile(IPV6_RANGES);
const MAPPED = parseIp("::ffff:0:0")!.bytes;
const NAT64 = parseIp("64:ff9b::")!.bytes;
const GLOBAL_UNICAST = parseIp("2000::")!.bytes;

/** The IPv4 address an IPv4-mapped IPv6 address (::ffff:a.b.c.d) stands for; the address itself otherwise. */
export function unmapped(ip: Ip): Ip {
  return ip.family === 6 && matches(ip.bytes, MAPPED, 96) ? { family: 4, bytes: ip.bytes.slice(12) } : ip;
}

/** What kind of address this is: "public" only for globally routable unicast. */
export function classifyIp(ip: Ip): AddressClass {
  if (ip.family === 4) return V4.find((r) => matches(ip.bytes, r.block, r.prefix))?.kind ?? "public";
  if (matches(ip.bytes, MAPPED, 96) || matches(ip.bytes, NAT64, 96)) return classifyIp({ family: 4, bytes: ip.bytes.slice(12) });
  const special = V6.find((r) => matches(ip.bytes, r.block, r.prefix))?.kind;
  if (special !== undefined) return special;
  return matches(ip.bytes, GLOBAL_UNICAST, 3) ? "public" : "reserved";
}

/** Whether the address lies in the block (an IPv4-mapped address counts as its IPv4 address). */
export function inCidr(ip: Ip, cidr: Cidr): boolean {
  const plain = unmapped(ip);
  return plain.family === cidr.ip.family && matches(plain.bytes, cidr.ip.bytes, cidr.prefix);
}

/** "10.1.0.0/16", "fd00::/8", or one address ("10.1.2.3" = /32, "::1" = /128); an error message otherwise. */
export function parseCidr(text: string): Cidr | string {
  const [address, length, ...extra] = text.trim().split("/");
  const ip = parseIp(address ?? "");
  if (ip === null || extra.length > 0) return `"${text}" is not an IP address or CIDR block`;
  const max = ip.family === 4 ? 32 : 128;
  const prefix = length === undefined ? max : /^[0-9]{1,3}$/.test(length) ? Number(length) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return `"${text}": the prefix length must be 0 to ${max}`;
  const network = unmapped(ip);
  const networkPrefix = prefix - (network.family === ip.family ? 0 : 96);
  if (networkPrefix < 0) return `"${text}": an IPv4-mapped block must be /96 or longer`;
  for (let bit = networkPrefix; bit < network.bytes.length * 8; bit++) {
    if ((network.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return `"${text}" has bits set after the prefix (the block starts elsewhere)`;
  }
  return { ip: network, prefix: networkPrefix };
}

/** A comma-separated list of CIDR blocks (empty: none); the problems found otherwise. */
export function parseCidrList(text: string): { cidrs: Cidr[]; problems: string[] } {
  const cidrs: Cidr[] = [];
  const problems: string[] = [];
  for (const item of text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")) {
    const parsed = parseCidr(item);
    if (typeof parsed === "string") problems.push(parsed);
    else cidrs.push(parsed);
  }
  return { cidrs, problems };
}

/** Whether a webhook may be sent to this address: it is public, or the operator allows its block. */
export function destinationAllowed(ip: Ip, allowPrivate: readonly Cidr[]): boolean {
  return classifyIp(ip) === "public" || allowPrivate.some((cidr) => inCidr(ip, cidr));
}

/** A webhook URL's host: an IP address written in the URL, or a name to resolve. */
export type WebhookHost = { kind: "ip"; ip: Ip } | { kind: "name"; name: string };

/**
 * The checks on a webhook URL that need no DNS: an absolute http(s) URL without credentials. Any
 * port is accepted: what protects the network is the address check, not the port. Returns the
 * normalised URL and its host, or why it is refused.
 */
export function parseWebhookUrl(input: string): { url: URL; host: WebhookHost } | { problem: string } {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return { problem: "not a valid absolute URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { problem: "only http and https URLs can receive webhooks" };
  if (url.username !== "" || url.password !== "")
    return { problem: "must not carry a user name or password (put credentials in the path or verify the signature)" };
  if (url.hostname === "") return { problem: "has no host" };
  // The WHATWG parser has turned 2130706433, 0x7f.1, 0177.0.0.1 and [::ffff:7f00:1] into plain addresses.
  const ip = parseIp(url.hostname);
  return { url, host: ip === null ? { kind: "name", name: url.hostname } : { kind: "ip", ip } };
}
