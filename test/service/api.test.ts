import { expect } from "chai";
import { ADMIN_TOKEN, METRICS_TOKEN, gtinFrom, lifecycle, type BrandFixture, type Stack, startChainStack, type ChainStack } from "../helpers/stack.ts";

describe("set-up, proof and operations API", function () {
  this.timeout(120_000);
  let services: ChainStack;
  let stack: Stack;
  let brand: BrandFixture;

  before(async () => {
    services = await startChainStack({ keyIndex: 4 });
    ({ stack } = services);
    brand = await stack.createBrand({ codes: 2 });
  });
  after(async () => {
    await services?.stop();
  });

  describe("brands (admin)", () => {
    it("needs the admin token", async () => {
      for (const token of [undefined, "wrong-token-000000000", brand.apiKey]) {
        const r = await stack.request("POST", "/api/v1/admin/brands", { token, body: { slug: "nope", name: "Nope" } });
        expect(r.status, String(token)).to.equal(401);
        expect(r.body.error).to.equal("unauthorized");
      }
    });

    it("creates a brand once, returning an API key and a whsec_ secret; a second time is 409", async () => {
      const r = await stack.request("POST", "/api/v1/admin/brands", { token: ADMIN_TOKEN, body: { slug: "wuliangye-test", name: "五粮液" } });
      expect(r.status).to.equal(201);
      expect(r.body.slug).to.equal("wuliangye-test");
      expect(r.body.apiKey).to.match(/^stk_[A-Za-z0-9_-]{32}$/);
      expect(r.body.webhookSecret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const again = await stack.request("POST", "/api/v1/admin/brands", { token: ADMIN_TOKEN, body: { slug: "wuliangye-test", name: "x" } });
      expect(again.status).to.equal(409);
      expect(again.body).to.include({ error: "conflict", field: "slug" });
    });

    it("refuses a bad slug or unknown fields with the field named", async () => {
      const bad = await stack.request("POST", "/api/v1/admin/brands", { token: ADMIN_TOKEN, body: { slug: "Bad Slug!", name: "x" } });
      expect(bad.status).to.equal(400);
      expect(bad.body.field).to.equal("slug");
      const extra = await stack.request("POST", "/api/v1/admin/brands", { token: ADMIN_TOKEN, body: { slug: "fine-slug", name: "x", owner: "me" } });
      expect(extra.status).to.equal(400);
      expect(extra.body.field).to.equal("owner");
      const broken = await stack.request("POST", "/api/v1/admin/brands", { token: ADMIN_TOKEN, body: "{not json" });
      expect(broken.status).to.equal(400);
    });
  });

  describe("brand set-up", () => {
    it("needs the brand's API key", async () => {
      const r = await stack.request("PUT", "/api/v1/regions/CN-BJ", { body: { name: "北京" } });
      expect(r.status).to.equal(401);
    });

    it("validates GTIN check digits and normalises to 14 digits", async () => {
      const bad = await stack.request("PUT", "/api/v1/products/6901234567891", { token: brand.apiKey, body: { name: "x" } });
      expect(bad.status).to.equal(422);
      expect(bad.body).to.include({ field: "gtin" });
      const gtin13 = gtinFrom("0690123456780").slice(1);
      const ok = await stack.request("PUT", `/api/v1/products/${gtin13}`, { token: brand.apiKey, body: { name: "五粮液 52%vol", volumeMl: 500 } });
      expect(ok.status).to.equal(200);
      expect(ok.body).to.deep.equal({ gtin: `0${gtin13}`, name: "五粮液 52%vol", volumeMl: 500 });
    });

    it("refuses a party in an unknown region, and an unknown party kind", async () => {
      const region = await stack.request("PUT", "/api/v1/parties/store-x", { token: brand.apiKey, body: { kind: "store", name: "x", region: "CN-XX" } });
      expect(region.status).to.equal(422);
      expect(region.body.field).to.equal("region");
      const kind = await stack.request("PUT", "/api/v1/parties/store-x", { token: brand.apiKey, body: { kind: "shop", name: "x", region: "CN-SH" } });
      expect(kind.status).to.equal(400);
      expect(kind.body.field).to.equal("kind");
    });

    it("mints codes with unguessable secrets and GS1 Digital Link URLs", async () => {
      const r = await stack.request("POST", "/api/v1/codes", { token: brand.apiKey, body: { gtin: brand.gtin, count: 5, lot: "L1" } });
      expect(r.status).to.equal(201);
      const codes = r.body.codes as { serial: string; secret: string; url: string }[];
      expect(new Set(codes.map((c) => c.serial)).size).to.equal(5);
      for (const code of codes) {
        expect(code.secret).to.match(/^[A-Za-z0-9_-]{22}$/);
        expect(code.url).to.equal(`${stack.url}/01/${brand.gtin}/21/${code.serial}?s=${code.secret}`);
      }
      const unknownProduct = await stack.request("POST", "/api/v1/codes", { token: brand.apiKey, body: { gtin: gtinFrom("1234567890123"), count: 1 } });
      expect(unknownProduct.status).to.equal(422);
      expect(unknownProduct.body.field).to.equal("gtin");
      const tooMany = await stack.request("POST", "/api/v1/codes", { token: brand.apiKey, body: { gtin: brand.gtin, count: 10_001 } });
      expect(tooMany.status).to.equal(400);
      expect(tooMany.body.field).to.equal("count");
    });

    it("rotates the webhook secret: both work during the grace period, then only the new one", async () => {
      const own = await stack.createBrand({ codes: 2 });
      const rotated = await stack.request("POST", "/api/v1/webhook-secrets/rotate", { token: own.apiKey, body: { graceSeconds: 3_600 } });
      expect(rotated.status).to.equal(201);
      expect(rotated.body.webhookSecret).to.match(/^whsec_/);
      expect(new Date(rotated.body.previousValidUntil).getTime()).to.be.closeTo(Date.now() + 3_600_000, 60_000);
      const [production, warehouseIn] = lifecycle(own.codes.map((c) => c.serial));
      expect((await stack.postEvents(own, [production])).status).to.equal(202);
      expect((await stack.postEvents({ slug: own.slug, webhookSecret: rotated.body.webhookSecret }, [warehouseIn])).status).to.equal(202);
      // a second rotation with no grace retires both older secrets at once
      const again = await stack.request("POST", "/api/v1/webhook-secrets/rotate", { token: own.apiKey, body: { graceSeconds: 0 } });
      expect(again.status).to.equal(201);
      const old = await stack.postEvents(own, lifecycle(own.codes.map((c) => c.serial)).slice(2, 3));
      expect(old.status).to.equal(401);
    });
  });

  describe("proof bundles", () => {
    let serial: string;
    let secret: string;
    before(async () => {
      ({ serial, secret } = brand.codes[0]!);
      expect((await stack.postEvents(brand, lifecycle([serial]))).status).to.equal(202);
    });

    it("are served with the QR secret or the brand's own API key", async () => {
      expect((await stack.request("GET", `/api/v1/items/${serial}/proof?s=${secret}`)).status).to.equal(200);
      const byBrand = await stack.request("GET", `/api/v1/items/${serial}/proof`, { token: brand.apiKey });
      expect(byBrand.status).to.equal(200);
      expect(byBrand.body.serial).to.equal(serial);
    });

    it("a wrong or missing secret, another brand's key and an unknown serial all get the same 404", async () => {
      const other = await stack.createBrand({ codes: 1 });
      const answers = await Promise.all([
        stack.request("GET", `/api/v1/items/${serial}/proof?s=${secret.slice(0, -1)}x`),
        stack.request("GET", `/api/v1/items/${serial}/proof`),
        stack.request("GET", `/api/v1/items/${serial}/proof`, { token: other.apiKey }),
        stack.request("GET", `/api/v1/items/NOSUCHSERIAL/proof?s=${secret}`),
      ]);
      for (const answer of answers) {
        expect(answer.status).to.equal(404);
        expect(answer.body).to.deep.equal(answers[3]!.body);
      }
    });

    it("a batch that does not exist is 404; a bad seq is 400", async () => {
      expect((await stack.request("GET", "/api/v1/batches/999999")).status).to.equal(404);
      expect((await stack.request("GET", "/api/v1/batches/0")).status).to.equal(400);
      expect((await stack.request("GET", "/api/v1/batches/abc")).status).to.equal(400);
    });
  });

  describe("operations", () => {
    it("/healthz and /readyz report database, Redis and chain", async () => {
      expect((await stack.request("GET", "/healthz")).body).to.deep.equal({ status: "ok" });
      const ready = await stack.request("GET", "/readyz");
      expect(ready.status).to.equal(200);
      expect(ready.body).to.deep.equal({ status: "ready", checks: { database: "ok", redis: "ok", chain: "ok" } });
    });

    it("/metrics exposes the pipeline's counters in Prometheus format", async () => {
      const r = await stack.request("GET", "/metrics", { token: METRICS_TOKEN });
      expect(r.status).to.equal(200);
      for (const name of [
        "sealtrace_events_ingested_total",
        "sealtrace_links_pending",
        "sealtrace_batches_sealed_total",
        "sealtrace_batches_anchored_total",
        "sealtrace_anchor_latency_seconds",
        "sealtrace_rpc_errors_total",
      ]) {
        expect(r.body).to.include(`# TYPE ${name}`);
      }
      expect(Number(/^sealtrace_events_ingested_total (\d+)/m.exec(r.body)?.[1])).to.be.at.least(5);
    });

    it("serves the OpenAPI document and a docs page", async () => {
      const doc = await stack.request("GET", "/docs/json");
      expect(doc.status).to.equal(200);
      expect(doc.body.openapi).to.match(/^3\./);
      for (const path of ["/api/v1/admin/brands", "/webhooks/{brand}/events", "/api/v1/items/{serial}/proof", "/api/v1/batches/{seq}", "/api/v1/chain"]) {
        expect(doc.body.paths, path).to.have.property(path);
      }
      const page = await stack.request("GET", "/docs/");
      expect(page.status).to.equal(200);
      expect(String(page.body)).to.match(/swagger/i);
    });

    it("echoes a request id, and unknown routes are a JSON 404", async () => {
      const r = await stack.request("GET", "/nowhere", { headers: { "x-request-id": "req-abc-123" } });
      expect(r.status).to.equal(404);
      expect(r.headers.get("x-request-id")).to.equal("req-abc-123");
      expect(r.body.error).to.equal("not_found");
    });
  });
});
