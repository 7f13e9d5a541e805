import { expect } from "chai";
import { lifecycle, type BrandFixture, type Stack, startChainStack, type ChainStack } from "../helpers/stack.ts";

describe("price and region checks, alerts", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;

  before(async () => {
    services = await startChainStack({ keyIndex: 16, env: { SEAL_INTERVAL_MS: "600000" } });
    ({ stack } = services);
  });
  after(async () => {
    await services?.stop();
  });

  async function brandWithBeijing(codes = 2): Promise<BrandFixture> {
    const brand = await stack.createBrand({ codes });
    const put = async (path: string, body: unknown) => expect((await stack.request("PUT", path, { token: brand.apiKey, body })).status, path).to.equal(200);
    await put("/api/v1/regions/CN-BJ", { name: "北京" });
    await put("/api/v1/parties/store-bj", { kind: "store", name: "北京王府井店", region: "CN-BJ" });
    await put("/api/v1/parties/store-grey", { kind: "store", name: "无授权商户", region: "CN-SH", authorised: false });
    return brand;
  }
  async function alerts(brand: BrandFixture, query = "") {
    const r = await stack.request("GET", `/api/v1/alerts${query}`, { token: brand.apiKey });
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    return r.body as { alerts: { id: string; kind: string; serial: string; party: string; details: any }[]; nextCursor: string | null };
  }
  const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * 3_600_000).toISOString();

  it("a bottle shipped to a distributor in one region and received by a store in another raises one diversion naming the distributor", async () => {
    const brand = await brandWithBeijing(1);
    const serial = brand.codes[0]!.serial; // minted for CN-SH
    const events = lifecycle([serial]);
    (events[3] as { party: string }).party = "store-bj";
    (events[4] as { party: string }).party = "store-bj";
    expect((await stack.postEvents(brand, events)).status).to.equal(202);
    const { alerts: found } = await alerts(brand);
    expect(found.map((a) => a.kind)).to.deep.equal(["diversion"]);
    const diversion = found[0]!;
    expect(diversion.serial).to.equal(serial);
    expect(diversion.party).to.equal("store-bj");
    expect(diversion.details).to.deep.include({ assigned: "CN-SH", found: "CN-BJ", responsible: "dist-shanghai", responsibleName: "上海经销商" });
    expect(diversion.details.path.map((p: { party: string }) => p.party)).to.deep.equal(["factory-zunyi", "wh-guiyang", "dist-shanghai", "store-bj"]);
    // the responsible distributor's alerts are found by party
    expect((await alerts(brand, "?party=dist-shanghai")).alerts).to.have.length(1);
  });

  it("a code minted without a region takes the region of the first distributor it is shipped to", async () => {
    const brand = await brandWithBeijing(0);
    const minted = await stack.request("POST", "/api/v1/codes", { token: brand.apiKey, body: { gtin: brand.gtin, count: 2, lot: "NOREGION" } });
    const [a, b] = (minted.body.codes as { serial: string }[]).map((c) => c.serial);
    const events = lifecycle([a!, b!]);
    expect((await stack.postEvents(brand, events.slice(0, 3))).status).to.equal(202);
    // a is received in Shanghai (its region now), b in Beijing
    expect(
      (
        await stack.postEvents(brand, [
          { id: "recv-a", type: "store_receiving", codes: [a], occurredAt: at(2), party: "store-pudong" },
          { id: "recv-b", type: "store_receiving", codes: [b], occurredAt: at(2), party: "store-bj" },
        ])
      ).status,
    ).to.equal(202);
    const { alerts: found } = await alerts(brand, "?kind=diversion");
    expect(found.map((x) => x.serial)).to.deep.equal([b]);
    expect(found[0]!.details.responsible).to.equal("dist-shanghai");
  });

  it("prices a sale against the band in force at the sale's time: 20 % under raises price_below, within raises nothing", async () => {
    const brand = await stack.createBrand({ codes: 4 });
    const guide = (body: Record<string, unknown>) =>
      stack.request("PUT", `/api/v1/products/${brand.gtin}/guide-price`, { token: brand.apiKey, body: { currency: "CNY", below: 0.05, above: 0.1, ...body } });
    expect((await guide({ amount: "1499.00", validFrom: at(24 * 30) })).status).to.equal(201);
    const raised = await guide({ amount: "1799.00", validFrom: at(24) });
    expect(raised.status).to.equal(201);
    expect(raised.body.band).to.deep.equal({ min: "1709.05", max: "1978.90" });
    const serials = brand.codes.map((c) => c.serial);
    const [p, i, o, r] = lifecycle(serials);
    expect((await stack.postEvents(brand, [p, i, o, r])).status).to.equal(202);
    const sale = (n: number, amount: string, hoursAgo: number) => ({
      id: `sale-${n}`,
      type: "retail_sale",
      codes: [serials[n]],
      occurredAt: at(hoursAgo),
      party: "store-pudong",
      price: { amount, currency: "CNY" },
    });
    expect(
      (
        await stack.postEvents(brand, [
          sale(0, "1439.20", 2), // 20 % under 1799 → below
          sale(1, "1799.00", 2), // within
          sale(2, "1499.00", 48), // within the band in force two days ago (1499), under today's
          sale(3, "2100.00", 2), // above
        ])
      ).status,
    ).to.equal(202);
    const { alerts: found } = await alerts(brand);
    expect(found.map((a) => [a.kind, a.serial]).sort()).to.deep.equal(
      [
        ["price_above", serials[3]],
        ["price_below", serials[0]],
      ].sort(),
    );
    const below = found.find((a) => a.kind === "price_below")!;
    expect(below.details).to.deep.include({ deviation: -0.2, band: { min: "1709.05", max: "1978.90" } });
    expect(below.details.guide).to.include({ amount: "1799.00", currency: "CNY" });
    const history = await stack.request("GET", `/api/v1/products/${brand.gtin}/guide-price`, { token: brand.apiKey });
    expect(history.body.prices.map((x: { amount: string }) => x.amount)).to.deep.equal(["1799.00", "1499.00"]);
  });

  it("raises each lifecycle anomaly: sold twice, received or sold after opened, sold without receiving, unauthorised receiver", async () => {
    const brand = await brandWithBeijing(4);
    const [twice, opened, unreceived, grey] = brand.codes.map((c) => c.serial);
    const [p, i, o] = lifecycle([twice!, opened!, unreceived!, grey!]);
    expect((await stack.postEvents(brand, [p, i, o])).status).to.equal(202);
    const ev = (id: string, type: string, serial: string, party: string, hoursAgo: number, extra = {}) => ({
      id,
      type,
      codes: [serial],
      occurredAt: at(hoursAgo),
      party,
      ...extra,
    });
    expect(
      (
        await stack.postEvents(brand, [
          ev("t-recv", "store_receiving", twice!, "store-pudong", 10),
          ev("t-sale1", "retail_sale", twice!, "store-pudong", 9),
          ev("t-sale2", "retail_sale", twice!, "store-pudong", 8),
          ev("o-open", "opened", opened!, "store-pudong", 10),
          ev("o-recv", "store_receiving", opened!, "store-pudong", 9),
          ev("o-sale", "retail_sale", opened!, "store-pudong", 8),
          ev("u-sale", "retail_sale", unreceived!, "store-pudong", 8),
          ev("g-recv", "store_receiving", grey!, "store-grey", 8),
        ])
      ).status,
    ).to.equal(202);
    const { alerts: found } = await alerts(brand);
    const kinds = (serial: string) =>
      found
        .filter((a) => a.serial === serial)
        .map((a) => a.kind)
        .sort();
    expect(kinds(twice!)).to.deep.equal(["sold_twice"]);
    expect(kinds(opened!)).to.deep.equal(["received_after_opened", "sold_after_opened"]);
    expect(kinds(unreceived!)).to.deep.equal(["sold_without_receiving"]);
    expect(kinds(grey!)).to.deep.equal(["unauthorised_receiver"]);
  });

  it("raises the same alerts whether a new bottle's whole life comes in one delivery (checked from memory) or one event per delivery (read back from the ledger)", async () => {
    const brand = await brandWithBeijing(2);
    expect(
      (
        await stack.request("PUT", `/api/v1/products/${brand.gtin}/guide-price`, {
          token: brand.apiKey,
          body: { amount: "1499.00", currency: "CNY", below: 0.05, above: 0.1, validFrom: at(24 * 30) },
        })
      ).status,
    ).to.equal(201);
    const [x, y] = brand.codes.map((c) => c.serial);
    // PostgreSQL keeps microseconds (rounded) and amounts with two decimals: the checks must see what the ledger holds.
    const steps = [
      { type: "production", party: "factory-zunyi", occurredAt: at(24 * 7) },
      { type: "warehouse_in", party: "wh-guiyang", occurredAt: at(24 * 6) },
      { type: "warehouse_out", party: "wh-guiyang", to: "dist-shanghai", occurredAt: at(24 * 5) },
      { type: "store_receiving", party: "store-bj", occurredAt: at(24 * 3) },
      { type: "retail_sale", party: "store-bj", occurredAt: at(24 * 2), price: { amount: "1000", currency: "CNY" } },
      { type: "opened", party: "store-bj", occurredAt: "2026-01-02T03:04:05.9999996+08:00" },
      { type: "retail_sale", party: "store-bj", occurredAt: at(2), price: { amount: "1200.5", currency: "CNY" } },
      { type: "store_receiving", party: "store-grey", occurredAt: at(1) },
    ];
    const life = (tag: string, serial: string) => steps.map((event, i) => ({ id: `${tag}-${i}`, codes: [serial], ...event }));
    expect((await stack.postEvents(brand, life("x", x!))).status).to.equal(202);
    for (const event of life("y", y!)) expect((await stack.postEvents(brand, [event])).status).to.equal(202);
    const { alerts: found } = await alerts(brand, "?limit=100");
    const of = (serial: string) =>
      found
        .filter((a) => a.serial === serial)
        .map(({ kind, party, details }) => ({ kind, party, details }))
        .sort((a, b) => a.kind.localeCompare(b.kind));
    expect(of(x!).map((a) => a.kind)).to.deep.equal([
      "diversion",
      "price_below",
      "price_below",
      "received_after_opened",
      "sold_after_opened",
      "sold_twice",
      "unauthorised_receiver",
    ]);
    expect(of(x!)).to.deep.equal(of(y!));
    const prices = of(x!)
      .filter((a) => a.kind === "price_below")
      .map((a) => a.details.price.amount)
      .sort();
    expect(prices).to.deep.equal(["1000.00", "1200.50"]);
    expect(of(x!).find((a) => a.kind === "sold_after_opened")!.details.openedAt).to.equal("2026-01-01T19:04:06.000Z");
  });

  it("lists alerts newest first with a cursor, filtered by kind and since; another brand sees none", async () => {
    const brand = await brandWithBeijing(5);
    const serials = brand.codes.map((c) => c.serial);
    const events = lifecycle(serials);
    for (const e of events.slice(3)) (e as { party: string }).party = "store-bj";
    expect((await stack.postEvents(brand, events)).status).to.equal(202);
    const first = await alerts(brand, "?limit=2");
    expect(first.alerts).to.have.length(2);
    expect(first.nextCursor).to.be.a("string");
    const second = await alerts(brand, `?limit=2&cursor=${first.nextCursor}`);
    const third = await alerts(brand, `?limit=2&cursor=${second.nextCursor}`);
    const ids = [...first.alerts, ...second.alerts, ...third.alerts].map((a) => Number(a.id));
    expect(ids).to.have.length(5);
    expect(ids).to.deep.equal([...ids].sort((a, b) => b - a));
    expect(third.nextCursor).to.equal(null);
    expect((await alerts(brand, "?kind=price_below")).alerts).to.deep.equal([]);
    expect((await alerts(brand, `?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).alerts).to.deep.equal([]);
    expect((await stack.request("GET", "/api/v1/alerts?cursor=garbage", { token: brand.apiKey })).status).to.equal(400);
    const other = await stack.createBrand({ codes: 0 });
    expect((await alerts(other)).alerts).to.deep.equal([]);
  });

  it("refuses a guide price for an unknown product or region, or a bad band", async () => {
    const brand = await stack.createBrand({ codes: 0 });
    const put = (gtin: string, body: Record<string, unknown>) =>
      stack.request("PUT", `/api/v1/products/${gtin}/guide-price`, {
        token: brand.apiKey,
        body: { amount: "1499.00", currency: "CNY", below: 0.05, above: 0.1, ...body },
      });
    expect((await put("12345678901231", {})).body.field).to.equal("gtin");
    expect((await put(brand.gtin, { region: "CN-XX" })).body.field).to.equal("region");
    expect((await put(brand.gtin, { below: 1.5 })).status).to.equal(400);
    expect((await put(brand.gtin, { amount: "-3" })).status).to.equal(400);
    expect((await put(brand.gtin, { amount: "0" })).status).to.equal(422);
  });
});
