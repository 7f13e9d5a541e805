/**
 * Canonical JSON (RFC 8785, JCS) and keccak256, the two primitives every SealTrace hash is made of.
 * Pure: no I/O, safe in Node and in the browser.
 */
import canonicalizeJcs from "canonicalize";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

/** A 0x-prefixed, lowercase, 32-byte hex string. */
export type Hash = `0x${string}`;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const ZERO_HASH: Hash = `0x${"00".repeat(32)}`;

const HASH_PATTERN = /^0x[0-9a-f]{64}$/;

/** Whether `value` is a well-formed hash: 0x + 64 lowercase hex digits. */
export function isHash(value: unknown): value is Hash {
  return typeof value === "string" && HASH_PATTERN.test(value);
}

export function toHex(bytes: Uint8Array): Hash {
  return `0x${bytesToHex(bytes)}`;
}

export function fromHex(hash: string): Uint8Array {
  return hexToBytes(hash.startsWith("0x") ? hash.slice(2) : hash);
}

/** The RFC 8785 canonical form of `value`, as a string. Throws on values JSON cannot hold. */
export function canonicalJson(value: Json): string {
  const text = canonicalizeJcs(value);
  if (text === undefined) throw new TypeError("value has no canonical JSON form");
  return text;
}

const encoder = new TextEncoder();

/**
 * The keccak256 implementation in use: @noble/hashes (pure JS, so this module runs unchanged in the
 * browser's self-check) unless the process installs a faster one with `useKeccak256`.
 */
let keccakImpl: (bytes: Uint8Array) => Uint8Array = keccak_256;

/**
 * Installs another keccak256 implementation for this process (the service installs a WebAssembly
 * one at start-up: about eight times faster here). It must give the same digests and return a
 * fresh 32-byte array on every call; it must be synchronous.
 */
export function useKeccak256(impl: (bytes: Uint8Array) => Uint8Array): void {
  keccakImpl = impl;
}

export function keccak256(bytes: Uint8Array): Uint8Array {
  return keccakImpl(bytes);
}

/** keccak256 of the UTF-8 bytes of `value`'s canonical JSON. */
export function hashCanonical(value: Json): Hash {
  return toHex(keccakImpl(encoder.encode(canonicalJson(value))));
}
