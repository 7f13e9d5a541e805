/**
 * Attacks on the consumer's routes (issue 16, points 2, 7 and part of 13), performed against a real
 * stack over raw sockets where headers matter:
 *  - a client writing X-Forwarded-For to choose its IP (rate limits, the 10-minute same-IP rule, the
 *    place of its scans), with TRUST_PROXY a hop count or a list of proxies;
 *  - a serial (printed in clear on the label) used to keep its bottle's page at 429;
 *  - a bottle's chain grown without bound by scans; link previewers, HEADs and prefetches counted as scans;
 *  - the HTTP host's clock behind the database's, so a reload counts as a new scan;
 *  - the proof route reading a bottle's links for a wrong secret (its timing tells a serial exists);
 *  - a secret in the logs through `?%73=`, `?S=` or repeated parameters.
 */
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { expect } from "chai";
import Fastify from "fastify";
import type pg from "pg";
import { fastifyTrustProxy } from "../../service/app.ts";
import { ConfigError, loadConfig } from "../../service/config.ts";
import { createLogger } from "../../service/log.ts";
import { createBundleRepo } from "../../service/verify/bundles.ts";
import { lifecycle, startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

type Raw = { status: number; headers: Record<string, string>; body: string };

/** One HTTP/1.1 request written byte for byte on a TCP socket (headers exactly as given, repeated ones too). */
function rawRequest(port: number, method: string, path: string, headers: [string, string][] = []): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      const [statusLine, ...lines] = text.slice(0, split).split("\r\n");
      const head: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(":");
        head[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      let body = text.slice(split + 4);
      if (head["transfer-encoding"] === "chunked") {
        let out = "";
        for (let rest = body; ;) {
          const eol = rest.indexOf("\r\n");
          const size = parseInt(rest.slice(0, eol), 16);
          if (!size) break;
          out += rest.slice(eol + 2, eol + 2 + size);
          rest = rest.slice(eol + 2 + size + 2);
        }
        body = out;
      }
      resolve({ status: Number(statusLine!.split(" ")[1]), headers: head, body });
    });
    const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...headers.map(([k, v]) => `${k}: ${v}`)];
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  });
}

const THIS_SCAN = "（含本次）";
const countOf = (body: string) => Number(/data-scan-count="(\d+)"/.exec(body)?.[1] ?? Number.NaN);
const pathOf = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

describe("TRUST_PROXY: what a client writes in X-Forwarded-For", () => {
  it("refuses TRUST_PROXY=true (it trusts the client's own entry), explaining the two safe forms", () => {
    for (const value of ["true", "TRUE", "yes"]) {
      let error: unknown;
      try {
        loadConfig({ TRUST_PROXY: value });
      } catch (e) {
        error = e;
      }
      expect(error, value).to.be.instanceOf(ConfigError);
      const message = (error as ConfigError).problems.join("\n");
      expect(message).to.include("TRUST_PROXY=1");
      expect(message).to.match(/CIDR/);
      expect(message).to.include("left-most");
    }
    expect(loadConfig({}).trustProxy).to.equal(false);
    expect(loadConfig({ TRUST_PROXY: "false" }).trustProxy).to.equal(false);
    expect(loadConfig({ TRUST_PROXY: "0" }).trustProxy).to.equal(false);
    expect(loadConfig({ TRUST_PROXY: "1" }).trustProxy).to.deep.equal({ hops: 1 });
    expect(loadConfig({ TRUST_PROXY: "10.0.0.0/8, 127.0.0.1,::1, loopback" }).trustProxy).to.deep.equal({
      proxies: ["10.0.0.0/8", "127.0.0.1", "::1", "loopback"],
    });
    for (const bad of ["10.0.0.0/33", "proxy.internal", "1.2.3.4/8/1", "99"])
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).to.throw(ConfigError, /TRUST_PROXY/);
  });

  it("takes the right-most address not written by a trusted proxy (hop count or proxy list), over raw sockets", async () => {
    const cases: { trust: Parameters<typeof fastifyTrustProxy>[0]; ip: string }[] = [
      { trust: false, ip: "127.0.0.1" },
      { trust: { hops: 1 }, ip: "10.1.2.3" },
      { trust: { hops: 2 }, ip: "203.0.113.9" },
      { trust: { proxies: ["127.0.0.1", "10.0.0.0/8"] }, ip: "203.0.113.9" },
      { trust: { proxies: ["loopback"] }, ip: "10.1.2.3" },
    ];
    for (const { trust, ip } of cases) {
      const app = Fastify({ trustProxy: fastifyTrustProxy(trust) });
      app.get("/ip", async (request) => request.ip);
      await app.listen({ port: 0, host: "127.0.0.1" });
      try {
        const { port } = app.server.address() as { port: number };
        // The client wrote 6.6.6.6 and 203.0.113.9 is where it connected from: the outer proxy
        // (10.1.2.3) appended that, the inner one (the socket, 127.0.0.1) appended 10.1.2.3, on a line of its own.
        const r = await rawRequest(port, "GET", "/ip", [
          ["X-Forwarded-For", "6.6.6.6, 203.0.113.9"],
          ["X-Forwarded-For", "10.1.2.3"],
        ]);
        expect(r.body, JSON.stringify(trust)).to.equal(ip);
      } finally {
        await app.close();
      }
    }
  });
});

describe("the consumer's routes under attack", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let port: number;
  const logs: string[] = [];
  let ipCounter = 0;
  /** An address (the one our proxy appends) never used before in this file. */
  const freshIp = () => {
    ipCounter++;
    return `192.0.2.${ipCounter}`;
  };

  before(async () => {
    services = await startChainStack({
      keyIndex: 15,
      env: { TRUST_PROXY: "1", RATE_LIMIT_PER_IP: "8", RATE_LIMIT_PER_BOTTLE: "8", SCANS_PER_BOTTLE_PER_HOUR: "3" },
      log: createLogger("info", {
        write: (line: string) => {
          logs.push(line);
        },
      }),
    });
    ({ stack, db } = services);
    port = Number(new URL(stack.url).port);
  });
  after(async () => {
    await services?.stop();
  });

  async function bottles(count: number): Promise<BrandFixture> {
    const brand = await stack.createBrand({ codes: count });
    expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
    return brand;
  }
  /** A page request through our one proxy: the client's own X-Forwarded-For, then the address the proxy appended. */
  const viaProxy = (path: string, client: string, forged?: string, headers: [string, string][] = [], method = "GET") =>
    rawRequest(port, method, path, [["X-Forwarded-For", forged === undefined ? client : `${forged}, ${client}`], ...headers]);
  async function storedScans(serial: string): Promise<{ place: string | null; ip_hash: Buffer; scanned_at: Date }[]> {
    return (await db.query("SELECT place, ip_hash, scanned_at FROM scans WHERE serial = $1 ORDER BY id", [serial])).rows;
  }

  describe("X-Forwarded-For written by the client (TRUST_PROXY=1)", () => {
    it("uses the address the proxy appended, not the client's forged left-most entry", async () => {
      const brand = await bottles(1);
      const client = freshIp();
      expect((await viaProxy(pathOf(brand.codes[0]!.url), client, "6.6.6.6")).status).to.equal(200);
      const {
        rows: [{ scan_salt: salt }],
      } = await db.query("SELECT scan_salt FROM brands WHERE slug = $1", [brand.slug]);
      const [scan] = await storedScans(brand.codes[0]!.serial);
      expect(scan!.ip_hash.equals(createHash("sha256").update(salt).update(client).digest()), "the scan is the proxy-given address's").to.equal(true);
    });

    it("the per-IP limit still limits a client that forges a new address for every request", async () => {
      const client = freshIp();
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await viaProxy("/api/v1/items/NOSUCHSERIAL/proof?s=x", client, `198.18.0.${i + 1}`)).status);
      expect(statuses.slice(0, 8)).to.deep.equal(Array(8).fill(404));
      expect(statuses.slice(8)).to.deep.equal([429, 429]);
    });

    it("the 10-minute same-IP rule still holds: forged addresses do not inflate the scan count", async () => {
      const brand = await bottles(1);
      const client = freshIp();
      const pages = [];
      for (let i = 0; i < 3; i++) pages.push(await viaProxy(pathOf(brand.codes[0]!.url), client, `198.18.1.${i + 1}`));
      expect(pages.map((p) => countOf(p.body))).to.deep.equal([1, 1, 1]);
      expect(await storedScans(brand.codes[0]!.serial)).to.have.length(1);
    });

    it("the place of a scan cannot be chosen: no fake copied-code warning", async () => {
      const brand = await bottles(1);
      const places = await stack.request("PUT", "/api/v1/ip-places", {
        token: brand.apiKey,
        body: {
          places: [
            { cidr: "192.0.2.0/24", place: "上海", latitude: 31.23, longitude: 121.47 },
            { cidr: "198.51.100.0/24", place: "乌鲁木齐", latitude: 43.83, longitude: 87.62 },
          ],
        },
      });
      expect(places.status).to.equal(200);
      const url = pathOf(brand.codes[0]!.url);
      expect((await viaProxy(url, freshIp())).body).to.include("verdict-genuine");
      // A second visitor in Shanghai claims to be in Urumqi.
      const forged = await viaProxy(url, freshIp(), "198.51.100.9");
      expect(forged.status).to.equal(200);
      expect(forged.body).not.to.include('data-warning="copied_code"');
      expect((await storedScans(brand.codes[0]!.serial)).map((s) => s.place)).to.deep.equal(["上海", "上海"]);
    });
  });

  describe("the consumer page", () => {
    it("wrong secrets never rate-limit a bottle's page: they count against their IP, the owner still gets in", async () => {
      const brand = await bottles(1);
      const code = brand.codes[0]!;
      const statuses: number[] = [];
      // More wrong guesses than the bottle's limit (8 a minute), each from its own address.
      for (let i = 0; i < 12; i++) statuses.push((await viaProxy(`/01/${brand.gtin}/21/${code.serial}?s=wrong${i}`, freshIp())).status);
      expect(statuses).to.deep.equal(Array(12).fill(404));
      const owner = await viaProxy(pathOf(code.url), freshIp());
      expect(owner.status).to.equal(200);
      expect(owner.body).to.include("verdict-genuine");
    });

    it("records at most SCANS_PER_BOTTLE_PER_HOUR scans of a bottle, also when they arrive together; past it the page still answers", async () => {
      const brand = await bottles(2);
      const [one, two] = brand.codes as [BrandFixture["codes"][number], BrandFixture["codes"][number]];
      const pages = await Promise.all(Array.from({ length: 6 }, () => viaProxy(pathOf(one.url), freshIp())));
      expect(pages.map((p) => p.status)).to.deep.equal(Array(6).fill(200));
      expect(
        pages.filter((p) => p.body.includes(THIS_SCAN)),
        "three pages say their scan was counted",
      ).to.have.length(3);
      expect(await storedScans(one.serial)).to.have.length(3);
      const { rows } = await db.query(
        "SELECT count(*)::int AS n FROM links l JOIN events e ON e.id = l.event_id WHERE l.serial = $1 AND e.type = 'consumer_scan'",
        [one.serial],
      );
      expect(rows[0].n, "the chain grew by three links only").to.equal(3);
      // One after another too, and the page past the bound shows the bottle and the scans recorded.
      for (let i = 0; i < 4; i++) await viaProxy(pathOf(two.url), freshIp());
      const past = await viaProxy(pathOf(two.url), freshIp());
      expect(past.status).to.equal(200);
      expect(past.body).to.include("verdict-genuine");
      expect(past.body).not.to.include(THIS_SCAN);
      expect(countOf(past.body)).to.equal(3);
      expect(await storedScans(two.serial)).to.have.length(3);
    });

    it("link previewers, HEAD requests and prefetches get the page but are not scans (nor open a bottle)", async () => {
      const brand = await bottles(2);
      const [code, capped] = brand.codes as [BrandFixture["codes"][number], BrandFixture["codes"][number]];
      const fetches: [string, [string, string][]][] = [
        ["GET", [["User-Agent", "WhatsApp/2.23.20.0 A"]]],
        ["GET", [["User-Agent", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"]]],
        ["GET", [["User-Agent", "TelegramBot (like TwitterBot)"]]],
        ["GET", [["User-Agent", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"]]],
        ["GET", [["Sec-Purpose", "prefetch;prerender"]]],
        ["GET", [["Purpose", "prefetch"]]],
        ["HEAD", []],
      ];
      for (const [method, headers] of fetches) {
        const r = await viaProxy(pathOf(code.url), freshIp(), undefined, headers, method);
        expect(r.status, JSON.stringify(headers)).to.equal(200);
        if (method === "GET") expect(r.body).to.include("verdict-genuine");
      }
      expect(await storedScans(code.serial), "no preview was recorded").to.have.length(0);
      expect((await viaProxy(pathOf(capped.capUrl), freshIp(), undefined, [["User-Agent", "Twitterbot/1.0"]])).status).to.equal(200);
      const {
        rows: [opened],
      } = await db.query("SELECT opened_at FROM codes WHERE serial = $1", [capped.serial]);
      expect(opened.opened_at, "a preview of the cap's link does not open the bottle").to.equal(null);
      const person = await viaProxy(pathOf(code.url), freshIp(), undefined, [["User-Agent", "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50"]]);
      expect(person.body).to.include(THIS_SCAN);
      expect(await storedScans(code.serial)).to.have.length(1);
    });

    it("times scans by the database's clock, the one the same-IP rule compares with (the HTTP host's clock 15 minutes behind)", async () => {
      const brand = await bottles(1);
      const code = brand.codes[0]!;
      const client = freshIp();
      const RealDate = Date;
      const SKEW = 15 * 60_000;
      class SkewedDate extends RealDate {
        constructor(...args: unknown[]) {
          if (args.length === 0) super(RealDate.now() - SKEW);
          else super(...(args as [string]));
        }
        static override now(): number {
          return RealDate.now() - SKEW;
        }
      }
      globalThis.Date = SkewedDate as DateConstructor;
      let pages: Raw[];
      try {
        pages = [await viaProxy(pathOf(code.url), client), await viaProxy(pathOf(code.url), client)];
      } finally {
        globalThis.Date = RealDate;
      }
      expect(pages.map((p) => p.status)).to.deep.equal([200, 200]);
      const scans = await storedScans(code.serial);
      expect(scans, "a reload within the window is one scan").to.have.length(1);
      const now = (await db.query<{ now: Date }>("SELECT now()")).rows[0]!.now;
      expect(Math.abs(now.getTime() - scans[0]!.scanned_at.getTime()), "stored at the database's time").to.be.below(60_000);
    });
  });

  describe("the proof route", () => {
    it("reads a bottle's links only once its secret matched: a wrong secret reads what an unknown serial reads", async () => {
      const brand = await bottles(1);
      const code = brand.codes[0]!;
      const seen: { name: string | undefined; rows: number }[] = [];
      const counting = {
        query: async (config: { name?: string }, values?: unknown[]) => {
          const result = await db.query(config as never, values as never);
          seen.push({ name: config.name, rows: result.rowCount ?? 0 });
          return result;
        },
      } as unknown as pg.Pool;
      const chain = stack.runtime.chain;
      const store = createBundleRepo(counting, async () => ({ chainId: await chain.chainId(), registry: chain.registry }));
      const work = async (serial: string, secret: string) => {
        seen.length = 0;
        const bundle = await store.bundleFor(serial, { secret });
        return { bundle, work: [...seen] };
      };
      const unknown = await work("NOSUCHSERIAL00", "wrong-secret");
      const wrong = await work(code.serial, "wrong-secret");
      expect(unknown.bundle).to.equal(null);
      expect(wrong.bundle).to.equal(null);
      expect(wrong.work, "the same statements, the same rows read").to.deep.equal(unknown.work);
      expect(wrong.work.map((w) => w.rows)).to.deep.equal([0]);
      const right = await work(code.serial, code.secret);
      expect(right.bundle?.events.length).to.be.greaterThan(0);
      expect(right.work[0]!.rows, "the links are read for the right secret").to.be.greaterThan(1);
      // The route (through its cache) answers both alike.
      const [a, b] = [
        await viaProxy("/api/v1/items/NOSUCHSERIAL00/proof?s=wrong-secret", freshIp()),
        await viaProxy(`/api/v1/items/${code.serial}/proof?s=wrong-secret`, freshIp()),
      ];
      expect([a.status, b.status]).to.deep.equal([404, 404]);
      expect(a.body).to.equal(b.body);
    });
  });

  describe("logs", () => {
    it("never show a bottle's secret or cap code, however the parameter's name is spelled or repeated", async () => {
      const brand = await bottles(2);
      const [code, other] = brand.codes as [BrandFixture["codes"][number], BrandFixture["codes"][number]];
      const secret = code.secret;
      const cap = new URL(other.capUrl).searchParams.get("o")!;
      logs.length = 0;
      const base = `/01/${brand.gtin}/21/${code.serial}`;
      const encoded = await viaProxy(`${base}?%73=${secret}`, freshIp());
      expect(encoded.status, "the route reads %73 as s: it is the secret").to.equal(200);
      await viaProxy(`${base}?S=${secret}`, freshIp());
      await viaProxy(`${base}?s=nothing&s=${secret}`, freshIp());
      await viaProxy(`${base}?lang=en&%53=${secret}#x`, freshIp());
      await viaProxy(`/01/${brand.gtin}/21/${other.serial}?%6f=${cap}`, freshIp());
      await viaProxy(`/api/v1/items/${code.serial}/proof?%73=${secret}`, freshIp());
      const text = logs.join("");
      expect(text).to.include("[redacted]");
      expect(text).to.include(code.serial);
      expect(text).not.to.include(secret);
      expect(text).not.to.include(cap);
    });
  });
});
