/**
 * Events, per-bottle links and Merkle leaves, as docs/PROOF-FORMAT.md defines them byte by byte:
 *   eventHash = keccak256(JCS(event))
 *   link      = { serial, n, event: eventHash, prev }   (prev = ZERO_HASH for n = 1)
 *   linkHash  = keccak256(JCS(link))
 *   leaf      = keccak256(linkHash bytes)
 */
import { fromHex, hashCanonical, keccak256, toHex, ZERO_HASH, type Hash, type Json } from "./hash.ts";

/**
 * An event as the service builds it: `type`, `codes` (the bottles it names) and `salt` always; the
 * rest is the service's. Format 1 stored and hashed it as it is; format 2 stores its commitment form
 * (`commitEvent` in core/commitments.ts), which names no serial.
 */
export interface CanonicalEvent {
  type: string;
  codes: string[];
  salt: string;
  [field: string]: Json;
}

export interface Link {
  serial: string;
  n: number;
  event: Hash;
  prev: Hash;
}

/** The hash of an event as stored (a format-1 `CanonicalEvent`, or its format-2 commitment form). */
export function eventHash(event: { readonly [field: string]: Json }): Hash {
  return hashCanonical(event);
}

export function linkHash(link: Link): Hash {
  const { serial, n, event, prev } = link;
  // A link's JCS written out, keys in their sorted order (every link written costs one; ingest writes
  // thousands a second): the very bytes canonicalJson gives (test/core/links.test.ts), whose checks
  // (finite numbers, no lone surrogates) any other link still goes through.
  if (typeof n === "number" && Number.isFinite(n) && jsonSafe(serial) && jsonSafe(event) && jsonSafe(prev)) {
    return toHex(keccak256(encoder.encode(`{"event":${JSON.stringify(event)},"n":${n},"prev":${JSON.stringify(prev)},"serial":${JSON.stringify(serial)}}`)));
  }
  return hashCanonical({ serial, n, event, prev });
}

const encoder = new TextEncoder();

/**
 * A string whose JCS form is JSON.stringify's (RFC 8785 §3.2.2.2): any string without lone surrogates.
 * False where String.prototype.isWellFormed (ES2024) is missing, as in the older WebViews the
 * consumer page's self-check runs in: callers then take the general path.
 */
export const jsonSafe = (value: unknown): value is string => typeof value === "string" && typeof value.isWellFormed === "function" && value.isWellFormed();

export function leafOf(linkHashHex: Hash): Hash {
  return toHex(keccak256(fromHex(linkHashHex)));
}

/**
 * The link that follows `previous` for `event`, or, when `previous` is null, the chain's first link,
 * whose `prev` is the chain's genesis (core/commitments.ts; ZERO_HASH for a format-1 chain).
 */
export function nextLink(serial: string, event: Hash, previous: { n: number; linkHash: Hash } | null, genesis: Hash = ZERO_HASH): Link {
  return previous === null ? { serial, n: 1, event, prev: genesis } : { serial, n: previous.n + 1, event, prev: previous.linkHash };
}

/**
 * The key of a brand's EPCIS log: a chain of links like a bottle's, one per captured EPCIS event.
 * Bottle serials are alphanumeric, so a chain key with a colon is never a bottle.
 */
export const logKey = (brandSlug: string): string => `epcis:${brandSlug}`;
export const isBottleChain = (key: string): boolean => !key.includes(":");

/** 16 random bytes as lowercase hex, the salt that keeps published leaves from revealing events. */
export function randomSalt(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return toHex(bytes).slice(2);
}
