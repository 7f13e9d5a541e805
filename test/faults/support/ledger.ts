/**
 * The invariants every fault test ends with, checked from the outside: against the database, the
 * chain (read directly, never through a faulty proxy) and the public proof API.
 *   - every event the service acknowledged is stored once, under the id it was acknowledged with;
 *   - each of its links is in exactly one batch, and that batch is anchored;
 *   - batch seqs run 1, 2, 3 … on chain, with one BatchAnchored each, no gap and no repeat;
 *   - every batch's root, recomputed from its leaves, is the root on chain;
 *   - bottles' proof bundles verify, fully anchored, against the roots on chain.
 */
import { JsonRpcProvider } from "ethers";
import type pg from "pg";
import { registryAt } from "../../../service/anchoring/registry.ts";
import { verifyBundle, type ProofBundle } from "../../../service/core/bundle.ts";
import { batchRoot } from "../../../service/core/commitments.ts";
import { toHex, type Hash } from "../../../service/core/hash.ts";
import { MerkleTree } from "../../../service/core/merkle.ts";
import type { BrandFixture } from "../../helpers/stack.ts";
import type { IngestRecord } from "./ingest.ts";
import { tally } from "./suite.ts";

export interface LedgerReport {
  accepted: number;
  anchored: number;
  lost: string[];
  doubled: string[];
  problems: string[];
  batches: number;
}

/** How many batches are anchored. */
export async function anchoredBatches(db: pg.Pool): Promise<number> {
  return (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM batches WHERE state = 'anchored'")).rows[0]!.n;
}

/** Waits until more than `than` batches are anchored; returns how many are. `explain` adds to the error when it times out. */
export async function anchoredBeyond(db: pg.Pool, than: number, timeoutMs = 90_000, explain?: () => Promise<string>): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await anchoredBatches(db);
    if (n > than) return n;
    if (Date.now() > deadline) throw new Error(`no batch anchored beyond ${than} within ${timeoutMs} ms${explain ? `; ${await explain()}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Waits until every link in the database sits in an anchored batch. */
export async function waitAllAnchored(db: pg.Pool, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const {
      rows: [row],
    } = await db.query<{ open: number; links: number }>(
      `SELECT count(*) FILTER (WHERE b.state IS DISTINCT FROM 'anchored')::int AS open, count(*)::int AS links
         FROM links l LEFT JOIN batches b ON b.seq = link_batch(l.id, l.batch_seq)`,
    );
    if (row!.open === 0 && row!.links > 0) return;
    if (Date.now() > deadline) {
      const { rows } = await db.query("SELECT seq, state, tx_hash FROM batches WHERE state <> 'anchored' ORDER BY seq LIMIT 5");
      throw new Error(`${row!.open} of ${row!.links} links not anchored after ${timeoutMs} ms; open batches: ${JSON.stringify(rows)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function checkLedger(options: {
  db: pg.Pool;
  /** The chain itself (not a proxy). */
  chainUrl: string;
  registry: string;
  /** The service's HTTP address, for proof bundles (several: the bottles' bundles are asked of each in turn). */
  url: string | readonly string[];
  brands: BrandFixture[];
  record: IngestRecord;
  /** Bottles whose bundles are fetched and verified, per brand (all when they are fewer). */
  bundlesPerBrand?: number;
}): Promise<LedgerReport> {
  const { db, record } = options;
  const report: LedgerReport = { accepted: record.acknowledged.size, anchored: 0, lost: [], doubled: [...record.conflicts], problems: [], batches: 0 };

  // Events: stored once, under the acknowledged id, every link anchored.
  const { rows: events } = await db.query<{ key: string; id: string; codes: number; links: number; anchored: number; visit: boolean }>(
    `SELECT b.slug || '/' || e.brand_event_id AS key, e.id::text AS id, cardinality(e.codes) AS codes,
            e.type IN ('consumer_scan', 'opened') AS visit,
            count(l.id)::int AS links, count(l.id) FILTER (WHERE bt.state = 'anchored')::int AS anchored
       FROM events e JOIN brands b ON b.id = e.brand_id
       LEFT JOIN links l ON l.brand_id = e.brand_id AND l.event_id = e.id LEFT JOIN batches bt ON bt.seq = link_batch(l.id, l.batch_seq)
      WHERE b.slug = ANY($1::text[])
      GROUP BY b.slug, e.brand_event_id, e.id, e.brand_id, e.type`,
    [options.brands.map((b) => b.slug)],
  );
  const stored = new Map(events.map((e) => [e.key, e]));
  for (const [key, id] of record.acknowledged) {
    const event = stored.get(key);
    if (event === undefined) report.lost.push(`${key}: acknowledged as ${id}, not stored`);
    else if (event.id !== id) report.doubled.push(`${key}: acknowledged as ${id}, stored as ${event.id}`);
    else if (event.links !== event.codes) report.lost.push(`${key}: ${event.links} links for ${event.codes} codes`);
    else if (event.anchored !== event.links) report.lost.push(`${key}: ${event.links - event.anchored} links not anchored`);
    else report.anchored++;
  }
  // Consumers' visits are events the service writes itself (verify/scan-writer.ts): no delivery acknowledges them.
  for (const [key, event] of stored) if (!record.acknowledged.has(key) && !event.visit) report.doubled.push(`${key}: stored but never acknowledged`);

  // Batches: leaves at 0..n-1, and the root they make is the one recorded.
  const { rows: batches } = await db.query<{
    seq: number;
    root: Buffer;
    leaf_count: number;
    state: string;
    tx_hash: string | null;
    format: number;
    links_root: Buffer | null;
    heads_root: Buffer | null;
    heads_depth: number | null;
  }>("SELECT seq, root, leaf_count, state, tx_hash, format, links_root, heads_root, heads_depth FROM batches ORDER BY seq");
  report.batches = batches.length;
  // No link in two batches: batches sealed as ranges of link ids, (first_link, last_link], never overlap (two sealers at once would).
  const { rows: overlaps } = await db.query<{ a: number; b: number }>(
    `SELECT x.seq AS a, y.seq AS b FROM batches x JOIN batches y ON x.seq < y.seq
      WHERE x.first_link IS NOT NULL AND y.first_link IS NOT NULL AND x.first_link < y.last_link AND y.first_link < x.last_link`,
  );
  for (const o of overlaps) report.doubled.push(`batches ${o.a} and ${o.b} cover the same links`);
  batches.forEach((b, i) => {
    if (b.seq !== i + 1) report.problems.push(`batch seqs in the database have a gap before ${b.seq}`);
  });
  // The leaves from the links themselves, not from the stored tiles: a batch sealed as a range of
  // link ids (migration 0010) holds the range's links in id order; older ones say where each sits.
  const { rows: leaves } = await db.query<{ batch_seq: number; leaf_index: number; leaf: Buffer }>(
    `SELECT batch_seq, leaf_index, leaf FROM (
       SELECT batch_seq, leaf_index, leaf FROM links WHERE batch_seq IS NOT NULL
       UNION ALL
       SELECT b.seq, (row_number() OVER (PARTITION BY b.seq ORDER BY l.id) - 1)::int, l.leaf
         FROM batches b JOIN links l ON l.id > b.first_link AND l.id <= b.last_link AND l.batch_seq IS NULL) x
      ORDER BY batch_seq, leaf_index`,
  );
  const bySeq = new Map<number, Uint8Array[]>();
  for (const leaf of leaves) {
    const list = bySeq.get(leaf.batch_seq) ?? [];
    if (leaf.leaf_index !== list.length) report.problems.push(`batch ${leaf.batch_seq}: leaf index ${leaf.leaf_index} where ${list.length} was expected`);
    list.push(new Uint8Array(leaf.leaf));
    bySeq.set(leaf.batch_seq, list);
  }
  for (const b of batches) {
    const list = bySeq.get(b.seq) ?? [];
    if (b.state !== "anchored") report.problems.push(`batch ${b.seq} is ${b.state}`);
    if (list.length !== b.leaf_count) report.problems.push(`batch ${b.seq}: ${list.length} leaves, leaf_count ${b.leaf_count}`);
    else {
      // Format 2 anchors node(linksRoot, headsRoot, depth): the leaves make the links root.
      const linksRoot = new MerkleTree(list).root;
      const root = b.format === 2 ? batchRoot(linksRoot, toHex(b.heads_root!), b.heads_depth!) : linksRoot;
      if (b.format === 2 && toHex(b.links_root!) !== linksRoot) report.problems.push(`batch ${b.seq}: its leaves do not make its links root`);
      if (root !== toHex(b.root)) report.problems.push(`batch ${b.seq}: its leaves do not make its root`);
    }
  }

  // The chain: one BatchAnchored per batch, in order, each with the batch's root.
  const provider = new JsonRpcProvider(options.chainUrl, undefined, { staticNetwork: true });
  const chainRoots = new Map<number, Hash>();
  try {
    const registry = registryAt(options.registry, provider);
    const logs = await registry.queryFilter(registry.filters.BatchAnchored!(), 0, "latest");
    const anchored = logs.map((log) => registry.interface.parseLog(log)!.args);
    const seqs = anchored.map((a) => Number(a.seq));
    for (const a of anchored) chainRoots.set(Number(a.seq), (a.root as string).toLowerCase() as Hash);
    if (seqs.join(",") !== batches.map((b) => b.seq).join(",")) {
      report.doubled.push(`BatchAnchored seqs on chain [${seqs.join(",")}] are not the batches 1..${batches.length}`);
    }
    const nextSeq = Number(await registry.getFunction("nextSeq")());
    if (nextSeq !== batches.length + 1) report.problems.push(`registry nextSeq is ${nextSeq}, expected ${batches.length + 1}`);
    for (const b of batches) {
      if (chainRoots.get(b.seq) !== toHex(b.root)) report.problems.push(`batch ${b.seq}: root on chain ${chainRoots.get(b.seq)} is not ${toHex(b.root)}`);
    }
    // The transaction recorded for each batch is the one on chain that anchored it.
    const txBySeq = new Map(logs.map((log) => [Number(registry.interface.parseLog(log)!.args.seq), log.transactionHash]));
    for (const b of batches)
      if (b.tx_hash !== txBySeq.get(b.seq)) report.problems.push(`batch ${b.seq}: recorded tx ${b.tx_hash}, on chain ${txBySeq.get(b.seq)}`);
  } finally {
    provider.destroy();
  }

  // Bottles: their bundles verify, fully anchored, against the roots on chain.
  const urls = typeof options.url === "string" ? [options.url] : options.url;
  let asked = 0;
  for (const brand of options.brands) {
    const sample = brand.codes.slice(0, options.bundlesPerBrand ?? 25);
    for (const code of sample) {
      const response = await fetch(`${urls[asked++ % urls.length]}/api/v1/items/${code.serial}/proof?s=${encodeURIComponent(code.secret)}`);
      if (response.status !== 200) {
        report.problems.push(`bundle of ${code.serial}: HTTP ${response.status}`);
        continue;
      }
      const bundle = (await response.json()) as ProofBundle;
      const verdict = verifyBundle(bundle);
      if (!verdict.valid) report.problems.push(`bundle of ${code.serial}: ${verdict.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`);
      if (verdict.pending.length > 0) report.problems.push(`bundle of ${code.serial}: links ${verdict.pending.join(",")} pending`);
      for (const root of verdict.roots) {
        if (chainRoots.get(root.seq) !== root.root) report.problems.push(`bundle of ${code.serial}: root of batch ${root.seq} is not the chain's`);
      }
    }
  }

  tally.eventsAccepted += report.accepted;
  tally.eventsAnchored += report.anchored;
  tally.lost += report.lost.length;
  tally.doubled += report.doubled.length;
  return report;
}

/** Adds what the ingest saw to the tally: requests, and 5xx other than 503 + Retry-After. */
export function countRequests(record: IngestRecord): void {
  tally.requestsSent += record.requests;
  tally.serverErrors += record.unexpected.filter((u) => u.status >= 500).length;
  tally.unavailable += record.unavailable;
}
