/**
 * The sealing benchmark's worker process: measures the keccak256 code the sealer uses (raw hashes/s
 * of 64-byte inputs, the tree's ceiling), then seals the pending links of the database it is given
 * as one batch with the service's own sealer (links tree and heads map), and prints one JSON line:
 * the sealer's timings, the hash rate, this process's peak RSS (VmHWM), the size of a head proof
 * cut from the stored tiles, and the size of the bundle of a bottle in a 1,000-bottle production
 * event plus five one-bottle events, every link proof as deep as this batch's.
 *   node scripts/bench/seal.ts <database-url> <max-links>
 */
import { readFileSync } from "node:fs";
import { wasmKeccak256 } from "../../service/anchoring/keccak.ts";
import { readTiles } from "../../service/anchoring/head-tiles.ts";
import { readLinkPlaces } from "../../service/anchoring/link-tiles.ts";
import { createSealer } from "../../service/anchoring/sealer.ts";
import { buildBundle } from "../../service/core/bundle.ts";
import { commitEvent, genesis, processHeadProof, headLeaf } from "../../service/core/commitments.ts";
import { toHex, useKeccak256, type Hash } from "../../service/core/hash.ts";
import { proofFromTiles, tilesForProof } from "../../service/core/heads.ts";
import { eventHash, linkHash, nextLink, type CanonicalEvent, type Link } from "../../service/core/links.ts";
import { createPool, type Db } from "../../service/db/pool.ts";
import { createLogger } from "../../service/log.ts";
import { createMetrics } from "../../service/metrics.ts";

const [databaseUrl, maxLinks] = [process.argv[2]!, Number(process.argv[3])];

/** keccak256 calls per second on 64-byte inputs (an inner node's input), over about a second. */
async function hashesPerSecond(): Promise<number> {
  const keccak = await wasmKeccak256();
  const input = new Uint8Array(64);
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < 1_000) {
    for (let i = 0; i < 10_000; i++) input.set(keccak(input).subarray(0, 32));
    count += 10_000;
  }
  return count / ((performance.now() - started) / 1000);
}

/** The head proof of `index` in batch `seq`'s heads map, cut from the stored tiles as the bundle repo does. */
async function headProof(db: Db, seq: number, depth: number, index: number): Promise<Hash[]> {
  return proofFromTiles(index, depth, await readTiles(db, tilesForProof(index, depth), seq));
}

/**
 * The JSON size of the bundle of a bottle in a 1,000-bottle production event plus five one-bottle
 * events, each link's proof taken from this batch (as deep as a batch of this size makes them) and
 * the head proof from its heads map. Every hash is real; the links are not the batch's own leaves.
 */
async function bundleBytes(db: Db, seq: number, depth: number): Promise<{ bytes: number; fullBytes: number; otherSerials: number }> {
  const serials = Array.from({ length: 1_000 }, (_, i) => `BENCH${String(i).padStart(6, "0")}`);
  const drafts: CanonicalEvent[] = [
    {
      brand: "bench",
      id: "production-1",
      type: "production",
      codes: serials,
      occurredAt: "2026-12-01T08:00:00Z",
      receivedAt: "2026-12-01T08:00:01Z",
      party: "factory-zunyi",
      salt: "00".repeat(16),
    },
    ...["warehouse_in", "warehouse_out", "store_receiving", "retail_sale", "consumer_scan"].map((type, i): CanonicalEvent => ({
      brand: "bench",
      id: `${type}-${i}`,
      type,
      codes: [serials[0]!],
      occurredAt: "2026-12-01T09:00:00Z",
      receivedAt: "2026-12-01T09:00:01Z",
      party: "store-pudong-01",
      salt: "11".repeat(16),
    })),
  ];
  const committed = drafts.map((draft) => commitEvent(draft, new Uint8Array(16).fill(7)));
  const identity = { brand: "bench", gtin: "06901234567892", lot: "2026-12-A", serial: serials[0]!, index: 0 };
  const links: Link[] = [];
  for (const { event } of committed) {
    const previous = links.at(-1);
    links.push(nextLink(identity.serial, eventHash(event), previous ? { n: previous.n, linkHash: linkHash(previous) } : null, genesis(identity)));
  }
  const { rows: first } = await db.query<{ id: number }>(
    "SELECT l.id FROM batches b JOIN links l ON l.id > b.first_link AND l.id <= b.last_link WHERE b.seq = $1 ORDER BY l.id LIMIT 6",
    [seq],
  );
  const places = await readLinkPlaces(
    db,
    first.map((r) => r.id),
  );
  const proofs = first.map((r) => places.get(r.id)!.proof);
  const {
    rows: [batch],
  } = await db.query<{ root: Buffer; links_root: Buffer; heads_root: Buffer }>("SELECT root, links_root, heads_root FROM batches WHERE seq = $1", [seq]);
  const full = buildBundle({
    identity,
    chain: { chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" },
    batches: [
      {
        seq,
        format: 2,
        root: toHex(batch!.root),
        linksRoot: toHex(batch!.links_root),
        headsRoot: toHex(batch!.heads_root),
        headsDepth: depth,
        txHash: `0x${"ab".repeat(32)}`,
        blockNumber: 123_456,
        blockTime: "2026-12-01T09:00:05.000Z",
      },
    ],
    events: committed.map(({ event, members }) => ({ event: event as never, member: members.get(identity.serial)! })),
    links: links.map((link, i) => ({ link, anchor: { seq, proof: proofs[i]! } })),
    head: { seq, n: links.length, linkHash: linkHash(links.at(-1)!), proof: await headProof(db, seq, depth, 0) },
  });
  // As the service serves it by default: the head proof covers every link, which carry only their batch.
  const compact = { ...full, links: full.links.map((l) => ({ ...l, anchor: { seq: l.anchor!.seq } })) };
  const text = JSON.stringify(compact);
  return {
    bytes: Buffer.byteLength(text),
    fullBytes: Buffer.byteLength(JSON.stringify(full)),
    otherSerials: serials.slice(1).filter((s) => text.includes(s)).length,
  };
}

const rate = await hashesPerSecond();
useKeccak256(await wasmKeccak256());
const log = createLogger("warn");
const db = createPool(databaseUrl, log, 1);
const sealer = createSealer({ db, maxLinks, log, metrics: createMetrics(async () => 0) });
const started = performance.now();
const batch = await sealer.sealOnce();
const seconds = (performance.now() - started) / 1000;
const peak = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024;
let sizes = null;
if (batch !== null) {
  // The proof of the last chain, checked against the batch's heads root, and its size as a bundle carries it.
  const index = batch.leafCount - 1;
  const {
    rows: [last],
  } = await db.query<{ n: number; link_hash: Buffer }>("SELECT n, link_hash FROM links WHERE chain_index = $1", [index]);
  const proof = await headProof(db, batch.seq, batch.headsDepth, index);
  const head = { seq: batch.seq, n: last!.n, linkHash: toHex(last!.link_hash), proof };
  if (processHeadProof(index, headLeaf(index, head.n, head.linkHash), proof) !== batch.headsRoot)
    throw new Error("a head proof cut from the tiles does not lead to the heads root");
  const {
    rows: [tiles],
  } = await db.query<{ count: number; bytes: number }>("SELECT count(*)::int AS count, sum(length(hashes))::int AS bytes FROM head_tiles");
  sizes = {
    headProofBytes: Buffer.byteLength(JSON.stringify(head)),
    headsDepth: batch.headsDepth,
    tiles: tiles!.count,
    tileBytes: tiles!.bytes,
    bundle: await bundleBytes(db, batch.seq, batch.headsDepth),
  };
}
await db.end();
process.stdout.write(
  `${JSON.stringify({ leafCount: batch?.leafCount ?? 0, seconds, ms: batch?.ms ?? null, hashesPerSecond: rate, peakRssMiB: peak, sizes })}\n`,
);
