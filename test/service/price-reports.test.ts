import { createHash } from "node:crypto";
import { expect } from "chai";
import type pg from "pg";
import { lifecycle, type BrandFixture, type Stack, startChainStack, type ChainStack } from "../helpers/stack.ts";

describe("consumer price reports", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let ipCounter = 0;

  before(async () => {
    services = await startChainStack({ keyIndex: 14, env: { TRUST_PROXY: "1", RATE_LIMIT_PER_IP: "20", RATE_LIMIT_PER_BOTTLE: "1000" } });
    ({ stack, db } = services);
  });
  after(async () => {
    await services?.stop();
  });

  /** A client IP of its own for each test, so the per-IP limit is only met where a test means to. */
  const freshIp = () => `198.18.0.${++ipCounter}`;

  async function soldBrand(codes = 1): Promise<BrandFixture> {
    const brand = await stack.createBrand({ codes });
    expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
    return brand;
  }

  async function guidePrice(brand: BrandFixture, amount: string, region: string | null = null) {
    await db.query(
      `INSERT INTO guide_prices (brand_id, gtin, region, amount, currency, below, above, valid_from)
       SELECT id, $2, $3, $4, 'CNY', 0.05, 0.10, '2026-01-01T00:00:00+08:00' FROM brands WHERE slug = $1`,
      [brand.slug, brand.gtin, region, amount],
    );
  }

  async function report(body: Record<string, unknown>, ip: string) {
    return await stack.request("POST", "/api/v1/price-reports", { body, headers: { "x-forwarded-for": ip } });
  }

  async function formPost(fields: Record<string, string>, ip: string) {
    const response = await fetch(`${stack.url}/api/v1/price-reports`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": ip },
      body: new URLSearchParams(fields).toString(),
    });
    return { status: response.status, body: await response.text(), headers: response.headers };
  }

  const alertsOf = async (serial: string) =>
    (await db.query("SELECT kind, party, details FROM alerts WHERE serial = $1 AND kind = 'consumer_price_report' ORDER BY id", [serial])).rows;

  it("judges the price against the band, stores it with a salted IP hash, and alerts the brand outside the band", async () => {
    const brand = await soldBrand();
    await guidePrice(brand, "1499.00");
    const { serial, secret } = brand.codes[0]!;
    const ip = freshIp();

    const within = await report({ serial, secret, price: "1499.00" }, ip);
    expect(within.status).to.equal(201);
    expect(within.body).to.deep.equal({ verdict: "within", guide: { amount: "1499.00", currency: "CNY" }, band: { min: "1424.05", max: "1648.90" } });
    expect(await alertsOf(serial)).to.deep.equal([]);

    const below = await report({ serial, secret, price: "1000.00", store: "store-pudong" }, ip);
    expect(below.status).to.equal(201);
    expect(below.body.verdict).to.equal("below");
    const above = await report({ serial, secret, price: "2000", store: "南京路某烟酒店" }, ip);
    expect(above.body.verdict).to.equal("above");

    const alerts = await alertsOf(serial);
    expect(alerts).to.have.length(2);
    expect(alerts[0].party).to.equal("store-pudong");
    expect(alerts[0].details).to.deep.include({
      price: { amount: "1000.00", currency: "CNY" },
      guide: { amount: "1499.00", currency: "CNY" },
      band: { min: "1424.05", max: "1648.90" },
      verdict: "below",
      deviation: -0.3329,
      store: "store-pudong",
    });
    expect(alerts[1].party).to.equal(null);
    expect(alerts[1].details).to.deep.include({ verdict: "above", deviation: 0.3342, store: "南京路某烟酒店" });

    const { rows } = await db.query(
      `SELECT r.amount::text AS amount, r.currency, r.store, r.store_party, r.verdict, r.ip_hash, b.scan_salt
         FROM price_reports r JOIN brands b ON b.id = r.brand_id WHERE r.serial = $1 ORDER BY r.id`,
      [serial],
    );
    expect(rows.map((r) => [r.amount, r.currency, r.store, r.store_party, r.verdict])).to.deep.equal([
      ["1499.00", "CNY", null, null, "within"],
      ["1000.00", "CNY", "store-pudong", "store-pudong", "below"],
      ["2000.00", "CNY", "南京路某烟酒店", null, "above"],
    ]);
    const salted = createHash("sha256").update(rows[0].scan_salt).update(ip).digest();
    expect(rows.every((r) => r.ip_hash.equals(salted))).to.equal(true);
    expect(JSON.stringify(await db.query("SELECT * FROM price_reports WHERE serial = $1", [serial]).then((r) => r.rows))).not.to.include(ip);
  });

  it("uses the code's regional guide price, and says null when there is none", async () => {
    const brand = await soldBrand(2);
    const [a, b] = brand.codes;
    const none = await report({ serial: a!.serial, secret: a!.secret, price: "1499.00" }, freshIp());
    expect(none.status).to.equal(201);
    expect(none.body).to.deep.equal({ verdict: null, guide: null, band: null });
    await guidePrice(brand, "1499.00");
    await guidePrice(brand, "1599.00", "CN-SH"); // the codes are minted for CN-SH
    await guidePrice(brand, "999.00", "CN-GZ");
    const regional = await report({ serial: b!.serial, secret: b!.secret, price: "1500.00" }, freshIp());
    expect(regional.body).to.deep.equal({ verdict: "below", guide: { amount: "1599.00", currency: "CNY" }, band: { min: "1519.05", max: "1758.90" } });
    const usd = await report({ serial: b!.serial, secret: b!.secret, price: "200.00", currency: "USD" }, freshIp());
    expect(usd.body.verdict).to.equal("other_currency");
    expect((await alertsOf(b!.serial)).map((x) => x.details.verdict)).to.deep.equal(["below"]);
  });

  it("answers a wrong secret exactly like an unknown serial, and stores nothing", async () => {
    const brand = await soldBrand();
    await guidePrice(brand, "1499.00");
    const { serial } = brand.codes[0]!;
    const ip = freshIp();
    const wrong = await report({ serial, secret: "AAAAAAAAAAAAAAAAAAAAAA", price: "100.00" }, ip);
    const unknown = await report({ serial: "NOSUCHSERIAL0000", secret: "AAAAAAAAAAAAAAAAAAAAAA", price: "100.00" }, ip);
    expect(wrong.status).to.equal(404);
    expect(wrong.body).to.deep.equal(unknown.body);
    expect(unknown.status).to.equal(404);
    const formWrong = await formPost({ serial, secret: "AAAAAAAAAAAAAAAAAAAAAA", price: "100.00" }, ip);
    const formUnknown = await formPost({ serial: "NOSUCHSERIAL0000", secret: "AAAAAAAAAAAAAAAAAAAAAA", price: "100.00" }, ip);
    expect(formWrong.status).to.equal(404);
    expect(formWrong.body).to.equal(formUnknown.body);
    expect(formWrong.body).not.to.include(serial);
    const { rows } = await db.query("SELECT count(*)::int AS n FROM price_reports WHERE serial = $1", [serial]);
    expect(rows[0].n).to.equal(0);
    expect(await alertsOf(serial)).to.deep.equal([]);
  });

  it("refuses a malformed price, a zero price and a long store name", async () => {
    const brand = await soldBrand();
    const { serial, secret } = brand.codes[0]!;
    const ip = freshIp();
    expect((await report({ serial, secret, price: "1,499" }, ip)).body.field).to.equal("price");
    const zero = await report({ serial, secret, price: "0.00" }, ip);
    expect(zero.status).to.equal(422);
    expect(zero.body.field).to.equal("price");
    expect((await report({ serial, secret, price: "1499.00", store: "店".repeat(101) }, ip)).status).to.equal(400);
    expect((await report({ serial, secret, price: "1499.00", store: "店".repeat(100) }, ip)).status).to.equal(201);
  });

  it("the verification page has the form; posting it gets a thank-you page that links back", async () => {
    const brand = await soldBrand();
    await guidePrice(brand, "1499.00");
    const { serial, secret, url, capUrl } = brand.codes[0]!;
    const ip = freshIp();
    const page = await (await fetch(url, { headers: { "x-forwarded-for": ip } })).text();
    expect(page).to.include('<form method="post" action="/api/v1/price-reports">');
    expect(page).to.include(`<input type="hidden" name="serial" value="${serial}">`);
    expect(page).to.include(`<input type="hidden" name="secret" value="${secret}">`);
    expect(page).to.include("举报价格");
    const capPage = await (await fetch(capUrl, { headers: { "x-forwarded-for": ip } })).text();
    expect(capPage, "opened with the cap code: no QR secret to post").not.to.include("<form");

    const thanks = await formPost({ serial, secret, lang: "zh", price: "1000", store: "" }, ip);
    expect(thanks.status).to.equal(201);
    expect(thanks.headers.get("content-type")).to.match(/^text\/html/);
    expect(thanks.headers.get("content-security-policy")).to.include("form-action 'self'");
    expect(thanks.body).to.include("<h1>谢谢</h1>");
    expect(thanks.body).to.include('data-verdict="below"');
    expect(thanks.body).to.include("¥1000.00");
    expect(thanks.body).to.include("低于官方指导价区间");
    expect(thanks.body).to.include(`href="/01/${brand.gtin}/21/${serial}?s=${encodeURIComponent(secret)}"`);
    expect(thanks.body).not.to.include("<script");
    expect(await alertsOf(serial)).to.have.length(1);
    const { rows } = await db.query("SELECT store FROM price_reports WHERE serial = $1", [serial]);
    expect(rows[0].store, "an empty store field is no store").to.equal(null);

    const english = await formPost({ serial, secret, lang: "en", price: "1499.00", store: "<b>shop</b>" }, ip);
    expect(english.body).to.include("<h1>Thank you</h1>");
    expect(english.body).to.include("1424.05 – 1648.90");
    expect(english.body).to.include(`?s=${encodeURIComponent(secret)}&amp;lang=en"`);
    const bad = await formPost({ serial, secret, price: "abc" }, ip);
    expect(bad.status).to.equal(400);
    expect(bad.body).to.include("请输入有效的价格");
  });

  it("is rate-limited per client IP", async () => {
    const brand = await soldBrand();
    const { serial, secret } = brand.codes[0]!;
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) statuses.push((await report({ serial, secret, price: "1499.00" }, ip)).status);
    expect(statuses.slice(0, 20).every((s) => s === 201)).to.equal(true);
    expect(statuses.slice(20)).to.deep.equal([429, 429]);
    const form = await formPost({ serial, secret, price: "1499.00" }, ip);
    expect(form.status).to.equal(429);
    expect(form.headers.get("retry-after")).to.match(/^\d+$/);
    expect(form.body).to.include("提交过于频繁");
    expect((await report({ serial, secret, price: "1499.00" }, freshIp())).status, "another IP").to.equal(201);
  });
});
