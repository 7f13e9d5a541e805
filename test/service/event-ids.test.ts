/**
 * Issue 16, point 10: an event id names one event. The same id with the same content is a duplicate,
 * with other content a 409 naming the id; concurrent deliveries of one id store it once and never
 * answer 5xx; EPCIS, webhook and store ids share one namespace per brand without colliding by accident.
 */
import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type pg from "pg";
import { signWebhook } from "../../service/ingest/signature.ts";
import { type BrandFixture, type ChainStack, type Stack, lifecycle, startChainStack } from "../helpers/stack.ts";

describe("event ids: idempotency and conflicts (issue 16, point 10)", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;

  before(async () => {
    services = await startChainStack({ keyIndex: 6 });
    ({ stack, db } = services);
  });
  after(async () => {
    await services?.stop();
  });

  const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
  const count = async (brand: BrandFixture, where = "true", params: unknown[] = []) =>
    (await db.query(`SELECT count(*)::int AS n FROM events WHERE brand_id = (SELECT id FROM brands WHERE slug = $1) AND ${where}`, [brand.slug, ...params]))
      .rows[0].n as number;
  const storeKey = async (brand: BrandFixture) =>
    (await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: brand.apiKey })).body.storeKey as string;
  const postStore = (key: string, events: unknown[]) => stack.request("POST", "/api/v1/store/events", { token: key, body: { events } });
  /** A delivery signed with its own webhook-id, raw (the answers are compared as they come). */
  const deliver = async (brand: BrandFixture, events: unknown[], webhookId = `msg_${randomUUID()}`) => {
    const body = JSON.stringify({ events });
    const r = await fetch(`${stack.url}/webhooks/${brand.slug}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signWebhook(brand.webhookSecret, webhookId, body) },
      body,
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  const capture = (brand: BrandFixture, events: Record<string, unknown>[]) =>
    stack.request("POST", `/epcis/${brand.slug}/capture`, {
      token: brand.apiKey,
      headers: { "content-type": "application/ld+json" },
      body: {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        type: "EPCISDocument",
        schemaVersion: "2.0",
        creationDate: new Date().toISOString(),
        epcisBody: { eventList: events },
      },
    });
  const observe = (eventID: string, epc = "urn:epc:id:sgtin:6901234.056789.A1") => ({
    type: "ObjectEvent",
    eventID,
    eventTime: ago(60_000),
    eventTimeZoneOffset: "+08:00",
    epcList: [epc],
    action: "OBSERVE",
  });

  it("the same id with other content is a 409 naming the id (webhook, replayed webhook-id, store, EPCIS); with the same content a duplicate", async () => {
    const brand = await stack.createBrand({ codes: 2 });
    const [a, b] = brand.codes.map((c) => c.serial) as [string, string];
    const production = { id: "p-1", type: "production", codes: [a, b], occurredAt: ago(3_600_000), party: "factory-zunyi", data: { line: 3, shift: "night" } };
    const first = await deliver(brand, [production], "msg_first");
    expect(first.status).to.equal(202);

    // the same event again, keys in another order and codes in another order: a duplicate
    const same = await deliver(brand, [
      { data: { shift: "night", line: 3 }, party: "factory-zunyi", occurredAt: production.occurredAt, codes: [b, a], type: "production", id: "p-1" },
    ]);
    expect(same.status, JSON.stringify(same.body)).to.equal(202);
    expect(same.body.events[0]).to.deep.equal({ ...first.body.events[0], status: "duplicate" });

    // the same id saying something else: a conflict naming the id, and nothing of the request stored
    const other = await deliver(brand, [
      { ...production, id: "p-2" },
      { ...production, codes: [a], data: { line: 4 } },
    ]);
    expect(other.status, JSON.stringify(other.body)).to.equal(409);
    expect(other.body.error).to.equal("conflict");
    expect(other.body.problems).to.deep.equal([
      { index: 1, id: "p-1", field: "id", message: `already names a different event (event ${first.body.events[0].eventId}); send a new id for a new event` },
    ]);
    expect(await count(brand, "brand_event_id = 'p-2'")).to.equal(0);
    expect((await deliver(brand, [{ ...production, occurredAt: ago(7_200_000) }])).status, "another time").to.equal(409);

    // a replayed webhook-id: the same delivery is a duplicate; other events under it a conflict
    expect((await deliver(brand, [production], "msg_first")).status).to.equal(202);
    const reused = await deliver(brand, [{ ...production, id: "p-3" }], "msg_first");
    expect(reused.status).to.equal(409);
    expect(reused.body.field).to.equal("webhook-id");
    expect((await deliver(brand, [{ ...production, data: { line: 5 } }], "msg_first")).status).to.equal(409);

    // a store's own ids, under their own names
    const key = await storeKey(brand);
    const shipped = lifecycle([a, b]);
    expect((await deliver(brand, [shipped[1], shipped[2]])).status).to.equal(202);
    const receiving = { id: "r-1", type: "store_receiving", codes: [a], occurredAt: ago(60_000), party: "store-pudong" };
    expect((await postStore(key, [receiving])).status).to.equal(202);
    expect((await postStore(key, [receiving])).body.events[0].status).to.equal("duplicate");
    const changed = await postStore(key, [{ ...receiving, codes: [b] }]);
    expect(changed.status).to.equal(409);
    expect(changed.body.problems).to.have.length(1);
    expect(changed.body.problems[0]).to.include({ index: 0, id: "r-1", field: "id" });

    // EPCIS: the same eventID with another event
    const id = `urn:uuid:${randomUUID()}`;
    const observed = observe(id);
    expect((await capture(brand, [observed])).body).to.include({ success: true, stored: 1 });
    expect((await capture(brand, [observed])).body, "again").to.include({ success: true, stored: 0, duplicates: 1 });
    const epcisOther = await capture(brand, [{ ...observed, epcList: ["urn:epc:id:sgtin:6901234.056789.B2"] }]);
    expect(epcisOther.status).to.equal(409);
    expect(epcisOther.body.problems[0]).to.include({ index: 0, id, field: "eventID" });
  });

  it("an EPCIS eventID equal to an earlier webhook event id is a 409, not a 500, and nothing is stored", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    const id = `urn:uuid:${randomUUID()}`;
    expect(
      (await deliver(brand, [{ id, type: "production", codes: [brand.codes[0]!.serial], occurredAt: ago(3_600_000), party: "factory-zunyi" }])).status,
    ).to.equal(202);
    const r = await capture(brand, [observe(`urn:uuid:${randomUUID()}`), observe(id)]);
    expect(r.status, JSON.stringify(r.body)).to.equal(409);
    expect(r.body.problems).to.deep.equal([
      { index: 1, id, field: "eventID", message: "already names another event of this brand (sent by webhook, by a store, or recorded by SealTrace)" },
    ]);
    expect(
      (await db.query("SELECT count(*)::int AS n FROM epcis_events WHERE brand_id = (SELECT id FROM brands WHERE slug = $1)", [brand.slug])).rows[0].n,
    ).to.equal(0);

    // and the other way round: a webhook event under an id an EPCIS event already has
    const epcisId = `urn:uuid:${randomUUID()}`;
    expect((await capture(brand, [observe(epcisId)])).body).to.include({ success: true, stored: 1 });
    const webhook = await deliver(brand, [{ id: epcisId, type: "opened", codes: [brand.codes[0]!.serial], occurredAt: ago(60_000), party: "store-pudong" }]);
    expect(webhook.status, JSON.stringify(webhook.body)).to.equal(409);
    expect(webhook.body.problems[0]).to.include({ index: 0, id: epcisId, field: "id" });
  });

  it("ten concurrent identical deliveries store the event once: one accepted, the others duplicates, never a 5xx", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    const serial = brand.codes[0]!.serial;
    const event = { id: "p-race", type: "production", codes: [serial], occurredAt: ago(3_600_000), party: "factory-zunyi" };
    const answers = await Promise.all(Array.from({ length: 10 }, () => deliver(brand, [event])));
    expect(answers.map((r) => r.status)).to.deep.equal(Array(10).fill(202));
    expect(answers.map((r) => r.body.events[0].status).sort()).to.deep.equal(["accepted", ...Array(9).fill("duplicate")]);
    expect(new Set(answers.map((r) => r.body.events[0].eventId)).size).to.equal(1);
    expect(await count(brand, "brand_event_id = 'p-race'")).to.equal(1);

    // the same through a store key
    expect((await deliver(brand, lifecycle([serial]).slice(1, 3))).status).to.equal(202);
    const key = await storeKey(brand);
    const receiving = { id: "r-race", type: "store_receiving", codes: [serial], occurredAt: ago(60_000), party: "store-pudong" };
    const stores = await Promise.all(Array.from({ length: 10 }, () => postStore(key, [receiving])));
    expect(stores.map((r) => r.status)).to.deep.equal(Array(10).fill(202));
    expect(stores.map((r) => r.body.events[0].status).sort()).to.deep.equal(["accepted", ...Array(9).fill("duplicate")]);

    // one id, different contents on different bottles (no lock in common), at once: one stored, the others 409
    const more = await stack.createBrand({ codes: 10 });
    const contested = await Promise.all(
      more.codes.map((c) => deliver(more, [{ id: "p-contested", type: "production", codes: [c.serial], occurredAt: ago(3_600_000), party: "factory-zunyi" }])),
    );
    expect(contested.map((r) => r.status).sort()).to.deep.equal([202, ...Array(9).fill(409)]);
    expect(await count(more, "brand_event_id = 'p-contested'")).to.equal(1);
  });

  it("ids starting with store: are a store's alone: a brand cannot take a store's id by webhook or EPCIS", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    const serial = brand.codes[0]!.serial;
    expect((await deliver(brand, lifecycle([serial]).slice(0, 3))).status).to.equal(202);
    const taken = await deliver(brand, [
      { id: "store:store-pudong:r-1", type: "store_receiving", codes: [serial], occurredAt: ago(60_000), party: "store-pudong" },
    ]);
    expect(taken.status).to.equal(422);
    expect(taken.body.problems[0]).to.include({ index: 0, id: "store:store-pudong:r-1", field: "id" });
    const epcis = await capture(brand, [observe("store:store-pudong:r-1")]);
    expect(epcis.body).to.include({ success: false, stored: 0 });
    expect(epcis.body.errors[0]).to.include({ field: "eventID" });

    // so the store's own r-1 is its own event, not "a duplicate" of the brand's
    const mine = await postStore(await storeKey(brand), [
      { id: "r-1", type: "store_receiving", codes: [serial], occurredAt: ago(60_000), party: "store-pudong" },
    ]);
    expect(mine.status, JSON.stringify(mine.body)).to.equal(202);
    expect(mine.body.events[0]).to.include({ id: "r-1", status: "accepted" });
  });
});
