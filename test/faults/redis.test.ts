/**
 * Redis flushed, then restarted (without persistence, so empty again), under steady ingest. Redis
 * only schedules work: the service (a real process on a redis-server of the test's own) must rebuild
 * its schedules and carry on from PostgreSQL — sealing, anchoring and outgoing webhooks — with no
 * delivery refused and nothing lost.
 */
import { expect } from "chai";
import pg from "pg";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import type { BrandFixture } from "../helpers/stack.ts";
import { startReceiver, type Receiver } from "../helpers/receiver.ts";
import { steadyIngest, type SteadyIngest } from "./support/ingest.ts";
import { checkLedger, countRequests, waitAllAnchored } from "./support/ledger.ts";
import { startProcessStack, type ProcessStack } from "./support/process.ts";
import { startPrivateRedis, type PrivateRedis } from "./support/servers.ts";
import { faultSuite, tally } from "./support/suite.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

faultSuite("faults: Redis flushed and restarted", function () {
  this.timeout(600_000);
  let redis: PrivateRedis;
  let chain: LocalChain;
  let stack: ProcessStack;
  let db: pg.Pool;
  let receiver: Receiver | undefined;
  let ingest: SteadyIngest | null = null;
  let brand: BrandFixture;

  const anchoredCount = async () => (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM batches WHERE state = 'anchored'")).rows[0]!.n;
  /** Waits until more batches are anchored than `than`: the work goes on. */
  async function anchoredBeyond(than: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await anchoredCount()) <= than) {
      if (Date.now() > deadline) throw new Error(`no batch anchored beyond ${than} within ${timeoutMs} ms:\n${stack.service.output().slice(-2_000)}`);
      await sleep(200);
    }
  }

  before(async () => {
    redis = await startPrivateRedis();
    chain = await startLocalChain();
    stack = await startProcessStack({ chainUrl: chain.url, keyIndex: 10, env: { REDIS_URL: redis.url, LOG_LEVEL: "warn" } });
    db = new pg.Pool({ connectionString: stack.env.DATABASE_URL });
    brand = await stack.createBrand({ codes: 16 });
    receiver = await startReceiver(stack, brand.apiKey);
    ingest = steadyIngest(stack.url, brand);
    await ingest.delivered(5);
  });
  after(async () => {
    await ingest?.stop();
    await db?.end();
    await stack?.stop();
    await receiver?.close();
    await chain?.stop();
    await redis?.stop();
  });

  it("FLUSHALL: schedules are rebuilt, sealing and anchoring carry on", async () => {
    await anchoredBeyond(0);
    await redis.flushAll();
    tally.faultsInjected++;
    const after = await anchoredCount();
    await anchoredBeyond(after + 1);
  });

  it("restarted empty after 3 s down: the service reconnects and carries on", async () => {
    await redis.restart(3_000);
    tally.faultsInjected++;
    await anchoredBeyond(await anchoredCount());
    expect(stack.service.child.exitCode, "the service is still running").to.equal(null);
  });

  it("afterwards: nothing refused, lost or doubled, and every anchored batch was announced to the brand's endpoint", async () => {
    const record = await ingest!.stop();
    ingest = null;
    countRequests(record);
    expect(record.unexpected, "answers other than 202").to.deep.equal([]);
    await waitAllAnchored(db);
    const report = await checkLedger({ db, chainUrl: chain.url, registry: stack.env.REGISTRY_ADDRESS!, url: stack.url, brands: [brand], record });
    expect(report.lost, "lost").to.deep.equal([]);
    expect(report.doubled, "doubled").to.deep.equal([]);
    expect(report.problems).to.deep.equal([]);

    // Outgoing webhooks: one batch.anchored delivery per anchored batch, each received.
    await receiver!.allAnnounced(db, report.batches);
  });
});
