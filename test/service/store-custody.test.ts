/**
 * Issue 16, point 3: what a store key may write. Each test performs the attack with a real store key
 * against the real stack (PostgreSQL, Redis, a local chain) and sees it refused with 422 naming the
 * field and reason, and nothing of the request stored.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { expect } from "chai";
import type pg from "pg";
import { type BrandFixture, type ChainStack, type Stack, startChainStack } from "../helpers/stack.ts";

const HOUR = 3_600_000;
/** An ISO time `ms` from now, with China's offset as stores send it. */
const at = (ms: number) => {
  const local = new Date(Date.now() + ms + 8 * HOUR).toISOString().replace("Z", "+08:00");
  return local;
};

describe("store keys write only within their store (issue 16, point 3)", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;

  before(async () => {
    services = await startChainStack({ keyIndex: 5 });
    ({ stack, db } = services);
  });
  after(async () => {
    await services?.stop();
  });

  interface Shop {
    brand: BrandFixture;
    pudong: string;
    xuhui: string;
    gz: string;
    serials: string[];
  }

  /** A brand with three stores (two in Shanghai, one in Guizhou) and `codes` bottles shipped to the Shanghai distributor two days ago. */
  async function shop(codes = 3): Promise<Shop> {
    const brand = await stack.createBrand({ codes });
    const put = async (path: string, body: unknown) => expect((await stack.request("PUT", path, { token: brand.apiKey, body })).status).to.equal(200);
    await put("/api/v1/parties/store-xuhui", { kind: "store", name: "徐汇店", region: "CN-SH" });
    await put("/api/v1/parties/store-gz", { kind: "store", name: "贵阳店", region: "CN-GZ" });
    const key = async (party: string) => {
      const r = await stack.request("POST", `/api/v1/parties/${party}/store-keys`, { token: brand.apiKey });
      expect(r.status).to.equal(201);
      return r.body.storeKey as string;
    };
    const serials = brand.codes.map((c) => c.serial);
    const p = randomBytes(3).toString("hex");
    const shipped = await stack.postEvents(brand, [
      { id: `${p}-prod`, type: "production", codes: serials, occurredAt: at(-4 * 24 * HOUR), party: "factory-zunyi" },
      { id: `${p}-whin`, type: "warehouse_in", codes: serials, occurredAt: at(-3 * 24 * HOUR), party: "wh-guiyang" },
      { id: `${p}-whout`, type: "warehouse_out", codes: serials, occurredAt: at(-2 * 24 * HOUR), party: "wh-guiyang", to: "dist-shanghai" },
    ]);
    expect(shipped.status, JSON.stringify(shipped.body)).to.equal(202);
    return { brand, pudong: await key("store-pudong"), xuhui: await key("store-xuhui"), gz: await key("store-gz"), serials };
  }

  const post = (key: string, events: unknown[]) => stack.request("POST", "/api/v1/store/events", { token: key, body: { events } });
  const receiving = (party: string, codes: string[], occurredAt = at(-HOUR)) => ({
    id: `r-${randomUUID()}`,
    type: "store_receiving",
    codes,
    occurredAt,
    party,
  });
  const sale = (party: string, serial: string, occurredAt = at(-60_000)) => ({
    id: `s-${randomUUID()}`,
    type: "retail_sale",
    codes: [serial],
    occurredAt,
    party,
    price: { amount: "1499.00", currency: "CNY" },
  });
  const storeEvents = async (brand: BrandFixture) =>
    (
      await db.query("SELECT count(*)::int AS n FROM events WHERE brand_id = (SELECT id FROM brands WHERE slug = $1) AND brand_event_id LIKE 'store:%'", [
        brand.slug,
      ])
    ).rows[0].n as number;
  const alerts = async (brand: BrandFixture) =>
    (await db.query("SELECT kind, party FROM alerts WHERE brand_id = (SELECT id FROM brands WHERE slug = $1) ORDER BY id", [brand.slug])).rows as {
      kind: string;
      party: string | null;
    }[];
  /** The 422's one problem, checked: field and a reason matching `reason`. */
  function refused(response: { status: number; body: any }, field: string, reason: RegExp): void {
    expect(response.status, JSON.stringify(response.body)).to.equal(422);
    expect(response.body.error).to.equal("invalid_events");
    expect(response.body.problems, JSON.stringify(response.body)).to.have.length(1);
    expect(response.body.problems[0].field).to.equal(field);
    expect(response.body.problems[0].message).to.match(reason);
  }

  it("store A cannot mark store B's received bottle sold, nor receive it: 422, nothing stored", async () => {
    const {
      brand,
      pudong,
      xuhui,
      serials: [bottle, other],
    } = await shop(2);
    expect((await post(xuhui, [receiving("store-xuhui", [bottle!])])).status).to.equal(202);
    const before = await storeEvents(brand);

    refused(await post(pudong, [sale("store-pudong", bottle!)]), "codes[0]", /is held by another store \(received by store-xuhui/);
    refused(await post(pudong, [receiving("store-pudong", [bottle!])]), "codes[0]", /is held by another store/);
    // one bad bottle among good ones: the whole request is refused
    const mixed = await post(pudong, [receiving("store-pudong", [other!, bottle!])]);
    expect(mixed.status).to.equal(422);
    expect(mixed.body.problems.map((p: { field: string }) => p.field)).to.deep.equal(["codes[1]"]);
    expect(await storeEvents(brand), "nothing of the refused requests").to.equal(before);

    // store B still sells its own bottle; afterwards nobody sells or receives it again
    expect((await post(xuhui, [sale("store-xuhui", bottle!)])).status).to.equal(202);
    refused(await post(xuhui, [sale("store-xuhui", bottle!)]), "codes[0]", /was already sold/);
    refused(await post(pudong, [receiving("store-pudong", [bottle!])]), "codes[0]", /was already sold/);
  });

  it("a store cannot receive a bottle shipped to another region (no diversion alert blaming that region's distributor), nor one never shipped", async () => {
    const {
      brand,
      gz,
      pudong,
      serials: [shipped],
    } = await shop(1);
    refused(
      await post(gz, [receiving("store-gz", [shipped!])]),
      "codes[0]",
      /was shipped to dist-shanghai in region CN-SH, not to this store or its region \(CN-GZ\)/,
    );
    expect(await alerts(brand), "no diversion alert").to.deep.equal([]);

    const fresh = await stack.createBrand({ codes: 1 });
    const key = (await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: fresh.apiKey })).body.storeKey as string;
    const serial = fresh.codes[0]!.serial;
    expect(
      (await stack.postEvents(fresh, [{ id: "p-1", type: "production", codes: [serial], occurredAt: at(-2 * HOUR), party: "factory-zunyi" }])).status,
    ).to.equal(202);
    refused(await post(key, [receiving("store-pudong", [serial])]), "codes[0]", /has not been shipped/);

    // the store of the distributor's region receives it
    expect((await post(pudong, [receiving("store-pudong", [shipped!])])).status).to.equal(202);
    refused(await post(pudong, [receiving("store-pudong", [shipped!])]), "codes[0]", /was already received by this store/);
  });

  it("a store sells only bottles it received, unless the brand's storeSellsUnreceived allows it; never another store's", async () => {
    const {
      brand,
      pudong,
      xuhui,
      serials: [a, b, c],
    } = await shop(3);
    refused(await post(pudong, [sale("store-pudong", a!)]), "codes[0]", /has not been received by this store: record its store_receiving first/);
    // receiving and sale in one request are checked in order
    const both = await post(pudong, [receiving("store-pudong", [a!], at(-2 * HOUR)), sale("store-pudong", a!, at(-HOUR))]);
    expect(both.status, JSON.stringify(both.body)).to.equal(202);

    // The members' settings (issue 20) travel with them.
    const memberDefaults = { memberPointsPerBottle: 10, memberLevelPoints: [0, 100, 500], smsGatewayUrl: null, smsGatewaySecret: null };
    expect((await stack.request("GET", "/api/v1/settings", { token: brand.apiKey })).body).to.deep.equal({
      storeBackdateHours: 72,
      storeSellsUnreceived: false,
      ...memberDefaults,
    });
    expect((await stack.request("PATCH", "/api/v1/settings", { token: pudong, body: { storeSellsUnreceived: true } })).status, "a store key").to.equal(401);
    expect((await stack.request("PATCH", "/api/v1/settings", { token: brand.apiKey, body: {} })).status).to.equal(400);
    expect((await stack.request("PATCH", "/api/v1/settings", { token: brand.apiKey, body: { storeBackdateHours: -1 } })).status).to.equal(400);
    expect((await stack.request("PATCH", "/api/v1/settings", { token: brand.apiKey, body: { storeBackdateHours: 8761 } })).status).to.equal(400);
    const allowed = await stack.request("PATCH", "/api/v1/settings", { token: brand.apiKey, body: { storeSellsUnreceived: true } });
    expect(allowed.status).to.equal(200);
    expect(allowed.body).to.deep.equal({ storeBackdateHours: 72, storeSellsUnreceived: true, ...memberDefaults });

    expect((await post(pudong, [sale("store-pudong", b!)])).status, "a shipped bottle it never received").to.equal(202);
    expect((await post(xuhui, [receiving("store-xuhui", [c!])])).status).to.equal(202);
    refused(await post(pudong, [sale("store-pudong", c!)]), "codes[0]", /is held by another store/);
  });

  it("event times: never in the future (store, webhook and EPCIS alike), 5 minutes of clock skew tolerated", async () => {
    const {
      brand,
      pudong,
      serials: [a, b],
    } = await shop(2);
    refused(await post(pudong, [receiving("store-pudong", [a!], at(10 * 60_000))]), "occurredAt", /lies in the future/);
    expect((await post(pudong, [receiving("store-pudong", [a!], at(4 * 60_000))])).status, "4 minutes ahead: clock skew").to.equal(202);
    refused(await post(pudong, [sale("store-pudong", a!, at(24 * HOUR))]), "occurredAt", /lies in the future/);

    const webhook = await stack.postEvents(brand, [
      { id: `w-${randomUUID()}`, type: "opened", codes: [b!], occurredAt: at(10 * 60_000), party: "dist-shanghai" },
    ]);
    refused(webhook, "occurredAt", /lies in the future/);

    const capture = await stack.request("POST", `/epcis/${brand.slug}/capture`, {
      token: brand.apiKey,
      headers: { "content-type": "application/ld+json" },
      body: {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        type: "EPCISDocument",
        schemaVersion: "2.0",
        creationDate: new Date().toISOString(),
        epcisBody: {
          eventList: [
            {
              type: "ObjectEvent",
              eventID: `urn:uuid:${randomUUID()}`,
              eventTime: new Date(Date.now() + 10 * 60_000).toISOString(),
              eventTimeZoneOffset: "+08:00",
              epcList: ["urn:epc:id:sgtin:6901234.056789.X1"],
              action: "OBSERVE",
            },
          ],
        },
      },
    });
    expect(capture.status).to.equal(202);
    expect(capture.body).to.include({ success: false, stored: 0 });
    expect(capture.body.errors).to.have.length(1);
    expect(capture.body.errors[0]).to.include({ index: 0, field: "eventTime" });
    expect(capture.body.errors[0].reason).to.match(/lies in the future/);
    expect(
      (await db.query("SELECT count(*)::int AS n FROM epcis_events WHERE brand_id = (SELECT id FROM brands WHERE slug = $1)", [brand.slug])).rows[0].n,
    ).to.equal(0);
  });

  it("backdating: not before a guide price took effect beyond the window, not into an earlier price-protection period, not before the bottle's previous step", async () => {
    const {
      brand,
      pudong,
      serials: [a, b],
    } = await shop(2);
    // the guide price fell 4 days ago: a sale dated before it would be judged against the old, higher band
    for (const [amount, days] of [
      ["1799.00", 30],
      ["1499.00", 4],
    ] as const) {
      const r = await stack.request("PUT", `/api/v1/products/${brand.gtin}/guide-price`, {
        token: brand.apiKey,
        body: { amount, currency: "CNY", below: 0.05, above: 0.1, validFrom: new Date(Date.now() - days * 24 * HOUR).toISOString() },
      });
      expect(r.status, JSON.stringify(r.body)).to.equal(201);
    }
    // received 2 days ago (within the default 72 h), as the shipment allows
    expect((await post(pudong, [receiving("store-pudong", [a!, b!], at(-47 * HOUR))])).status).to.equal(202);
    refused(await post(pudong, [sale("store-pudong", a!, at(-5 * 24 * HOUR))]), "occurredAt", /is more than 72 hours before it was received/);
    refused(await post(pudong, [sale("store-pudong", a!, at(-48 * HOUR))]), "occurredAt", /is before the bottle's previous step \(store_receiving/);

    // a brand that wants a tighter window: a sale shifted a day back, into last week's price-protection period, is refused
    expect((await stack.request("PATCH", "/api/v1/settings", { token: brand.apiKey, body: { storeBackdateHours: 12 } })).status).to.equal(200);
    refused(await post(pudong, [sale("store-pudong", a!, at(-24 * HOUR))]), "occurredAt", /is more than 12 hours before it was received/);
    const sold = await post(pudong, [sale("store-pudong", a!, at(-11 * HOUR))]);
    expect(sold.status, JSON.stringify(sold.body)).to.equal(202);
    const { rows } = await db.query("SELECT count(*)::int AS n FROM events WHERE brand_id = (SELECT id FROM brands WHERE slug = $1) AND type = 'retail_sale'", [
      brand.slug,
    ]);
    expect(rows[0].n, "only the sale within the window").to.equal(1);
  });
});
