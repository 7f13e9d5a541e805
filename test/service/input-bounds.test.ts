/**
 * Issue 16, points 4 and 5: hostile bodies against the real stack (PostgreSQL, Redis, a local chain).
 * An EPCIS capture whose numbers would be written out as hundreds of megabytes, and bodies nested
 * 10,000 and 200,000 levels deep on every kind of JSON route: each is a 4xx naming the problem, never a
 * 500, the process's heap does not balloon, and nothing is written.
 */
import { expect } from "chai";
import { signWebhook } from "../../service/ingest/signature.ts";
import { MAX_JSON_DEPTH } from "../../service/core/json-depth.ts";
import { ADMIN_TOKEN, startChainStack, type BrandFixture, type ChainStack } from "../helpers/stack.ts";

const CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", { example: "https://ns.example.com/epcis/" }];

/** `{"k": [[[ … ]]]}` as text: `levels` arrays inside the object (JSON.stringify of such a value would itself overflow). */
const deepArrays = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;

describe("hostile input: huge numbers and deep nesting (issue 16, points 4 and 5)", function () {
  this.timeout(180_000);
  let env: ChainStack;
  let brand: BrandFixture;

  before(async () => {
    env = await startChainStack({ keyIndex: 5 });
    brand = await env.stack.createBrand({ codes: 2 });
  });
  after(async () => {
    await env?.stop();
  });

  const count = async (table: string) =>
    Number((await env.db.query(`SELECT count(*) FROM ${table} WHERE brand_id = (SELECT id FROM brands WHERE slug = $1)`, [brand.slug])).rows[0].count);
  const written = async () => ({ events: await count("events"), epcis: await count("epcis_events"), captures: await count("epcis_captures") });
  const post = async (path: string, body: string, headers: Record<string, string>) => {
    const response = await fetch(`${env.stack.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const text = await response.text();
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: response.status, body: parsed };
  };
  const documentText = (events: string[]) =>
    `{"@context":${JSON.stringify(CONTEXT)},"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-11-20T09:30:00Z","epcisBody":{"eventList":[${events.join(",")}]}}`;
  const eventText = (extension: string) =>
    `{"type":"ObjectEvent","eventTime":"2026-11-20T09:30:00+08:00","eventTimeZoneOffset":"+08:00","epcList":["urn:epc:id:sgtin:6901234.056789.X1"],"action":"OBSERVE","example:reading":${extension}}`;
  const capture = (body: string) =>
    post(`/epcis/${brand.slug}/capture`, body, { "content-type": "application/ld+json", authorization: `Bearer ${brand.apiKey}` });

  describe("EPCIS numbers (point 4)", () => {
    it("an exponent that would write out hundreds of megabytes is a 400 naming the field, at once; nothing is stored", async () => {
      const before = await written();
      const heapBefore = process.memoryUsage().heapUsed;
      for (const huge of ["1e-400000000", "1e-600000000", "-2.5E-999999999"]) {
        const r = await capture(documentText([eventText('"2"'), eventText(JSON.stringify(huge))]));
        expect(r.status, JSON.stringify(r.body)).to.equal(400);
        expect(r.body.error).to.equal("invalid_document");
        expect(r.body.field).to.equal("epcisBody.eventList[1].example:reading");
        expect(r.body.message).to.match(/exponent/);
      }
      expect(process.memoryUsage().heapUsed - heapBefore, "the heap stays put (writing out 1e-400000000 took 800 MB)").to.be.below(100 * 1024 * 1024);
      expect(await written()).to.deep.equal(before);
    });

    it("a document of many numbers that grow when written out is refused past the bound; within it, captured", async () => {
      const before = await written();
      // 3 MB of "1e-1000": 300,000 numbers, each a thousand characters written out in full (300 MB).
      const many = `[${Array.from({ length: 300_000 }, () => '"1e-1000"').join(",")}]`;
      const refused = await capture(documentText([eventText(many)]));
      expect(refused.status, JSON.stringify(refused.body).slice(0, 500)).to.equal(400);
      expect(refused.body.field).to.match(/^epcisBody\.eventList\[0\]\.example:reading\[\d+\]$/);
      expect(refused.body.message).to.match(/longer than sent/);
      expect(await written()).to.deep.equal(before);

      // A megabyte of digits and a hundred thousand spaces around a number are read in one pass and captured.
      const fine = await capture(
        documentText([
          eventText(JSON.stringify(`${" ".repeat(100_000)}${"7".repeat(1_000_000)}.5${" ".repeat(100_000)}`)),
          eventText(JSON.stringify(`${" ".repeat(100_000)}1_0.5e-3x`)),
        ]),
      );
      expect(fine.status, JSON.stringify(fine.body).slice(0, 500)).to.equal(202);
      expect((await written()).epcis).to.equal(before.epcis + 2);
    });
  });

  describe("nesting depth (point 5)", () => {
    for (const levels of [10_000, 200_000]) {
      it(`${levels.toLocaleString("en")} levels deep in a signed webhook's data: 400, nothing written`, async () => {
        const before = await written();
        const body = `{"events":[{"id":"deep-${levels}","type":"production","codes":["${brand.codes[0]!.serial}"],"occurredAt":"2026-11-20T09:30:00+08:00","party":"factory-zunyi","data":{"x":${deepArrays(levels)}}}]}`;
        const r = await post(`/webhooks/${brand.slug}/events`, body, signWebhook(brand.webhookSecret, `msg_deep_${levels}`, body));
        expect(r.status, JSON.stringify(r.body)).to.equal(400);
        expect(r.body.error).to.equal("too_deep");
        expect(r.body.message).to.include(`${MAX_JSON_DEPTH} levels`);
        expect(await written()).to.deep.equal(before);
      });

      it(`${levels.toLocaleString("en")} levels deep in an EPCIS capture (API key and signed): 400, no job, nothing stored`, async () => {
        const before = await written();
        const body = documentText([eventText(deepArrays(levels))]);
        for (const r of [
          await capture(body),
          await post(`/epcis/${brand.slug}/capture`, body, signWebhook(brand.webhookSecret, `msg_epcis_deep_${levels}`, body)),
        ]) {
          expect(r.status, JSON.stringify(r.body)).to.equal(400);
          expect(r.body.error).to.equal("too_deep");
        }
        expect(await written()).to.deep.equal(before);
      });

      it(`${levels.toLocaleString("en")} levels deep on the store, admin and brand API routes: 400, nothing written`, async () => {
        const key = await env.stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: brand.apiKey });
        expect(key.status, JSON.stringify(key.body)).to.equal(201);
        const deep = deepArrays(levels);
        const before = await written();
        const brands = Number((await env.db.query("SELECT count(*) FROM brands")).rows[0].count);
        const answers = [
          await post(
            "/api/v1/store/events",
            `{"events":[{"id":"s1","type":"store_receiving","codes":["${brand.codes[0]!.serial}"],"occurredAt":"2026-11-20T09:30:00+08:00","party":"store-pudong","data":{"x":${deep}}}]}`,
            { authorization: `Bearer ${key.body.storeKey}` },
          ),
          await post("/api/v1/admin/brands", `{"slug":"deep-${levels}","name":${deep}}`, { authorization: `Bearer ${ADMIN_TOKEN}` }),
          await post("/api/v1/endpoints", `{"url":"https://example.com/hook","events":${deep}}`, { authorization: `Bearer ${brand.apiKey}` }),
        ];
        for (const r of answers) {
          expect(r.status, JSON.stringify(r.body)).to.equal(400);
          expect(r.body.error).to.equal("too_deep");
        }
        expect(Number((await env.db.query("SELECT count(*) FROM brands")).rows[0].count)).to.equal(brands);
        expect(await written()).to.deep.equal(before);
      });
    }

    it("brackets inside strings do not count, and a body at the limit is accepted", async () => {
      const inString = `{"events":[{"id":"brackets","type":"production","codes":["${brand.codes[1]!.serial}"],"occurredAt":"2026-11-20T09:30:00+08:00","party":"factory-zunyi","data":{"note":${JSON.stringify(`\\"${"[".repeat(10_000)}`)},"x":${deepArrays(MAX_JSON_DEPTH - 4)}}}]}`;
      // {"events":[{…"data":{"x": is four levels; the arrays bring it to exactly MAX_JSON_DEPTH.
      const r = await post(`/webhooks/${brand.slug}/events`, inString, signWebhook(brand.webhookSecret, "msg_brackets", inString));
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).to.equal(202);
      const over = inString.replace(deepArrays(MAX_JSON_DEPTH - 4), deepArrays(MAX_JSON_DEPTH - 3)).replace("brackets", "brackets-2");
      const refused = await post(`/webhooks/${brand.slug}/events`, over, signWebhook(brand.webhookSecret, "msg_brackets_2", over));
      expect(refused.status, JSON.stringify(refused.body)).to.equal(400);
    });

    it("a __proto__ key is still refused on the app's JSON routes, as Fastify refuses it", async () => {
      const r = await post("/api/v1/admin/brands", '{"slug":"proto-x","name":"n","__proto__":{"admin":true}}', { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect(r.status, JSON.stringify(r.body)).to.equal(400);
      expect(Number((await env.db.query("SELECT count(*) FROM brands WHERE slug = 'proto-x'")).rows[0].count)).to.equal(0);
    });
  });
});
