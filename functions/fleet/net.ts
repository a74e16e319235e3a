// Address, CIDR and DNS-name helpers shared by the schema and the semantic checks.
import { isIPv4, isIPv6 } from "node:net";

export { isIPv4, isIPv6 };

export interface Cidr {
  readonly family: 4 | 6;
  /** Network address as a bigint (host bits zero). */
  readonly network: bigint;
  readonly prefix: number;
  /** Canonical text, e.g. "10.0.0.0/8". */
  readonly text: string;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** RFC 1123 host name: dot-separated labels, 253 chars at most, the last label not all digits. */
export function isDnsName(value: string): boolean {
  // One pass over the characters: allowlists of 100k names and every hostname in a config come through here.
  const end = value.endsWith(".") ? value.length - 1 : value.length;
  if (end === 0 || end > 253) return false;
  let labelStart = 0;
  let allDigits = true;
  for (let i = 0; i < end; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2e) {
      if (!isLabel(value, labelStart, i)) return false;
      labelStart = i + 1;
      allDigits = true;
    } else if (c >= 0x30 && c <= 0x39) {
      // a digit
    } else if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2d) {
      allDigits = false;
    } else {
      // Lowercasing can turn a non-ASCII letter into an ASCII one (the Kelvin sign into "k"): the label rules decide.
      return c >= 0x80 && isDnsNameByLabels(value);
    }
  }
  return isLabel(value, labelStart, end) && !allDigits;
}

/** 1 to 63 characters (already known to be letters, digits and hyphens), no hyphen at either end. */
function isLabel(value: string, start: number, end: number): boolean {
  return end > start && end - start <= 63 && value.charCodeAt(start) !== 0x2d && value.charCodeAt(end - 1) !== 0x2d;
}

function isDnsNameByLabels(value: string): boolean {
  const name = value.endsWith(".") ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.toLowerCase().split(".");
  if (!labels.every((label) => LABEL.test(label))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1]!);
}

export function normalizeDnsName(value: string): string {
  return (value.endsWith(".") ? value.slice(0, -1) : value).toLowerCase();
}

export function ipToBigInt(address: string): { family: 4 | 6; value: bigint } | undefined {
  if (address.includes("%")) return undefined;
  if (isIPv4(address)) {
    const value = address.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
    return { family: 4, value };
  }
  if (isIPv6(address)) {
    let text = address;
    const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4Tail) {
      const v4 = ipToBigInt(v4Tail[1]!)!.value;
      text = text.slice(0, -v4Tail[1]!.length) + ((v4 >> 16n) & 0xffffn).toString(16) + ":" + (v4 & 0xffffn).toString(16);
    }
    const [head, tail] = text.split("::") as [string, string | undefined];
    const headParts = head ? head.split(":") : [];
    const tailParts = tail ? tail.split(":") : [];
    const missing = 8 - headParts.length - tailParts.length;
    const parts = [...headParts, ...Array<string>(tail === undefined ? 0 : missing).fill("0"), ...tailParts];
    const value = parts.reduce((acc, part) => (acc << 16n) | BigInt(parseInt(part, 16)), 0n);
    return { family: 6, value };
  }
  return undefined;
}

function bigIntToIp(family: 4 | 6, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join(".");
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength && j - i > 1) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  if (bestStart < 0) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${groups.slice(bestStart + bestLength).join(":")}`;
}

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string };

/**
 * Parses "a.b.c.d/n", "x::/n" or a bare address (taken as a host route).
 * Host bits must be zero: "10.0.0.1/8" is refused with the network it probably meant.
 */
export function parseCidr(text: string): CidrParse {
  const [address, prefixText, ...rest] = text.split("/");
  if (rest.length > 0 || address === undefined) return { ok: false, reason: "is not an address or CIDR" };
  const ip = ipToBigInt(address);
  if (!ip) return { ok: false, reason: "is not an IPv4/IPv6 address or CIDR" };
  const bits = ip.family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return { ok: false, reason: "has an invalid prefix length" };
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return { ok: false, reason: `has a prefix length above /${bits}` };
  const mask = prefix === 0 ? 0n : ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
  const network = ip.value & mask;
  const canonical = `${bigIntToIp(ip.family, network)}/${prefix}`;
  if (network !== ip.value) return { ok: false, reason: `has host bits set (did you mean ${canonical}?)` };
  return { ok: true, cidr: { family: ip.family, network, prefix, text: canonical } };
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  const bits = outer.family === 4 ? 32 : 128;
  const shift = BigInt(bits - outer.prefix);
  return outer.network >> shift === inner.network >> shift;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** An IPv4 or IPv6 address without a zone id: no daemon we render for takes "fe80::1%eth0". */
export function isIpAddress(value: string): boolean {
  return !value.includes("%") && (isIPv4(value) || isIPv6(value));
}

/**
 * An IPv6 address in its RFC 5952 text (lowercase, longest zero run as "::"), anything else unchanged. NGINX parses
 * addresses itself and refuses some valid forms ("0:0:0:0:0:0:0::" is "::"); the URL serializer compresses by RFC 5952.
 */
export function canonicalAddress(address: string): string {
  if (!isIpAddress(address) || !address.includes(":")) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** Node's isIPv6 accepts a zone id ("fe80::1%eth0"); the schema names it in its own message. */
export function hasZoneId(value: string): boolean {
  return value.includes("%") && isIPv6(value);
}

const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"].map(
  (text) => (parseCidr(text) as { ok: true; cidr: Cidr }).cidr,
);

/** RFC 1918, RFC 6598 (shared address space) and IPv6 unique local addresses: what NLB IP targets may be. */
export function isPrivateAddress(address: string): boolean {
  if (isIPv4(address)) {
    // Fast path for the common case: the DNS loop checks every resolved address.
    const [a, b] = address.split(".").map(Number) as [number, number];
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  const parsed = parseCidr(address);
  return parsed.ok && PRIVATE_RANGES.some((range) => cidrContains(range, parsed.cidr));
}
