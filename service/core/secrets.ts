/**
 * Random tokens (brand API keys, webhook secrets, bottle serials), and the hash the database keeps
 * instead of a secret (API and store keys, QR secrets, cap codes). A bottle's QR secret and cap code
 * are not random: they are derived from the brand's label key (core/labels.ts).
 */
import { sha256 } from "@noble/hashes/sha2.js";

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  globalThis.crypto.getRandomValues(bytes);
  return bytes;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A brand API key: `stk_` + 192 random bits. */
export function newApiKey(): string {
  return `stk_${base64url(randomBytes(24))}`;
}

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  let binary = "";
  for (const byte of randomBytes(32)) binary += String.fromCharCode(byte);
  return `whsec_${btoa(binary)}`;
}

const SERIAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32: no I, L, O, U

/** A bottle serial: 16 Crockford base32 characters (80 random bits), valid as a GS1 serial (AI 21). */
export function newSerial(): string {
  let serial = "";
  for (const byte of randomBytes(16)) serial += SERIAL_ALPHABET[byte & 31];
  return serial;
}

/** SHA-256 of a token's UTF-8 bytes: what the database keeps instead of the token. */
export function tokenHash(token: string): Uint8Array {
  return sha256(new TextEncoder().encode(token));
}
