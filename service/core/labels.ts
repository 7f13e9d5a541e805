/**
 * What is printed on a bottle's labels: the public secret in its QR code and the hidden code under
 * its cap. Both are derived, not random, so that a lot's label file can be exported again after
 * minting although the database keeps only their hashes:
 *
 *   brand label key = HMAC-SHA256(LABEL_SECRET, "sealtrace/brand-label-key/1\0" + brandId)
 *   secret          = base64url(HMAC-SHA256(brand label key, "sealtrace/secret/1\0" + serial)[0..16])
 *   cap code        = Crockford base32(HMAC-SHA256(brand label key, "sealtrace/cap/1\0" + serial)[0..10])
 *
 * Without LABEL_SECRET they are as unguessable as random values of the same size (128 and 80 bits),
 * and a database leak reveals none of them. The domain-separation prefixes keep the three uses apart;
 * their "/1" lets a future scheme coexist with codes already printed.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bottleUrl } from "./bottle-url.ts";

const BRAND_KEY_DOMAIN = "sealtrace/brand-label-key/1\u0000";
const SECRET_DOMAIN = "sealtrace/secret/1\u0000";
const CAP_DOMAIN = "sealtrace/cap/1\u0000";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // no I, L, O, U: the same alphabet as serials

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Crockford base32, most significant bits first; the byte count must be a multiple of 5. */
function crockford(bytes: Uint8Array): string {
  if (bytes.length % 5 !== 0) throw new RangeError("crockford: byte count must be a multiple of 5");
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1; // keep only the bits not yet written, so the buffer never overflows
  }
  return out;
}

/** The per-brand key every label of that brand is derived from. */
export function brandLabelKey(labelSecret: string, brandId: number | string): Uint8Array {
  if (labelSecret.length === 0) throw new RangeError("brandLabelKey: the label secret is empty");
  return hmac(sha256, utf8(labelSecret), utf8(BRAND_KEY_DOMAIN + String(brandId)));
}

function derive(labelKey: Uint8Array, domain: string, serial: string): Uint8Array {
  if (labelKey.length < 32) throw new RangeError("labels: the label key must be at least 32 bytes (use brandLabelKey)");
  return hmac(sha256, labelKey, utf8(domain + serial));
}

/** The public secret printed in the bottle's QR code (`?s=`): 128 bits, 22 base64url characters. */
export function codeSecret(labelKey: Uint8Array, serial: string): string {
  return base64url(derive(labelKey, SECRET_DOMAIN, serial).subarray(0, 16));
}

/** The hidden code printed under the cap (`?o=`): 80 bits, 16 Crockford base32 characters. */
export function capCode(labelKey: Uint8Array, serial: string): string {
  return crockford(derive(labelKey, CAP_DOMAIN, serial).subarray(0, 10));
}

export interface Label {
  serial: string;
  secret: string;
  url: string;
  capCode: string;
  capUrl: string;
}

/** Everything printed for one bottle: its QR secret and URL, its cap code and cap URL. */
export function labelFor(labelKey: Uint8Array, publicBaseUrl: string, gtin: string, serial: string): Label {
  const secret = codeSecret(labelKey, serial);
  const cap = capCode(labelKey, serial);
  return {
    serial,
    secret,
    url: bottleUrl(publicBaseUrl, gtin, serial, { s: secret }),
    capCode: cap,
    capUrl: bottleUrl(publicBaseUrl, gtin, serial, { o: cap }),
  };
}

/** One CSV field per RFC 4180: quoted when it holds a comma, quote, CR or LF; quotes doubled. */
export function csvField(value: string | null | undefined): string {
  const text = value ?? "";
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV record, CRLF-terminated (RFC 4180). */
export function csvRow(fields: (string | null | undefined)[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}
