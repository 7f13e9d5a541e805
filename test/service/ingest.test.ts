import { expect } from "chai";
import type pg from "pg";
import { signWebhook, verifySignature } from "../../service/ingest/signature.ts";
import { lifecycle, type BrandFixture, type Stack, startChainStack, type ChainStack } from "../helpers/stack.ts";

describe("webhook ingest", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let brand: BrandFixture;

  before(async () => {
    // Long seal interval: these tests look at what is stored, not at anchoring.
    services = await startChainStack({ keyIndex: 3, env: { SEAL_INTERVAL_MS: "600000" } });
    ({ stack, db } = services);
  });
  after(async () => {
    await services?.stop();
  });
  beforeEach(async () => {
    brand = await stack.createBrand({ codes: 3 });
  });

  async function counts(slug = brand.slug): Promise<{ events: number; links: number; messages: number }> {
    const {
      rows: [row],
    } = await db.query<{ events: number; links: number; messages: number }>(
      `SELECT (SELECT count(*)::int FROM events e JOIN brands b ON b.id = e.brand_id WHERE b.slug = $1) AS events,
              (SELECT count(*)::int FROM links l JOIN codes c ON c.serial = l.serial JOIN brands b ON b.id = c.brand_id WHERE b.slug = $1) AS links,
              (SELECT count(*)::int FROM webhook_messages m JOIN brands b ON b.id = m.brand_id WHERE b.slug = $1) AS messages`,
      [slug],
    );
    return row!;
  }

  async function postRaw(body: string, headers: Record<string, string>, slug = brand.slug) {
    const response = await fetch(`${stack.url}/webhooks/${slug}/events`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    return { status: response.status, body: (await response.json()) as any };
  }

  describe("duplicates and replays store nothing twice", () => {
    it("the same webhook-id again returns the first answer with every event marked duplicate", async () => {
      const events = lifecycle(brand.codes.map((c) => c.serial));
      const first = await stack.postEvents(brand, events, "msg_replay_1");
      expect(first.status).to.equal(202);
      const before = await counts();
      const again = await stack.postEvents(brand, events, "msg_replay_1");
      expect(again.status).to.equal(202);
      expect(again.body.events.map((e: { status: string }) => e.status)).to.deep.equal(events.map(() => "duplicate"));
      expect(again.body.events.map((e: { eventHash: string }) => e.eventHash)).to.deep.equal(first.body.events.map((e: { eventHash: string }) => e.eventHash));
      expect(await counts()).to.deep.equal(before);
    });

    it("a replay of the exact same signed request is a duplicate too", async () => {
      const body = JSON.stringify({ events: lifecycle([brand.codes[0]!.serial]).slice(0, 1) });
      const headers = signWebhook(brand.webhookSecret, "msg_exact", body);
      expect((await postRaw(body, headers)).status).to.equal(202);
      const before = await counts();
      const replay = await postRaw(body, headers);
      expect(replay.status).to.equal(202);
      expect(replay.body.events[0].status).to.equal("duplicate");
      expect(await counts()).to.deep.equal(before);
    });

    it("an event id the brand already sent is a duplicate under a new webhook-id; new events beside it are stored", async () => {
      const [production, warehouseIn] = lifecycle(brand.codes.map((c) => c.serial));
      const first = await stack.postEvents(brand, [production!]);
      const before = await counts();
      const second = await stack.postEvents(brand, [production!, warehouseIn!]);
      expect(second.status).to.equal(202);
      expect(second.body.events.map((e: { status: string }) => e.status)).to.deep.equal(["duplicate", "accepted"]);
      expect(second.body.events[0].eventId).to.equal(first.body.events[0].eventId);
      const after = await counts();
      expect(after.events).to.equal(before.events + 1);
      expect(after.links).to.equal(before.links + 3);
    });

    it("concurrent deliveries of the same webhook-id store it once", async () => {
      const events = lifecycle([brand.codes[1]!.serial]).slice(0, 2);
      const results = await Promise.all(Array.from({ length: 5 }, () => stack.postEvents(brand, events, "msg_concurrent")));
      expect(results.map((r) => r.status)).to.deep.equal([202, 202, 202, 202, 202]);
      const accepted = results.filter((r) => r.body.events[0].status === "accepted");
      expect(accepted).to.have.length(1);
      expect((await counts()).events).to.equal(2);
    });
  });

  describe("signatures: 401 and nothing stored", () => {
    const body = () => JSON.stringify({ events: lifecycle([brand.codes[0]!.serial]).slice(0, 1) });

    it("a signature made with another secret", async () => {
      const other = await stack.createBrand({ codes: 1 });
      const text = body();
      const r = await postRaw(text, signWebhook(other.webhookSecret, "msg_x", text));
      expect(r.status).to.equal(401);
      expect(r.body).to.deep.include({ error: "unauthorized", message: "no webhook-signature matches the body with this brand's secret" });
      expect((await counts()).events).to.equal(0);
    });

    it("a body changed after signing", async () => {
      const text = body();
      const r = await postRaw(text.replace("factory-zunyi", "wh-guiyang"), signWebhook(brand.webhookSecret, "msg_y", text));
      expect(r.status).to.equal(401);
      expect((await counts()).events).to.equal(0);
    });

    it("missing headers, each named", async () => {
      const text = body();
      const headers = signWebhook(brand.webhookSecret, "msg_z", text);
      const r = await postRaw(text, { "webhook-id": headers["webhook-id"]! });
      expect(r.status).to.equal(401);
      expect(r.body.message).to.equal("missing signature headers: webhook-timestamp, webhook-signature");
      expect((await postRaw(text, {})).status).to.equal(401);
    });

    it("a timestamp more than 5 minutes old or ahead", async () => {
      const text = body();
      const old = await postRaw(text, signWebhook(brand.webhookSecret, "msg_old", text, new Date(Date.now() - 6 * 60_000)));
      expect(old.status).to.equal(401);
      expect(old.body.message).to.match(/more than 5 minutes in the past/);
      const ahead = await postRaw(text, signWebhook(brand.webhookSecret, "msg_new", text, new Date(Date.now() + 6 * 60_000)));
      expect(ahead.status).to.equal(401);
      expect(ahead.body.message).to.match(/in the future/);
      const within = await postRaw(text, signWebhook(brand.webhookSecret, "msg_ok", text, new Date(Date.now() - 4 * 60_000)));
      expect(within.status).to.equal(202);
    });

    it("matches the Standard Webhooks test vector (clock pinned by not checking the tolerance)", () => {
      const vector = {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp: 1614265330,
        body: '{"test": 2432232314}',
        signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
      };
      const headers = signWebhook(vector.secret, vector.id, vector.body, new Date(vector.timestamp * 1000));
      expect(headers["webhook-signature"]).to.equal(vector.signature);
      // and verification refuses it now, because it is years old
      expect(() =>
        verifySignature(vector.body, { "webhook-id": vector.id, "webhook-timestamp": String(vector.timestamp), "webhook-signature": vector.signature }, [
          vector.secret,
        ]),
      ).to.throw(/more than 5 minutes in the past/);
    });

    it("an unknown brand is 404", async () => {
      const text = body();
      expect((await postRaw(text, signWebhook(brand.webhookSecret, "msg_u", text), "no-such-brand")).status).to.equal(404);
    });
  });

  describe("invalid events: 422 listing every problem, nothing stored", () => {
    it("schema problems of several events, each with index, id and field", async () => {
      const serial = brand.codes[0]!.serial;
      const r = await stack.postEvents(brand, [
        { id: "ok-1", type: "production", codes: [serial], occurredAt: "2026-11-14T09:00:00+08:00", party: "factory-zunyi" },
        { id: "bad-type", type: "teleported", codes: [serial], occurredAt: "2026-11-14T09:00:00+08:00", party: "factory-zunyi" },
        { id: "bad-time", type: "warehouse_in", codes: [serial], occurredAt: "2026-11-14 09:00", party: "wh-guiyang", colour: "red" },
        { id: "no-to", type: "warehouse_out", codes: [serial], occurredAt: "2026-11-14T09:00:00Z", party: "wh-guiyang" },
        { type: "retail_sale", codes: [], occurredAt: "2026-11-14T09:00:00Z", party: "store-pudong", price: { amount: "1,499", currency: "cny" } },
        "not an object",
      ]);
      expect(r.status).to.equal(422);
      expect(r.body.error).to.equal("invalid_events");
      const problems = r.body.problems as { index: number; id?: string; field: string; message: string }[];
      const has = (index: number, field: string, message?: RegExp) =>
        expect(
          problems.some((p) => p.index === index && p.field === field && (!message || message.test(p.message))),
          `${index} ${field}: ${JSON.stringify(problems)}`,
        ).to.equal(true);
      has(1, "type", /must be one of production/);
      expect(problems.find((p) => p.index === 1)!.id).to.equal("bad-type");
      has(2, "occurredAt", /ISO 8601/);
      has(2, "colour", /unknown field/);
      has(3, "to", /must name the party it ships to/);
      has(4, "id");
      has(4, "codes");
      has(4, "price.amount");
      has(4, "price.currency");
      has(5, "(event)", /JSON object/);
      expect(problems.some((p) => p.index === 0)).to.equal(false);
      expect((await counts()).events).to.equal(0);
    });

    it("unknown parties, unknown codes, another brand's codes and codes with no production yet", async () => {
      const other = await stack.createBrand({ codes: 1 });
      const [a, b] = brand.codes.map((c) => c.serial);
      const r = await stack.postEvents(brand, [
        { id: "p1", type: "production", codes: [a], occurredAt: "2026-11-14T09:00:00+08:00", party: "factory-nowhere" },
        { id: "p2", type: "warehouse_out", codes: [a], occurredAt: "2026-11-14T09:00:00+08:00", party: "wh-guiyang", to: "dist-nowhere" },
        { id: "p3", type: "warehouse_in", codes: [b, "NOSUCHCODE", other.codes[0]!.serial], occurredAt: "2026-11-14T09:00:00+08:00", party: "wh-guiyang" },
      ]);
      expect(r.status).to.equal(422);
      expect(r.body.problems).to.deep.include.members([
        { index: 0, id: "p1", field: "party", message: 'unknown party "factory-nowhere"' },
        { index: 1, id: "p2", field: "to", message: 'unknown party "dist-nowhere"' },
        { index: 2, id: "p3", field: "codes[0]", message: `code "${b}" has no production event yet` },
        { index: 2, id: "p3", field: "codes[1]", message: 'unknown code "NOSUCHCODE"' },
        // another brand's code looks exactly like one that does not exist
        { index: 2, id: "p3", field: "codes[2]", message: `unknown code "${other.codes[0]!.serial}"` },
      ]);
      expect((await counts()).events).to.equal(0);
      expect((await counts(other.slug)).events).to.equal(0);
    });

    it("a production event earlier in the same request counts", async () => {
      const serial = brand.codes[2]!.serial;
      const r = await stack.postEvents(brand, lifecycle([serial]).slice(0, 2));
      expect(r.status).to.equal(202);
    });

    it("one bad event among good ones stores none of them", async () => {
      const events = lifecycle(brand.codes.map((c) => c.serial));
      (events[3] as { party: string }).party = "store-unknown";
      const r = await stack.postEvents(brand, events);
      expect(r.status).to.equal(422);
      expect(r.body.problems).to.have.length(1);
      expect(await counts()).to.deep.equal({ events: 0, links: 0, messages: 0 });
      // and once fixed, the delivery is accepted
      expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
    });

    it("the same event id twice in one request", async () => {
      const [production] = lifecycle([brand.codes[0]!.serial]);
      const r = await stack.postEvents(brand, [production, production]);
      expect(r.status).to.equal(422);
      expect(r.body.problems).to.deep.equal([{ index: 1, id: production!.id, field: "id", message: "the same id as event 0 of this request" }]);
    });

    it("data with NUL characters, and broken or misshapen JSON", async () => {
      const serial = brand.codes[0]!.serial;
      const nul = await stack.postEvents(brand, [
        { id: "nul", type: "production", codes: [serial], occurredAt: "2026-11-14T09:00:00Z", party: "factory-zunyi", data: { note: "a\u0000b" } },
      ]);
      expect(nul.status).to.equal(422);
      expect(nul.body.problems[0].field).to.equal("data");
      for (const text of ["{", "[]", '{"events": {}}', '{"events": [], "extra": 1}', "null"]) {
        const r = await postRaw(text, signWebhook(brand.webhookSecret, `msg_${text.length}`, text));
        expect(r.status, text).to.be.oneOf([400, 422]);
        expect(r.body.error).to.be.a("string");
      }
      expect((await counts()).events).to.equal(0);
    });
  });

  describe("sizes", () => {
    it("more than 1,000 events → 413", async () => {
      const events = Array.from({ length: 1_001 }, (_, i) => ({
        id: `e${i}`,
        type: "production",
        codes: [brand.codes[0]!.serial],
        occurredAt: "2026-11-14T09:00:00Z",
        party: "factory-zunyi",
      }));
      const r = await stack.postEvents(brand, events);
      expect(r.status).to.equal(413);
      expect(r.body.message).to.match(/at most 1000 events/);
    });

    it("a body over the limit → 413 before anything else", async () => {
      const text = JSON.stringify({ events: [], padding: "x".repeat(5 * 1024 * 1024) });
      const r = await postRaw(text, signWebhook(brand.webhookSecret, "msg_big", text));
      expect(r.status).to.equal(413);
      expect((await counts()).events).to.equal(0);
    });

    it("1,000 events for 1,000 bottles in one request are accepted", async () => {
      const big = await stack.createBrand({ codes: 1_000 });
      const events = big.codes.map((c, i) => ({
        id: `prod-${i}`,
        type: "production",
        codes: [c.serial],
        occurredAt: "2026-11-14T09:00:00+08:00",
        party: "factory-zunyi",
      }));
      const r = await stack.postEvents(big, events);
      expect(r.status).to.equal(202);
      expect(r.body.events).to.have.length(1_000);
      expect((await counts(big.slug)).links).to.equal(1_000);
    });
  });
});
