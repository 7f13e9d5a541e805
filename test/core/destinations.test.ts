import { BlockList, isIP } from "node:net";
import { expect } from "chai";
import fc from "fast-check";
import { loadConfig, ConfigError } from "../../service/config.ts";
import {
  classifyIp,
  destinationAllowed,
  formatIp,
  inCidr,
  parseCidr,
  parseCidrList,
  parseIp,
  parseWebhookUrl,
  type Cidr,
  type Ip,
} from "../../service/core/destinations.ts";

const ip = (text: string): Ip => {
  const parsed = parseIp(text);
  if (parsed === null) throw new Error(`not an IP: ${text}`);
  return parsed;
};
const cidr = (text: string): Cidr => {
  const parsed = parseCidr(text);
  if (typeof parsed === "string") throw new Error(parsed);
  return parsed;
};

describe("webhook destinations (core/destinations)", () => {
  it("classify every special-purpose IPv4 block as not public", () => {
    const cases: [string, string][] = [
      ["0.0.0.0", "unspecified"],
      ["0.1.2.3", "unspecified"],
      ["127.0.0.1", "loopback"],
      ["127.255.255.254", "loopback"],
      ["10.0.0.1", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["100.64.0.1", "shared"],
      ["100.127.255.255", "shared"],
      ["169.254.169.254", "link_local"],
      ["192.0.0.8", "reserved"],
      ["192.0.2.10", "documentation"],
      ["198.51.100.7", "documentation"],
      ["203.0.113.9", "documentation"],
      ["198.18.0.1", "benchmarking"],
      ["198.19.255.255", "benchmarking"],
      ["192.88.99.1", "reserved"],
      ["224.0.0.1", "multicast"],
      ["239.255.255.250", "multicast"],
      ["240.0.0.1", "reserved"],
      ["255.255.255.254", "reserved"],
      ["255.255.255.255", "broadcast"],
    ];
    for (const [address, kind] of cases) expect(classifyIp(ip(address)), address).to.equal(kind);
  });

  it("classify the addresses next to those blocks as public", () => {
    for (const address of [
      "1.1.1.1",
      "8.8.8.8",
      "93.184.216.34",
      "9.255.255.255",
      "11.0.0.0",
      "100.63.255.255",
      "100.128.0.0",
      "126.255.255.255",
      "128.0.0.0",
      "169.253.255.255",
      "169.255.0.0",
      "172.15.255.255",
      "172.32.0.0",
      "192.167.255.255",
      "192.169.0.0",
      "198.17.255.255",
      "198.20.0.0",
      "223.255.255.255",
    ]) {
      expect(classifyIp(ip(address)), address).to.equal("public");
    }
  });

  it("judge IPv6 by its own blocks, and IPv4-mapped and NAT64 addresses by the IPv4 address they carry", () => {
    const cases: [string, string][] = [
      ["::", "unspecified"],
      ["::1", "loopback"],
      ["fe80::1", "link_local"],
      ["febf:ffff::1", "link_local"],
      ["fc00::1", "private"],
      ["fd12:3456::1", "private"],
      ["ff02::1", "multicast"],
      ["fec0::1", "reserved"],
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["::ffff:169.254.169.254", "link_local"],
      ["::ffff:10.1.2.3", "private"],
      ["64:ff9b::7f00:1", "loopback"],
      ["64:ff9b::10.0.0.1", "private"],
      ["64:ff9b:1::1", "reserved"],
      ["::127.0.0.1", "reserved"],
      ["100::1", "reserved"],
      ["2001:db8::1", "documentation"],
      ["3fff::1", "documentation"],
      ["2001::1", "reserved"],
      ["2001:2::1", "reserved"],
      ["2002:7f00:1::1", "reserved"],
      ["2606:4700:4700::1111", "public"],
      ["2a00:1450:4001::1", "public"],
      ["::ffff:8.8.8.8", "public"],
      ["64:ff9b::808:808", "public"],
      ["4000::1", "reserved"],
    ];
    for (const [address, kind] of cases) expect(classifyIp(ip(address)), address).to.equal(kind);
  });

  it("parse addresses exactly as Node does, in every IPv6 spelling (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const full = formatIp({ family: 6, bytes });
        // Node's URL parser writes the canonical, compressed form.
        const compressed = new URL(`http://[${full}]/`).hostname.slice(1, -1);
        expect(isIP(compressed)).to.equal(6);
        expect([...ip(full).bytes]).to.deep.equal([...bytes]);
        expect([...ip(compressed).bytes]).to.deep.equal([...bytes]);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => {
        const dotted = [...bytes].join(".");
        expect([...ip(dotted).bytes]).to.deep.equal([...bytes]);
        expect([...ip(`::ffff:${dotted}`).bytes.slice(12)]).to.deep.equal([...bytes]);
      }),
    );
    for (const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "1.2.3.256",
      "0x7f.0.0.1",
      "2130706433",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "::1.2.3.4:5",
      "1.2.3.4::",
      "fe80::1%eth0",
      "12345::",
      "g::1",
      ":::",
      "localhost",
      "1:2:3:4:5:6:7::8",
    ]) {
      expect(parseIp(bad), bad).to.equal(null);
    }
  });

  it("classify as node:net's BlockList would with the same blocks (property over random addresses)", () => {
    const blocked = new BlockList();
    for (const [net, prefix] of [
      ["0.0.0.0", 8],
      ["10.0.0.0", 8],
      ["100.64.0.0", 10],
      ["127.0.0.0", 8],
      ["169.254.0.0", 16],
      ["172.16.0.0", 12],
      ["192.0.0.0", 24],
      ["192.0.2.0", 24],
      ["192.88.99.0", 24],
      ["192.168.0.0", 16],
      ["198.18.0.0", 15],
      ["198.51.100.0", 24],
      ["203.0.113.0", 24],
      ["224.0.0.0", 3],
    ] as const)
      blocked.addSubnet(net, prefix, "ipv4");
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => {
        const address = [...bytes].join(".");
        expect(classifyIp(ip(address)) === "public", address).to.equal(!blocked.check(address, "ipv4"));
      }),
      { numRuns: 2_000 },
    );
  });

  it("read allow-lists of CIDR blocks and single addresses, and refuse malformed ones", () => {
    expect(inCidr(ip("10.20.3.4"), cidr("10.20.0.0/16"))).to.equal(true);
    expect(inCidr(ip("10.21.3.4"), cidr("10.20.0.0/16"))).to.equal(false);
    expect(inCidr(ip("127.0.0.1"), cidr("127.0.0.1"))).to.equal(true);
    expect(inCidr(ip("127.0.0.2"), cidr("127.0.0.1/32"))).to.equal(false);
    expect(inCidr(ip("::ffff:127.0.0.1"), cidr("127.0.0.1/32"))).to.equal(true);
    expect(inCidr(ip("127.0.0.1"), cidr("::ffff:127.0.0.1"))).to.equal(true);
    expect(inCidr(ip("fd00::5"), cidr("fd00::/8"))).to.equal(true);
    expect(inCidr(ip("10.0.0.1"), cidr("::/0"))).to.equal(false);
    for (const bad of ["10.0.0.1/16", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8/8", "host.internal", "10.0.0.0/-1", "::ffff:0:0/95"]) {
      expect(parseCidr(bad), bad).to.be.a("string");
    }
    expect(parseCidrList("").cidrs).to.deep.equal([]);
    expect(parseCidrList(" 127.0.0.1/32 , ::1 ,").cidrs).to.have.length(2);
    expect(parseCidrList("10.0.0.0/8,nope").problems).to.have.length(1);
  });

  it("allow a private address only when its block is listed", () => {
    const allow = [cidr("127.0.0.1/32")];
    expect(destinationAllowed(ip("93.184.216.34"), [])).to.equal(true);
    expect(destinationAllowed(ip("127.0.0.1"), [])).to.equal(false);
    expect(destinationAllowed(ip("127.0.0.1"), allow)).to.equal(true);
    expect(destinationAllowed(ip("::ffff:127.0.0.1"), allow)).to.equal(true);
    expect(destinationAllowed(ip("127.0.0.2"), allow)).to.equal(false);
    expect(destinationAllowed(ip("::1"), allow)).to.equal(false);
    expect(destinationAllowed(ip("169.254.169.254"), allow)).to.equal(false);
  });

  it("see through the URL spellings of an address, and refuse credentials and other schemes", () => {
    const host = (url: string) => {
      const parsed = parseWebhookUrl(url);
      if ("problem" in parsed) throw new Error(parsed.problem);
      return parsed.host.kind === "ip" ? formatIp(parsed.host.ip) : `name:${parsed.host.name}`;
    };
    expect(host("http://2130706433/")).to.equal("127.0.0.1");
    expect(host("http://0x7f.1/")).to.equal("127.0.0.1");
    expect(host("http://0177.0.0.1/")).to.equal("127.0.0.1");
    expect(host("http://127.1/")).to.equal("127.0.0.1");
    expect(host("http://[::ffff:127.0.0.1]/")).to.equal("0:0:0:0:0:ffff:7f00:1");
    expect(host("http://[0:0:0:0:0:0:0:1]:8080/")).to.equal("0:0:0:0:0:0:0:1");
    expect(host("https://LOCALHOST./x")).to.equal("name:localhost.");
    expect(host("https://hooks.example.com:8443/in")).to.equal("name:hooks.example.com");
    for (const bad of [
      "http://user:pw@example.com/",
      "http://user@example.com/",
      "ftp://example.com/",
      "file:///etc/passwd",
      "not a url",
      "http://[fe80::1%25eth0]/",
    ]) {
      expect(parseWebhookUrl(bad), bad).to.have.property("problem");
    }
  });

  it("WEBHOOK_ALLOW_PRIVATE is validated when the service starts, and empty by default", () => {
    expect(loadConfig({}).webhookAllowPrivate).to.deep.equal([]);
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE: "10.20.0.0/16, fd00::/8" }).webhookAllowPrivate).to.have.length(2);
    expect(() => loadConfig({ WEBHOOK_ALLOW_PRIVATE: "10.20.0.1/16" })).to.throw(ConfigError, /WEBHOOK_ALLOW_PRIVATE: "10.20.0.1\/16" has bits set/);
    expect(() => loadConfig({ WEBHOOK_ALLOW_PRIVATE: "postgres" })).to.throw(ConfigError, /WEBHOOK_ALLOW_PRIVATE: "postgres" is not an IP address/);
  });
});
