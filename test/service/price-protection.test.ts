import { expect } from "chai";
import type pg from "pg";
import { EXPECTED } from "../helpers/price-protection-expected.ts";
import { type BrandFixture, type Stack, startChainStack, type ChainStack } from "../helpers/stack.ts";

/**
 * The fixed data set of test/core/price-protection.test.ts, posted through the API: period
 * [2026-11-01, 2026-11-11) China time, previous period [2026-10-22, 2026-11-01). Guide prices:
 * national 1000.00 (band 950.00–1100.00), CN-SH 1200.00 (band 1140.00–1320.00) from 2026-11-06.
 */

describe("price-protection report", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let brand: BrandFixture;

  before(async () => {
    services = await startChainStack({ keyIndex: 15 });
    ({ stack, db } = services);

    brand = await stack.createBrand({ codes: 74 });
    const put = async (path: string, body: unknown) => expect((await stack.request("PUT", path, { token: brand.apiKey, body })).status).to.equal(200);
    await put("/api/v1/parties/store-xuhui", { kind: "store", name: "徐汇店", region: "CN-SH" });
    await put("/api/v1/parties/store-gz", { kind: "store", name: "广州店", region: "CN-GZ" });
    await put("/api/v1/parties/store-tianhe", { kind: "store", name: "天河店", region: "CN-GZ" });
    await db.query(
      `INSERT INTO guide_prices (brand_id, gtin, region, amount, currency, below, above, valid_from)
       SELECT id, $2, t.region, t.amount, 'CNY', 0.05, 0.10, t.valid_from FROM brands,
              (VALUES (NULL, 1000.00, '2026-01-01T00:00:00+08:00'::timestamptz), ('CN-SH', 1200.00, '2026-11-06T00:00:00+08:00'::timestamptz))
                AS t(region, amount, valid_from)
        WHERE slug = $1`,
      [brand.slug, brand.gtin],
    );

    const serials = brand.codes.map((c) => c.serial);
    let next = 0;
    const take = (n: number) => serials.slice(next, (next += n));
    let id = 0;
    const sale = (party: string, n: number, occurredAt: string, amount: string | null) => ({
      id: `sale-${++id}`,
      type: "retail_sale",
      codes: take(n),
      occurredAt,
      party,
      ...(amount === null ? {} : { price: { amount, currency: "CNY" } }),
    });
    const events = [
      { id: "prod", type: "production", codes: serials, occurredAt: "2026-10-01T08:00:00+08:00", party: "factory-zunyi" },
      // previous period (and one sale just before it, in neither period)
      sale("store-pudong", 1, "2026-10-21T23:59:59+08:00", "1000.00"),
      sale("store-pudong", 1, "2026-10-22T00:00:00+08:00", "1000.00"),
      sale("store-pudong", 9, "2026-10-25T12:00:00+08:00", "800.00"),
      sale("store-xuhui", 4, "2026-10-26T12:00:00+08:00", "1000.00"),
      sale("store-tianhe", 25, "2026-10-31T23:59:59+08:00", "1000.00"),
      // the period
      sale("store-pudong", 1, "2026-11-01T00:00:00+08:00", "1000.00"),
      sale("store-pudong", 2, "2026-11-02T10:00:00+08:00", "980.00"),
      sale("store-pudong", 2, "2026-11-05T23:59:00+08:00", "1050.00"),
      sale("store-pudong", 1, "2026-11-07T12:00:00+08:00", "1200.00"),
      sale("store-pudong", 1, "2026-11-08T12:00:00+08:00", "1250.00"),
      sale("store-pudong", 1, "2026-11-09T12:00:00+08:00", "1150.00"),
      sale("store-xuhui", 1, "2026-11-03T12:00:00+08:00", "1000.00"),
      sale("store-xuhui", 1, "2026-11-04T12:00:00+08:00", "900.00"),
      sale("store-gz", 1, "2026-11-03T12:00:00+08:00", "1000.00"),
      sale("store-gz", 1, "2026-11-04T12:00:00+08:00", "1500.00"),
      sale("store-gz", 1, "2026-11-05T12:00:00+08:00", null),
      sale("store-tianhe", 19, "2026-11-02T12:00:00+08:00", "1000.00"),
      sale("store-tianhe", 1, "2026-11-10T12:00:00+08:00", "1200.00"),
      // the next period
      sale("store-pudong", 1, "2026-11-11T00:00:00+08:00", "1000.00"),
    ];
    expect(next).to.equal(74);
    const posted = await stack.postEvents(brand, events);
    expect(posted.status, JSON.stringify(posted.body)).to.equal(202);
  });
  after(async () => {
    await services?.stop();
  });

  const get = (query: string, token = brand.apiKey) => stack.request("GET", `/api/v1/reports/price-protection?${query}`, { token });

  it("matches the hand-computed expectation on the fixed data set", async () => {
    const r = await get("from=2026-11-01&to=2026-11-11");
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    expect(r.body).to.deep.equal({
      from: "2026-10-31T16:00:00.000Z",
      to: "2026-11-10T16:00:00.000Z",
      previous: { from: "2026-10-21T16:00:00.000Z", to: "2026-10-31T16:00:00.000Z" },
      currency: "CNY",
      policy: { minCompliance: 0.95, baseRate: 0.05, maxRate: 0.08, maxFall: 0.3 },
      stores: EXPECTED,
      totals: { sold: 33, previousSold: 39, guideRevenue: "33600.00", compensation: "2002.00" },
    });
    const same = await get(`from=${encodeURIComponent("2026-10-31T16:00:00Z")}&to=${encodeURIComponent("2026-11-11T00:00:00+08:00")}`);
    expect(same.body.stores).to.deep.equal(EXPECTED);
  });

  it("exports the report as CSV", async () => {
    const response = await fetch(`${stack.url}/api/v1/reports/price-protection?from=2026-11-01&to=2026-11-11&format=csv`, {
      headers: { authorization: `Bearer ${brand.apiKey}` },
    });
    expect(response.status).to.equal(200);
    expect(response.headers.get("content-type")).to.equal("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).to.equal('attachment; filename="price-protection-2026-11-01-2026-11-11.csv"');
    expect(await response.text()).to.equal(
      [
        "party,name,region,sold,previous_sold,volume_change,judged,within,excluded,compliance,guide_revenue,rate,compensation,currency",
        "store-gz,广州店,CN-GZ,3,0,,2,1,1,0.5,3000.00,0,0.00,CNY",
        "store-pudong,浦东专卖店,CN-SH,8,10,-0.2,8,8,0,1,8600.00,0.07,602.00,CNY",
        "store-tianhe,天河店,CN-GZ,20,25,-0.2,20,19,0,0.95,20000.00,0.07,1400.00,CNY",
        "store-xuhui,徐汇店,CN-SH,2,4,-0.5,2,1,0,0.5,2000.00,0,0.00,CNY",
        "",
      ].join("\r\n"),
    );
  });

  it("sets the brand's policy with validation, and the report follows it", async () => {
    const policy = (body: unknown) => stack.request("PUT", "/api/v1/reports/price-protection/policy", { token: brand.apiKey, body });
    const inverted = await policy({ baseRate: 0.09, maxRate: 0.08 });
    expect(inverted.status).to.equal(422);
    expect(inverted.body.field).to.equal("maxRate");
    expect((await policy({ maxFall: 0 })).status).to.equal(422);
    expect((await policy({ minCompliance: 1.5 })).status).to.equal(400);
    expect((await policy({ bonus: 1 })).status).to.equal(400);

    const set = await policy({ minCompliance: 0.9, baseRate: 0.04, maxRate: 0.1, maxFall: 0.5 });
    expect(set.status).to.equal(200);
    expect((await stack.request("GET", "/api/v1/reports/price-protection/policy", { token: brand.apiKey })).body).to.deep.equal({
      minCompliance: 0.9,
      baseRate: 0.04,
      maxRate: 0.1,
      maxFall: 0.5,
    });
    // a fall of 20 %: 0.04 + 0.06 × 0.2 / 0.5 = 0.064
    const r = await get("from=2026-11-01&to=2026-11-11");
    expect(r.body.stores.map((s: { party: string; rate: number; compensation: string }) => [s.party, s.rate, s.compensation])).to.deep.equal([
      ["store-gz", 0, "0.00"],
      ["store-pudong", 0.064, "550.40"],
      ["store-tianhe", 0.064, "1280.00"],
      ["store-xuhui", 0, "0.00"],
    ]);
    expect(r.body.totals.compensation).to.equal("1830.40");

    const reset = await policy({});
    expect(reset.body).to.deep.equal({ minCompliance: 0.95, baseRate: 0.05, maxRate: 0.08, maxFall: 0.3 });
  });

  it("is the brand's alone, and checks its period", async () => {
    expect((await get("from=2026-11-01&to=2026-11-11", "stk_nonsense")).status).to.equal(401);
    const other = await stack.createBrand({ codes: 1 });
    const theirs = await get("from=2026-11-01&to=2026-11-11", other.apiKey);
    expect(theirs.body.stores.map((s: { party: string; sold: number }) => [s.party, s.sold])).to.deep.equal([["store-pudong", 0]]);
    expect((await get("from=2026-11-11&to=2026-11-01")).status).to.equal(422);
    const notADay = await get("from=2026-02-29&to=2026-03-31");
    expect(notADay.status).to.equal(422);
    expect(notADay.body.field).to.equal("from");
    expect((await get("from=yesterday&to=2026-11-01")).status).to.equal(400);
    expect((await get("from=2020-01-01&to=2026-11-01")).status, "too long a period").to.equal(422);
  });
});
