/**
 * Reads from a PostgreSQL streaming replica (DATABASE_READ_URL), and the one place that decides
 * which reads may go there.
 *
 * What reads the replica (ReadPurpose; each route asks `readDb(purpose)` once per answer):
 *  - "consumer-page": a consumer's page (no bearer token), its one statement (bottle, steps, scans,
 *    what decides the visit). The visit itself is WRITTEN by the scan writer on the primary, which
 *    re-checks under the head's lock (verify/scan-writer.ts: when the head's n differs from the n the
 *    page read, it counts the IP's recent scans and the hour's scans again on the primary), so a
 *    lagging read can neither double a scan nor reopen a bottle; the page shows other visitors' scans,
 *    and anchoring, a little later.
 *  - "proof-bundle" (by a bottle's secret): the cache's access check AND the bundle built from it,
 *    from the same source (verify/bundle-cache.ts picks the source once per statement group and builds
 *    with it): a link set from the replica is never combined with a head proof or a latest batch read
 *    on the primary. Bundles asked with a brand API key are read on the primary (a credential, below).
 *  - "audit": batches, leaves, tiles, checkpoint, the brand's audit export.
 *  - "epcis-query": EPCIS event queries.
 *  - "console-report": the console's reports (counts, alerts, anchoring health, batches).
 *
 * What stays on the primary, and why:
 *  - every write (ingest, scans, set-up, console forms, outbox, sealer, anchorer): a standby refuses them;
 *  - every credential lookup (brand API keys, store keys, console sessions, CSRF): a revoked key or
 *    a signed-out session must stop working at once, a new one must work at once (so a consumer page
 *    or a proof bundle asked with a bearer token reads the primary);
 *  - reads that must see their own write: the console's forms and the lists they redirect to
 *    (products, regions, stores, lots, users), an EPCIS capture job polled after its POST, the scan
 *    writer's locked re-check, the sealer's and anchorer's reads (workers never use the replica).
 *
 * One answer, one source. A route takes its Db once; if the replica fails mid-answer (stopped, a
 * recovery conflict) that answer's remaining statements go to the primary and stay there. The primary
 * is always at or ahead of the replica, so later statements never see an older state than earlier
 * ones, which is what the code already assumed of two statements on one pool.
 *
 * Lag. Every `intervalMs` the monitor samples the primary's `pg_current_wal_lsn()` (with the time) and
 * then the replica's `pg_last_wal_replay_lsn()`. The replica holds everything the primary had written
 * at the time of the newest sample whose LSN it has replayed, so the lag is at most `now` minus that
 * sample's time (0 when it has replayed the newest). Unlike `now() - pg_last_xact_replay_timestamp()`,
 * this stays 0 on an idle primary (nothing to replay is no lag), and unlike a heartbeat row it writes
 * nothing. The replica is read only while the lag measured plus the time since the measurement is
 * within `maxLagMs` (replay only moves forward, so that sum bounds how stale it is now); past it, or
 * when the replica does not answer or is not a standby (a promoted replica has its own history),
 * reads go to the primary: answers then never 5xx because of the replica, and never show more than
 * `maxLagMs` of staleness.
 */
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Db } from "./pool.ts";

export type ReadPurpose = "consumer-page" | "proof-bundle" | "audit" | "epcis-query" | "console-report";
export type ReadSource = "replica" | "primary";
/** Why reads go where they go (readyz, metrics). */
export type ReplicaState = "ok" | "lagging" | "failing" | "not a standby" | "not used";

/** Returns the database a read-only answer of this purpose reads, for its whole answer. */
export type ReadDb = (purpose: ReadPurpose) => Db;

export interface ReadStatus {
  source: ReadSource;
  replica: ReplicaState;
  /** The replica's measured lag in ms (null: not measured, or no replica). */
  lagMs: number | null;
}

export interface Reads {
  readDb: ReadDb;
  status(): ReadStatus;
  /** Measures once now (the monitor does it every intervalMs). */
  probe(): Promise<ReadStatus>;
  close(): Promise<void>;
}

/** Errors after which the replica is not asked again in this answer: it is unreachable or cancelled the statement. */
const REPLICA_UNAVAILABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "57P01",
  "57P02",
  "57P03",
  "57014",
  "08000",
  "08001",
  "08003",
  "08006",
  "53300",
  // A standby cancels a query that conflicts with replaying WAL (SQLSTATE 40001 / 40P01 there).
  "40001",
  "40P01",
]);

function unavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && REPLICA_UNAVAILABLE.has(code)) return true;
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(message);
}

/** An LSN ("16/B374D848") as a number of bytes. */
export function lsnBytes(lsn: string): bigint {
  const [high, low] = lsn.split("/");
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

/** Reads with no replica: everything from the primary. */
export function primaryOnly(primary: Db): Reads {
  return {
    readDb: () => primary,
    status: () => ({ source: "primary", replica: "not used", lagMs: null }),
    probe: async () => ({ source: "primary", replica: "not used", lagMs: null }),
    close: async () => undefined,
  };
}

export interface ReplicaOptions {
  primary: Db;
  replica: Db;
  maxLagMs: number;
  log: Logger;
  registry?: Registry;
  /** How often the lag is measured (default: a quarter of maxLagMs, from 100 ms to 1 s). */
  intervalMs?: number;
  now?: () => number;
}

export async function createReads(options: ReplicaOptions): Promise<Reads> {
  const { primary, replica, maxLagMs, log } = options;
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? Math.min(1_000, Math.max(100, Math.floor(maxLagMs / 4)));
  // Primary LSN samples, oldest first, kept long enough to date any lag up to past the bound.
  const samples: { at: number; lsn: bigint }[] = [];
  const keepMs = 2 * maxLagMs + 4 * intervalMs;
  let state: { replica: ReplicaState; lagMs: number | null; measuredAt: number } = { replica: "failing", lagMs: null, measuredAt: 0 };
  let closed = false;

  const lagGauge = new Gauge({
    name: "sealtrace_replica_lag_seconds",
    help: "The read replica's replay lag, as last measured (NaN: not measured)",
    registers: options.registry ? [options.registry] : [],
  });
  const sourceGauge = new Gauge({
    name: "sealtrace_read_source",
    help: "Where public reads go now (1 for the source in use)",
    labelNames: ["source"],
    registers: options.registry ? [options.registry] : [],
  });
  const readsCounter = new Counter({
    name: "sealtrace_reads_total",
    help: "Read-only answers by purpose and the source they were sent to",
    labelNames: ["purpose", "source"],
    registers: options.registry ? [options.registry] : [],
  });
  const fallbacks = new Counter({
    name: "sealtrace_replica_fallbacks_total",
    help: "Answers that went on to the primary when the replica failed mid-answer",
    registers: options.registry ? [options.registry] : [],
  });

  // Replay only moves forward: a replica `lagMs` behind when measured is at most `lagMs` plus the time
  // since behind now. So it is read only while that sum is within the bound (a monitor that stopped
  // measuring stops the replica being read, too).
  const usable = (): boolean => state.replica === "ok" && state.lagMs !== null && state.lagMs + (now() - state.measuredAt) <= maxLagMs;
  const status = (): ReadStatus => ({ source: usable() ? "replica" : "primary", replica: state.replica, lagMs: state.lagMs });
  const publish = () => {
    const s = status();
    lagGauge.set(s.lagMs === null ? Number.NaN : s.lagMs / 1000);
    sourceGauge.set({ source: "replica" }, s.source === "replica" ? 1 : 0);
    sourceGauge.set({ source: "primary" }, s.source === "primary" ? 1 : 0);
  };

  async function probe(): Promise<ReadStatus> {
    const before = status().source;
    try {
      const at = now();
      const {
        rows: [p],
      } = await primary.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
      samples.push({ at, lsn: lsnBytes(p!.lsn) });
      while (samples.length > 1 && samples[0]!.at < at - keepMs) samples.shift();
      const {
        rows: [r],
      } = await replica.query<{ standby: boolean; replay: string | null }>("SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replay");
      if (!r!.standby || r!.replay === null) {
        state = { replica: "not a standby", lagMs: null, measuredAt: now() };
      } else {
        const replayed = lsnBytes(r!.replay);
        // The newest sample the replica has replayed: everything written by then is there.
        const upTo = samples.findLast((s) => s.lsn <= replayed);
        const lagMs = upTo === undefined ? now() - samples[0]!.at : upTo === samples.at(-1) ? 0 : now() - upTo.at;
        state = { replica: lagMs > maxLagMs ? "lagging" : "ok", lagMs, measuredAt: now() };
      }
    } catch (error) {
      if (state.replica !== "failing") log.warn({ err: error }, "read replica not answering: reads go to the primary");
      state = { replica: "failing", lagMs: null, measuredAt: now() };
    }
    publish();
    const after = status().source;
    if (after !== before) log.info({ source: after, replica: state.replica, lagMs: state.lagMs }, "public reads switched source");
    return status();
  }

  await probe();
  let timer: NodeJS.Timeout | null = null;
  const loop = () => {
    timer = setTimeout(() => {
      void probe().finally(() => {
        if (!closed) loop();
      });
    }, intervalMs);
    timer.unref();
  };
  loop();

  /** The replica for one answer: on an unavailable replica, this statement and the answer's later ones go to the primary. */
  function answerDb(): Db {
    let onPrimary = false;
    const query = async (...args: unknown[]): Promise<unknown> => {
      const call = (db: Db) => (db.query as (...a: unknown[]) => Promise<unknown>).apply(db, args);
      if (onPrimary) return await call(primary);
      try {
        return await call(replica);
      } catch (error) {
        if (!unavailable(error)) throw error;
        onPrimary = true;
        fallbacks.inc();
        if (state.replica !== "failing") log.warn({ err: error }, "read replica failed mid-answer: this answer goes on on the primary");
        state = { replica: "failing", lagMs: null, measuredAt: now() };
        publish();
        return await call(primary);
      }
    };
    return new Proxy(replica, { get: (target, property) => (property === "query" ? query : (Reflect.get(target, property, target) as unknown)) });
  }

  return {
    readDb(purpose) {
      const source = status().source;
      readsCounter.inc({ purpose, source });
      return source === "replica" ? answerDb() : primary;
    },
    status,
    probe,
    async close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
