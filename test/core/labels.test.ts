import { createHmac } from "node:crypto";
import { expect } from "chai";
import { brandLabelKey, capCode, codeSecret, csvField, csvRow, labelFor } from "../../service/core/labels.ts";
import { newSerial } from "../../service/core/secrets.ts";

const LABEL_SECRET = "label-secret-for-tests-0123456789abcdef";
const CROCKFORD = /^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{16}$/;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("core/labels", () => {
  const key = brandLabelKey(LABEL_SECRET, 42);

  it("matches a known-answer vector (computed once with node:crypto and BigInt base32)", () => {
    expect(hex(key)).to.equal("b3b007e35f44533583dbe43adf1acb2a725ab6434ecb9f78daa2b0e948c654e1");
    expect(codeSecret(key, "0123456789ABCDEF")).to.equal("go3v7qa0DyE91-D5TEi6Pw");
    expect(capCode(key, "0123456789ABCDEF")).to.equal("CM8J4EJ7BPSC1YCN");
  });

  it("derives the brand key as HMAC-SHA256(label secret, domain ‖ brand id), a number or its string alike", () => {
    const expected = createHmac("sha256", LABEL_SECRET)
      .update("sealtrace/brand-label-key/1\u0000" + "7")
      .digest();
    expect(hex(brandLabelKey(LABEL_SECRET, 7))).to.equal(expected.toString("hex"));
    expect(hex(brandLabelKey(LABEL_SECRET, "7"))).to.equal(expected.toString("hex"));
  });

  it("is deterministic", () => {
    const serial = newSerial();
    expect(codeSecret(brandLabelKey(LABEL_SECRET, 42), serial)).to.equal(codeSecret(key, serial));
    expect(capCode(brandLabelKey(LABEL_SECRET, 42), serial)).to.equal(capCode(key, serial));
  });

  it("differs per serial, per brand and per label secret, and between secret and cap code", () => {
    const serial = "0123456789ABCDEF";
    const others = [brandLabelKey(LABEL_SECRET, 43), brandLabelKey(`${LABEL_SECRET}x`, 42), brandLabelKey(LABEL_SECRET, "42 ")];
    for (const other of others) {
      expect(codeSecret(other, serial)).to.not.equal(codeSecret(key, serial));
      expect(capCode(other, serial)).to.not.equal(capCode(key, serial));
    }
    const secrets = new Set<string>();
    const caps = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const s = newSerial();
      secrets.add(codeSecret(key, s));
      caps.add(capCode(key, s));
    }
    expect(secrets.size).to.equal(2_000);
    expect(caps.size).to.equal(2_000);
    // domain separation: the cap code is not an encoding of the same bytes as the secret
    const secretBytes = Buffer.from(codeSecret(key, serial), "base64url").subarray(0, 10);
    expect(capCode(key, serial)).to.not.equal(crockford(secretBytes));
  });

  it("formats: the secret is 22 base64url characters (128 bits), the cap code 16 Crockford base32 (80 bits)", () => {
    for (let i = 0; i < 500; i++) {
      const s = newSerial();
      const secret = codeSecret(key, s);
      expect(secret).to.match(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(secret, "base64url")).to.have.length(16);
      expect(capCode(key, s)).to.match(CROCKFORD);
    }
  });

  it("encodes the cap code's 80 bits most significant first, using every symbol", () => {
    const symbols = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const s = newSerial();
      const digest = createHmac("sha256", key)
        .update("sealtrace/cap/1\u0000" + s)
        .digest()
        .subarray(0, 10);
      expect(capCode(key, s)).to.equal(crockford(digest));
      for (const c of capCode(key, s)) symbols.add(c);
    }
    expect(symbols.size).to.equal(32);
  });

  it("refuses an empty label secret and a short label key", () => {
    expect(() => brandLabelKey("", 1)).to.throw(RangeError);
    expect(() => codeSecret(new Uint8Array(16), "X")).to.throw(RangeError);
    expect(() => capCode(new Uint8Array(0), "X")).to.throw(RangeError);
  });

  it("builds the label: Digital Link URLs with ?s= and ?o=, trailing slashes of the base ignored", () => {
    const label = labelFor(key, "https://id.example.com/", "06901234567892", "0123456789ABCDEF");
    expect(label).to.deep.equal({
      serial: "0123456789ABCDEF",
      secret: "go3v7qa0DyE91-D5TEi6Pw",
      url: "https://id.example.com/01/06901234567892/21/0123456789ABCDEF?s=go3v7qa0DyE91-D5TEi6Pw",
      capCode: "CM8J4EJ7BPSC1YCN",
      capUrl: "https://id.example.com/01/06901234567892/21/0123456789ABCDEF?o=CM8J4EJ7BPSC1YCN",
    });
  });

  it("writes CSV per RFC 4180: quotes only when needed, doubles quotes, CRLF records", () => {
    expect(csvField("plain-1.0")).to.equal("plain-1.0");
    expect(csvField(null)).to.equal("");
    expect(csvField(undefined)).to.equal("");
    expect(csvField("a,b")).to.equal('"a,b"');
    expect(csvField('say "hi"')).to.equal('"say ""hi"""');
    expect(csvField("two\nlines")).to.equal('"two\nlines"');
    expect(csvField("cr\r")).to.equal('"cr\r"');
    expect(csvField("贵州 茅台")).to.equal("贵州 茅台");
    expect(csvRow(["a", null, "b,c"])).to.equal('a,,"b,c"\r\n');
  });
});

/** An independent Crockford base32 (BigInt) to check the module's bit packing against. */
function crockford(bytes: Uint8Array): string {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let value = BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
  let out = "";
  for (let i = 0; i < (bytes.length * 8) / 5; i++) {
    out = alphabet[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}
