import { expect } from "chai";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { canonicalJson, fromHex, hashCanonical, isHash, keccak256, toHex, useKeccak256, type Json } from "../../service/core/hash.ts";

describe("core/hash", () => {
  describe("canonical JSON (RFC 8785)", () => {
    it("matches the RFC's own example (3.2.2): numbers, escapes and literals", () => {
      const input = String.raw`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`;
      const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
      expect(canonicalJson(JSON.parse(input) as Json)).to.equal(expected);
    });

    it("sorts keys by UTF-16 code units (RFC 8785 3.2.3)", () => {
      const input = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\ud83d\ude00": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
      };
      const keys = Object.keys(JSON.parse(canonicalJson(input)) as object);
      // JSON.parse puts the integer-like key first; compare the serialised order instead.
      const order = [...canonicalJson(input).matchAll(/"([^"]*)":/g)].map((m) => m[1]);
      expect(order).to.deep.equal(["\\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"]);
      expect(keys).to.have.length(7);
    });

    it("is independent of key order and whitespace, and nests", () => {
      expect(canonicalJson({ b: [1, { z: 1, a: "x" }], a: null })).to.equal(`{"a":null,"b":[1,{"a":"x","z":1}]}`);
      expect(hashCanonical({ a: 1, b: 2 })).to.equal(hashCanonical(JSON.parse(' { "b" : 2 , "a" : 1 } ') as Json));
    });

    it("keeps Chinese text as UTF-8, unescaped", () => {
      expect(canonicalJson({ name: "飞天茅台 53%vol" })).to.equal(`{"name":"飞天茅台 53%vol"}`);
    });

    it("refuses values JSON cannot represent", () => {
      expect(() => canonicalJson({ n: Number.NaN })).to.throw();
      expect(() => canonicalJson({ n: Number.POSITIVE_INFINITY })).to.throw();
    });
  });

  describe("keccak256", () => {
    it("matches the known digests of '' and 'abc'", () => {
      expect(toHex(keccak256(new Uint8Array()))).to.equal("0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
      expect(toHex(keccak256(new TextEncoder().encode("abc")))).to.equal("0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    });

    it("hashes the canonical UTF-8 bytes", () => {
      expect(hashCanonical({ b: 1, a: "茅台" })).to.equal(toHex(keccak256(new TextEncoder().encode(`{"a":"茅台","b":1}`))));
    });
  });

  it("round-trips hex and recognises only 0x + 64 lowercase hex digits as a hash", () => {
    const hash = hashCanonical({});
    expect(toHex(fromHex(hash))).to.equal(hash);
    expect(isHash(hash)).to.equal(true);
    expect(isHash(hash.toUpperCase())).to.equal(false);
    expect(isHash(hash.slice(0, -1))).to.equal(false);
    expect(isHash(hash.slice(2))).to.equal(false);
  });

  it("gives the same digests with the WebAssembly keccak256 the service installs", async () => {
    const { wasmKeccak256 } = await import("../../service/anchoring/keccak.ts");
    const inputs = [0, 1, 31, 32, 64, 135, 136, 137, 272, 1000].map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff));
    const expected = inputs.map((bytes) => toHex(keccak256(bytes)));
    const canonical = hashCanonical({ type: "production", codes: ["飞天0001"], salt: "00" });
    useKeccak256(await wasmKeccak256());
    try {
      expect(inputs.map((bytes) => toHex(keccak256(bytes)))).to.deep.equal(expected);
      expect(hashCanonical({ codes: ["飞天0001"], salt: "00", type: "production" })).to.equal(canonical);
      // every call returns an array of its own
      const [a, b] = [keccak256(inputs[0]!), keccak256(inputs[1]!)];
      expect(toHex(a)).to.equal(expected[0]);
      expect(toHex(b)).to.equal(expected[1]);
    } finally {
      useKeccak256(keccak_256);
    }
  });
});
