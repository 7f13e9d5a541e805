/**
 * Reads from a PostgreSQL streaming replica (issue 19, service/db/replica.ts), on real engines: a
 * primary and a `pg_basebackup -R` hot standby of it on private ports, a local chain, and SealTrace
 * (HTTP and workers in this process) with DATABASE_URL on the primary and DATABASE_READ_URL on the
 * replica. The attacks: public reads answered by the replica (its pg_stat_activity and the reads
 * counter prove it) while every write goes to the primary; replay paused, so the replica lags: proof
 * bundles and pages stay whole and verify, anchoring shows later, and past REPLICA_MAX_LAG_MS the reads
 * go to the primary and /readyz says so; the replica stopped: reads go on from the primary, no 5xx.
 */
import { expect } from "chai";
import pg from "pg";
import { verifyBundle, type ProofBundle } from "../../service/core/bundle.ts";
import { lifecycle, METRICS_TOKEN, startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";
import { startEngines, type Engines } from "./support/engines.ts";
import { freshBundle, readsCounted, type ReadsState } from "./support/reads.ts";
import type { Replication } from "./support/replication.ts";
import { clusterSuite } from "./support/suite.ts";

const MAX_LAG_MS = 3_000;

clusterSuite("cluster: reads from a streaming replica", function () {
  this.timeout(300_000);
  let engines: Engines;
  let replication: Replication;
  let stack: Stack;
  let db: pg.Pool;
  let brand: BrandFixture;
  /** Lags /readyz reported, for the closing figures. */
  const figures: string[] = [];
  const started = Date.now();

  const request = (method: string, path: string, opts?: { token?: string; headers?: Record<string, string> }) => stack.request(method, path, opts);
  const reads = async (): Promise<ReadsState> => {
    const ready = await request("GET", "/readyz");
    expect(ready.status, `/readyz: ${JSON.stringify(ready.body)}`).to.equal(200);
    return ready.body.reads as ReadsState;
  };
  const until = async (what: string, done: (state: ReadsState) => boolean, timeoutMs = 60_000): Promise<ReadsState> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await reads();
      if (done(state)) return state;
      if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(state)} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const counted = async (source: "replica" | "primary"): Promise<Record<string, number>> => {
    const metrics = await request("GET", "/metrics", { token: METRICS_TOKEN });
    expect(metrics.status).to.equal(200);
    return readsCounted(metrics.body as string, source);
  };
  const bundleOf = (code: { serial: string; secret: string }, proofs: "head" | "all" = "head") => freshBundle(request, code, proofs);
  const pageOf = (code: { serial: string; secret: string }, ip: string) =>
    request("GET", `/01/${brand.gtin}/21/${code.serial}?s=${encodeURIComponent(code.secret)}`, {
      headers: { "x-forwarded-for": ip, "user-agent": "Mozilla/5.0 (iPhone) test" },
    });
  /** Every public read path once; each answer's status. */
  const everyRead = async (code: { serial: string; secret: string }, ip: string): Promise<number[]> =>
    await Promise.all(
      [
        request("GET", `/api/v1/items/${code.serial}/proof?s=${encodeURIComponent(code.secret)}`, { headers: { "cache-control": "no-cache" } }),
        pageOf(code, ip),
        request("GET", "/api/v1/batches"),
        request("GET", "/api/v1/batches/1"),
        request("GET", "/api/v1/batches/1/tiles/0/0"),
        request("GET", "/api/v1/checkpoint"),
        request("GET", `/epcis/${brand.slug}/events`, { token: brand.apiKey }),
      ].map(async (r) => (await r).status),
    );

  before(async () => {
    engines = await startEngines({ replication: true });
    replication = engines.replication!;
    stack = await startStack({ chainUrl: engines.chain.url, redis: false, env: { ...engines.env, REPLICA_MAX_LAG_MS: String(MAX_LAG_MS), TRUST_PROXY: "1" } });
    db = new pg.Pool({ connectionString: stack.env.DATABASE_URL });
    brand = await stack.createBrand({ codes: 4 });
  });
  after(async () => {
    await db?.end();
    await stack?.stop();
    await engines?.stop();
    process.stdout.write(`      (replica suite: ${figures.join("; ")}; ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  });

  it("answers the public reads from the replica, and writes only to the primary", async () => {
    const code = brand.codes[0]!;
    expect((await stack.postEvents(brand, lifecycle([code.serial]))).status).to.equal(202);
    const anchored = await stack.waitAnchored(code.serial, code.secret);
    expect(verifyBundle(anchored).valid).to.equal(true);
    await replication.caughtUp();
    const state = await until("reads on the replica", (s) => s.source === "replica");
    figures.push(`idle lag ${state.lagMs} ms`);

    const before = await counted("replica");
    expect(await everyRead(code, "198.51.100.7")).to.deep.equal([200, 200, 200, 200, 200, 200, 200]);
    const after = await counted("replica");
    for (const purpose of ["proof-bundle", "consumer-page", "audit", "epcis-query"]) {
      expect(after[purpose] ?? 0, `${purpose} reads sent to the replica`).to.be.greaterThan(before[purpose] ?? 0);
    }
    // The replica's own view: our read pool's sessions are there, and they are not on the primary.
    const onReplica = await replication.replica.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'sealtrace-reads'",
    );
    expect(onReplica[0]!.n, "sealtrace-reads sessions on the replica").to.be.greaterThan(0);
    const onPrimary = await replication.primary.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'sealtrace-reads'",
    );
    expect(onPrimary[0]!.n, "sealtrace-reads sessions on the primary").to.equal(0);

    // The page's visit was written (to the primary: a standby refuses every write), and replicated.
    const scans = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM scans WHERE serial = $1", [code.serial]);
    expect(scans.rows[0]!.n, "the page's scan, on the primary").to.equal(1);
    await replication.caughtUp();
    const replicated = await replication.replica.query<{ n: number }>("SELECT count(*)::int AS n FROM scans WHERE serial = $1", [code.serial]);
    expect(replicated[0]!.n, "the scan, replicated").to.equal(1);
    // A reload reads the replica again; the scan writer re-checks on the primary: one IP, one scan.
    expect((await pageOf(code, "198.51.100.7")).status).to.equal(200);
    const again = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM scans WHERE serial = $1", [code.serial]);
    expect(again.rows[0]!.n, "a reload is not a second scan").to.equal(1);
  });

  it("while the replica lags, bundles and pages stay whole and verify, anchoring shows later; past the bound reads go to the primary", async () => {
    const code = brand.codes[1]!;
    const [production, whIn, whOut, receiving, sale] = lifecycle([code.serial]);
    expect((await stack.postEvents(brand, [production, whIn, whOut, receiving])).status).to.equal(202);
    await stack.waitAnchored(code.serial, code.secret);
    await replication.caughtUp();
    await until("reads on the replica", (s) => s.source === "replica");
    const old = await bundleOf(code);
    expect(old.links).to.have.length(4);

    await replication.replica.query("SELECT pg_wal_replay_pause()");
    try {
      const paused = Date.now();
      expect((await stack.postEvents(brand, [sale])).status).to.equal(202);
      // Within the bound the replica still answers: the history it has, whole, with its own head proof.
      const during = await reads();
      // Not cached yet (?proofs=all was never asked): the access check and the bundle are both read now.
      const lagging = await bundleOf(code, "all");
      const page = await pageOf(code, "198.51.100.8");
      const stillReplica = (await reads()).source === "replica" && during.source === "replica" && Date.now() - paused < MAX_LAG_MS;
      expect(page.status).to.equal(200);
      figures.push(
        `bundle read ${stillReplica ? "from the lagging replica" : "(the bound passed before it: from the primary)"} ${Date.now() - paused} ms after the pause`,
      );
      expect(verifyBundle(lagging).valid, "a bundle read from the lagging replica verifies").to.equal(true);
      if (stillReplica) {
        expect(lagging.links, "the replica's bundle: the history before the sale").to.have.length(4);
        expect(lagging.links.every((l) => l.anchor !== null)).to.equal(true);
      }

      // The primary seals and anchors the sale; the replica cannot show it; past the bound, reads go to the primary.
      const switched = await until("reads on the primary past the lag bound", (s) => s.source === "primary" && s.replica === "lagging");
      expect(switched.lagMs!).to.be.greaterThan(MAX_LAG_MS);
      figures.push(`paused replay: lag ${switched.lagMs} ms when reads switched to the primary (bound ${MAX_LAG_MS} ms)`);
      // The sale, and the scan the page recorded meanwhile (written to the primary, though the page read the replica).
      const fresh = await stack.waitAnchored(code.serial, code.secret);
      expect(fresh.links, "from the primary: the sale and the page's scan, anchored").to.have.length(6);
      expect(fresh.events.map((e) => e.event.type).slice(4)).to.deep.equal(["retail_sale", "consumer_scan"]);
      expect(verifyBundle(fresh).valid).to.equal(true);
      expect((await pageOf(code, "198.51.100.9")).status).to.equal(200);
      const metrics = await request("GET", "/metrics", { token: METRICS_TOKEN });
      expect(metrics.body).to.match(/^sealtrace_replica_lag_seconds [0-9.]+$/m);
      expect(metrics.body).to.match(/^sealtrace_read_source\{source="primary"\} 1$/m);
    } finally {
      await replication.replica.query("SELECT pg_wal_replay_resume()");
    }
    const back = await until("reads back on the replica once it caught up", (s) => s.source === "replica");
    figures.push(`after resuming: lag ${back.lagMs} ms, reads on the replica`);
    await replication.caughtUp();
    const onPrimary = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM links WHERE serial = $1", [code.serial]);
    const caughtUp = await bundleOf(code);
    expect(caughtUp.links.length, "the replica now shows what the primary has").to.equal(onPrimary.rows[0]!.n);
    expect(verifyBundle(caughtUp).problems).to.deep.equal([]);
  });

  it("a brand's API key is checked on the primary: a brand created while the replica lags reads its bundles at once", async () => {
    await replication.caughtUp();
    await until("reads on the replica", (s) => s.source === "replica");
    await replication.replica.query("SELECT pg_wal_replay_pause()");
    try {
      const paused = Date.now();
      const fresh = await stack.createBrand({ codes: 1 });
      const code = fresh.codes[0]!;
      const byKey = await request("GET", `/api/v1/items/${code.serial}/proof`, { token: fresh.apiKey });
      const bySecret = await request("GET", `/api/v1/items/${code.serial}/proof?s=${encodeURIComponent(code.secret)}`);
      const onReplica = (await reads()).source === "replica" && Date.now() - paused < MAX_LAG_MS;
      expect(byKey.status, `by the new brand's key: ${JSON.stringify(byKey.body)}`).to.equal(200);
      expect((byKey.body as ProofBundle).serial).to.equal(code.serial);
      // By the bottle's secret, the lagging replica is read: the code is not there yet (shown a little later), never a 5xx.
      if (onReplica) expect(bySecret.status, "by secret, from the lagging replica").to.equal(404);
      else expect(bySecret.status).to.equal(200);
      figures.push(`new brand's key answered ${Date.now() - paused} ms after the pause${onReplica ? " (replica still in use)" : " (the bound had passed)"}`);
    } finally {
      await replication.replica.query("SELECT pg_wal_replay_resume()");
    }
  });

  it("with the replica stopped, reads go to the primary, never a 5xx; it is used again once back", async () => {
    const code = brand.codes[0]!;
    await until("reads on the replica", (s) => s.source === "replica");
    const fallbacks = async () =>
      Number(/^sealtrace_replica_fallbacks_total (\d+)$/m.exec((await request("GET", "/metrics", { token: METRICS_TOKEN })).body as string)?.[1]);
    const fellBack = await fallbacks();
    await replication.replica.stop("fast");
    try {
      // At once, before the monitor has noticed: answers that meet the dead replica go on on the primary.
      const unnoticed = (await reads()).source === "replica";
      expect(await everyRead(code, "198.51.100.10"), "reads the moment the replica stopped").to.deep.equal([200, 200, 200, 200, 200, 200, 200]);
      if (unnoticed) expect(await fallbacks(), "answers that went on on the primary mid-answer").to.be.greaterThan(fellBack);
      figures.push(`replica stopped: ${(await fallbacks()) - fellBack} answers fell back mid-answer${unnoticed ? "" : " (the monitor had noticed first)"}`);
      const down = await until("reads on the primary with the replica down", (s) => s.source === "primary" && s.replica === "failing");
      expect(down.lagMs).to.equal(null);
      const primaryBefore = await counted("primary");
      expect(await everyRead(code, "198.51.100.11"), "reads while the replica is down").to.deep.equal([200, 200, 200, 200, 200, 200, 200]);
      expect((await counted("primary"))["proof-bundle"]).to.be.greaterThan(primaryBefore["proof-bundle"] ?? 0);
      // Whole (the scans just recorded are pending, not broken).
      expect(verifyBundle(await bundleOf(code)).problems).to.deep.equal([]);
    } finally {
      await replication.replica.start();
    }
    await until("reads back on the replica", (s) => s.source === "replica");
    const before = await counted("replica");
    expect(await everyRead(code, "198.51.100.12")).to.deep.equal([200, 200, 200, 200, 200, 200, 200]);
    expect((await counted("replica"))["proof-bundle"]).to.be.greaterThan(before["proof-bundle"] ?? 0);
  });
});
