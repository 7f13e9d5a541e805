/**
 * PostgreSQL restarted under load. The service (a real process: HTTP and workers) runs on a
 * PostgreSQL server of the test's own, which is stopped twice while two brands keep posting: once
 * cleanly (fast shutdown), once as a crash (immediate shutdown, recovery at the next start). Clients
 * must get 503 with Retry-After meanwhile, never another 5xx; retrying with the same webhook-id must
 * store each delivery exactly once; the process must survive; and nothing may be lost or doubled.
 */
import { expect } from "chai";
import pg from "pg";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import type { BrandFixture } from "../helpers/stack.ts";
import { newRecord, steadyIngest, type SteadyIngest } from "./support/ingest.ts";
import { checkLedger, countRequests, waitAllAnchored } from "./support/ledger.ts";
import { startProcessStack, type ProcessStack } from "./support/process.ts";
import { startPrivatePostgres, type PrivatePostgres } from "./support/servers.ts";
import { faultSuite, tally } from "./support/suite.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

faultSuite("faults: PostgreSQL restarted under load", function () {
  this.timeout(600_000);
  let postgres: PrivatePostgres;
  let chain: LocalChain;
  let stack: ProcessStack;
  let db: pg.Pool;
  const ingests: SteadyIngest[] = [];

  before(async () => {
    postgres = await startPrivatePostgres();
    chain = await startLocalChain();
    stack = await startProcessStack({ chainUrl: chain.url, keyIndex: 9, env: { DATABASE_URL: postgres.url, LOG_LEVEL: "warn" } });
    db = new pg.Pool({ connectionString: postgres.url, max: 2 });
    db.on("error", () => undefined);
  });
  after(async () => {
    for (const ingest of ingests) await ingest.stop();
    await db?.end();
    await stack?.stop();
    await chain?.stop();
    await postgres?.destroy();
  });

  it("clients get 503 + Retry-After while it is down, retries with the same webhook-id store each delivery once, nothing is lost or doubled", async () => {
    const brands: BrandFixture[] = [await stack.createBrand({ codes: 16 }), await stack.createBrand({ codes: 16 })];
    const record = newRecord();
    for (const brand of brands) ingests.push(steadyIngest(stack.url, brand, { record, pauseMs: 10 }));
    await ingests[0]!.delivered(10);

    for (const mode of ["fast", "immediate"] as const) {
      const unavailableBefore = record.unavailable;
      await postgres.stop(mode);
      tally.faultsInjected++;
      await sleep(1_000);
      expect(stack.service.child.exitCode, `the service survived the ${mode} stop:\n${stack.service.output().slice(-3_000)}`).to.equal(null);
      const ready = await stack.request("GET", "/readyz");
      expect(ready.status, "readyz while the database is down").to.equal(503);
      expect(ready.body.checks.database).to.equal("failing");
      const during = await stack.request("GET", `/api/v1/items/${brands[0]!.codes[0]!.serial}/proof?s=${encodeURIComponent(brands[0]!.codes[0]!.secret)}`);
      expect(during.status, "a read while the database is down").to.equal(503);
      expect(during.headers.get("retry-after")).to.match(/^\d+$/);
      await sleep(3_000);
      await postgres.start();
      expect(record.unavailable - unavailableBefore, `503 + Retry-After answers during the ${mode} stop`).to.be.greaterThan(0);
      const deliveredBefore = record.delivered;
      await ingests[0]!.delivered(10);
      expect(record.delivered).to.be.greaterThan(deliveredBefore);
      expect(stack.service.child.exitCode, `the service survived the ${mode} stop:\n${stack.service.output().slice(-3_000)}`).to.equal(null);
    }

    for (const ingest of ingests.splice(0)) await ingest.stop();
    countRequests(record);
    expect(record.unexpected, "answers other than 202 and 503 + Retry-After").to.deep.equal([]);
    expect(record.retried, "deliveries that needed a retry").to.be.greaterThan(0);
    await waitAllAnchored(db, 120_000);

    const report = await checkLedger({ db, chainUrl: chain.url, registry: stack.env.REGISTRY_ADDRESS!, url: stack.url, brands, record, bundlesPerBrand: 8 });
    expect(report.lost, "lost").to.deep.equal([]);
    expect(report.doubled, "doubled").to.deep.equal([]);
    expect(report.problems).to.deep.equal([]);
    // Each delivery is stored exactly once: one webhook message per webhook-id, its events under it.
    const {
      rows: [messages],
    } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_messages");
    expect(messages!.n, "webhook messages stored").to.equal(record.delivered);
    const errors = stack.service
      .output()
      .split("\n")
      .filter((line) => /"level":(50|60)/.test(line));
    expect(errors, "error-level logs").to.deep.equal([]);
  });
});
