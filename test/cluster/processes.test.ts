/**
 * Many processes on real engines (issue 19): what a user would run on three machines, here on one.
 * A PostgreSQL primary and its streaming replica, a 3-master Redis Cluster and a local chain
 * (support/engines.ts); then SealTrace as four separate OS processes with the same settings
 * (DATABASE_URL, DATABASE_READ_URL, REDIS_CLUSTER_NODES, the chain, LABEL_SECRET): HTTP A and B
 * (`node service/main.ts --http`, each on its own fixed port, as behind a load balancer) and workers 1
 * and 2 (`--worker`). Each process names its database sessions (PGAPPNAME), so the primary's pg_locks
 * say who holds the sealer's and the anchorer's locks.
 *
 * The flow: a brand set up; signed webhooks spread over both HTTP processes (steady ingest, each
 * retry to the other process) → sealed → anchored → the brand's webhook receiver told; proof bundles
 * from both processes verify; the consumer page renders on both; a console session and CSRF token
 * from A work on B. Faults mid-flow: worker 1 SIGKILLed (worker 2 carries on sealing and anchoring),
 * HTTP A SIGKILLed (deliveries go on through B; A restarted), the replica's replay paused past
 * REPLICA_MAX_LAG_MS and then the replica stopped for a while (reads go to the primary, never a wrong
 * history; restarted, it catches up and is read again). The checks: every acknowledged event anchored
 * exactly once (support of the fault suite: ledger.ts), one BatchAnchored and one anchoring transaction
 * per batch on chain, one final anchoring per batch, never two holders of the sealer's or anchorer's
 * lock, one batch.anchored per batch at the receiver, no 5xx but documented 503s, `npm run audit` passes.
 * A table (the fault suite's style) ends the run; docs/SCALING.md carries it.
 */
import { expect } from "chai";
import { JsonRpcProvider, Wallet } from "ethers";
import pg from "pg";
import { freePort } from "../../service/anchoring/local-chain.ts";
import { registryAt } from "../../service/anchoring/registry.ts";
import { verifyBundle, type ProofBundle } from "../../service/core/bundle.ts";
import { ADVISORY_LOCKS } from "../../service/db/locks.ts";
import { consoleClient, csrfOf, type Answer, type ConsoleClient } from "../helpers/console.ts";
import { startReceiver, type Receiver } from "../helpers/receiver.ts";
import { runScript } from "../helpers/run.ts";
import { createBrandWith, httpClient, METRICS_TOKEN, stackEnv, type BrandFixture, type Stack } from "../helpers/stack.ts";
import { steadyIngest, type IngestRecord, type SteadyIngest } from "../faults/support/ingest.ts";
import { anchoredBeyond, checkLedger, waitAllAnchored, type LedgerReport } from "../faults/support/ledger.ts";
import { spawnService, type ServiceProcess } from "../faults/support/process.ts";
import { table } from "../faults/support/suite.ts";
import { startEngines, type Engines } from "./support/engines.ts";
import { freshBundle, readsCounted, type ReadsState } from "./support/reads.ts";
import type { Replication } from "./support/replication.ts";
import { clusterSuite } from "./support/suite.ts";

const MAX_LAG_MS = 2_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One SealTrace process: its role, its name (its database sessions' application_name) and, for HTTP, its fixed port. */
interface Proc {
  name: string;
  role: "http" | "worker";
  port: number | null;
  service: ServiceProcess | null;
  url: string;
}

/**
 * Who holds the sealer's and the anchorer's advisory locks, sampled from the primary's pg_locks every
 * few tens of ms: the holders seen, and the most sessions seen holding one lock at once.
 */
function lockWatch(url: string) {
  const names = new Map<number, "seal" | "anchor">([
    [ADVISORY_LOCKS.seal, "seal"],
    [ADVISORY_LOCKS.anchor, "anchor"],
  ]);
  const seen = { seal: new Map<string, number>(), anchor: new Map<string, number>() };
  const most = { seal: 0, anchor: 0 };
  let samples = 0;
  let stopped = false;
  let since = 0;
  /** Holders seen since `mark()`. */
  const recent = { seal: new Set<string>(), anchor: new Set<string>() };
  const loop = (async () => {
    const client = new pg.Client({ connectionString: url, application_name: "sealtrace-test-locks" });
    client.on("error", () => undefined);
    await client.connect();
    try {
      while (!stopped) {
        const { rows } = await client.query<{ key: string; holder: string; pid: number }>(
          `SELECT l.objid::bigint::text AS key, a.application_name AS holder, l.pid
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objsubid = 1 AND l.objid::bigint = ANY($1::bigint[])`,
          [[...names.keys()]],
        );
        samples++;
        const count = { seal: new Set<number>(), anchor: new Set<number>() };
        for (const row of rows) {
          const name = names.get(Number(row.key))!;
          count[name].add(row.pid);
          seen[name].set(row.holder, (seen[name].get(row.holder) ?? 0) + 1);
          if (Date.now() >= since) recent[name].add(row.holder);
        }
        most.seal = Math.max(most.seal, count.seal.size);
        most.anchor = Math.max(most.anchor, count.anchor.size);
        await sleep(20);
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return {
    seen,
    most,
    recent,
    get samples() {
      return samples;
    },
    /** Starts a new "recent" window, `afterMs` from now. */
    mark(afterMs = 0) {
      since = Date.now() + afterMs;
      recent.seal.clear();
      recent.anchor.clear();
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/**
 * The registry's transactions on chain: every transaction sent to it (each block of the automining
 * local chain), decoded; a second anchoring transaction for a seq, or one that reverted, is a doubled anchor.
 */
async function anchorTransactions(chainUrl: string, registry: string): Promise<{ bySeq: Map<number, number>; reverted: number; total: number }> {
  const provider = new JsonRpcProvider(chainUrl, undefined, { staticNetwork: true });
  try {
    const contract = registryAt(registry, provider);
    const bySeq = new Map<number, number>();
    let reverted = 0;
    let total = 0;
    const latest = await provider.getBlockNumber();
    for (let n = 0; n <= latest; n++) {
      const block = await provider.getBlock(n, true);
      for (const tx of block?.prefetchedTransactions ?? []) {
        if (tx.to?.toLowerCase() !== registry.toLowerCase()) continue;
        const call = contract.interface.parseTransaction({ data: tx.data, value: tx.value });
        if (call?.name !== "anchor") continue;
        total++;
        const receipt = await provider.getTransactionReceipt(tx.hash);
        if (receipt?.status !== 1) reverted++;
        const seq = Number(call.args[0]);
        bySeq.set(seq, (bySeq.get(seq) ?? 0) + 1);
      }
    }
    return { bySeq, reverted, total };
  } finally {
    provider.destroy();
  }
}

clusterSuite("cluster: two HTTP processes and two workers on the primary, its replica and the Redis Cluster", function () {
  this.timeout(420_000);
  let engines: Engines;
  let replication: Replication;
  let env: Record<string, string>;
  let cleanup: (() => Promise<void>) | null = null;
  let db: pg.Pool;
  let brand: BrandFixture;
  let receiver: Receiver | undefined;
  let ingest: SteadyIngest | null = null;
  let record: IngestRecord | null = null;
  let report: LedgerReport | null = null;
  let locks: ReturnType<typeof lockWatch> | null = null;
  let admin: ConsoleClient;
  const started = Date.now();
  /** When worker 1 was SIGKILLed. */
  let workerKilledAt = 0;
  const faults: string[] = [];
  const figures: string[] = [];

  const http: Proc[] = [
    { name: "http-a", role: "http", port: null, service: null, url: "" },
    { name: "http-b", role: "http", port: null, service: null, url: "" },
  ];
  const workers: Proc[] = [
    { name: "worker-1", role: "worker", port: null, service: null, url: "" },
    { name: "worker-2", role: "worker", port: null, service: null, url: "" },
  ];
  const [A, B] = http as [Proc, Proc];
  /** Every process started, restarts included, with the name its log is known by. */
  const instances: { name: string; service: ServiceProcess }[] = [];
  const urls = () => http.map((p) => p.url);

  /** Every answer the test itself gets from SealTrace (besides the ingest's, which its record counts). */
  const answers = { requests: 0, unavailable: 0, serverErrors: [] as string[] };
  const seen = (what: string, status: number) => {
    answers.requests++;
    if (status === 503) answers.unavailable++;
    else if (status >= 500) answers.serverErrors.push(`${what}: ${status}`);
  };
  const request = (proc: Proc): Stack["request"] => {
    const send = httpClient(proc.url);
    return async (method, path, options) => {
      const answer = await send(method, path, options);
      seen(`${proc.name} ${method} ${path}`, answer.status);
      return answer;
    };
  };
  const consoleAt = (proc: Proc): ConsoleClient => {
    const client = consoleClient(proc.url);
    const count =
      <T extends unknown[]>(what: string, call: (...args: T) => Promise<Answer>) =>
      async (...args: T) => {
        const answer = await call(...args);
        seen(`${proc.name} ${what} ${String(args[0])}`, answer.status);
        return answer;
      };
    return { ...client, get: count("GET", client.get), post: count("POST", client.post) };
  };

  async function start(proc: Proc): Promise<void> {
    const service = spawnService(
      {
        ...env,
        PGAPPNAME: `sealtrace-${proc.name}`,
        ...(proc.port === null ? {} : { PORT: String(proc.port) }),
        // Workers say when they run (info); HTTP processes print their address whatever the level.
        LOG_LEVEL: proc.role === "worker" ? "info" : "warn",
      },
      [`--${proc.role}`],
    );
    proc.service = service;
    const earlier = instances.filter((i) => i.name.startsWith(proc.name)).length;
    instances.push({ name: earlier === 0 ? proc.name : `${proc.name} (restart ${earlier})`, service });
    if (proc.role === "http") proc.url = await service.url();
    else await service.waitFor(/workers running/);
  }
  async function kill(proc: Proc): Promise<void> {
    const service = proc.service!;
    service.child.kill("SIGKILL");
    expect(await service.exited).to.equal(137);
    proc.service = null;
  }

  /** Which worker process logged sealing and anchoring each batch ("batch sealed", "batch anchored"; info level). */
  const workLog = () => {
    const sealed = new Map<number, string[]>();
    const anchored = new Map<number, string[]>();
    for (const { name, service } of instances) {
      if (!name.startsWith("worker")) continue;
      for (const line of service.output().split("\n")) {
        if (!line.startsWith("{")) continue;
        let entry: { msg?: string; seq?: number; batch?: { seq: number } };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          continue;
        }
        const [map, seq] =
          entry.msg === "batch sealed" ? [sealed, entry.batch?.seq] : entry.msg === "batch anchored" ? [anchored, entry.seq] : [null, undefined];
        if (map !== null && seq !== undefined) map.set(seq, [...(map.get(seq) ?? []), name]);
      }
    }
    return { sealed, anchored };
  };
  const reads = async (proc: Proc): Promise<ReadsState> => {
    const ready = await request(proc)("GET", "/readyz");
    expect(ready.status, `${proc.name} /readyz: ${JSON.stringify(ready.body)}`).to.equal(200);
    return ready.body.reads as ReadsState;
  };
  async function readsOn(what: string, done: (state: ReadsState) => boolean, timeoutMs = 60_000): Promise<ReadsState[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(http.map(reads));
      if (states.every(done)) return states;
      if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(states)} after ${timeoutMs} ms`);
      await sleep(100);
    }
  }
  const replicaReads = async (proc: Proc): Promise<number> => {
    const metrics = await request(proc)("GET", "/metrics", { token: METRICS_TOKEN });
    expect(metrics.status).to.equal(200);
    return Object.values(readsCounted(metrics.body as string, "replica")).reduce((a, b) => a + b, 0);
  };
  const bundleAt = (proc: Proc, code: { serial: string; secret: string }) => freshBundle(request(proc), code);
  /**
   * A bundle is never a wrong history: it verifies, and its links are the first of the primary's for
   * the bottle (a replica may show fewer, never others), each anchored (if shown so) in the batch the
   * primary puts it in.
   */
  async function rightHistory(bundle: ProofBundle): Promise<void> {
    const verdict = verifyBundle(bundle);
    expect(verdict.problems, `bundle of ${bundle.serial}`).to.deep.equal([]);
    const { rows } = await db.query<{ hash: string; seq: number | null }>(
      `SELECT '0x' || encode(l.link_hash, 'hex') AS hash, b.seq FROM links l LEFT JOIN batches b ON b.seq = link_batch(l.id, l.batch_seq) AND b.state = 'anchored'
        WHERE l.serial = $1 ORDER BY l.n`,
      [bundle.serial],
    );
    expect(bundle.links.length, `${bundle.serial}: links shown`).to.be.at.most(rows.length);
    bundle.links.forEach((l, i) => {
      expect(l.linkHash, `${bundle.serial} link ${i + 1}`).to.equal(rows[i]!.hash);
      if (l.anchor !== null) expect(l.anchor.seq, `${bundle.serial} link ${i + 1}'s batch`).to.equal(rows[i]!.seq);
    });
  }
  const page = async (proc: Proc, code: { serial: string; secret: string }) => {
    const r = await request(proc)("GET", `/01/${brand.gtin}/21/${code.serial}?s=${encodeURIComponent(code.secret)}`, {
      headers: { "user-agent": "Mozilla/5.0 (iPhone) test", "accept-language": "zh-CN" },
    });
    expect(r.status, `${proc.name} page`).to.equal(200);
    expect(r.headers.get("content-type")).to.match(/^text\/html/);
    expect(r.body as string).to.include(code.serial);
  };

  before(async () => {
    engines = await startEngines({ replication: true, redisCluster: true });
    replication = engines.replication!;
    ({ env, cleanup } = await stackEnv({
      chainUrl: engines.chain.url,
      keyIndex: 13,
      redis: false,
      env: { ...engines.env, REPLICA_MAX_LAG_MS: String(MAX_LAG_MS) },
    }));
    for (const proc of http) proc.port = await freePort();
    // All four at once, as `docker compose up` would: each migrates first, under the migrations' lock (service/db/migrate.ts).
    await Promise.all([...http, ...workers].map(start));
    db = new pg.Pool({ connectionString: env.DATABASE_URL, application_name: "sealtrace-test" });
    locks = lockWatch(env.DATABASE_URL!);
  });
  after(async () => {
    await ingest?.stop();
    await locks?.stop();
    await receiver?.close();
    for (const proc of [...http, ...workers]) await proc.service?.stop();
    await db?.end();
    await cleanup?.();
    await engines?.stop();
    const ingestRecord = record ?? { requests: 0, unavailable: 0, unexpected: [] as { status: number }[] };
    process.stdout.write(`      (processes suite: ${figures.join("; ")}; ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    process.stdout.write(
      `\nSealTrace cluster suite (many processes)\n${table([
        ["engines", "PostgreSQL primary + replica, Redis Cluster ×3, chain"],
        ["processes", "2 HTTP + 2 workers"],
        ["faults injected", faults.length],
        ["requests", ingestRecord.requests + answers.requests],
        ["events acknowledged", report?.accepted ?? 0],
        ["events anchored", report?.anchored ?? 0],
        ["lost", report?.lost.length ?? 0],
        ["doubled", report?.doubled.length ?? 0],
        ["5xx", ingestRecord.unexpected.filter((u) => u.status >= 500).length + answers.serverErrors.length],
        ["503 + Retry-After", ingestRecord.unavailable + answers.unavailable],
      ])}\n  faults: ${faults.join("; ")}\n`,
    );
  });

  it("webhooks spread over both HTTP processes → sealed → anchored; bundles from both verify, the page renders on both, reads on the replica", async () => {
    brand = await createBrandWith(request(A), { codes: 16 });
    // Registered before the first batch, so that every batch holding the brand's links is announced to it.
    receiver = await startReceiver({ request: request(B) }, brand.apiKey);
    ingest = steadyIngest(urls(), brand);
    record = ingest.record;
    await ingest.delivered(6);
    await anchoredBeyond(db, 0);
    const code = brand.codes[0]!;
    await replication.caughtUp();
    await readsOn("reads on the replica", (s) => s.source === "replica");
    const replicaBefore = await Promise.all(http.map(replicaReads));
    for (const proc of http) {
      const bundle = await bundleAt(proc, code);
      expect(
        bundle.links.some((l) => l.anchor !== null),
        `${proc.name}: an anchored link`,
      ).to.equal(true);
      await rightHistory(bundle);
      await page(proc, code);
    }
    const replicaAfter = await Promise.all(http.map(replicaReads));
    http.forEach((proc, i) => expect(replicaAfter[i], `${proc.name}: reads answered by the replica`).to.be.greaterThan(replicaBefore[i]!));
    // The replica's own view: sessions of our read pools there (application "sealtrace-reads"), none on the primary.
    const onReplica = await replication.replica.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'sealtrace-reads'",
    );
    expect(onReplica[0]!.n).to.be.greaterThan(0);
    const onPrimary = await replication.primary.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'sealtrace-reads'",
    );
    expect(onPrimary[0]!.n).to.equal(0);
    expect(ingest.record.deliveredBy.get(A.url) ?? 0, "deliveries acknowledged by A").to.be.greaterThan(0);
    expect(ingest.record.deliveredBy.get(B.url) ?? 0, "deliveries acknowledged by B").to.be.greaterThan(0);
  });

  it("a console session and a CSRF token obtained on A are valid on B; a token of another session is refused on B", async () => {
    const password = "cluster-admin-password-0123";
    const created = await request(A)("POST", "/api/v1/users", { token: brand.apiKey, body: { username: "owner", password, kind: "brand", admin: true } });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    admin = consoleAt(A);
    const signedIn = await admin.signIn({ brand: brand.slug, username: "owner", password });
    expect(signedIn.status, signedIn.text.slice(0, 300)).to.equal(303);
    const form = await admin.get("/console/users");
    expect(form.status).to.equal(200);
    const token = csrfOf(form.text);

    // The same browser, its next request balanced to B: the cookies (session, CSRF secret) and the token from A's page.
    const onB = consoleAt(B);
    for (const [name, value] of admin.cookies) onB.cookies.set(name, value);
    expect((await onB.get("/console/overview")).status, "A's session on B").to.equal(200);
    const made = await onB.post("/console/users", { username: "made-on-b", password: "made-on-b-password-01", kind: "brand", _csrf: token });
    expect(made.status, made.text.slice(0, 300)).to.equal(303);
    expect(made.location).to.equal("/console/users?created=made-on-b");
    const rows = await db.query("SELECT 1 FROM console_users u JOIN brands b ON b.id = u.brand_id WHERE b.slug = $1 AND u.username = 'made-on-b'", [
      brand.slug,
    ]);
    expect(rows.rowCount, "the user created through B").to.equal(1);

    // The attacker's side: a token bound to another session (made-on-b signed in on B) with A's session; no token; a forged one.
    const other = consoleAt(B);
    expect((await other.signIn({ brand: brand.slug, username: "made-on-b", password: "made-on-b-password-01" })).status).to.equal(303);
    const othersToken = csrfOf((await other.get("/console/overview")).text);
    for (const [_csrf, what] of [
      [othersToken, "another session's token"],
      ["", "no token"],
      [`${token.slice(0, -4)}AAAA`, "a forged token"],
    ] as const) {
      const refused = await onB.post("/console/users", { username: "never-made", password: "never-made-password-1", kind: "brand", _csrf }, { csrf: false });
      expect(refused.status, what).to.equal(403);
    }
    const never = await db.query("SELECT 1 FROM console_users WHERE username = 'never-made'");
    expect(never.rowCount).to.equal(0);
  });

  it("worker 1 SIGKILLed mid-flow: worker 2 seals and anchors alone; never two sealers or anchorers at once", async () => {
    const victim = workers[0]!;
    await ingest!.delivered(3);
    expect(workLog().sealed.size, "batches the workers logged sealing before the kill").to.be.greaterThan(0);
    await kill(victim);
    faults.push("SIGKILL worker 1");
    const killedAt = Date.now();
    workerKilledAt = killedAt;
    const last = (await db.query<{ n: number }>("SELECT COALESCE(max(seq), 0)::int AS n FROM batches")).rows[0]!.n;
    // From half a second on: the dead worker's sessions are gone by then (PostgreSQL sees the sockets close).
    locks!.mark(500);
    // Batches sealed after the kill: worker 2 seals and anchors them, alone.
    const deadline = Date.now() + 90_000;
    let log = workLog();
    const newer = () => [...log.anchored.keys()].filter((seq) => seq > last);
    while (newer().length < 3) {
      if (Date.now() > deadline) throw new Error(`batches after ${last} anchored: ${newer().join(", ")}`);
      await sleep(200);
      log = workLog();
    }
    figures.push(`worker 1 killed: worker 2 sealed and anchored batch ${last + 1} ${((Date.now() - killedAt) / 1000).toFixed(1)} s later`);
    for (const seq of newer()) {
      expect(log.sealed.get(seq), `batch ${seq} sealed by`).to.deep.equal(["worker-2"]);
      expect(log.anchored.get(seq), `batch ${seq} anchored by`).to.deep.equal(["worker-2"]);
    }
    expect(
      [...locks!.recent.seal, ...locks!.recent.anchor].filter((h) => h === `sealtrace-${victim.name}`),
      "locks held by the dead worker",
    ).to.deep.equal([]);
    // Restarted (as a supervisor would): both workers again, for the rest of the run.
    await start(victim);
  });

  it("HTTP A SIGKILLed mid-flow: deliveries go on through B and retry there; A restarted on its port serves again, sessions still valid", async () => {
    const record = ingest!.record;
    const errorsBefore = record.networkErrors;
    await kill(A);
    faults.push("SIGKILL HTTP A");
    const viaB = record.deliveredBy.get(B.url) ?? 0;
    await ingest!.delivered(8);
    expect(record.deliveredBy.get(B.url)! - viaB, "deliveries acknowledged by B while A was down").to.be.at.least(8);
    expect(record.networkErrors, "attempts that met the dead A (retried on B)").to.be.greaterThan(errorsBefore);
    figures.push(`HTTP A down: ${record.networkErrors - errorsBefore} attempts refused, each retried on B`);
    await start(A);
    const viaA = record.deliveredBy.get(A.url) ?? 0;
    await ingest!.delivered(6);
    expect(record.deliveredBy.get(A.url)! - viaA, "deliveries acknowledged by the restarted A").to.be.greaterThan(0);
    // The session lives in the database: the restarted A knows it.
    expect((await admin.get("/console/overview")).status, "the session on the restarted A").to.equal(200);
  });

  it("the replica's replay paused past REPLICA_MAX_LAG_MS, then the replica stopped: reads go to the primary, never a wrong history; restarted, it catches up", async () => {
    const code = brand.codes[1]!;
    await readsOn("reads on the replica", (s) => s.source === "replica");
    await replication.replica.query("SELECT pg_wal_replay_pause()");
    faults.push("replica replay paused");
    try {
      // Within the bound the lagging replica is read: the history it has, whole.
      for (const proc of http) await rightHistory(await bundleAt(proc, code));
      const lagging = await readsOn("reads on the primary past the lag bound", (s) => s.source === "primary" && s.replica === "lagging");
      figures.push(`replay paused: reads switched to the primary at lags ${lagging.map((s) => s.lagMs).join(" and ")} ms (bound ${MAX_LAG_MS} ms)`);
      for (const proc of http) await rightHistory(await bundleAt(proc, code));
    } finally {
      await replication.replica.query("SELECT pg_wal_replay_resume()");
    }
    await readsOn("reads back on the replica", (s) => s.source === "replica");

    await replication.replica.stop("fast");
    faults.push("replica stopped");
    const stoppedAt = Date.now();
    try {
      // At once (before the monitors notice: those answers go on on the primary mid-answer), and once they have.
      for (const proc of http) {
        await rightHistory(await bundleAt(proc, code));
        await page(proc, code);
      }
      await readsOn("reads on the primary with the replica down", (s) => s.source === "primary" && s.replica === "failing");
      await ingest!.delivered(5);
      for (const proc of http) {
        await rightHistory(await bundleAt(proc, code));
        const batches = await request(proc)("GET", "/api/v1/batches");
        expect(batches.status).to.equal(200);
      }
      await sleep(Math.max(0, 4_000 - (Date.now() - stoppedAt)));
    } finally {
      await replication.replica.start();
    }
    figures.push(`replica down ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`);
    // Caught up with what the primary held at this moment: its answers show at least that much of the bottle's
    // history (more if ingest added links since), and nothing else (rightHistory).
    const written = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM links WHERE serial = $1", [code.serial])).rows[0]!.n;
    await replication.caughtUp();
    await readsOn("reads back on the replica", (s) => s.source === "replica");
    const counted = await Promise.all(http.map(replicaReads));
    for (const proc of http) {
      const bundle = await bundleAt(proc, code);
      await rightHistory(bundle);
      expect(bundle.links.length, `${proc.name}: the caught-up replica's bundle`).to.be.at.least(written);
    }
    const countedAfter = await Promise.all(http.map(replicaReads));
    http.forEach((proc, i) => expect(countedAfter[i], `${proc.name}: read from the replica again`).to.be.greaterThan(counted[i]!));
  });

  it("afterwards: every acknowledged event anchored exactly once, one anchor per batch on chain, one batch.anchored each, no 5xx, audit passes", async () => {
    record = await ingest!.stop();
    ingest = null;
    expect(record.unexpected, "answers other than 202 (and 503 + Retry-After)").to.deep.equal([]);
    expect(record.conflicts).to.deep.equal([]);
    await waitAllAnchored(db);
    const registry = env.REGISTRY_ADDRESS!;
    report = await checkLedger({ db, chainUrl: engines.chain.url, registry, url: urls(), brands: [brand], record });
    expect(report.lost, "lost").to.deep.equal([]);
    expect(report.doubled, "doubled").to.deep.equal([]);
    expect(report.problems).to.deep.equal([]);

    // One final anchoring per batch (no reorg here), and on chain one anchoring transaction per batch, none reverted.
    const finals = await db.query<{ seq: number; n: number }>("SELECT seq, count(*)::int AS n FROM batch_anchors GROUP BY seq HAVING count(*) <> 1");
    expect(finals.rows, "batches with other than one final anchoring").to.deep.equal([]);
    const txs = await anchorTransactions(engines.chain.url, registry);
    expect(txs.reverted, "anchoring transactions that reverted (a second anchorer's)").to.equal(0);
    expect(
      [...txs.bySeq].filter(([, n]) => n !== 1),
      "seqs anchored by more than one transaction",
    ).to.deep.equal([]);
    expect(txs.bySeq.size).to.equal(report.batches);
    const anchorer = new Wallet(env.ANCHOR_PRIVATE_KEY!).address;
    figures.push(`${txs.total} anchoring transactions from ${anchorer.slice(0, 10)}… for ${report.batches} batches`);

    // The locks: never two holders at once; both workers held each at some point.
    await locks!.stop();
    const held = (name: "seal" | "anchor") => [...locks!.seen[name].keys()].sort();
    figures.push(
      `${locks!.samples} lock samples: sealer held by ${held("seal").join(", ")}, anchorer by ${held("anchor").join(", ")}; at most ${locks!.most.seal} and ${locks!.most.anchor} at once`,
    );
    // Each batch sealed by one worker process and anchored by one (a batch whose log line died with a killed worker excepted).
    const work = workLog();
    const twice = (map: Map<number, string[]>) => [...map].filter(([, names]) => names.length > 1);
    expect(twice(work.sealed), "batches two processes logged sealing").to.deep.equal([]);
    expect(twice(work.anchored), "batches two processes logged anchoring").to.deep.equal([]);
    const unlogged = Array.from({ length: report.batches }, (_, i) => i + 1).filter((seq) => !work.sealed.has(seq) || !work.anchored.has(seq));
    expect(unlogged.length, `batches without a sealing or anchoring line: ${unlogged.join(", ")}`).to.be.at.most(1);
    const tallyBy = (map: Map<number, string[]>) => {
      const by = new Map<string, number>();
      for (const [name] of map.values()) by.set(name!, (by.get(name!) ?? 0) + 1);
      return [...by].map(([name, n]) => `${name} ${n}`).join(", ");
    };
    figures.push(`sealed by ${tallyBy(work.sealed)}; anchored by ${tallyBy(work.anchored)}`);
    expect(locks!.most, "sessions holding the sealer's / anchorer's lock at once").to.deep.equal({ seal: 1, anchor: 1 });
    const workerNames = workers.map((w) => `sealtrace-${w.name}`);
    expect(
      [...held("seal"), ...held("anchor")].every((h) => workerNames.includes(h)),
      "only workers seal and anchor",
    ).to.equal(true);

    // The brand's receiver: one delivery (one webhook-id) per batch holding its links, each received.
    await receiver!.allAnnounced(db, report.batches);
    const announced = new Map<number, string[]>();
    for (const [id, arrival] of receiver!.arrivals) {
      const body = arrival.body as { type: string; data: { seq: number } };
      if (body.type !== "batch.anchored") continue;
      announced.set(body.data.seq, [...(announced.get(body.data.seq) ?? []), id]);
    }
    expect([...announced.keys()].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: report.batches }, (_, i) => i + 1));
    expect(
      [...announced].filter(([, ids]) => ids.length !== 1),
      "batches announced under more than one webhook-id",
    ).to.deep.equal([]);
    // A webhook-id received twice is the outbox's at-least-once after a kill (same id: the receiver drops it), never two
    // senders racing: its first arrival came before worker 1 was killed, the next after, and one send was never recorded.
    const resent = [...receiver!.arrivals].filter(([, a]) => a.at.length > 1);
    for (const [id, arrival] of resent) {
      const attempts = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = $1",
        [id],
      );
      expect(attempts.rows[0]!.n, `${id}: attempts recorded for ${arrival.at.length} arrivals`).to.be.below(arrival.at.length);
      expect(arrival.at[0]!, `${id}: first arrival before the kill`).to.be.below(workerKilledAt);
      expect(arrival.at[1]!, `${id}: second arrival after the kill`).to.be.above(workerKilledAt);
    }
    figures.push(
      `${announced.size} batch.anchored received${resent.length > 0 ? ` (${resent.length} again under the same webhook-id: sent by worker 1 as it was killed)` : ""}`,
    );

    // The auditor's independent check, against each HTTP process.
    for (const proc of http) {
      const audit = await runScript("scripts/audit.ts", ["--api", proc.url, "--rpc", engines.chain.url, "--registry", registry, "--brand-key", brand.apiKey]);
      expect(audit.code, `npm run audit against ${proc.name}:\n${audit.stdout}\n${audit.stderr}`).to.equal(0);
    }

    expect(answers.serverErrors, "5xx answers to the test's own requests").to.deep.equal([]);
  });
});
