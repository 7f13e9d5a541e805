/**
 * The members' keys (docs/MEMBERS.md, "Keys and rotation"):
 *  - MEMBER_KEYS="k2:<base64 32 bytes>,k1:<base64 32 bytes>": AES-256-GCM keys for the phone numbers'
 *    ciphertexts. The first encrypts; every listed key decrypts (each row names its key id), so a key
 *    is rotated by putting a new one first, letting re-encryption move the rows (MembersRepo.reencrypt,
 *    run by the sweep, and lazily when a member signs in), then dropping the old one.
 *  - MEMBER_HASH_KEY (base64, 32 bytes): the HMAC-SHA256 key of the phone hashes every lookup matches
 *    on, and of the one-time codes' hashes. It is not rotated by configuration: a new one would make
 *    every stored hash unmatchable (docs/MEMBERS.md says how to re-hash from the ciphertexts).
 * Embedded mode derives both from a secret kept under DATA_DIR (like LABEL_SECRET); with DATABASE_URL
 * both must be set (config.ts).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

export interface MemberKey {
  id: string;
  key: Buffer;
}

export interface MemberKeyConfig {
  /** Encryption keys, the first encrypting. */
  keys: MemberKey[];
  /** The phone and code hashing key. */
  hashKey: Buffer;
}

const NONCE = 12;
const TAG = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** MEMBER_KEYS's value as keys, or a message saying what is wrong (never the key material). */
export function parseMemberKeys(raw: string): MemberKey[] | string {
  const keys: MemberKey[] = [];
  const form = 'give id:base64 pairs, the encrypting key first, e.g. MEMBER_KEYS="k2:$(openssl rand -base64 32),k1:…"';
  for (const entry of raw.split(",").map((e) => e.trim())) {
    if (entry === "") continue;
    const colon = entry.indexOf(":");
    const id = colon < 0 ? "" : entry.slice(0, colon);
    if (!KEY_ID.test(id)) return `MEMBER_KEYS: an entry has no key id (letters, digits, _ or -, up to 32) before its colon; ${form}`;
    const key = Buffer.from(entry.slice(colon + 1), "base64");
    if (key.length !== 32) return `MEMBER_KEYS: key "${id}" is not 32 bytes of base64; ${form}`;
    if (keys.some((k) => k.id === id)) return `MEMBER_KEYS: key id "${id}" is listed twice`;
    keys.push({ id, key });
  }
  if (keys.length === 0) return `MEMBER_KEYS is empty; ${form}`;
  return keys;
}

/** MEMBER_HASH_KEY's value, or a message saying what is wrong. */
export function parseMemberHashKey(raw: string): Buffer | string {
  const key = Buffer.from(raw.trim(), "base64");
  return key.length === 32 ? key : "MEMBER_HASH_KEY must be 32 bytes of base64 (openssl rand -base64 32), the same for every process and kept for good";
}

/** Embedded mode's keys, derived from one secret kept under DATA_DIR (never used with DATABASE_URL). */
export function devMemberKeys(secret: string): MemberKeyConfig {
  const derive = (info: string) => Buffer.from(hkdfSync("sha256", secret, "sealtrace/members", info, 32));
  return { keys: [{ id: "dev1", key: derive("phone-encryption/dev1") }], hashKey: derive("phone-hash") };
}

export function createMemberKeys(config: MemberKeyConfig) {
  if (config.keys.length === 0) throw new RangeError("createMemberKeys: no encryption key");
  if (config.hashKey.length !== 32) throw new RangeError("createMemberKeys: the hash key must be 32 bytes");
  const byId = new Map(config.keys.map((k) => [k.id, k.key]));
  const current = config.keys[0]!;
  const hmac = (domain: string, ...parts: (string | Buffer)[]) => {
    const mac = createHmac("sha256", config.hashKey).update(`sealtrace/members/${domain}\0`);
    for (const part of parts) mac.update(part);
    return mac.digest();
  };
  return {
    currentKeyId: current.id,
    /** The phone's lookup hash (one per brand: the same number is two unlinkable hashes in two brands). */
    phoneHash: (brandId: number, e164: string): Buffer => hmac("phone", `${brandId}\0${e164}`),
    /** A one-time code's stored hash, bound to its row and phone, so a code is good for that row only. */
    codeHash: (brandId: number, codeId: number, phoneHash: Buffer, code: string): Buffer => hmac("code", `${brandId}\0${codeId}\0`, phoneHash, code),
    /** An IP address's hash for the send limits (never stored raw). */
    ipHash: (brandId: number, ip: string): Buffer => hmac("ip", `${brandId}\0${ip}`),
    /** The phone encrypted under the current key; the brand and purpose are bound as associated data. */
    encrypt(brandId: number, e164: string): { cipher: Buffer; keyId: string } {
      const nonce = randomBytes(NONCE);
      const cipher = createCipheriv("aes-256-gcm", current.key, nonce);
      cipher.setAAD(Buffer.from(`sealtrace/members/phone\0${brandId}\0${current.id}`));
      const body = Buffer.concat([cipher.update(e164, "utf8"), cipher.final()]);
      return { cipher: Buffer.concat([nonce, body, cipher.getAuthTag()]), keyId: current.id };
    },
    /** The phone back; throws when its key is no longer configured or the ciphertext was altered. */
    decrypt(brandId: number, data: Buffer, keyId: string): string {
      const key = byId.get(keyId);
      if (key === undefined) throw new Error(`member key "${keyId}" is not in MEMBER_KEYS`);
      const decipher = createDecipheriv("aes-256-gcm", key, data.subarray(0, NONCE));
      decipher.setAAD(Buffer.from(`sealtrace/members/phone\0${brandId}\0${keyId}`));
      decipher.setAuthTag(data.subarray(data.length - TAG));
      return Buffer.concat([decipher.update(data.subarray(NONCE, data.length - TAG)), decipher.final()]).toString("utf8");
    },
  };
}

export type MemberKeys = ReturnType<typeof createMemberKeys>;
