/**
 * The sealer against a real PostgreSQL: batches are ranges of link ids (migration 0010), so what it
 * must never do is seal a range while a link inside it can still commit. Transactions are held open
 * by hand to make the interleavings happen, not hoped for.
 */
import { expect } from "chai";
import { readLinkPlaces } from "../../service/anchoring/link-tiles.ts";
import { createSealer } from "../../service/anchoring/sealer.ts";
import { toHex } from "../../service/core/hash.ts";
import { randomSalt } from "../../service/core/links.ts";
import { MerkleTree, processProof } from "../../service/core/merkle.ts";
import { tokenHash } from "../../service/core/secrets.ts";
import { createPool, type Db, type Tx } from "../../service/db/pool.ts";
import { ADVISORY_LOCKS } from "../../service/db/locks.ts";
import { migrate } from "../../service/db/migrate.ts";
import { appendEvents, lockHeads } from "../../service/ledger/append.ts";
import { createLogger } from "../../service/log.ts";
import { createMetrics } from "../../service/metrics.ts";
import { createDatabase } from "../helpers/stack.ts";

const GTIN = "06901234567892";
const log = createLogger("silent");

describe("sealer: link ranges and tiles", function () {
  this.timeout(60_000);
  let database: { url: string; drop(): Promise<void> };
  let db: Db;
  let next = 0;

  before(async () => {
    database = await createDatabase();
    await migrate(database.url, log);
    db = createPool(database.url, log, 8);
    await db.query("INSERT INTO brands (id, slug, name, api_key_hash) VALUES (1, 'seal', 'Seal', '\\x01')");
    await db.query("INSERT INTO products (brand_id, gtin, name) VALUES (1, $1, 'Bottle')", [GTIN]);
  });
  after(async () => {
    await db?.end();
    await database?.drop();
  });

  /** A new bottle. */
  async function bottle(): Promise<string> {
    const serial = `SEAL${String(++next).padStart(4, "0")}`;
    await db.query("INSERT INTO codes (serial, brand_id, gtin, lot, secret_hash) VALUES ($1, 1, $2, 'L1', $3)", [serial, GTIN, tokenHash(serial)]);
    return serial;
  }

  /** Appends a production event for `serials` in the open transaction `tx`. */
  async function produce(tx: Tx, serials: string[]): Promise<void> {
    const id = `e-${serials.join("-")}-${randomSalt().slice(0, 8)}`;
    await appendEvents(
      tx,
      1,
      null,
      new Date().toISOString(),
      [
        {
          canonical: { brand: "seal", id, type: "production", codes: serials, salt: randomSalt(), party: "factory" },
          brandEventId: id,
          occurredAt: new Date().toISOString(),
          party: "factory",
          to: null,
          price: null,
          data: null,
        },
      ],
      await lockHeads(tx, 1, serials),
    );
  }

  /** A transaction left open until `end` is called with "commit" or "rollback". */
  async function openTransaction(): Promise<{ tx: Tx; end(how: "COMMIT" | "ROLLBACK"): Promise<void> }> {
    const tx = await db.connect();
    await tx.query("BEGIN");
    return {
      tx,
      async end(how) {
        await tx.query(how);
        tx.release();
      },
    };
  }

  async function linkIds(serials: string[]): Promise<number[]> {
    return (await db.query<{ id: number }>("SELECT id FROM links WHERE serial = ANY($1::text[]) ORDER BY id", [serials])).rows.map((r) => r.id);
  }

  /** Every link of the batch `seq` proves its leaf into the batch's links root, from the stored tiles. */
  async function checkBatch(seq: number): Promise<number[]> {
    const {
      rows: [batch],
    } = await db.query<{ links_root: Buffer; first_link: number; last_link: number; leaf_count: number }>(
      "SELECT links_root, first_link, last_link, leaf_count FROM batches WHERE seq = $1",
      [seq],
    );
    const { rows: links } = await db.query<{ id: number; leaf: Buffer }>("SELECT id, leaf FROM links WHERE id > $1 AND id <= $2 ORDER BY id", [
      batch!.first_link,
      batch!.last_link,
    ]);
    expect(links.length).to.equal(batch!.leaf_count);
    expect(new MerkleTree(links.map((l) => toHex(l.leaf))).root).to.equal(toHex(batch!.links_root));
    const places = await readLinkPlaces(
      db,
      links.map((l) => l.id),
    );
    links.forEach((link, i) => {
      const place = places.get(link.id)!;
      expect(place).to.include({ seq, leafIndex: i });
      expect(processProof(toHex(link.leaf), place.proof)).to.equal(toHex(batch!.links_root));
    });
    return links.map((l) => l.id);
  }

  it("waits for a link writer still in flight, then seals its link with the ones committed after it", async () => {
    const sealer = createSealer({ db, maxLinks: 1_000, log, metrics: createMetrics(async () => 0) });
    const [early, late] = [await bottle(), await bottle()];
    const slow = await openTransaction();
    await produce(slow.tx, [early]); // draws the lower id, and does not commit yet
    const fast = await openTransaction();
    await produce(fast.tx, [late]);
    await fast.end("COMMIT");

    let sealed = false;
    const sealing = sealer.sealOnce().then((batch) => {
      sealed = true;
      return batch;
    });
    // The sealer queues on the fence (an advisory lock), held shared by the open writer.
    for (let i = 0; ; i++) {
      // This database's fence, not any advisory lock of the cluster (other tests run beside this one).
      const {
        rows: [waiting],
      } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND NOT granted AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [ADVISORY_LOCKS.linkFence],
      );
      if (waiting!.n > 0) break;
      if (i > 200) throw new Error("the sealer never waited for the open writer");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(sealed).to.equal(false);
    await slow.end("COMMIT");
    const batch = (await sealing)!;
    const ids = await linkIds([early, late]);
    expect(batch.leafCount).to.equal(2);
    expect(await checkBatch(batch.seq)).to.deep.equal(ids);
    expect(batch.lastLink).to.be.at.least(ids.at(-1)!);
  });

  it("a range spans ids rolled back; a link written after sealing falls in the next batch", async () => {
    const sealer = createSealer({ db, maxLinks: 1_000, log, metrics: createMetrics(async () => 0) });
    const kept = await bottle(),
      dropped = await bottle();
    const rolled = await openTransaction();
    await produce(rolled.tx, [dropped]);
    await rolled.end("ROLLBACK");
    const ok = await openTransaction();
    await produce(ok.tx, [kept]);
    await ok.end("COMMIT");
    const first = (await sealer.sealOnce())!;
    expect(first.leafCount).to.equal(1);
    expect(await checkBatch(first.seq)).to.deep.equal(await linkIds([kept]));

    const after = await bottle();
    const tx = await openTransaction();
    await produce(tx.tx, [after]);
    await tx.end("COMMIT");
    const second = (await sealer.sealOnce())!;
    expect(second.firstLink).to.equal(first.lastLink);
    expect(await checkBatch(second.seq)).to.deep.equal(await linkIds([after]));
    expect(await sealer.sealOnce()).to.equal(null);
  });

  it("a full batch ends at its last link; the rest goes to the next, as one tree of tiles each (built in a worker thread)", async () => {
    const sealer = createSealer({ db, maxLinks: 300, log, metrics: createMetrics(async () => 0), treeWorkerLeaves: 200 });
    const serials = await Promise.all(Array.from({ length: 700 }, () => bottle()));
    const tx = await openTransaction();
    await produce(tx.tx, serials.slice(0, 350));
    await produce(tx.tx, serials.slice(350));
    await tx.end("COMMIT");
    const batches = await sealer.sealAll();
    expect(batches.map((b) => b.leafCount)).to.deep.equal([300, 300, 100]);
    const ids = await linkIds(serials);
    expect(batches[0]!.lastLink).to.equal(ids[299]);
    const sealedIds = [];
    for (const b of batches) sealedIds.push(...(await checkBatch(b.seq)));
    expect(sealedIds).to.deep.equal(ids);
    // Two tiles of leaves for a 300-leaf batch (256 + 44), one above them, and nothing written to the links.
    const { rows } = await db.query<{ lvl: number; idx: number; nodes: number }>(
      "SELECT lvl, idx, length(hashes) / 32 AS nodes FROM link_tiles WHERE seq = $1 ORDER BY lvl, idx",
      [batches[0]!.seq],
    );
    expect(rows).to.deep.equal([
      { lvl: 0, idx: 0, nodes: 256 },
      { lvl: 0, idx: 1, nodes: 44 },
      { lvl: 1, idx: 0, nodes: 2 },
    ]);
    const {
      rows: [touched],
    } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM links WHERE batch_seq IS NOT NULL OR proof IS NOT NULL");
    expect(touched!.n).to.equal(0);
  });
});
