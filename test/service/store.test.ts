import { createHash } from "node:crypto";
import { expect } from "chai";
import type pg from "pg";
import { lifecycle, type BrandFixture, type Stack, startChainStack, type ChainStack } from "../helpers/stack.ts";

describe("store API", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;

  before(async () => {
    services = await startChainStack({ keyIndex: 13, env: { TRUST_PROXY: "1", RATE_LIMIT_PER_BOTTLE: "1000", RATE_LIMIT_PER_IP: "1000" } });
    ({ stack, db } = services);
  });
  after(async () => {
    await services?.stop();
  });

  async function storeKey(brand: BrandFixture, party = "store-pudong"): Promise<string> {
    const r = await stack.request("POST", `/api/v1/parties/${party}/store-keys`, { token: brand.apiKey });
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    return r.body.storeKey;
  }

  /** A brand whose bottles have been produced and shipped to the Shanghai distributor (not yet in a store). */
  async function shippedBrand(codes = 3): Promise<BrandFixture> {
    const brand = await stack.createBrand({ codes });
    const [production, whIn, whOut] = lifecycle(brand.codes.map((c) => c.serial));
    expect((await stack.postEvents(brand, [production, whIn, whOut])).status).to.equal(202);
    return brand;
  }

  async function guidePrice(brand: BrandFixture, amount: string, region: string | null = null, validFrom = "2026-01-01T00:00:00+08:00") {
    await db.query(
      `INSERT INTO guide_prices (brand_id, gtin, region, amount, currency, below, above, valid_from)
       SELECT id, $2, $3, $4, 'CNY', 0.05, 0.10, $5 FROM brands WHERE slug = $1`,
      [brand.slug, brand.gtin, region, amount, validFrom],
    );
  }

  const check = (key: string, query: string) => stack.request("GET", `/api/v1/store/check?${query}`, { token: key });
  const postStoreEvents = (key: string, events: unknown[]) => stack.request("POST", "/api/v1/store/events", { token: key, body: { events } });
  const kinds = (body: { warnings: { kind: string }[] }) => body.warnings.map((w) => w.kind);
  const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();

  it("lets the brand create store keys for its stores only, kept as SHA-256, and revoke them", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    const created = await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: brand.apiKey });
    expect(created.status).to.equal(201);
    expect(created.body.party).to.equal("store-pudong");
    expect(created.body.storeKey).to.match(/^sts_[A-Za-z0-9_-]{32}$/);
    const { rows } = await db.query("SELECT key_hash, revoked_at FROM store_keys WHERE id = $1", [created.body.id]);
    expect(rows[0].key_hash.equals(createHash("sha256").update(created.body.storeKey).digest())).to.equal(true);
    expect(rows[0].revoked_at).to.equal(null);

    expect((await stack.request("POST", "/api/v1/parties/dist-shanghai/store-keys", { token: brand.apiKey })).status, "a distributor").to.equal(422);
    expect((await stack.request("POST", "/api/v1/parties/nobody/store-keys", { token: brand.apiKey })).status).to.equal(404);
    expect(
      (await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: created.body.storeKey })).status,
      "a store key is not a brand key",
    ).to.equal(401);
    const other = await stack.createBrand({ codes: 1 });
    expect((await stack.request("DELETE", `/api/v1/store-keys/${created.body.id}`, { token: other.apiKey })).status, "another brand's key").to.equal(404);

    const list = await stack.request("GET", "/api/v1/parties/store-pudong/store-keys", { token: brand.apiKey });
    expect(list.body.keys.map((k: { id: string }) => k.id)).to.deep.equal([created.body.id]);
    expect(JSON.stringify(list.body)).not.to.include(created.body.storeKey);

    const serial = brand.codes[0]!.serial;
    expect((await check(created.body.storeKey, `serial=${serial}`)).status).to.equal(200);
    const revoked = await stack.request("DELETE", `/api/v1/store-keys/${created.body.id}`, { token: brand.apiKey });
    expect(revoked.status).to.equal(200);
    expect(revoked.body.revokedAt).to.be.a("string");
    expect((await check(created.body.storeKey, `serial=${serial}`)).status).to.equal(401);
    expect((await check("sts_nonsense", `serial=${serial}`)).status).to.equal(401);
    expect((await check(brand.apiKey, `serial=${serial}`)).status, "the brand key is not a store key").to.equal(401);
  });

  it("checks its own brand's bottles: region and price against the guide price in force for the store's region", async () => {
    const brand = await shippedBrand(1);
    const key = await storeKey(brand);
    const serial = brand.codes[0]!.serial;
    await guidePrice(brand, "1499.00"); // national
    await guidePrice(brand, "1599.00", "CN-SH", "2026-06-01T00:00:00+08:00"); // Shanghai's, in force
    await guidePrice(brand, "1999.00", "CN-SH", "2099-01-01T00:00:00+08:00"); // not yet

    const plain = await check(key, `serial=${serial}&lang=en`);
    expect(plain.status).to.equal(200);
    expect(plain.body).to.deep.include({
      authentic: true,
      serial,
      region: { ok: true, assigned: "CN-SH", store: "CN-SH" },
      price: { guide: { amount: "1599.00", currency: "CNY" }, band: { min: "1519.05", max: "1758.90" }, verdict: null, deviation: null },
    });
    expect(plain.body.product).to.deep.equal({ gtin: brand.gtin, name: "飞天茅台 53%vol 500ml" });
    expect(kinds(plain.body), "about to receive a shipped bottle: nothing to say").to.deep.equal([]);

    // before receiving it, a sale is flagged; after, it is not
    const early = await check(key, `serial=${serial}&price=1599.00`);
    expect(early.body.price.verdict).to.equal("within");
    expect(kinds(early.body)).to.deep.equal(["not_received_here"]);
    const [, , , receiving] = lifecycle([serial]);
    // a store may date its events at most 72 hours back (the brand's storeBackdateHours)
    expect((await postStoreEvents(key, [{ ...receiving, occurredAt: hoursAgo(1) }])).status).to.equal(202);

    const verdicts: Record<string, string> = {};
    for (const price of ["1599.00", "1519.05", "1519.04", "1758.90", "1758.91", "1200"]) {
      const r = await check(key, `serial=${serial}&price=${price}&lang=en`);
      expect(r.status).to.equal(200);
      verdicts[price] = r.body.price.verdict;
    }
    expect(verdicts).to.deep.equal({ "1599.00": "within", "1519.05": "within", "1519.04": "below", "1758.90": "within", "1758.91": "above", 1200: "below" });
    const low = await check(key, `serial=${serial}&price=1200&lang=en`);
    expect(low.body.price.deviation).to.equal(-0.2495);
    expect(low.body.warnings).to.deep.equal([
      { kind: "price_below_band", message: "The price 1200.00 is below the guide-price band 1519.05–1758.90 (-24.9%)." },
    ]);
    const usd = await check(key, `serial=${serial}&price=200.00&currency=USD`);
    expect(usd.body.price).to.deep.include({ verdict: "other_currency", deviation: null });
    expect((await check(key, `serial=${serial}&price=1,599`)).status).to.equal(400);

    // no guide price for another region's store: the national one applies
    await stack.request("PUT", "/api/v1/parties/store-gz", { token: brand.apiKey, body: { kind: "store", name: "广州店", region: "CN-GZ" } });
    const gz = await check(await storeKey(brand, "store-gz"), `serial=${serial}&price=1499.00&lang=en`);
    expect(gz.body.region).to.deep.equal({ ok: false, assigned: "CN-SH", store: "CN-GZ" });
    expect(gz.body.price).to.deep.include({ guide: { amount: "1499.00", currency: "CNY" }, verdict: "within" });
    expect(kinds(gz.body)).to.deep.equal(["not_received_here", "wrong_region"]);
  });

  it("says nothing but authentic false about another brand's bottle or an unknown serial", async () => {
    const brand = await shippedBrand(1);
    const other = await shippedBrand(1);
    await guidePrice(other, "1499.00");
    const key = await storeKey(brand);
    const foreign = await check(key, `serial=${other.codes[0]!.serial}&price=1499.00`);
    expect(foreign.status).to.equal(200);
    expect(foreign.body).to.deep.equal({ authentic: false });
    expect((await check(key, "serial=NOSUCHSERIAL0000&price=1499.00")).body).to.deep.equal({ authentic: false });
  });

  it("tells the shop what it must know: sold before, opened, never produced, received by another store", async () => {
    const brand = await stack.createBrand({ codes: 3 });
    const [sold, opened, blank] = brand.codes;
    const key = await storeKey(brand);
    const events = lifecycle([sold!.serial, opened!.serial]);
    expect((await stack.postEvents(brand, events)).status).to.equal(202);
    const r = await check(key, `serial=${sold!.serial}&intent=receiving&lang=en`);
    // sold an hour ago by this very store: not yet "sold before" for a consumer, but already sold for a shop
    expect(kinds(r.body)).to.deep.equal(["already_sold", "already_received_here"]);
    expect(r.body.warnings[0].message).to.match(/^Already sold on /);

    const capPage = await fetch(opened!.capUrl.replace(/^http:\/\/[^/]+/, stack.url), { headers: { "x-forwarded-for": "192.0.2.80" } });
    expect(capPage.status).to.equal(200);
    const o = await check(key, `serial=${opened!.serial}&price=1499.00`);
    expect(kinds(o.body)).to.include("opened");
    expect(o.body.warnings.find((w: { kind: string }) => w.kind === "opened").message).to.match(/^此瓶已于 .* 开启/);

    expect(kinds((await check(key, `serial=${blank!.serial}&lang=en`)).body)).to.deep.equal(["not_produced", "never_shipped"]);

    // received by another store: a sale here is suspicious, and so is receiving it here
    const moved = await shippedBrand(1);
    await stack.request("PUT", "/api/v1/parties/store-xuhui", { token: moved.apiKey, body: { kind: "store", name: "徐汇店", region: "CN-SH" } });
    const xuhui = await storeKey(moved, "store-xuhui");
    const pudong = await storeKey(moved);
    const [, , , receiving] = lifecycle([moved.codes[0]!.serial]);
    expect((await postStoreEvents(xuhui, [{ ...receiving, party: "store-xuhui", occurredAt: hoursAgo(1) }])).status).to.equal(202);
    expect(kinds((await check(pudong, `serial=${moved.codes[0]!.serial}&intent=receiving`)).body)).to.deep.equal(["received_elsewhere"]);
    expect(kinds((await check(pudong, `serial=${moved.codes[0]!.serial}&intent=sale`)).body)).to.deep.equal(["not_received_here"]);
  });

  it("posts its own receiving and sale events, idempotently, and refuses others' (403 naming the field)", async () => {
    const brand = await shippedBrand(3);
    const key = await storeKey(brand);
    const [a, b, c] = brand.codes.map((code) => code.serial) as [string, string, string];
    const receiving = { id: "r-1001", type: "store_receiving", codes: [a, b], occurredAt: hoursAgo(2), party: "store-pudong" };
    const sale = {
      id: "s-1001",
      type: "retail_sale",
      codes: [a],
      occurredAt: hoursAgo(1),
      party: "store-pudong",
      price: { amount: "1499.00", currency: "CNY" },
    };

    const first = await postStoreEvents(key, [receiving, sale]);
    expect(first.status, JSON.stringify(first.body)).to.equal(202);
    expect(first.body.events.map((e: { id: string; status: string }) => [e.id, e.status])).to.deep.equal([
      ["r-1001", "accepted"],
      ["s-1001", "accepted"],
    ]);
    const again = await postStoreEvents(key, [receiving]);
    expect(again.status).to.equal(202);
    expect(again.body.events[0]).to.deep.equal({ ...first.body.events[0], status: "duplicate" });

    // stored like any event, with the store's id under its own prefix, and anchored into the bottle's chain
    const { rows } = await db.query("SELECT brand_event_id, type, party, price_amount::text AS price, webhook_id FROM events WHERE id = $1", [
      first.body.events[1].eventId,
    ]);
    expect(rows[0]).to.deep.equal({
      brand_event_id: "store:store-pudong:s-1001",
      type: "retail_sale",
      party: "store-pudong",
      price: "1499.00",
      webhook_id: null,
    });
    const bundle = await stack.waitAnchored(a, brand.codes[0]!.secret);
    expect(bundle.events.map((e) => e.event.type)).to.deep.equal(["production", "warehouse_in", "warehouse_out", "store_receiving", "retail_sale"]);

    // another store's party, or a type a store does not post: 403 naming the field, nothing stored
    const otherParty = await postStoreEvents(key, [
      { ...sale, id: "s-2", codes: [b] },
      { ...sale, id: "s-3", codes: [b], party: "dist-shanghai" },
    ]);
    expect(otherParty.status).to.equal(403);
    expect(otherParty.body).to.include({ error: "forbidden", field: "events[1].party" });
    const otherType = await postStoreEvents(key, [
      { id: "x-1", type: "warehouse_out", codes: [b], occurredAt: "2026-11-21T10:00:00+08:00", party: "store-pudong", to: "store-pudong" },
    ]);
    expect(otherType.status).to.equal(403);
    expect(otherType.body.field).to.equal("events[0].type");
    const { rows: none } = await db.query("SELECT count(*)::int AS n FROM events WHERE brand_event_id IN ('store:store-pudong:s-2', 'store:store-pudong:s-3')");
    expect(none[0].n).to.equal(0);

    // problems are listed like the webhook's, with the store's own ids; another brand's code is unknown
    const other = await shippedBrand(1);
    const invalid = await postStoreEvents(key, [
      { ...sale, id: "s-4", codes: [other.codes[0]!.serial] },
      { ...sale, id: "s-5", price: { amount: "abc", currency: "CNY" } },
    ]);
    expect(invalid.status).to.equal(422);
    expect(invalid.body.error).to.equal("invalid_events");
    expect(
      invalid.body.problems.some((p: { index: number; id: string; field: string }) => p.index === 1 && p.id === "s-5" && p.field === "price.amount"),
      JSON.stringify(invalid.body),
    ).to.equal(true);
    const unknownCode = await postStoreEvents(key, [{ ...sale, id: "s-4", codes: [other.codes[0]!.serial] }]);
    expect(unknownCode.status).to.equal(422);
    expect(unknownCode.body.problems).to.deep.equal([{ index: 0, id: "s-4", field: "codes[0]", message: `unknown code "${other.codes[0]!.serial}"` }]);
    expect((await stack.request("POST", "/api/v1/store/events", { token: brand.apiKey, body: { events: [sale] } })).status, "the brand key").to.equal(401);

    // two stores may use the same ids: each store's are its own
    await stack.request("PUT", "/api/v1/parties/store-xuhui", { token: brand.apiKey, body: { kind: "store", name: "徐汇店", region: "CN-SH" } });
    const xuhui = await postStoreEvents(await storeKey(brand, "store-xuhui"), [{ ...receiving, codes: [c], party: "store-xuhui" }]);
    expect(xuhui.status).to.equal(202);
    expect(xuhui.body.events[0]).to.include({ id: "r-1001", status: "accepted" });
  });

  it("a page visit with a store key of the bottle's brand is not a consumer scan, and neither is a check", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    const { serial, url } = brand.codes[0]!;
    expect((await stack.postEvents(brand, lifecycle([serial]))).status).to.equal(202);
    const key = await storeKey(brand);
    const path = new URL(url).pathname + new URL(url).search;
    const visit = (headers: Record<string, string>) =>
      fetch(`${stack.url}${path}`, { headers }).then(async (r) => ({ status: r.status, body: await r.text() }));
    const count = (body: string) => Number(/data-scan-count="(\d+)"/.exec(body)![1]);

    expect((await check(key, `serial=${serial}&price=1499.00`)).status).to.equal(200);
    const byStore = await visit({ authorization: `Bearer ${key}`, "x-forwarded-for": "192.0.2.61" });
    expect(byStore.status).to.equal(200);
    expect(count(byStore.body)).to.equal(0);
    const scans = async () => (await db.query("SELECT count(*)::int AS n FROM scans WHERE serial = $1", [serial])).rows[0].n;
    expect(await scans()).to.equal(0);

    // another brand's store key counts like anyone else
    const other = await stack.createBrand({ codes: 1 });
    const foreignKey = await storeKey(other);
    expect(count((await visit({ authorization: `Bearer ${foreignKey}`, "x-forwarded-for": "192.0.2.62" })).body)).to.equal(1);
    expect(await scans()).to.equal(1);
  });
});
