/**
 * The members' keys (service/members/keys.ts, config.ts): MEMBER_KEYS rotation (the first key
 * encrypts, every listed one decrypts, a dropped one fails loudly), ciphertexts bound to their brand
 * and key id, tampering detected, hashes per brand, and the configuration's demands.
 */
import { expect } from "chai";
import { ConfigError, loadConfig } from "../../service/config.ts";
import { createMemberKeys, devMemberKeys, parseMemberKeys } from "../../service/members/keys.ts";

const key = (fill: number) => Buffer.alloc(32, fill);
const b64 = (fill: number) => key(fill).toString("base64");

describe("members: phone keys", () => {
  it("encrypts under the first key, decrypts under any listed one, and re-encrypts to the current key", () => {
    const old = createMemberKeys({ keys: [{ id: "k1", key: key(1) }], hashKey: key(9) });
    const sealed = old.encrypt(7, "+8613800138000");
    expect(sealed.keyId).to.equal("k1");
    expect(sealed.cipher.includes(Buffer.from("13800138000"))).to.equal(false);
    const rotated = createMemberKeys({
      keys: [
        { id: "k2", key: key(2) },
        { id: "k1", key: key(1) },
      ],
      hashKey: key(9),
    });
    expect(rotated.decrypt(7, sealed.cipher, sealed.keyId)).to.equal("+8613800138000");
    const again = rotated.encrypt(7, rotated.decrypt(7, sealed.cipher, sealed.keyId));
    expect(again.keyId).to.equal("k2");
    // The old key dropped: what is still under it cannot be read (the re-encryption must run first).
    const dropped = createMemberKeys({ keys: [{ id: "k2", key: key(2) }], hashKey: key(9) });
    expect(() => dropped.decrypt(7, sealed.cipher, "k1")).to.throw(/not in MEMBER_KEYS/);
    expect(dropped.decrypt(7, again.cipher, "k2")).to.equal("+8613800138000");
    // The same phone hashes the same under the same hash key, whatever the encryption keys.
    expect(rotated.phoneHash(7, "+8613800138000").equals(old.phoneHash(7, "+8613800138000"))).to.equal(true);
  });

  it("detects tampering, and binds a ciphertext to its brand and key id", () => {
    const keys = createMemberKeys({ keys: [{ id: "k1", key: key(1) }], hashKey: key(9) });
    const sealed = keys.encrypt(7, "+8613800138000");
    const flipped = Buffer.from(sealed.cipher);
    flipped[14]! ^= 1;
    expect(() => keys.decrypt(7, flipped, "k1")).to.throw();
    expect(() => keys.decrypt(8, sealed.cipher, "k1"), "another brand's row").to.throw();
    expect(keys.phoneHash(7, "+8613800138000").equals(keys.phoneHash(8, "+8613800138000")), "one number, two brands: unlinkable").to.equal(false);
    expect(keys.encrypt(7, "+8613800138000").cipher.equals(sealed.cipher), "a fresh nonce each time").to.equal(false);
  });

  it("requires MEMBER_KEYS and MEMBER_HASH_KEY with DATABASE_URL, and checks their form; embedded mode derives its own", () => {
    const base = { DATABASE_URL: "postgres://x@127.0.0.1/db", LABEL_SECRET: "0123456789abcdef0123456789abcdef" };
    expect(() => loadConfig(base)).to.throw(ConfigError, /MEMBER_KEYS and MEMBER_HASH_KEY must be set/);
    expect(() => loadConfig({ ...base, MEMBER_KEYS: `k1:${b64(1)}` })).to.throw(ConfigError, /set together/);
    expect(() => loadConfig({ ...base, MEMBER_KEYS: "k1:short", MEMBER_HASH_KEY: b64(9) })).to.throw(ConfigError, /not 32 bytes/);
    expect(() => loadConfig({ ...base, MEMBER_KEYS: `k1:${b64(1)}`, MEMBER_HASH_KEY: "short" })).to.throw(ConfigError, /MEMBER_HASH_KEY must be 32 bytes/);
    const config = loadConfig({ ...base, MEMBER_KEYS: `k2:${b64(2)}, k1:${b64(1)}`, MEMBER_HASH_KEY: b64(9) });
    expect(config.memberKeys?.keys.map((k) => k.id)).to.deep.equal(["k2", "k1"]);
    expect(parseMemberKeys(`k1:${b64(1)},k1:${b64(2)}`)).to.match(/listed twice/);
    expect(parseMemberKeys(`${b64(1)}`)).to.match(/no key id/);
    expect(loadConfig({}).memberKeys).to.equal(null);
    const dev = devMemberKeys("a development secret kept under DATA_DIR");
    expect(dev.keys[0]!.key).to.have.length(32);
    expect(devMemberKeys("another").hashKey.equals(dev.hashKey)).to.equal(false);
  });
});
