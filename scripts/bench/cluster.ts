/**
 * `npm run bench -- --cluster` (issue 19): the public read paths across one and two HTTP processes,
 * each without and with a PostgreSQL streaming replica (DATABASE_READ_URL), beside the bench's bare
 * ceiling run with as many processes, and where the CPU went (from /proc) in each run.
 *
 * Engines of its own, as `npm run test:cluster` starts them (test/cluster/support/replication.ts): a
 * private primary (initdb) and a hot standby streaming from it (pg_basebackup -R), both on this
 * machine. A local chain, a BullMQ prefix of its own on the local Redis, one worker, and four HTTP
 * processes started together: two reading only the primary, two with DATABASE_READ_URL. A
 * configuration is the one or two of them the load generator is pointed at; the others sit idle.
 * Two processes get no proxy in front: the load generator spreads its connections over both ports
 * (autocannon connection i → port i mod 2), as a layer-4 balancer spreading connections would.
 *
 * Per path (proof bundles, the audit reads, the consumer page) the bare ceilings with one and two
 * processes run first, then the four configurations back to back, so that what one compares ran
 * within a minute of each other on a machine other sessions share.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { freePort, startLocalChain } from "../../service/anchoring/local-chain.ts";
import { migrate } from "../../service/db/migrate.ts";
import { createLogger } from "../../service/log.ts";
import { startReplication } from "../../test/cluster/support/replication.ts";
import { deployTestRegistry, devKey, TEST_REDIS_URL } from "../../test/helpers/stack.ts";
import { childrenMatching, commandLine, cpuBetween, cpuSnapshot, type CpuUse } from "./cpu.ts";
import type { LoadResult } from "./load.ts";
import { runLoad, startBare, startService, type ServiceProcess } from "./processes.ts";

export interface ClusterDeps {
  seconds: number;
  bottles: number;
  /** The settings every bench service process gets (tokens, limits out of the way, seal interval). */
  serviceEnv: Record<string, string>;
  metricsToken: string;
  cleanups: (() => Promise<unknown>)[];
  log(message: string): void;
  rpc(url: string, method: string, params: unknown[]): Promise<unknown>;
  waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void>;
  setUpBrandAt(stack: { url: string }): Promise<{ slug: string; apiKey: string; webhookSecret: string; gtin: string }>;
  sixEventBottles(
    stack: { url: string },
    brand: { slug: string; apiKey: string; webhookSecret: string; gtin: string },
    count: number,
  ): Promise<{ serial: string; url: string }[]>;
  firstPass(url: string, paths: string[], connections?: number): Promise<number>;
}

type Path = "bundle" | "audit" | "page";
interface Process {
  name: string;
  url: string;
  service: ServiceProcess;
}
interface Configuration {
  processes: Process[];
  reads: "primary" | "replica";
}

export interface ClusterRun {
  path: Path;
  /** "bare" for the ceiling, else where the HTTP processes read. */
  reads: "bare" | "primary" | "replica";
  processes: number;
  load: LoadResult;
  cpu: CpuUse;
  /** For replica runs: answers read on the replica and on the primary (the processes' own counters), lag at the end, fallbacks. */
  replica?: { replicaReads: number; primaryReads: number; lagMs: number | null; fallbacks: number };
}

export interface ClusterResult {
  bottles: number;
  seconds: number;
  connections: number;
  uncachedBundlesPerSecond: Record<string, number>;
  bodies: Record<Path, { bytes: number; what: string }>;
  runs: ClusterRun[];
}

const CONNECTIONS = 64;
const PATHS: Path[] = ["bundle", "audit", "page"];
const LABELS: Record<Path, string> = {
  bundle: "proof bundle API (cached bundles)",
  audit: "audit reads (batch, tile, checkpoint)",
  page: "consumer page with scan logging",
};

/** A process's counters from its /metrics: reads by source, replica fallbacks, the lag gauge. */
async function readCounters(url: string, token: string): Promise<{ replica: number; primary: number; fallbacks: number; lagMs: number | null }> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const sum = (source: string) =>
    [...text.matchAll(new RegExp(`^sealtrace_reads_total\\{[^}]*source="${source}"[^}]*\\} (\\S+)`, "gm"))].reduce((total, m) => total + Number(m[1]), 0);
  const lag = Number(/^sealtrace_replica_lag_seconds (\S+)/m.exec(text)?.[1] ?? NaN);
  return {
    replica: sum("replica"),
    primary: sum("primary"),
    fallbacks: Number(/^sealtrace_replica_fallbacks_total (\S+)/m.exec(text)?.[1] ?? 0),
    lagMs: Number.isFinite(lag) ? lag * 1000 : null,
  };
}

/** The postmaster's pid of a server: its data directory's postmaster.pid, first line. */
async function postmasterPid(server: { query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> }): Promise<number> {
  const [row] = await server.query<{ pid: string }>("SELECT (pg_read_file(current_setting('data_directory') || '/postmaster.pid'))::text AS pid");
  return Number(row!.pid.split("\n")[0]);
}

export async function benchCluster(deps: ClusterDeps): Promise<ClusterResult> {
  const { log, cleanups, seconds } = deps;
  // CPU is sampled from 1 s after the load starts to 1.5 s before it ends.
  if (!(seconds >= 4)) throw new Error(`--seconds must be at least 4 with --cluster (got ${seconds})`);
  log("cluster: a private PostgreSQL primary (initdb) and a streaming replica of it (pg_basebackup -R)");
  const replication = await startReplication();
  cleanups.push(() => replication.destroy());
  const { primary, replica } = replication;
  await migrate(primary.url, createLogger("silent"));

  const chain = await startLocalChain();
  cleanups.push(() => chain.stop());
  await deps.rpc(chain.url, "evm_setAutomine", [false]);
  await deps.rpc(chain.url, "evm_setIntervalMining", [1_000]);
  const key = devKey(18);
  const prefix = `sealtrace-bench-cluster-${randomBytes(4).toString("hex")}`;
  cleanups.push(async () => {
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const dataDir = mkdtempSync(join(tmpdir(), "sealtrace-bench-cluster-"));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = {
    ...deps.serviceEnv,
    DATABASE_URL: primary.url,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    CHAIN_RPC_URL: chain.url,
    ANCHOR_PRIVATE_KEY: key,
    REGISTRY_ADDRESS: await deployTestRegistry(chain.url, key),
    DATA_DIR: dataDir,
    // Every HTTP process signs labels and sessions alike.
    LABEL_SECRET: randomBytes(32).toString("hex"),
  };
  const start = async (name: string, extra: Record<string, string>): Promise<Process> => {
    const port = await freePort();
    const service = await startService("http", { ...env, ...extra, PORT: String(port) });
    cleanups.push(() => service.stop());
    return { name, url: `http://127.0.0.1:${port}`, service };
  };
  log("cluster: 4 HTTP processes (2 reading the primary only, 2 with DATABASE_READ_URL) and a worker");
  const onPrimary = [await start("p1", {}), await start("p2", {})];
  const withReplica = [await start("r1", { DATABASE_READ_URL: replica.url }), await start("r2", { DATABASE_READ_URL: replica.url })];
  const worker = await startService("worker", env);
  cleanups.push(() => worker.stop());
  const db = new pg.Pool({ connectionString: primary.url, max: 2 });
  cleanups.push(() => db.end());

  log(`cluster: ${deps.bottles} six-event bottles through the API and signed webhooks (on p1), sealed and anchored by the worker`);
  const brand = await deps.setUpBrandAt(onPrimary[0]!);
  const bottles = await deps.sixEventBottles(onPrimary[0]!, brand, deps.bottles);
  await deps.waitFor(
    "every bottle to be sealed and anchored",
    async () => {
      const {
        rows: [r],
      } = await db.query<{ waiting: number }>(
        `SELECT (SELECT count(*)::int FROM links WHERE id > links_sealed_through() AND batch_seq IS NULL)
              + (SELECT count(*)::int FROM batches WHERE state <> 'anchored') AS waiting`,
      );
      return r!.waiting === 0;
    },
    300_000,
  );
  await replication.caughtUp();

  const proofPaths = bottles.map((b) => `/api/v1/items/${b.serial}/proof?s=${new URL(b.url).searchParams.get("s")}`);
  const pagePaths = bottles.map((b) => {
    const u = new URL(b.url);
    return `${u.pathname}${u.search}`;
  });
  const { rows: batches } = await db.query<{ seq: number }>("SELECT seq FROM batches WHERE state = 'anchored' ORDER BY seq");
  const auditPaths = batches.flatMap((b) => [`/api/v1/batches/${b.seq}`, `/api/v1/batches/${b.seq}/tiles/0/0`, "/api/v1/checkpoint"]);
  const first = onPrimary[0]!.url;
  const bundleBody = (await (await fetch(`${first}${proofPaths[0]}`)).json()) as unknown;
  const pageBody = await (await fetch(`${first}${pagePaths[0]}`, { headers: { "x-forwarded-for": "192.0.2.1" } })).text();
  const batchBody = (await (await fetch(`${first}/api/v1/batches/${batches[0]!.seq}`)).json()) as unknown;
  const bodies: ClusterResult["bodies"] = {
    bundle: { bytes: JSON.stringify(bundleBody).length, what: "the first bottle's bundle" },
    audit: { bytes: JSON.stringify(batchBody).length, what: "batch 1's JSON" },
    page: { bytes: Buffer.byteLength(pageBody), what: "the first bottle's page" },
  };

  // Each process has its own bundle cache: every bottle asked once of each (the uncached rate, primary against replica).
  const uncachedBundlesPerSecond: Record<string, number> = {};
  for (const p of [...onPrimary, ...withReplica]) {
    log(`cluster: each bottle's bundle asked once of ${p.name} (16 clients), filling its cache`);
    uncachedBundlesPerSecond[p.name] = await deps.firstPass(p.url, proofPaths);
  }

  // CPU groups: every process of ours by name; PostgreSQL servers by their postmaster's tree.
  const chainPid = childrenMatching(process.pid, "hardhat").find((pid) => commandLine(pid).includes(" node ")) ?? null;
  const fixedGroups: Record<string, number[]> = {
    primary: [await postmasterPid(primary)],
    replica: [await postmasterPid(replica)],
    worker: [worker.pid],
    ...Object.fromEntries([...onPrimary, ...withReplica].map((p) => [p.name, [p.service.pid]])),
    ...(chainPid === null ? {} : { chain: [chainPid] }),
    runner: [process.pid],
  };

  /** One load run over `urls`, CPU sampled from /proc from 1 s after the load generator starts to 1.5 s before it ends. */
  async function measure(urls: string[], paths: string[], randomClientAddress: boolean, extra: Record<string, number[]>) {
    const running = runLoad<LoadResult>({
      kind: "get",
      url: urls.length === 1 ? urls[0]! : urls,
      connections: CONNECTIONS,
      duration: seconds,
      paths,
      randomClientAddress,
    });
    // Awaited below; a failure before then must not go unhandled (the engines' clean-up must run).
    running.catch(() => undefined);
    let loadPid: number | undefined;
    await deps.waitFor("the load generator to start", async () => (loadPid = childrenMatching(process.pid, "scripts/bench/load.ts")[0]) !== undefined, 10_000);
    const groups = { ...fixedGroups, ...extra, load: [loadPid!] };
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const before = cpuSnapshot(groups);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000 - 2_500));
    const after = cpuSnapshot(groups);
    return { load: await running, cpu: cpuBetween(before, after) };
  }

  const runs: ClusterRun[] = [];
  const pageQuarters = 4;
  const quarter = Math.floor(pagePaths.length / (pageQuarters + 1));
  for (const path of PATHS) {
    const bare = { json: path === "audit" ? batchBody : bundleBody, html: pageBody };
    const barePath = path === "page" ? "/html" : "/json";
    for (const count of [1, 2]) {
      log(`cluster: ${LABELS[path]}: ceiling, ${count} bare process${count > 1 ? "es" : ""}, ${CONNECTIONS} connections, ${seconds} s`);
      const servers: { pid: number; url: string; stop(): Promise<void> }[] = [];
      try {
        for (let i = 0; i < count; i++) {
          const port = await freePort();
          const server = await startBare(bare, port);
          servers.push({ ...server, url: `http://127.0.0.1:${port}` });
        }
        const result = await measure(
          servers.map((s) => s.url),
          [barePath],
          false,
          Object.fromEntries(servers.map((s, i) => [`bare${i + 1}`, [s.pid]])),
        );
        runs.push({ path, reads: "bare", processes: count, ...result });
      } finally {
        for (const server of servers) await server.stop();
      }
    }
    const configurations: Configuration[] = [
      { processes: onPrimary.slice(0, 1), reads: "primary" },
      { processes: onPrimary, reads: "primary" },
      { processes: withReplica.slice(0, 1), reads: "replica" },
      { processes: withReplica, reads: "replica" },
    ];
    // Warm each process's code for this path (JIT) on bottles no run below uses.
    const warm = path === "bundle" ? proofPaths.slice(0, 200) : path === "audit" ? auditPaths : pagePaths.slice(0, Math.min(200, quarter));
    for (const p of [...onPrimary, ...withReplica]) await deps.firstPass(p.url, warm);
    for (const [c, configuration] of configurations.entries()) {
      // Each page run on a quarter of the bottles of its own: scans move bottles, so no run sees another's.
      const paths = path === "bundle" ? proofPaths : path === "audit" ? auditPaths : pagePaths.slice(quarter * (c + 1), quarter * (c + 2));
      const urls = configuration.processes.map((p) => p.url);
      log(
        `cluster: ${LABELS[path]}: ${configuration.processes.map((p) => p.name).join(" + ")} (reads from the ${configuration.reads}), ${CONNECTIONS} connections, ${seconds} s`,
      );
      await replication.caughtUp();
      const before = await Promise.all(urls.map((url) => readCounters(url, deps.metricsToken)));
      const result = await measure(urls, paths, path === "page", {});
      const after = await Promise.all(urls.map((url) => readCounters(url, deps.metricsToken)));
      const run: ClusterRun = { path, reads: configuration.reads, processes: urls.length, ...result };
      if (configuration.reads === "replica") {
        const delta = (field: "replica" | "primary" | "fallbacks") => after.reduce((sum, a, i) => sum + a[field] - before[i]![field], 0);
        const lags = after.map((a) => a.lagMs).filter((lag): lag is number => lag !== null);
        run.replica = {
          replicaReads: delta("replica"),
          primaryReads: delta("primary"),
          fallbacks: delta("fallbacks"),
          lagMs: lags.length === 0 ? null : Math.max(...lags),
        };
      }
      runs.push(run);
    }
  }
  return { bottles: bottles.length, seconds, connections: CONNECTIONS, uncachedBundlesPerSecond, bodies, runs };
}

const HTTP_NAMES = ["p1", "p2", "r1", "r2"];

/**
 * CPU milliseconds per answer, by kind of process (cores ÷ req/s): what an answer costs wherever it
 * runs, less sensitive than req/s to what else the machine was doing (the arithmetic in
 * docs/SCALING.md starts from it).
 */
export function cpuPerRequestTable(result: ClusterResult): string {
  const header = ["path", "HTTP processes", "reads from", "req/s", "ms CPU / answer: load gen", "HTTP", "primary", "replica", "PostgreSQL in all"];
  const lines = result.runs.map((run) => {
    const g = run.cpu.groups;
    const rps = run.load.requestsPerSecond;
    const http = run.reads === "bare" ? (g.bare1 ?? 0) + (g.bare2 ?? 0) : HTTP_NAMES.reduce((sum, name) => sum + (g[name] ?? 0), 0);
    const ms = (cores: number) => ((cores / rps) * 1000).toFixed(3);
    return [
      run.reads === "bare" ? `${LABELS[run.path]}: ceiling` : LABELS[run.path],
      String(run.processes),
      run.reads,
      Math.round(rps).toLocaleString("en-US"),
      ms(g.load ?? 0),
      ms(http),
      ms(g.primary ?? 0),
      ms(g.replica ?? 0),
      ms((g.primary ?? 0) + (g.replica ?? 0)),
    ];
  });
  return render(header, lines);
}

function render(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [row(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...lines.map(row)].join("\n");
}

/**
 * What held a run back, from its CPU: no idle CPU (then the others' share says how much was ours),
 * else a single-threaded process near a whole core, else not CPU (waits: locks, round trips, commits).
 */
function limitedBy(run: ClusterRun): string {
  const { groups, machine, others } = run.cpu;
  const idle = cpus().length - machine;
  if (idle < 0.1 * cpus().length) return `CPU: none idle, others ${others.toFixed(2)} cores`;
  const [name, busiest] = Object.entries(groups)
    .filter(([n]) => n !== "primary" && n !== "replica" && n !== "runner")
    .reduce((a, b) => (b[1] > a[1] ? b : a), ["none", 0] as [string, number]);
  if (busiest >= 0.9) return `${name === "load" ? "the load generator" : name} at ${busiest.toFixed(2)} core (one JavaScript thread)`;
  return `not CPU (${idle.toFixed(2)} cores idle): waits`;
}

/** The table printed and written into docs/SCALING.md: one row a run, cores from /proc. */
export function clusterTable(result: ClusterResult): string {
  const header = [
    "path",
    "HTTP processes",
    "reads from",
    "req/s",
    "p99 ms",
    "ceiling req/s (bare, same processes)",
    "ratio",
    "× 1 process, primary",
    "cores: load gen",
    "HTTP",
    "primary",
    "replica",
    "worker + chain + runner",
    "others",
    "idle",
    "on the replica",
    "limited by",
  ];
  const lines: string[][] = [];
  for (const path of PATHS) {
    const of = (reads: ClusterRun["reads"], processes: number) => result.runs.find((r) => r.path === path && r.reads === reads && r.processes === processes);
    const single = of("primary", 1);
    for (const run of result.runs.filter((r) => r.path === path)) {
      const ceiling = run.reads === "bare" ? null : of("bare", run.processes);
      const rps = run.load.requestsPerSecond;
      const g = run.cpu.groups;
      const sum = (names: string[]) => names.reduce((total, name) => total + (g[name] ?? 0), 0);
      const http = run.reads === "bare" ? sum(["bare1", "bare2"]) : sum(HTTP_NAMES);
      const cores = (value: number) => value.toFixed(2);
      const share = run.replica ? run.replica.replicaReads / Math.max(1, run.replica.replicaReads + run.replica.primaryReads) : null;
      lines.push([
        run.reads === "bare" ? `${LABELS[path]}: ceiling` : LABELS[path],
        String(run.processes),
        run.reads,
        Math.round(rps).toLocaleString("en-US"),
        String(run.load.latencyMs.p99),
        ceiling ? Math.round(ceiling.load.requestsPerSecond).toLocaleString("en-US") : "—",
        ceiling ? (rps / ceiling.load.requestsPerSecond).toFixed(2) : "—",
        single && run.reads !== "bare" ? (rps / single.load.requestsPerSecond).toFixed(2) : "—",
        cores(g.load ?? 0),
        cores(http),
        cores(g.primary ?? 0),
        cores(g.replica ?? 0),
        cores(sum(["worker", "chain", "runner"])),
        cores(run.cpu.others),
        cores(Math.max(0, cpus().length - run.cpu.machine)),
        share === null
          ? "—"
          : `${Math.round(share * 100)} %${run.replica!.fallbacks ? `, ${run.replica!.fallbacks} fallbacks` : ""}${run.replica!.lagMs !== null ? `, lag ${Math.round(run.replica!.lagMs)} ms` : ""}`,
        limitedBy(run),
      ]);
      if (run.load.non2xx > 0 || run.load.errors > 0)
        lines.at(-1)![0] += ` (${run.load.non2xx} non-2xx, ${run.load.errors} errors: ${run.load.firstFailure ?? "?"})`;
    }
  }
  return render(header, lines);
}
