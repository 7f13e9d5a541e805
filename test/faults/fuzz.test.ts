/**
 * Hostile input, part 2: at least 10,000 malformed HTTP requests spread over every route the app
 * lists (so routes added later are fuzzed too): broken JSON, wrong types, huge and deeply nested
 * bodies, odd Unicode and invalid UTF-8, __proto__ keys, odd and injected headers (some over a raw
 * socket: CRLF injection, duplicate lengths, smuggling), SQL fragments in paths, queries and fields.
 * Never a 5xx, never an error logged, the server still healthy afterwards, and never a partial write:
 * the database is fingerprinted every 250 requests and must not change unless a request succeeded.
 */
import { expect } from "chai";
import { signWebhook } from "../../service/ingest/signature.ts";
import { ADMIN_TOKEN, lifecycle, startChainStack, type ChainStack } from "../helpers/stack.ts";
import { fuzzRequests, sendRaw, type FuzzRequest } from "./support/hostile.ts";
import { appRoutes, capturedLogger, changedTables, databaseFingerprint } from "./support/routes.ts";
import { faultSuite, seededRandom, tally } from "./support/suite.ts";

const REQUESTS = 10_000;
const CHUNK = 250;
const PARALLEL = 8;

faultSuite("faults: HTTP fuzz", function () {
  this.timeout(600_000);
  let cs: ChainStack;
  const captured = capturedLogger("info");

  before(async () => {
    // HTTP only (no worker changes the database behind the fingerprints); rate limits out of the way.
    cs = await startChainStack({ role: "http", keyIndex: 11, log: captured.log, env: { RATE_LIMIT_PER_IP: "1000000", RATE_LIMIT_PER_BOTTLE: "1000000" } });
  });
  after(async () => {
    await cs?.stop();
  });

  it(`${REQUESTS.toLocaleString("en-US")} malformed requests over every route: never a 5xx, a crash or a partial write`, async () => {
    const { stack, db } = cs;
    const brand = await stack.createBrand({ codes: 3 });
    expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
    const storeKey = (await stack.request("POST", "/api/v1/parties/store-pudong/store-keys", { token: brand.apiKey })).body.storeKey as string;
    const routes = appRoutes(stack.runtime.app!);
    expect(routes.map((r) => `${r.method} ${r.path}`)).to.include.members([
      "POST /webhooks/:brand/events",
      "GET /api/v1/items/:serial/proof",
      "POST /api/v1/store/events",
    ]);

    const random = seededRandom("fuzz");
    const requests = fuzzRequests(
      routes,
      {
        params: { serial: brand.codes[0]!.serial, gtin: brand.gtin, brand: brand.slug, seq: "1", id: "store-pudong", code: "CN-SH", "*": "x" },
        tokens: [brand.apiKey, storeKey, ADMIN_TOKEN, "stk_not-a-key", "sts_not-a-key"],
        sign: (_path, body) => signWebhook(brand.webhookSecret, `msg_fuzz_${Math.floor(random() * 1e12)}`, body),
      },
      REQUESTS,
      random,
    );

    const port = Number(new URL(stack.url).port);
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const writes: string[] = [];
    const describe = (r: FuzzRequest) => `${r.kind} ${r.method} ${r.path.slice(0, 120)}${typeof r.body === "string" ? ` ${r.body.slice(0, 120)}` : ""}`;
    const send = async (r: FuzzRequest): Promise<number> => {
      if (r.raw !== undefined) {
        const answer = await sendRaw(port, r.raw);
        if (/^set-cookie: pwned/im.test(answer.head) || /^injected:/im.test(answer.head)) failures.push(`injected header echoed: ${describe(r)}`);
        return answer.status;
      }
      const response = await fetch(`${stack.url}${r.path}`, {
        method: r.method,
        headers: r.headers,
        body: r.body,
        redirect: "manual",
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      if (response.status >= 500) failures.push(`${response.status} ${describe(r)} → ${text.slice(0, 200)}`);
      if (response.status < 300 && r.method !== "GET") writes.push(describe(r));
      return response.status;
    };

    const started = Date.now();
    let baseline = await databaseFingerprint(db);
    for (let start = 0; start < requests.length; start += CHUNK) {
      const chunk = requests.slice(start, start + CHUNK);
      const writesBefore = writes.length;
      for (let i = 0; i < chunk.length; i += PARALLEL) {
        const answers = await Promise.all(
          chunk.slice(i, i + PARALLEL).map(async (r) => {
            try {
              return await send(r);
            } catch (error) {
              failures.push(`no answer (${(error as Error).message}): ${describe(r)}`);
              return 0;
            }
          }),
        );
        for (const status of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
      const now = await databaseFingerprint(db);
      // Requests that succeeded may write (a hostile-looking name is still a name); refused ones never.
      if (writes.length === writesBefore) {
        const changed = changedTables(baseline, now);
        if (changed.length > 0) failures.push(`requests ${start}–${start + chunk.length} were all refused, yet changed ${changed.join(", ")}`);
      }
      baseline = now;
    }

    tally.requestsSent += requests.length;
    const fiveXX = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
    tally.serverErrors += fiveXX;
    const byStatus = [...statuses]
      .sort(([a], [b]) => a - b)
      .map(([s, c]) => `${s}: ${c}`)
      .join(", ");
    const kinds = [...new Set(requests.map((r) => r.kind))].join(", ");
    console.log(
      `      ${routes.length} routes · kinds: ${kinds} · ${Math.round((Date.now() - started) / 1000)} s\n      answers: ${byStatus}; ${writes.length} write requests succeeded`,
    );

    expect(failures.slice(0, 40), `${failures.length} failures`).to.deep.equal([]);
    expect(fiveXX, "5xx").to.equal(0);
    expect((await stack.request("GET", "/healthz")).status, "still alive").to.equal(200);
    // The fuzz may have rotated the brand's webhook secret (a valid request, with a short grace): take a fresh one.
    const secret = (await stack.request("POST", "/api/v1/webhook-secrets/rotate", { token: brand.apiKey, body: { graceSeconds: 0 } })).body
      .webhookSecret as string;
    expect(
      (
        await stack.postEvents({ slug: brand.slug, webhookSecret: secret }, [
          { id: "after-fuzz", type: "opened", codes: [brand.codes[0]!.serial], occurredAt: new Date().toISOString(), party: "store-pudong" },
        ])
      ).status,
      "still ingesting",
    ).to.equal(202);
    const errors = captured.lines.filter((line) => /"level":(50|60)/.test(line));
    expect(errors.slice(0, 5), "error-level logs").to.deep.equal([]);
    // Status 0 only for raw requests Node's HTTP parser closes without an answer; every fetch got one.
    expect(statuses.get(0) ?? 0, "raw requests closed without an answer").to.be.lessThan(requests.filter((r) => r.raw !== undefined).length + 1);
  });
});
