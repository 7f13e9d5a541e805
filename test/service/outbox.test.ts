import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { Webhook } from "standardwebhooks";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { nextRetryMs, retryDelayMs, RETRY_POLICY } from "../../service/outbox/dispatcher.ts";
import { lifecycle, startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";

interface Received {
  path: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  json: any;
  /** The signature checked out with the endpoint's secret (standardwebhooks' own verify). */
  verified: boolean;
  verifyError: string | null;
  status: number;
  at: number;
}

/** A local webhook receiver: records every request, verifies its signature, answers as told. */
async function startReceiver() {
  const received: Received[] = [];
  const secrets = new Map<string, string>();
  /** Per path: statuses to answer first (then 200), or one status to answer always. */
  const answers = new Map<string, number[] | number>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const path = request.url ?? "/";
      const body = Buffer.concat(chunks).toString("utf8");
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) if (typeof value === "string") headers[name] = value;
      let verified = false;
      let verifyError: string | null = null;
      try {
        const secret = secrets.get(path);
        if (secret === undefined) throw new Error("no secret for this path");
        new Webhook(secret).verify(body, headers);
        verified = true;
      } catch (error) {
        verifyError = (error as Error).message;
      }
      const answer = answers.get(path);
      const status = typeof answer === "number" ? answer : (answer?.shift() ?? 200);
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        /* recorded as is */
      }
      received.push({ path, method: request.method ?? "", headers, body, json, verified, verifyError, status, at: Date.now() });
      response.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "no");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    secrets,
    answers,
    at: (path: string) => received.filter((r) => r.path === path),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 15_000): Promise<Exclude<T, false | null | undefined>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as Exclude<T, false | null | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let paths = 0;

/** Helpers over one stack and one receiver. */
function outboxOf(stack: () => Stack, receiver: () => Receiver) {
  return {
    async brandId(brand: BrandFixture): Promise<number> {
      const {
        rows: [row],
      } = await stack().runtime.db.query<{ id: number }>("SELECT id FROM brands WHERE slug = $1", [brand.slug]);
      return row!.id;
    },
    /** Raises an alert the way the checks do: a row in `alerts`. */
    async raise(brand: BrandFixture, kind: string, details: Record<string, unknown> = {}): Promise<string> {
      const {
        rows: [row],
      } = await stack().runtime.db.query<{ id: number }>(
        "INSERT INTO alerts (brand_id, kind, serial, party, details) VALUES ((SELECT id FROM brands WHERE slug = $1), $2, $3, $4, $5) RETURNING id",
        [brand.slug, kind, brand.codes[0]!.serial, "store-pudong", details],
      );
      return String(row!.id);
    },
    /** Adds an endpoint on a fresh receiver path; the receiver learns its secret. */
    async endpoint(brand: BrandFixture, types: string[], answer?: number[] | number): Promise<{ id: string; path: string; secret: string }> {
      const path = `/hooks/${++paths}`;
      if (answer !== undefined) receiver().answers.set(path, answer);
      const created = await stack().request("POST", "/api/v1/endpoints", { token: brand.apiKey, body: { url: `${receiver().base}${path}`, types } });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      receiver().secrets.set(path, created.body.secret);
      return { id: created.body.id, path, secret: created.body.secret };
    },
  };
}

describe("outgoing webhooks", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let stack: Stack;
  let receiver: Receiver;
  const outbox = outboxOf(
    () => stack,
    () => receiver,
  );

  before(async () => {
    chain = await startLocalChain();
    stack = await startStack({ chainUrl: chain.url, keyIndex: 12 });
    receiver = await startReceiver();
  });
  after(async () => {
    await stack?.stop();
    await chain?.stop();
    await receiver?.close();
  });

  describe("endpoints", () => {
    it("are created with a whsec_ secret that is shown only once", async () => {
      const brand = await stack.createBrand({ codes: 1 });
      const url = `${receiver.base}/hooks/created`;
      const created = await stack.request("POST", "/api/v1/endpoints", {
        token: brand.apiKey,
        body: { url, types: ["diversion", "batch.anchored", "diversion"] },
      });
      expect(created.status).to.equal(201);
      expect(Object.keys(created.body).sort()).to.deep.equal(["id", "secret", "types", "url"]);
      expect(created.body).to.include({ url });
      expect(created.body.types).to.deep.equal(["diversion", "batch.anchored"]);
      expect(created.body.id).to.match(/^\d+$/);
      expect(created.body.secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);

      const list = await stack.request("GET", "/api/v1/endpoints", { token: brand.apiKey });
      expect(list.status).to.equal(200);
      expect(list.body.endpoints).to.have.length(1);
      const [endpoint] = list.body.endpoints;
      expect(endpoint).to.include({ id: created.body.id, url, enabled: true, disabledReason: null });
      expect(endpoint.types).to.deep.equal(["diversion", "batch.anchored"]);
      expect(endpoint).not.to.have.property("secret");
      expect(JSON.stringify(list.body)).not.to.include(created.body.secret.slice(6));
    });

    it("need the brand's API key and a valid http(s) URL and known event types", async () => {
      const brand = await stack.createBrand({ codes: 1 });
      const post = (body: unknown, token = brand.apiKey) => stack.request("POST", "/api/v1/endpoints", { token, body });
      expect((await post({ url: "https://example.com/hook", types: ["diversion"] }, "")).status).to.equal(401);
      expect((await stack.request("GET", "/api/v1/endpoints")).status).to.equal(401);
      for (const url of ["ftp://example.com/hook", "not a url", "javascript:alert(1)"]) {
        const r = await post({ url, types: ["diversion"] });
        expect(r.status, url).to.equal(422);
        expect(r.body).to.include({ error: "invalid", field: "url" });
      }
      for (const types of [[], ["nope"], ["diversion", "nope"]]) {
        const r = await post({ url: "https://example.com/hook", types });
        expect(r.status, JSON.stringify(types)).to.equal(400);
        expect(r.body.field).to.match(/^types/);
      }
      const extra = await post({ url: "https://example.com/hook", types: ["diversion"], secret: "mine" });
      expect(extra.status).to.equal(400);
      expect(extra.body.field).to.equal("secret");
    });

    it("are invisible to another brand, which can neither read their deliveries nor disable them", async () => {
      const owner = await stack.createBrand({ codes: 1 });
      const other = await stack.createBrand({ codes: 1 });
      const { id } = await outbox.endpoint(owner, ["diversion"]);
      const list = await stack.request("GET", "/api/v1/endpoints", { token: other.apiKey });
      expect(list.status).to.equal(200);
      expect(list.body.endpoints).to.deep.equal([]);
      expect((await stack.request("GET", `/api/v1/endpoints/${id}/deliveries`, { token: other.apiKey })).status).to.equal(404);
      expect((await stack.request("DELETE", `/api/v1/endpoints/${id}`, { token: other.apiKey })).status).to.equal(404);
      expect((await stack.request("GET", "/api/v1/endpoints/999999999/deliveries", { token: owner.apiKey })).status).to.equal(404);
      const mine = await stack.request("GET", "/api/v1/endpoints", { token: owner.apiKey });
      expect(mine.body.endpoints[0]).to.include({ id, enabled: true });
    });

    it("once disabled (DELETE) get nothing more", async () => {
      const brand = await stack.createBrand({ codes: 1 });
      const { id, path } = await outbox.endpoint(brand, ["sold_twice"]);
      await outbox.raise(brand, "sold_twice");
      await waitFor("the first delivery", () => receiver.at(path).length === 1);
      const deleted = await stack.request("DELETE", `/api/v1/endpoints/${id}`, { token: brand.apiKey });
      expect(deleted.status).to.equal(204);
      expect((await stack.request("DELETE", `/api/v1/endpoints/${id}`, { token: brand.apiKey })).status).to.equal(204);
      const list = await stack.request("GET", "/api/v1/endpoints", { token: brand.apiKey });
      expect(list.body.endpoints[0]).to.include({ id, enabled: false, disabledReason: "disabled by the brand" });
      await outbox.raise(brand, "sold_twice");
      await sleep(2_500);
      expect(receiver.at(path)).to.have.length(1);
    });
  });

  describe("deliveries", () => {
    it("POST signed alerts of the subscribed kinds, raised after the endpoint was created, to the brand's endpoint only", async () => {
      const brand = await stack.createBrand({ codes: 1 });
      const other = await stack.createBrand({ codes: 1 });
      await outbox.raise(brand, "diversion", { before: true });
      const { path, secret } = await outbox.endpoint(brand, ["diversion", "price_below"]);
      const diversion = await outbox.raise(brand, "diversion", { region: "CN-SH", responsible: "dist-shanghai" });
      await outbox.raise(brand, "sold_twice");
      await outbox.raise(other, "diversion");
      const priceBelow = await outbox.raise(brand, "price_below", { amount: "999.00" });

      const got = await waitFor("two deliveries", () => receiver.at(path).length >= 2 && receiver.at(path));
      await sleep(2_000); // nothing else may follow
      expect(receiver.at(path)).to.have.length(2);
      for (const request of got) {
        expect(request.verified, request.verifyError ?? "").to.equal(true);
        expect(request.method).to.equal("POST");
        expect(request.headers["content-type"]).to.equal("application/json");
        expect(request.headers["webhook-id"]).to.match(/^msg_[0-9a-f]{32}$/);
        expect(Math.abs(Number(request.headers["webhook-timestamp"]) - request.at / 1000)).to.be.below(10);
        expect(request.json.timestamp).to.equal(request.json.data.createdAt);
        expect(new Date(request.json.timestamp).toISOString()).to.equal(request.json.timestamp);
      }
      // a wrong secret does not verify: the receiver really checks (its first character changed, never to itself)
      const wrong = secret.replace(/^whsec_(.)/, (_, first: string) => `whsec_${first === "A" ? "B" : "A"}`);
      expect(wrong).to.not.equal(secret);
      expect(() => new Webhook(wrong).verify(got[0]!.body, got[0]!.headers)).to.throw();
      expect(got[0]!.headers["webhook-id"]).not.to.equal(got[1]!.headers["webhook-id"]);

      const bodies = Object.fromEntries(got.map((r) => [r.json.type, r.json]));
      expect(Object.keys(bodies).sort()).to.deep.equal(["diversion", "price_below"]);
      expect(bodies.diversion.data).to.deep.include({
        id: diversion,
        kind: "diversion",
        serial: brand.codes[0]!.serial,
        party: "store-pudong",
        eventId: null,
        details: { region: "CN-SH", responsible: "dist-shanghai" },
      });
      expect(bodies.price_below.data).to.deep.include({ id: priceBelow, kind: "price_below", details: { amount: "999.00" } });
      expect(Object.keys(bodies.diversion).sort()).to.deep.equal(["data", "timestamp", "type"]);
    });

    it("are retried with the same webhook-id about 8 s after a 500, and list every attempt", async () => {
      const brand = await stack.createBrand({ codes: 1 });
      const { id, path } = await outbox.endpoint(brand, ["received_after_opened"], [500]);
      const alert = await outbox.raise(brand, "received_after_opened", { openedAt: "2026-11-20T08:00:00.000Z" });

      const first = await waitFor("the first attempt", () => receiver.at(path)[0]);
      expect(first.status).to.equal(500);
      expect(first.verified, first.verifyError ?? "").to.equal(true);
      const pending = await stack.request("GET", `/api/v1/endpoints/${id}/deliveries`, { token: brand.apiKey });
      expect(pending.status).to.equal(200);
      await waitFor("the failed attempt to be recorded", async () => {
        const r = await stack.request("GET", `/api/v1/endpoints/${id}/deliveries`, { token: brand.apiKey });
        return r.body.deliveries[0]?.attempts.length === 1 && r.body.deliveries[0];
      }).then((delivery) => {
        expect(delivery).to.include({ state: "pending", lastStatus: 500, lastError: "http_status" });
        expect(new Date(delivery.nextAttemptAt).getTime() - Date.now()).to.be.within(0, 10_000);
      });

      const second = await waitFor("the retry", () => receiver.at(path)[1], 15_000);
      expect(second.status).to.equal(200);
      expect(second.verified, second.verifyError ?? "").to.equal(true);
      expect(second.headers["webhook-id"]).to.equal(first.headers["webhook-id"]);
      expect(second.body).to.equal(first.body);
      expect(second.at - first.at).to.be.within(5_000, 12_000);

      const delivery = await waitFor("the delivery to be recorded", async () => {
        const r = await stack.request("GET", `/api/v1/endpoints/${id}/deliveries`, { token: brand.apiKey });
        return r.body.deliveries[0]?.state === "delivered" && r.body;
      });
      expect(delivery.deliveries).to.have.length(1);
      expect(delivery.nextCursor).to.equal(null);
      const [d] = delivery.deliveries;
      expect(d).to.include({ webhookId: first.headers["webhook-id"], type: "received_after_opened", lastStatus: 200, lastError: null, nextAttemptAt: null });
      expect(d.payload).to.deep.equal(first.json);
      expect(d.payload.data.id).to.equal(alert);
      expect(new Date(d.deliveredAt).getTime()).to.be.closeTo(second.at, 5_000);
      expect(d.attempts.map((a: any) => [a.status, a.error])).to.deep.equal([
        [500, "http_status"],
        [200, null],
      ]);
      for (const attempt of d.attempts) {
        expect(attempt.durationMs).to.be.a("number").and.at.least(0);
        expect(new Date(attempt.at).toISOString()).to.equal(attempt.at);
      }
    });

    it("to an endpoint answering 410 stop: the delivery fails and the endpoint is disabled", async () => {
      const brand = await stack.createBrand({ codes: 1 });
      const { id, path } = await outbox.endpoint(brand, ["unauthorised_receiver"], 410);
      await outbox.raise(brand, "unauthorised_receiver");
      await waitFor("the attempt", () => receiver.at(path).length === 1);
      const endpoint = await waitFor("the endpoint to be disabled", async () => {
        const r = await stack.request("GET", "/api/v1/endpoints", { token: brand.apiKey });
        return r.body.endpoints[0]?.enabled === false && r.body.endpoints[0];
      });
      expect(endpoint.disabledReason).to.match(/410/);
      const deliveries = await stack.request("GET", `/api/v1/endpoints/${id}/deliveries`, { token: brand.apiKey });
      expect(deliveries.body.deliveries).to.have.length(1);
      expect(deliveries.body.deliveries[0]).to.include({ state: "failed", lastStatus: 410, lastError: "http_status", deliveredAt: null, nextAttemptAt: null });
      expect(deliveries.body.deliveries[0].attempts).to.have.length(1);
      await outbox.raise(brand, "unauthorised_receiver");
      await sleep(2_500);
      expect(receiver.at(path)).to.have.length(1);
    });

    it("are listed newest first, a page at a time", async () => {
      const brand = await stack.createBrand({ codes: 1 });
      const { id, path } = await outbox.endpoint(brand, ["sold_without_receiving"]);
      const alerts = [];
      for (let i = 0; i < 3; i++) alerts.push(await outbox.raise(brand, "sold_without_receiving", { i }));
      await waitFor("three deliveries", () => receiver.at(path).length === 3);
      await waitFor("three recorded", async () => {
        const r = await stack.request("GET", `/api/v1/endpoints/${id}/deliveries`, { token: brand.apiKey });
        return r.body.deliveries.every((d: any) => d.state === "delivered");
      });
      const first = await stack.request("GET", `/api/v1/endpoints/${id}/deliveries?limit=2`, { token: brand.apiKey });
      expect(first.status).to.equal(200);
      expect(first.body.deliveries.map((d: any) => d.payload.data.id)).to.deep.equal([alerts[2], alerts[1]]);
      expect(first.body.nextCursor).to.be.a("string");
      const second = await stack.request("GET", `/api/v1/endpoints/${id}/deliveries?limit=2&cursor=${first.body.nextCursor}`, { token: brand.apiKey });
      expect(second.body.deliveries.map((d: any) => d.payload.data.id)).to.deep.equal([alerts[0]]);
      expect(second.body.nextCursor).to.equal(null);
      const bad = await stack.request("GET", `/api/v1/endpoints/${id}/deliveries?cursor=nonsense`, { token: brand.apiKey });
      expect(bad.status).to.equal(400);
      expect(bad.body.field).to.equal("cursor");
    });

    it("announce each anchored batch holding the brand's links (batch.anchored), and only to that brand", async () => {
      const brand = await stack.createBrand({ codes: 2 });
      const bystander = await stack.createBrand({ codes: 1 });
      const { path } = await outbox.endpoint(brand, ["batch.anchored"]);
      const { path: bystanderPath } = await outbox.endpoint(bystander, ["batch.anchored"]);
      const posted = await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)));
      expect(posted.status).to.equal(202);
      const bundle = await stack.waitAnchored(brand.codes[0]!.serial, brand.codes[0]!.secret);
      const seqs = [...new Set(bundle.links.map((l) => l.anchor!.seq))];
      const got = await waitFor("batch.anchored deliveries", () => {
        const delivered = new Set(receiver.at(path).map((r) => r.json?.data?.seq));
        return seqs.every((seq) => delivered.has(seq)) && receiver.at(path);
      });
      for (const request of got) {
        expect(request.verified, request.verifyError ?? "").to.equal(true);
        expect(request.json.type).to.equal("batch.anchored");
        const { data } = request.json;
        const batch = await stack.request("GET", `/api/v1/batches/${data.seq}`);
        expect(batch.body.status).to.equal("anchored");
        expect(data).to.deep.equal({
          seq: batch.body.seq,
          root: batch.body.root,
          leafCount: batch.body.leafCount,
          txHash: batch.body.txHash,
          blockNumber: batch.body.blockNumber,
          blockTime: batch.body.blockTime,
          chainId: 31337,
          registry: stack.runtime.chain.registry,
        });
      }
      expect(receiver.at(bystanderPath)).to.deep.equal([]);
    });
  });

  describe("retry schedule", () => {
    it("first retries within about 10 s, doubles up to an hour, and gives up after about a day", () => {
      expect(retryDelayMs(1, RETRY_POLICY, () => 0)).to.be.within(5_000, 10_000);
      expect(retryDelayMs(1, RETRY_POLICY, () => 0.999_999)).to.be.within(5_000, 10_000);
      const plain = () => 0.5; // no jitter
      expect([1, 2, 3, 4].map((n) => retryDelayMs(n, RETRY_POLICY, plain))).to.deep.equal([8_000, 16_000, 32_000, 64_000]);
      expect(retryDelayMs(20, RETRY_POLICY, plain)).to.equal(3_600_000);
      let age = 0;
      let attempts = 1;
      for (;;) {
        const wait = nextRetryMs(attempts, age, RETRY_POLICY, Math.random);
        if (wait === null) break;
        age += wait;
        attempts++;
      }
      expect(age).to.be.within(22 * 3_600_000, 24 * 3_600_000);
      expect(attempts).to.be.within(25, RETRY_POLICY.maxAttempts);
      expect(nextRetryMs(RETRY_POLICY.maxAttempts, 0)).to.equal(null);
    });
  });
});

describe("outgoing webhooks without Redis (in-process jobs)", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let stack: Stack;
  let receiver: Receiver;
  const outbox = outboxOf(
    () => stack,
    () => receiver,
  );

  before(async () => {
    chain = await startLocalChain();
    stack = await startStack({ chainUrl: chain.url, keyIndex: 12, redis: false });
    receiver = await startReceiver();
  });
  after(async () => {
    await stack?.stop();
    await chain?.stop();
    await receiver?.close();
  });

  it("delivers signed alerts", async () => {
    const brand = await stack.createBrand({ codes: 1 });
    const { path } = await outbox.endpoint(brand, ["consumer_price_report"], [503]);
    const alert = await outbox.raise(brand, "consumer_price_report", { amount: "1200.00" });
    const [first, second] = await waitFor("a failed attempt and a retry", () => receiver.at(path).length >= 2 && receiver.at(path), 20_000);
    expect([first!.status, second!.status]).to.deep.equal([503, 200]);
    for (const request of [first!, second!]) {
      expect(request.verified, request.verifyError ?? "").to.equal(true);
      expect(request.json).to.deep.include({ type: "consumer_price_report" });
      expect(request.json.data.id).to.equal(alert);
    }
    expect(second!.headers["webhook-id"]).to.equal(first!.headers["webhook-id"]);
  });
});
