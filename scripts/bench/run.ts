/**
 * `npm run bench`: starts what it needs (a database of its own on the local PostgreSQL, a BullMQ
 * prefix of its own on the local Redis, a local chain, the service as separate HTTP and worker
 * processes), measures every path of issue 8 next to a ceiling measured in the same run on the same
 * machine, prints one table and writes it as JSON to bench-results/latest.json. Everything it
 * created is dropped at the end. Nothing of it runs in `npm test`.
 *
 *   npm run bench [-- --only ingest,seal,bundle,page,gas,latency,embedded] [--ingest-events N] [--seal-links N]
 *                 [--seconds N (each read benchmark)] [--bottles N (of the read phases; 5,000)] [--http-heap MiB (cap the HTTP process's old space)]
 *   npm run bench -- --cluster [--seconds N] [--bottles N]   only the read paths across 1 and 2 HTTP processes, without and with a
 *                 streaming replica (scripts/bench/cluster.ts); written to bench-results/cluster.json
 *   BENCH_CPU_PROF=dir npm run bench     also writes the service processes' CPU profiles into dir
 *
 * Load always comes from a separate process (scripts/bench/load.ts, autocannon) on loopback.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import { freePort, startLocalChain } from "../../service/anchoring/local-chain.ts";
import { migrate } from "../../service/db/migrate.ts";
import { createLogger } from "../../service/log.ts";
import { createDatabase, deployTestRegistry, devKey, gtinFrom, TEST_REDIS_URL } from "../../test/helpers/stack.ts";
import { benchCluster, clusterTable, cpuPerRequestTable } from "./cluster.ts";
import { copyCeiling } from "./copy.ts";
import { measureGas } from "./gas.ts";
import type { LoadResult } from "./load.ts";
import { peakRssMiB, ROOT, runJson, runLoad, startBare, startService, type ServiceProcess } from "./processes.ts";
import { seedLinks } from "./seed.ts";

const PHASES = ["gas", "ingest", "bundle", "page", "latency", "seal", "embedded"] as const;
type Phase = (typeof PHASES)[number];

const { values: args } = parseArgs({
  options: {
    only: { type: "string" },
    "ingest-events": { type: "string", default: "150000" },
    "seal-links": { type: "string", default: "1000000" },
    seconds: { type: "string", default: "10" },
    "http-heap": { type: "string", default: "0" },
    cluster: { type: "boolean", default: false },
    bottles: { type: "string", default: "5000" },
  },
});
const only = new Set((args.only ?? PHASES.join(",")).split(",") as Phase[]);
const INGEST_EVENTS = Number(args["ingest-events"]);
const SEAL_LINKS = Number(args["seal-links"]);
const SECONDS = Number(args.seconds);
const SEAL_INTERVAL_MS = 2_000;
const BLOCK_TIME_MS = 1_000;
/** Bottles of the read phases (minted, given six events each, anchored). */
const BOTTLES = Number(args.bottles);
/** Bottles of the embedded-mode phase (PGlite ingests them all before it is measured). */
const EMBEDDED_BOTTLES = 1_000;
const LATENCY_RATE = 2_000;
const LATENCY_SECONDS = 15;
const ADMIN_TOKEN = "bench-admin-token-0123456789";
/** GET /metrics answers only with it (the bench reads the HTTP process's memory there). */
const METRICS_TOKEN = "bench-metrics-token-0123456789";
/** What every service process of the bench is given besides its own stack. */
const SERVICE_ENV: Record<string, string> = {
  ADMIN_TOKEN,
  METRICS_TOKEN,
  SEAL_INTERVAL_MS: String(SEAL_INTERVAL_MS),
  // Consumers come from many addresses (X-Forwarded-For in the page benchmark); no limit gets in the way.
  TRUST_PROXY: "1",
  RATE_LIMIT_PER_IP: "1000000",
  RATE_LIMIT_PER_BOTTLE: "1000000",
  SCANS_PER_BOTTLE_PER_HOUR: "1000000",
  MEMBER_KEYS: `k1:${randomBytes(32).toString("base64")}`,
  MEMBER_HASH_KEY: randomBytes(32).toString("base64"),
};

/** The run's figures with when, how long and on what, written to bench-results/<file>; returned as written. */
function writeResults<T extends object>(file: string, fields: T) {
  const output = {
    date: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", loadAverage: { before: loadBefore, after: loadavg() }, node: process.version },
    ...fields,
  };
  mkdirSync(join(ROOT, "bench-results"), { recursive: true });
  writeFileSync(join(ROOT, "bench-results", file), `${JSON.stringify(output, null, 2)}\n`);
  return output;
}

interface Row {
  metric: string;
  goal: string;
  measured: number | null;
  ceiling: number | null;
  unit: string;
  /** measured / ceiling */
  ratio: number | null;
  met: boolean | null;
  note?: string;
}
const rows: Row[] = [];
const raw: Record<string, unknown> = {};
const started = Date.now();
const log = (message: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);

function row(metric: string, goal: string, unit: string, measured: number | null, ceiling: number | null, met: boolean | null, note?: string): void {
  const ratio = measured !== null && ceiling !== null && ceiling !== 0 ? measured / ceiling : null;
  rows.push({ metric, goal, measured, ceiling, unit, ratio, met, ...(note ? { note } : {}) });
}

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => log(`clean-up step failed: ${String(error)}`));
  cleanups.length = 0;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

/** A service stack of its own: database, chain (1 s blocks), Redis prefix, HTTP and worker processes. */
async function startBenchStack() {
  const chain = await startLocalChain();
  cleanups.push(() => chain.stop());
  if (only.has("gas")) {
    log("gas: anchoring 100 one-event batches and 5 batches of 10,000 leaves");
    const gas = await measureGas(chain.url, devKey(17));
    raw.gas = gas;
    row("gas per anchor (10,000-leaf batch)", "≤ 50,000", "gas", gas.perAnchor, null, gas.perAnchor <= 50_000);
    row(
      "gas per bottle-event, 10,000-leaf batches",
      "≤ 5",
      "gas",
      gas.perEventAt10k,
      gas.perEventOneTxEach,
      gas.perEventAt10k <= 5,
      "ceiling: gas per event when every event is its own anchor transaction (mean of 100)",
    );
  }
  // Real chains do not mine on demand: one block a second from here on.
  await rpc(chain.url, "evm_setAutomine", [false]);
  await rpc(chain.url, "evm_setIntervalMining", [BLOCK_TIME_MS]);

  const database = await createDatabase();
  cleanups.push(() => database.drop());
  await migrate(database.url, createLogger("silent"));
  const key = devKey(16);
  const prefix = `sealtrace-bench-${randomBytes(4).toString("hex")}`;
  cleanups.push(async () => {
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "sealtrace-bench-"));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    CHAIN_RPC_URL: chain.url,
    ANCHOR_PRIVATE_KEY: key,
    REGISTRY_ADDRESS: await deployTestRegistry(chain.url, key),
    PORT: String(port),
    DATA_DIR: dataDir,
    LABEL_SECRET: randomBytes(32).toString("hex"),
    ...SERVICE_ENV,
  };
  // --http-heap N: the HTTP process's old space capped at N MiB (node's default when 0).
  const heap = Number(args["http-heap"]);
  const http = await startService("http", env, heap > 0 ? [`--max-old-space-size=${heap}`] : []);
  cleanups.push(() => http.stop());
  const db = new pg.Pool({ connectionString: database.url, max: 2 });
  cleanups.push(() => db.end());
  return { chain, database, env, http, db, url: `http://127.0.0.1:${port}` };
}
type BenchStack = Awaited<ReturnType<typeof startBenchStack>>;

async function api<T = Record<string, unknown>>(stack: { url: string }, method: string, path: string, token: string, body?: unknown): Promise<T> {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** A brand with regions, parties and a product through the API; codes for the ingest runs straight in SQL. */
async function setUpBrand(stack: BenchStack) {
  const brand = await setUpBrandAt(stack);
  const {
    rows: [row],
  } = await stack.db.query<{ id: number }>("SELECT id FROM brands WHERE slug = $1", [brand.slug]);
  return { ...brand, id: row!.id };
}

/** The same through the API of any service (the embedded one's database is its own). */
async function setUpBrandAt(stack: { url: string }) {
  const slug = `bench-${randomBytes(3).toString("hex")}`;
  const { apiKey, webhookSecret } = await api<{ apiKey: string; webhookSecret: string }>(stack, "POST", "/api/v1/admin/brands", ADMIN_TOKEN, {
    slug,
    name: "基准酒业 (bench)",
  });
  await api(stack, "PUT", "/api/v1/regions/CN-GZ", apiKey, { name: "贵州" });
  await api(stack, "PUT", "/api/v1/regions/CN-SH", apiKey, { name: "上海" });
  await api(stack, "PUT", "/api/v1/parties/factory", apiKey, { kind: "factory", name: "酒厂", region: "CN-GZ" });
  await api(stack, "PUT", "/api/v1/parties/wh", apiKey, { kind: "warehouse", name: "贵阳仓", region: "CN-GZ" });
  await api(stack, "PUT", "/api/v1/parties/dist", apiKey, { kind: "distributor", name: "上海经销商", region: "CN-SH" });
  await api(stack, "PUT", "/api/v1/parties/store", apiKey, { kind: "store", name: "浦东专卖店", region: "CN-SH" });
  const gtin = gtinFrom("0690123456789");
  await api(stack, "PUT", `/api/v1/products/${gtin}`, apiKey, { name: "飞天 53%vol 500ml", volumeMl: 500, abv: 53 });
  return { slug, apiKey, webhookSecret, gtin };
}
type Brand = Awaited<ReturnType<typeof setUpBrand>>;

async function seedCodes(stack: BenchStack, brand: Brand, prefix: string, count: number): Promise<string[]> {
  await stack.db.query(
    `WITH lookup AS (INSERT INTO serials (serial, brand_id) SELECT $1 || lpad(i::text, 9, '0'), $2 FROM generate_series(1, $4) AS i)
     INSERT INTO codes (serial, brand_id, gtin, lot, secret_hash)
     SELECT $1 || lpad(i::text, 9, '0'), $2, $3, 'bench', '\\x00' FROM generate_series(1, $4) AS i`,
    [prefix, brand.id, brand.gtin, count],
  );
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(9, "0")}`);
}

/** Bottles minted through the API, each given a six-event life through signed webhooks. */
async function sixEventBottles(stack: { url: string }, brand: Omit<Brand, "id">, count = BOTTLES): Promise<{ serial: string; url: string }[]> {
  const codes: { serial: string; url: string }[] = [];
  for (let left = count; left > 0; left -= 10_000) {
    const minted = await api<{ codes: { serial: string; url: string }[] }>(stack, "POST", "/api/v1/codes", brand.apiKey, {
      gtin: brand.gtin,
      count: Math.min(left, 10_000),
      lot: "bench",
      region: "CN-SH",
    });
    codes.push(...minted.codes);
  }
  const at = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
  const steps = [
    { type: "production", party: "factory", occurredAt: at(7 * 24) },
    { type: "warehouse_in", party: "wh", occurredAt: at(6 * 24) },
    { type: "warehouse_out", party: "wh", to: "dist", occurredAt: at(5 * 24) },
    { type: "store_receiving", party: "store", occurredAt: at(3 * 24) },
    { type: "retail_sale", party: "store", occurredAt: at(2), price: { amount: "1499.00", currency: "CNY" } },
    { type: "opened", party: "store", occurredAt: at(1) },
  ];
  // Production as a line reports it, one event per 1,000 bottles (format 2 bundles show none of the
  // other 999 serials); every later step one event per bottle, as a scanner posts them.
  const { signWebhook } = await import("../../service/ingest/signature.ts");
  for (const [s, step] of steps.entries()) {
    for (let i = 0; i < codes.length; i += 500) {
      const slice = codes.slice(i, i + 500);
      const events =
        s === 0
          ? i % 1_000 === 0
            ? [{ id: `life-${s}-${i}`, codes: codes.slice(i, i + 1_000).map((c) => c.serial), ...step }]
            : []
          : slice.map((c) => ({ id: `life-${s}-${c.serial}`, codes: [c.serial], ...step }));
      if (events.length === 0) continue;
      const body = JSON.stringify({ events });
      const response = await fetch(`${stack.url}/webhooks/${brand.slug}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", ...signWebhook(brand.webhookSecret, `life-${s}-${i}`, body) },
        body,
      });
      if (response.status !== 202) throw new Error(`life events: ${response.status} ${await response.text()}`);
    }
  }
  return codes;
}

async function allAnchored(stack: BenchStack): Promise<boolean> {
  const {
    rows: [r],
  } = await stack.db.query<{ pending: number; unanchored: number }>(
    `SELECT (SELECT count(*)::int FROM links WHERE id > links_sealed_through() AND batch_seq IS NULL) AS pending,
            (SELECT count(*)::int FROM batches WHERE state <> 'anchored') AS unanchored`,
  );
  return r!.pending === 0 && r!.unanchored === 0;
}

async function benchIngest(stack: BenchStack, brand: Brand): Promise<void> {
  const serials = await seedCodes(stack, brand, "I", INGEST_EVENTS);
  log(`ingest: ${INGEST_EVENTS} one-bottle events in signed deliveries of 500, 8 connections`);
  const result = await runLoad<LoadResult>({
    kind: "ingest",
    url: stack.url,
    connections: 8,
    brand: brand.slug,
    secret: brand.webhookSecret,
    serials,
    eventsPerRequest: 500,
    party: "factory",
    runId: "ing",
  });
  raw.ingest = result;
  const {
    rows: [stored],
  } = await stack.db.query<{ count: number }>("SELECT count(*)::int AS count FROM events WHERE brand_id = $1 AND brand_event_id LIKE 'ing-%'", [brand.id]);
  const eventsPerSecond = stored!.count / result.seconds;
  log(`ingest: ${stored!.count} events committed in ${result.seconds.toFixed(1)} s; COPY of the same rows`);
  const copy = await copyCeiling(stack.database.url, brand.id, "ing");
  raw.ingestCopy = copy;
  const client = new pg.Client({ connectionString: stack.database.url });
  await client.connect();
  const rowCeiling = await rowsPerSecond(client, INGEST_EVENTS).finally(() => client.end());
  raw.ingestRowCeiling = rowCeiling;
  row(
    "webhook ingest, 500-event deliveries, 8 connections",
    "≥ 15 % of row ceiling",
    "events/s",
    eventsPerSecond,
    rowCeiling,
    eventsPerSecond >= 0.15 * rowCeiling,
    `ceiling: ${INGEST_EVENTS} event rows INSERTed by one statement, same database, rolled back (an event writes 3-4 rows); p99 ${result.latencyMs.p99} ms per delivery${result.firstFailure ? `; failures: ${result.firstFailure}` : ""}`,
  );
  row(
    "webhook ingest beside COPY of the same rows",
    "report",
    "events/s",
    eventsPerSecond,
    copy.eventsPerSecond,
    null,
    `ceiling: COPY of the same ${copy.events} events + ${copy.links} links, rolled back`,
  );
}

async function bareCeiling(bodies: { json: unknown; html: string }, path: "/json" | "/html"): Promise<LoadResult> {
  const port = await freePort();
  const bare = await startBare(bodies, port);
  try {
    return await runLoad<LoadResult>({ kind: "get", url: `http://127.0.0.1:${port}`, connections: 64, duration: SECONDS, paths: [path] });
  } finally {
    await bare.stop();
  }
}

async function benchReads(stack: BenchStack, bottles: { serial: string; url: string }[]): Promise<void> {
  const pagePaths = bottles.map((b) => {
    const u = new URL(b.url);
    return `${u.pathname}${u.search}`;
  });
  const proofPaths = bottles.map((b) => `/api/v1/items/${b.serial}/proof?s=${new URL(b.url).searchParams.get("s")}`);
  const sample = await fetch(`${stack.url}${proofPaths[0]}`);
  const bundle = (await sample.json()) as { links: { anchor: unknown }[] };
  if (bundle.links.length !== 6 || bundle.links.some((l) => l.anchor === null)) throw new Error("bench bottles are not six anchored links");
  const html = await (await fetch(`${stack.url}${pagePaths[0]}`, { headers: { "x-forwarded-for": "192.0.2.1" } })).text();
  const bodies = { json: bundle, html };
  raw.sizes = { bundleBytes: JSON.stringify(bundle).length, pageBytes: Buffer.byteLength(html) };
  // Bundles as the service serves them: a bottle of a 1,000-bottle production event plus five
  // one-bottle events, sealed into batches as the running sealer cut them.
  const sizes: number[] = [];
  let leaked = 0;
  for (const path of proofPaths.slice(0, 20)) {
    const text = await (await fetch(`${stack.url}${path}`)).text();
    sizes.push(Buffer.byteLength(text));
    const own = /"serial":"([^"]+)"/.exec(text)?.[1];
    leaked += bottles.filter((b) => b.serial !== own && text.includes(b.serial)).length;
  }
  const {
    rows: [depths],
  } = await stack.db.query<{ links: number; heads: number }>(
    "SELECT max(leaf_count)::int AS links, max(heads_depth)::int AS heads FROM batches WHERE format = 2",
  );
  const largest = Math.max(...sizes);
  row(
    "bundle: a bottle of a 1,000-bottle event + 5 one-bottle events (largest of 20)",
    "≤ 8,192",
    "bytes",
    largest,
    null,
    largest <= 8_192 && leaked === 0,
    `batches of up to ${depths!.links} links, heads map depth ${depths!.heads}; other bottles' serials found in them: ${leaked}`,
  );

  if (only.has("bundle")) await benchBundles(stack.url, proofPaths, bodies, "bundle", "proof bundle API, 6-link bottles");
  if (only.has("page")) {
    log(`page: GET /01/{gtin}/21/{serial}?s=… (a scan logged each, every request from its own address), 64 connections, ${SECONDS} s`);
    const {
      rows: [before],
    } = await stack.db.query<{ count: number }>("SELECT count(*)::int AS count FROM scans");
    const measured = await runLoad<LoadResult>({
      kind: "get",
      url: stack.url,
      connections: 64,
      duration: SECONDS,
      paths: pagePaths,
      randomClientAddress: true,
    });
    const {
      rows: [after],
    } = await stack.db.query<{ count: number }>("SELECT count(*)::int AS count FROM scans");
    const ceiling = await bareCeiling(bodies, "/html");
    raw.page = { measured, ceiling, scansLogged: after!.count - before!.count };
    row(
      "verification page with scan logging, 64 connections",
      "≥ 25 % of ceiling",
      "pages/s",
      measured.requestsPerSecond,
      ceiling.requestsPerSecond,
      measured.requestsPerSecond >= ceiling.requestsPerSecond / 4 && measured.non2xx === 0,
      `ceiling: the same bare route with the page's ${Buffer.byteLength(html)} bytes; ${after!.count - before!.count} scans logged (each committed before its page answered)${measured.non2xx ? `; ${measured.non2xx} non-2xx: ${measured.firstFailure}` : ""}`,
    );
    row("verification page p99", "≤ 100", "ms", measured.latencyMs.p99, ceiling.latencyMs.p99, measured.latencyMs.p99 <= 100);
  }
}

/** GETs every path once, `connections` at a time (each bottle's first bundle: built, then cached); requests per second. */
async function firstPass(url: string, paths: string[], connections = 16): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < paths.length) {
        const path = paths[next++]!;
        const response = await fetch(`${url}${path}`);
        if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
        await response.arrayBuffer();
      }
    }),
  );
  return paths.length / ((performance.now() - started) / 1000);
}

/**
 * The proof API at 64 connections over bottles asked once before (cached, as they stay until they
 * move), beside the bare ceiling; against the issue's goals, or (goals false) for the record.
 */
async function benchBundles(
  url: string,
  proofPaths: string[],
  bodies: { json: unknown; html: string },
  key: string,
  label: string,
  goals = true,
): Promise<void> {
  log(`${label}: first request of each of ${proofPaths.length} bottles (16 clients), then 64 connections, ${SECONDS} s`);
  const firstPerSecond = await firstPass(url, proofPaths);
  const measured = await runLoad<LoadResult>({ kind: "get", url, connections: 64, duration: SECONDS, paths: proofPaths });
  const ceiling = await bareCeiling(bodies, "/json");
  raw[key] = { firstPerSecond, measured, ceiling };
  row(
    `${label}, 64 connections`,
    goals ? "≥ 50 % of ceiling" : "report",
    "req/s",
    measured.requestsPerSecond,
    ceiling.requestsPerSecond,
    goals ? measured.requestsPerSecond >= ceiling.requestsPerSecond / 2 && measured.non2xx === 0 : null,
    `ceiling: a bare Fastify route returning the same ${JSON.stringify(bodies.json).length}-byte JSON; each bottle asked once before (uncached: ${Math.round(firstPerSecond)}/s at 16 clients)${measured.non2xx ? `; ${measured.non2xx} non-2xx: ${measured.firstFailure}` : ""}`,
  );
  row(`${label} p99`, goals ? "≤ 20" : "report", "ms", measured.latencyMs.p99, ceiling.latencyMs.p99, goals ? measured.latencyMs.p99 <= 20 : null);
}

async function benchLatency(stack: BenchStack, brand: Brand): Promise<void> {
  const serials = await seedCodes(stack, brand, "L", LATENCY_RATE * LATENCY_SECONDS);
  log(`latency: ${LATENCY_RATE} events/s for ${LATENCY_SECONDS} s (deliveries of 100), accepted → anchored with 1 confirmation, ${BLOCK_TIME_MS} ms blocks`);
  const result = await runLoad<LoadResult>({
    kind: "ingest",
    url: stack.url,
    connections: 40,
    overallRate: LATENCY_RATE / 100,
    brand: brand.slug,
    secret: brand.webhookSecret,
    serials,
    eventsPerRequest: 100,
    party: "factory",
    runId: "lat",
  });
  await waitFor("the latency run's events to be anchored", () => allAnchored(stack), 120_000);
  const {
    rows: [r],
  } = await stack.db.query<{ p50: number; p99: number; max: number; count: number }>(
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max, count(*)::int AS count
       FROM (SELECT extract(epoch FROM b.anchored_at - e.received_at) * 1000 AS ms
               FROM events e JOIN links l ON l.event_id = e.id JOIN batches b ON b.seq = link_batch(l.id, l.batch_seq)
              WHERE e.brand_id = $1 AND e.brand_event_id LIKE 'lat-%') AS t`,
    [brand.id],
  );
  raw.latency = { load: result, anchoredMs: r };
  const goal = SEAL_INTERVAL_MS + 2_000;
  row(
    `accepted → anchored p99 at ${LATENCY_RATE} events/s, 1 confirmation`,
    `≤ ${goal}`,
    "ms",
    r!.p99,
    SEAL_INTERVAL_MS + BLOCK_TIME_MS,
    r!.p99 <= goal,
    `ceiling: SEAL_INTERVAL_MS (${SEAL_INTERVAL_MS}) + block time (${BLOCK_TIME_MS}); p50 ${Math.round(r!.p50)} ms over ${r!.count} events, ${Math.round(result.requestsPerSecond * 100)} events/s offered`,
  );
}

/**
 * What the HTTP process's memory holds right now, from its own /metrics (prom-client's default
 * metrics): resident set, V8 heap (total and used, and used per space), and memory outside the heap
 * (Buffers and other external allocations), in MiB.
 */
async function memoryOf(stack: BenchStack): Promise<Record<string, number>> {
  if (process.env.BENCH_HEAP_SNAPSHOTS) {
    process.kill(stack.http.pid, "SIGUSR2");
    await new Promise((resolve) => setTimeout(resolve, 5_000));
  }
  const text = await (await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const mib = (bytes: number) => Math.round(bytes / 1048576);
  const value = (name: string) => Number(new RegExp(`^sealtrace_process_${name} (\\S+)`, "m").exec(text)?.[1] ?? NaN);
  const spaces = [...text.matchAll(/^sealtrace_process_nodejs_heap_space_size_used_bytes\{space="([a-z_]+)"\} (\S+)/gm)];
  return {
    rss: mib(value("process_resident_memory_bytes")),
    heapTotal: mib(value("nodejs_heap_size_total_bytes")),
    heapUsed: mib(value("nodejs_heap_size_used_bytes")),
    external: mib(value("nodejs_external_memory_bytes")),
    ...Object.fromEntries(spaces.map(([, space, bytes]) => [`used.${space}`, mib(Number(bytes))])),
  };
}

async function benchService(): Promise<void> {
  if (!["gas", "ingest", "bundle", "page", "latency"].some((p) => only.has(p as Phase))) return;
  const stack = await startBenchStack();
  const needsService = ["ingest", "bundle", "page", "latency"].some((p) => only.has(p as Phase));
  if (!needsService) return;
  const brand = await setUpBrand(stack);
  const needsBottles = only.has("bundle") || only.has("page");
  // The HTTP process's peak RSS after each phase, to tell which one grew it.
  const peaks: Record<string, number> = { started: peakRssMiB(stack.http.pid) };
  raw.httpPeakRssMiBAfter = peaks;
  // And what it holds at those moments (the peak itself falls between them).
  const held: Record<string, Record<string, number>> = { started: await memoryOf(stack) };
  raw.httpMemoryAfter = held;
  const bottles = needsBottles ? await sixEventBottles(stack, brand) : [];
  peaks.setUp = peakRssMiB(stack.http.pid);
  held.setUp = await memoryOf(stack);
  if (only.has("ingest")) await benchIngest(stack, brand);
  peaks.ingest = peakRssMiB(stack.http.pid);
  held.ingest = await memoryOf(stack);

  // Sealing and anchoring run in a worker process of their own, as in production.
  const worker: ServiceProcess = await startService("worker", stack.env);
  cleanups.push(() => worker.stop());
  log("waiting for every link so far to be sealed and anchored");
  await waitFor("everything to be anchored", () => allAnchored(stack), 300_000);
  if (needsBottles) await benchReads(stack, bottles);
  peaks.reads = peakRssMiB(stack.http.pid);
  held.reads = await memoryOf(stack);
  if (only.has("latency")) await benchLatency(stack, brand);
  const http = peakRssMiB(stack.http.pid);
  peaks.latency = http;
  held.latency = await memoryOf(stack);
  row(
    "peak memory, HTTP process under the load above",
    "≤ 300",
    "MiB",
    http,
    null,
    http <= 300,
    `after each phase (peak RSS / RSS, V8 heap used of total, external): ${Object.entries(held)
      .map(([phase, m]) => `${phase} ${peaks[phase] ?? "?"}/${m.rss}, ${m.heapUsed} of ${m.heapTotal}, ${m.external}`)
      .join("; ")}`,
  );
}

/**
 * Embedded mode: one service process with no DATABASE_URL, REDIS_URL or CHAIN_RPC_URL (PGlite in it,
 * jobs in it, a local chain beside it), its proof API and consumer page each beside the bare ceiling.
 */
async function benchEmbedded(): Promise<void> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "sealtrace-bench-embedded-"));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  // Embedded whatever this shell says (the service inherits its environment; the local chain's Hardhat refuses an empty URL).
  for (const name of ["DATABASE_URL", "REDIS_URL", "CHAIN_RPC_URL", "ANCHOR_PRIVATE_KEY", "REGISTRY_ADDRESS"]) delete process.env[name];
  const service = await startService("all", {
    PORT: String(port),
    ADMIN_TOKEN,
    METRICS_TOKEN,
    DATA_DIR: dataDir,
    TRUST_PROXY: "1",
    RATE_LIMIT_PER_IP: "1000000",
    RATE_LIMIT_PER_BOTTLE: "1000000",
    SCANS_PER_BOTTLE_PER_HOUR: "1000000",
  });
  cleanups.push(() => service.stop());
  const url = `http://127.0.0.1:${port}`;
  log(`embedded: ${EMBEDDED_BOTTLES} six-event bottles into one embedded (PGlite) process`);
  const bottles = await sixEventBottles({ url }, await setUpBrandAt({ url }), EMBEDDED_BOTTLES);
  const proofPaths = bottles.map((b) => `/api/v1/items/${b.serial}/proof?s=${new URL(b.url).searchParams.get("s")}`);
  const pagePaths = bottles.map((b) => {
    const u = new URL(b.url);
    return `${u.pathname}${u.search}`;
  });
  // Links are sealed in order: the last bottle's last link anchored (and its head proven), all are.
  await waitFor(
    "the embedded service to anchor every link",
    async () => {
      const bundle = (await (await fetch(`${url}${proofPaths.at(-1)}`)).json()) as { links: { anchor: unknown }[]; head: { n: number } | null };
      return bundle.links.length === 6 && bundle.links.every((l) => l.anchor !== null) && bundle.head?.n === 6;
    },
    300_000,
  );
  const bundle = (await (await fetch(`${url}${proofPaths[0]}`)).json()) as unknown;
  const html = await (await fetch(`${url}${pagePaths[0]}`, { headers: { "x-forwarded-for": "192.0.2.1" } })).text();
  const bodies = { json: bundle, html };
  await benchBundles(url, proofPaths, bodies, "embeddedBundle", "embedded: proof bundle API, 6-link bottles", false);

  log(`embedded: consumer page (a scan logged each), 64 connections, ${SECONDS} s`);
  const measured = await runLoad<LoadResult>({ kind: "get", url, connections: 64, duration: SECONDS, paths: pagePaths, randomClientAddress: true });
  const ceiling = await bareCeiling(bodies, "/html");
  raw.embeddedPage = { measured, ceiling };
  row(
    "embedded: verification page with scan logging, 64 connections",
    "report",
    "pages/s",
    measured.requestsPerSecond,
    ceiling.requestsPerSecond,
    null,
    `ceiling: the same bare route with the page's ${Buffer.byteLength(html)} bytes${measured.non2xx ? `; ${measured.non2xx} non-2xx: ${measured.firstFailure}` : ""}`,
  );
  row("embedded: verification page p99", "report", "ms", measured.latencyMs.p99, ceiling.latencyMs.p99, null);
  const peak = peakRssMiB(service.pid);
  raw.embeddedPeakRssMiB = peak;
  row("peak memory, the embedded process (service + PGlite) under the load above", "report", "MiB", peak, null, null);
}

/**
 * The row ceiling: `count` rows the size of a one-bottle event (a canonical JSON of about 300 bytes,
 * its code, hash and salt) INSERTed into the events table, indexes and all, by one statement, then
 * rolled back.
 */
async function rowsPerSecond(client: pg.Client, count: number): Promise<number> {
  await client.query("BEGIN");
  try {
    const started = performance.now();
    await client.query(
      `INSERT INTO events (brand_id, brand_event_id, type, codes, occurred_at, received_at, party, salt, canonical, event_hash)
       SELECT b.id, 'ceiling-' || i, 'production', ARRAY['CEIL' || i], now(), now(), 'factory', md5(i::text),
              jsonb_build_object('id', 'ceiling-' || i, 'pad', repeat('x', 240)), decode(md5(i::text) || md5(i::text), 'hex')
         FROM generate_series(1, $1) AS i, (SELECT id FROM brands LIMIT 1) b`,
      [count],
    );
    return count / ((performance.now() - started) / 1000);
  } finally {
    await client.query("ROLLBACK");
  }
}

async function benchSeal(): Promise<void> {
  const database = await createDatabase();
  cleanups.push(() => database.drop());
  await migrate(database.url, createLogger("silent"));
  log(`seal: seeding ${SEAL_LINKS} pending links`);
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  let rowCeiling: number;
  try {
    await seedLinks(client, SEAL_LINKS);
    await client.query("VACUUM ANALYZE links");
    rowCeiling = await rowsPerSecond(client, SEAL_LINKS);
  } finally {
    await client.end();
  }
  log(`seal: sealing ${SEAL_LINKS} links as one batch in a worker process`);
  const result = await runJson<{
    leafCount: number;
    seconds: number;
    ms: { fence: number; read: number; tree: number; heads: number; write: number };
    hashesPerSecond: number;
    peakRssMiB: number;
    sizes: { headProofBytes: number; headsDepth: number; tiles: number; tileBytes: number; bundle: { bytes: number; fullBytes: number; otherSerials: number } };
  }>("scripts/bench/seal.ts", [database.url, String(SEAL_LINKS)]);
  raw.seal = result;
  const treeLeavesPerSecond = result.leafCount / (result.ms.tree / 1000);
  const ceilingLeavesPerSecond = result.hashesPerSecond / 2;
  const withoutHeads = (result.ms.read + result.ms.tree + result.ms.write) / 1000;
  const linksPerSecond = result.leafCount / result.seconds;
  row(
    `sealing ${result.leafCount} pending links (tree, heads map, tiles)`,
    "≥ row ceiling",
    "links/s",
    linksPerSecond,
    rowCeiling,
    linksPerSecond >= rowCeiling,
    `${result.seconds.toFixed(1)} s: fence ${result.ms.fence} ms, read ${result.ms.read} ms, tree ${result.ms.tree} ms beside the heads map's ${result.ms.heads} ms, tiles stored ${result.ms.write} ms; ` +
      `ceiling: ${SEAL_LINKS} event rows INSERTed by one statement, same database, rolled back`,
  );
  row(
    `heads map of ${result.leafCount} chains, added to sealing`,
    "≤ 50 % of the rest",
    "s",
    result.ms.heads / 1000,
    withoutHeads,
    result.ms.heads / 1000 <= withoutHeads / 2,
    `ceiling: the same batch's reading, tree and stores without the heads map; ${result.sizes.tiles} tiles (${Math.round(result.sizes.tileBytes / 1024 / 1024)} MiB) written`,
  );
  row(
    "tree building",
    "≥ 50 % of ceiling",
    "leaves/s",
    treeLeavesPerSecond,
    ceilingLeavesPerSecond,
    treeLeavesPerSecond >= ceilingLeavesPerSecond / 2,
    `ceiling: ${Math.round(result.hashesPerSecond)} raw keccak256/s (WebAssembly, 64-byte inputs) ÷ 2 per leaf`,
  );
  row(
    `head proof (depth ${result.sizes.headsDepth}), as a bundle carries it`,
    "≤ 2,048",
    "bytes",
    result.sizes.headProofBytes,
    null,
    result.sizes.headProofBytes <= 2_048,
  );
  row(
    `bundle: a bottle of a 1,000-bottle event + 5 one-bottle events, ${result.leafCount}-link batch`,
    "≤ 8,192",
    "bytes",
    result.sizes.bundle.bytes,
    null,
    result.sizes.bundle.bytes <= 8_192 && result.sizes.bundle.otherSerials === 0,
    `as served (the head proof covers every link); ${result.sizes.bundle.fullBytes} bytes with every link's own proof (?proofs=all); other bottles' serials in it: ${result.sizes.bundle.otherSerials}`,
  );
  row(`peak memory, worker sealing ${result.leafCount} links`, "≤ 1,024", "MiB", result.peakRssMiB, null, result.peakRssMiB <= 1_024);
}

function format(value: number | null, unit: string): string {
  if (value === null) return "—";
  if (unit === "s" || Math.abs(value) < 100) return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
  return Math.round(value).toLocaleString("en-US");
}

function table(): string {
  const header = ["metric", "goal", "measured", "ceiling", "ratio", "met?"];
  const lines = rows.map((r) => [
    r.metric,
    `${r.goal} ${r.unit}`,
    format(r.measured, r.unit),
    format(r.ceiling, r.unit),
    r.ratio === null ? "—" : r.ratio.toFixed(2),
    r.met === null ? "—" : r.met ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [render(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...lines.map(render)].join("\n");
}

const loadBefore = loadavg();
if (args.cluster) {
  let result;
  try {
    result = await benchCluster({
      seconds: SECONDS,
      bottles: BOTTLES,
      serviceEnv: SERVICE_ENV,
      metricsToken: METRICS_TOKEN,
      cleanups,
      log,
      rpc,
      waitFor,
      setUpBrandAt,
      sixEventBottles,
      firstPass,
    });
  } finally {
    await cleanUp();
  }
  const output = writeResults("cluster.json", { ratio: "measured / ceiling (the bare server with as many processes, same run)", cluster: result });
  process.stdout.write(
    `${clusterTable(result)}\n\n${cpuPerRequestTable(result)}\n\nratio = req/s ÷ the bare server's with as many processes; cores from /proc over each run's middle ${SECONDS - 2.5} s; ` +
      `uncached bundles/s: ${Object.entries(result.uncachedBundlesPerSecond)
        .map(([name, rate]) => `${name} ${Math.round(rate)}`)
        .join(", ")}; ${output.seconds} s; load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")} → ${output.machine.loadAverage.after
        .map((l) => l.toFixed(2))
        .join(" ")}; written to bench-results/cluster.json\n`,
  );
  process.exit(0);
}
try {
  await benchService();
  await cleanUp();
  if (only.has("seal")) await benchSeal();
  await cleanUp();
  if (only.has("embedded")) await benchEmbedded();
} finally {
  await cleanUp();
}
const output = writeResults("latest.json", { ratio: "measured / ceiling", rows, raw });
process.stdout.write(
  `${table()}\n\nratio = measured / ceiling; ${output.seconds} s; load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")} → ${output.machine.loadAverage.after.map((l) => l.toFixed(2)).join(" ")}; written to bench-results/latest.json\n`,
);
// Everything was stopped above; a stray handle (a pool timer) must not keep the run alive.
process.exit(0);
