import { expect } from "chai";
import type pg from "pg";
import { verifyBundle } from "../../service/core/bundle.ts";
import { lifecycle, type BrandFixture, type Stack, startChainStack, type ChainStack } from "../helpers/stack.ts";

const SHANGHAI_IP = "203.0.113.7";
const URUMQI_IP = "198.51.100.9";

describe("consumer verification page", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;

  before(async () => {
    services = await startChainStack({ keyIndex: 9, env: { TRUST_PROXY: "1", RATE_LIMIT_PER_BOTTLE: "1000", RATE_LIMIT_PER_IP: "1000" } });
    ({ stack, db } = services);
  });
  after(async () => {
    await services?.stop();
  });

  async function page(path: string, headers: Record<string, string> = {}) {
    const response = await fetch(`${stack.url}${path}`, { headers: { "x-forwarded-for": SHANGHAI_IP, ...headers } });
    return { status: response.status, body: await response.text(), headers: response.headers };
  }
  const pathOf = (url: string) => new URL(url).pathname + new URL(url).search;

  async function soldBottle(): Promise<{ brand: BrandFixture; serial: string; url: string }> {
    const brand = await stack.createBrand({ codes: 1 });
    const { serial, url } = brand.codes[0]!;
    expect((await stack.postEvents(brand, lifecycle([serial]))).status).to.equal(202);
    return { brand, serial, url };
  }

  it("shows a genuine bottle: verdict, product, history with places, anchoring and the self-check", async () => {
    const { brand, serial, url } = await soldBottle();
    await stack.waitAnchored(serial, brand.codes[0]!.secret);
    const r = await page(pathOf(url));
    expect(r.status).to.equal(200);
    expect(r.headers.get("content-type")).to.match(/^text\/html/);
    expect(r.body).to.include('<html lang="zh-CN">');
    expect(r.body).to.include("verdict-genuine");
    expect(r.body).to.include("飞天茅台 53%vol 500ml");
    expect(r.body).to.include("2026-11-A");
    for (const step of ["production", "warehouse_in", "warehouse_out", "store_receiving", "retail_sale"]) expect(r.body).to.include(`data-step="${step}"`);
    expect(r.body).to.include("浦东专卖店");
    expect(r.body).to.match(/class="step anchored"[\s\S]*已上链 · 批次 \d+ · 区块 \d+/);
    expect(r.body).to.include(`data-bundle-url="/api/v1/items/${serial}/proof?s=`);
    expect(r.body).to.include(`data-rpc-url="${stack.runtime.chain.rpcUrl}"`);
    expect(r.body).to.include('<script type="module" src="/assets/self-check.js"></script>');
    const csp = r.headers.get("content-security-policy")!;
    expect(csp).to.include("script-src 'self'");
    expect(csp).to.include(`connect-src 'self' ${new URL(stack.runtime.chain.rpcUrl).origin}`);
    expect(r.headers.get("x-content-type-options")).to.equal("nosniff");
    expect(r.headers.get("referrer-policy")).to.equal("no-referrer");
  });

  it("shows the official guide price in force for the bottle's region", async () => {
    const { brand, url } = await soldBottle();
    expect((await page(pathOf(url))).body).not.to.include("data-guide-price");
    const put = (body: Record<string, unknown>) =>
      stack.request("PUT", `/api/v1/products/${brand.gtin}/guide-price`, { token: brand.apiKey, body: { currency: "CNY", below: 0.05, above: 0.1, ...body } });
    expect((await put({ amount: "1499.00" })).status).to.equal(201);
    expect((await put({ amount: "1699.00", region: "CN-SH" })).status).to.equal(201);
    expect((await put({ amount: "1999.00", validFrom: new Date(Date.now() + 86_400_000).toISOString() })).status).to.equal(201);
    const r = await page(pathOf(url));
    expect(r.body).to.include('data-guide-price="1699.00"');
    expect(r.body).to.include("¥1699.00");
  });

  it("speaks English with ?lang=en or an English Accept-Language", async () => {
    const { url } = await soldBottle();
    const byQuery = await page(`${pathOf(url)}&lang=en`);
    expect(byQuery.body).to.include('<html lang="en">');
    expect(byQuery.body).to.include("Genuine");
    const byHeader = await page(pathOf(url), { "accept-language": "en-US,en;q=0.9" });
    expect(byHeader.body).to.include("Verify it yourself");
    expect(byHeader.body).to.match(/href="\?s=[^"]+&amp;lang=zh"/); // the language link keeps the bottle's own URL
  });

  it("a wrong or missing secret is exactly the same not-found page as an unknown serial", async () => {
    const { brand, serial } = await soldBottle();
    const unknown = await page(`/01/${brand.gtin}/21/NOSUCHSERIAL00?s=abc`);
    const wrong = await page(`/01/${brand.gtin}/21/${serial}?s=abc`);
    const missing = await page(`/01/${brand.gtin}/21/${serial}`);
    for (const r of [wrong, missing]) {
      expect(r.status).to.equal(404);
      expect(r.body).to.equal(unknown.body);
    }
    expect(unknown.status).to.equal(404);
    expect(unknown.body).to.include("verdict-notfound");
    expect(unknown.body).not.to.include(serial);
  });

  it("counts consumer scans as anchored links, not a reload from the same IP nor the brand's own look", async () => {
    const { brand, serial, url } = await soldBottle();
    const count = (body: string) => Number(/data-scan-count="(\d+)"/.exec(body)![1]);
    expect(count((await page(pathOf(url))).body)).to.equal(1);
    expect(count((await page(pathOf(url))).body), "a reload within minutes is one scan").to.equal(1);
    expect(count((await page(pathOf(url), { "x-forwarded-for": "192.0.2.44" })).body)).to.equal(2);
    const byBrand = await page(pathOf(url), { authorization: `Bearer ${brand.apiKey}`, "x-forwarded-for": "192.0.2.45" });
    expect(count(byBrand.body), "the brand's own look is not a consumer scan").to.equal(2);
    const { rows } = await db.query("SELECT count(*)::int AS n FROM scans WHERE serial = $1", [serial]);
    expect(rows[0].n).to.equal(2);

    // each scan is a consumer_scan link in the bottle's chain, anchored like any other
    const bundle = await stack.waitAnchored(serial, brand.codes[0]!.secret);
    expect(bundle.events.filter((e) => e.event.type === "consumer_scan")).to.have.length(2);
    expect(verifyBundle(bundle).valid).to.equal(true);
  });

  it("separates scans before the sale (the trade's) from consumers' scans after it", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    const { serial, url } = brand.codes[0]!;
    const [production, whIn, whOut, receiving, sale] = lifecycle([serial]);
    expect((await stack.postEvents(brand, [production, whIn, whOut, receiving])).status).to.equal(202);
    await page(pathOf(url), { "x-forwarded-for": "192.0.2.10" }); // the dealer pre-queries the code
    (sale as { occurredAt: string }).occurredAt = new Date().toISOString();
    expect((await stack.postEvents(brand, [sale])).status).to.equal(202);
    const r = await page(pathOf(url), { "x-forwarded-for": "192.0.2.11" });
    expect(/data-scan-count="(\d+)"/.exec(r.body)![1]).to.equal("1");
    expect(r.body).to.include("另有售出前的验证 1 次");
    // the dealer's pre-query opened no buyer's window: the buyer's first scan is genuine, with the sale
    expect(r.body).to.include('data-verdict="genuine"');
    expect(r.body).to.match(/<p class="sale" data-sold="[^"]+">正品，已于 [^<]+ 在 浦东专卖店 售出<\/p>/);
  });

  // Issue 17: the buyer scanning days after buying (a gift, a bottle kept for a festival) sees a genuine
  // bottle and its sale; someone scanning after the buyer's window closed is warned it was resold.
  describe("the buyer's scans after a retail sale", () => {
    /** The whole lifecycle three weeks earlier: sold three weeks (and an hour) ago. */
    async function boughtDaysAgo(): Promise<{ brand: BrandFixture; serial: string; url: string }> {
      const brand = await stack.createBrand({ codes: 1 });
      const { serial, url } = brand.codes[0]!;
      const events = lifecycle([serial]) as { occurredAt: string }[];
      for (const e of events) e.occurredAt = new Date(Date.parse(e.occurredAt) - 21 * 86_400_000).toISOString();
      expect((await stack.postEvents(brand, events)).status).to.equal(202);
      return { brand, serial, url };
    }
    const storeCheck = async (brand: BrandFixture, serial: string) => {
      const created = await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: brand.apiKey });
      expect(created.status).to.equal(201);
      const r = await stack.request("GET", `/api/v1/store/check?serial=${serial}&intent=receiving&lang=en`, { token: created.body.storeKey });
      expect(r.status).to.equal(200);
      return r.body as { warnings: { kind: string; message: string }[] };
    };

    it("the buyer's first scan days after the sale is genuine, 'genuine, sold on … at …', in Chinese and in English", async () => {
      const { url } = await boughtDaysAgo();
      const first = await page(pathOf(url), { "x-forwarded-for": "192.0.2.60" });
      expect(first.status).to.equal(200);
      expect(first.body).to.include('class="verdict verdict-genuine" role="status" data-verdict="genuine"');
      expect(first.body).not.to.include("data-warning=");
      expect(first.body).to.match(/<p class="sale" data-sold="[^"]+">正品，已于 \d{4}\/\d{2}\/\d{2} \d{2}:\d{2} 在 浦东专卖店 售出<\/p>/);
      // a second scan within the buyer's window (the buyer's family, another phone) is the buyer's too
      const second = await page(`${pathOf(url)}&lang=en`, { "x-forwarded-for": "192.0.2.61" });
      expect(second.body).to.include('data-verdict="genuine"');
      expect(second.body).to.match(/<p class="sale" data-sold="[^"]+">Genuine, sold on \d{2}\/\d{2}\/\d{4}, \d{2}:\d{2} at 浦东专卖店<\/p>/);
      expect(/data-scan-count="(\d+)"/.exec(second.body)![1]).to.equal("2");
    });

    it("a scan two days after the buyer's first is sold_before, naming the buyer's first verification; the store check agrees", async () => {
      const { brand, serial, url } = await boughtDaysAgo();
      expect((await page(pathOf(url), { "x-forwarded-for": "192.0.2.62" })).body).to.include('data-verdict="genuine"');
      // within the buyer's window the store (trade, never a buyer) is told the bottle is already sold, not that it was resold
      expect((await storeCheck(brand, serial)).warnings.map((w) => w.kind)).to.deep.equal(["already_sold", "already_received_here"]);
      // the buyer's scan was two days ago
      await db.query("UPDATE scans SET scanned_at = scanned_at - interval '2 days' WHERE serial = $1", [serial]);
      const later = await page(pathOf(url), { "x-forwarded-for": "192.0.2.63" });
      expect(later.body).to.include('data-verdict="warning"');
      expect(later.body).not.to.include('class="sale"');
      expect(later.body).to.match(
        /<li data-warning="sold_before">此瓶已于 [^<]+ 在 浦东专卖店 售出，买家已于 [^<]+ 首次验证；若有人将它作为新品卖给您，它已被转卖或重新灌装。<\/li>/,
      );
      const en = await page(`${pathOf(url)}&lang=en`, { "x-forwarded-for": "192.0.2.64" });
      expect(en.body).to.match(
        /<li data-warning="sold_before">This bottle was sold on [^<]+ at 浦东专卖店, first verified by its buyer on [^<]+\. If it is offered to you as new, it has been resold or refilled\.<\/li>/,
      );
      // the store's JSON: sold_before, with the buyer's first verification, even once that scan is older than the copy check's week
      await db.query("UPDATE scans SET scanned_at = scanned_at - interval '10 days' WHERE serial = $1", [serial]);
      const checked = await storeCheck(brand, serial);
      expect(checked.warnings.map((w) => w.kind)).to.deep.equal(["sold_before", "already_received_here"]);
      expect(checked.warnings[0]!.message).to.match(/^Sold on .+ at 浦东专卖店, first verified by its buyer on .+: it is not a new bottle\.$/);
    });

    it("a second sale is sold_before even on the first scan after it", async () => {
      const { brand, url, serial } = await boughtDaysAgo();
      const again = {
        id: `resale-${serial}`,
        type: "retail_sale",
        codes: [serial],
        occurredAt: new Date(Date.now() - 3_600_000).toISOString(),
        party: "store-pudong",
        price: { amount: "1499.00", currency: "CNY" },
      };
      expect((await stack.postEvents(brand, [again])).status).to.equal(202);
      const r = await page(`${pathOf(url)}&lang=en`, { "x-forwarded-for": "192.0.2.65" });
      expect(r.body).to.include('data-verdict="warning"');
      expect(r.body).to.match(
        /<li data-warning="sold_before">This bottle was sold on [^<]+ at 浦东专卖店 \(sold 2 times\)\. A bottle is sold once: if it is offered to you as new, ask why\.<\/li>/,
      );
    });
  });

  it("warns about a copied code scanned in two distant places within hours", async () => {
    const { brand, url } = await soldBottle();
    const places = await stack.request("PUT", "/api/v1/ip-places", {
      token: brand.apiKey,
      body: {
        places: [
          { cidr: "203.0.113.0/24", place: "上海", latitude: 31.23, longitude: 121.47 },
          { cidr: "198.51.100.0/24", place: "乌鲁木齐", latitude: 43.83, longitude: 87.62 },
        ],
      },
    });
    expect(places.status).to.equal(200);
    expect((await page(pathOf(url), { "x-forwarded-for": SHANGHAI_IP })).body).to.include("verdict-genuine");
    const second = await page(pathOf(url), { "x-forwarded-for": URUMQI_IP });
    expect(second.body).to.include("verdict-warning");
    expect(second.body).to.include('data-warning="copied_code"');
    expect(second.body).to.match(/先后于上海和乌鲁木齐（相距约 3\d{3} 公里）被验证/);
    expect(second.body).to.include("首次验证");
    const bad = await stack.request("PUT", "/api/v1/ip-places", { token: brand.apiKey, body: { places: [{ cidr: "300.1.2.3/8", place: "x" }] } });
    expect(bad.status).to.equal(422);
    expect(bad.body.field).to.equal("places[0].cidr");
  });

  it("warns when the bottle turns up outside its sales region (also on its buyer's first scan, weeks after the sale)", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    const { serial, url } = brand.codes[0]!; // minted for CN-SH
    await stack.request("PUT", "/api/v1/regions/CN-BJ", { token: brand.apiKey, body: { name: "北京" } });
    await stack.request("PUT", "/api/v1/parties/store-bj", { token: brand.apiKey, body: { kind: "store", name: "北京王府井店", region: "CN-BJ" } });
    const events = lifecycle([serial]);
    (events[3] as { party: string }).party = "store-bj";
    (events[4] as { party: string; occurredAt: string }).party = "store-bj";
    (events[4] as { party: string; occurredAt: string }).occurredAt = "2026-11-01T10:00:00+08:00"; // weeks ago
    expect((await stack.postEvents(brand, events)).status).to.equal(202);
    const r = await page(`${pathOf(url)}&lang=en`);
    expect(r.body).to.include('data-verdict="warning"');
    expect(r.body).to.include('data-warning="out_of_region"');
    expect(r.body, "the first scan after the sale is its buyer's, however late").not.to.include('data-warning="sold_before"');
  });

  it("escapes brand-supplied text", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    await stack.request("PUT", `/api/v1/products/${brand.gtin}`, { token: brand.apiKey, body: { name: "<script>alert(1)</script>" } });
    await stack.request("PUT", "/api/v1/parties/store-pudong", {
      token: brand.apiKey,
      body: { kind: "store", name: `"><img src=x onerror=alert(2)>`, region: "CN-SH" },
    });
    expect((await stack.postEvents(brand, lifecycle([brand.codes[0]!.serial]))).status).to.equal(202);
    const r = await page(pathOf(brand.codes[0]!.url));
    expect(r.body).not.to.include("<script>alert(1)</script>");
    expect(r.body).to.include("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(r.body).not.to.include("<img src=x");
    expect(r.body).to.include("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;");
    expect(r.body.match(/<script/g)).to.have.length(1); // only our own module
  });

  it("opens a bottle with the code under its cap; a later receiving or sale raises an alert", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    const minted = brand.codes[0]!;
    const [production, whIn, whOut, receiving, sale] = lifecycle([minted.serial]);
    expect((await stack.postEvents(brand, [production, whIn, whOut])).status).to.equal(202);
    expect(minted.capUrl, "minting returns the cap URL").to.be.a("string");
    const wrongCap = await page(`/01/${brand.gtin}/21/${minted.serial}?o=WRONGCAPCODE0000`);
    expect(wrongCap.status).to.equal(404);

    const opened = await page(pathOf(minted.capUrl!));
    expect(opened.status).to.equal(200);
    expect(opened.body).to.include('data-warning="opened"');
    expect(opened.body).to.include('data-step="opened"');
    const again = await page(pathOf(minted.url));
    expect(again.body).to.include("此瓶已于");
    expect((await page(pathOf(minted.capUrl!))).status, "a second cap scan does not open it twice").to.equal(200);

    // the refill scheme: the opened bottle comes back through a store
    expect((await stack.postEvents(brand, [receiving, sale])).status).to.equal(202);
    const { rows } = await db.query("SELECT kind, serial, party, details FROM alerts WHERE serial = $1 ORDER BY id", [minted.serial]);
    expect(rows.map((r) => r.kind)).to.deep.equal(["received_after_opened", "sold_after_opened"]);
    expect(rows[0].party).to.equal("store-pudong");
    const bundle = await stack.waitAnchored(minted.serial, minted.secret);
    expect(bundle.events.filter((e) => e.event.type === "opened")).to.have.length(1);
    expect(verifyBundle(bundle).valid).to.equal(true);
  });
});

describe("rate limits on public routes", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  before(async () => {
    services = await startChainStack({ keyIndex: 10, env: { TRUST_PROXY: "1", RATE_LIMIT_PER_BOTTLE: "5", RATE_LIMIT_PER_IP: "8" } });
    ({ stack } = services);
  });
  after(async () => {
    await services?.stop();
  });

  it("limits one bottle's page across IPs, and one IP across bottles, with 429 and Retry-After", async () => {
    const brand = await stack.createBrand({ codes: 2 });
    const url = new URL(brand.codes[0]!.url);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await fetch(`${stack.url}${url.pathname}${url.search}`, { headers: { "x-forwarded-for": `192.0.2.${i + 1}` } });
      statuses.push(r.status);
      if (r.status === 429) expect(r.headers.get("retry-after")).to.match(/^\d+$/);
    }
    expect(statuses).to.deep.equal([200, 200, 200, 200, 200, 429, 429]);

    const other = new URL(brand.codes[1]!.url);
    const fromOneIp: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${stack.url}/api/v1/items/${brand.codes[1]!.serial}/proof?s=${other.searchParams.get("s")}`, {
        headers: { "x-forwarded-for": "198.51.100.77" },
      });
      fromOneIp.push(r.status);
    }
    expect(fromOneIp.slice(0, 8).every((s) => s === 200)).to.equal(true);
    expect(fromOneIp.slice(8)).to.deep.equal([429, 429]);
    const body = (await (await fetch(`${stack.url}/api/v1/items/x/proof`, { headers: { "x-forwarded-for": "198.51.100.77" } })).json()) as { error: string };
    expect(body.error).to.equal("rate_limited");
  });
});
