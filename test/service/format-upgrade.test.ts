/**
 * Upgrading a populated database to proof format 2 (migration 0009): histories written and sealed
 * under format 1 keep verifying, the first format-2 batch's heads map commits to every chain sealed
 * before it, and bottles begun afterwards get identity-bound, complete histories.
 */
import { expect } from "chai";
import { runner } from "node-pg-migrate";
import { fileURLToPath } from "node:url";
import { createSealer } from "../../service/anchoring/sealer.ts";
import { verifyBundle } from "../../service/core/bundle.ts";
import { fromHex, toHex, ZERO_HASH } from "../../service/core/hash.ts";
import { eventHash, leafOf, linkHash, nextLink, randomSalt, type CanonicalEvent } from "../../service/core/links.ts";
import { MerkleTree } from "../../service/core/merkle.ts";
import { tokenHash } from "../../service/core/secrets.ts";
import { createPool, withTransaction, type Db } from "../../service/db/pool.ts";
import { migrate } from "../../service/db/migrate.ts";
import { createLogger } from "../../service/log.ts";
import { createMetrics } from "../../service/metrics.ts";
import { appendEvents, lockHeads } from "../../service/ledger/append.ts";
import { createBundleRepo } from "../../service/verify/bundles.ts";
import { createDatabase } from "../helpers/stack.ts";

const CHAIN = { chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };
const GTIN = "06901234567892";
const log = createLogger("silent");

/** What format 1 wrote for one event: the event as hashed, and one link per bottle with prev chained from zero. */
async function formatOneEvent(db: Db, id: string, type: string, serials: string[], heads: Map<string, { n: number; hash: `0x${string}` }>): Promise<void> {
  const canonical: CanonicalEvent = {
    brand: "old",
    id,
    type,
    codes: serials,
    occurredAt: "2026-11-01T08:00:00.000Z",
    receivedAt: "2026-11-01T08:00:01.000Z",
    party: "factory",
    salt: randomSalt(),
  };
  const hash = eventHash(canonical);
  const {
    rows: [event],
  } = await db.query<{ id: number }>(
    `INSERT INTO events (brand_id, brand_event_id, type, codes, occurred_at, received_at, party, salt, canonical, event_hash)
     VALUES (1, $1, $2, $3, $4, $5, 'factory', $6, $7, $8) RETURNING id`,
    [id, type, serials, canonical.occurredAt, canonical.receivedAt, canonical.salt, JSON.stringify(canonical), Buffer.from(fromHex(hash))],
  );
  for (const serial of serials) {
    const head = heads.get(serial) ?? null;
    const link = nextLink(serial, hash, head === null ? null : { n: head.n, linkHash: head.hash });
    const h = linkHash(link);
    await db.query("INSERT INTO links (serial, n, event_id, prev, link_hash, leaf) VALUES ($1, $2, $3, $4, $5, $6)", [
      serial,
      link.n,
      event!.id,
      Buffer.from(fromHex(link.prev)),
      Buffer.from(fromHex(h)),
      Buffer.from(fromHex(leafOf(h))),
    ]);
    await db.query("UPDATE codes SET last_n = $2, last_link_hash = $3, state = $4 WHERE serial = $1", [serial, link.n, Buffer.from(fromHex(h)), type]);
    heads.set(serial, { n: link.n, hash: h });
  }
}

/** Format 1's sealer: every pending link in one batch whose root is its links tree; then anchored. */
async function formatOneSeal(db: Db, seq: number): Promise<void> {
  const { rows } = await db.query<{ id: number; leaf: Buffer }>("SELECT id, leaf FROM links WHERE batch_seq IS NULL ORDER BY id");
  const tree = new MerkleTree(rows.map((r) => toHex(r.leaf)));
  await db.query(
    "INSERT INTO batches (seq, root, leaf_count, state, chain_id, registry, tx_hash, block_number, block_time) VALUES ($1, $2, $3, 'anchored', $4, $5, $6, 1, now())",
    [seq, Buffer.from(fromHex(tree.root)), rows.length, CHAIN.chainId, CHAIN.registry, `0x${"ab".repeat(32)}`],
  );
  for (const [i, row] of rows.entries()) {
    await db.query("UPDATE links SET batch_seq = $1, leaf_index = $2, proof = $3 WHERE id = $4", [
      seq,
      i,
      Buffer.concat(tree.proof(i).map((p) => fromHex(p))),
      row.id,
    ]);
  }
}

describe("upgrading a populated database to proof format 2", function () {
  this.timeout(60_000);
  let database: { url: string; drop(): Promise<void> };
  let db: Db;
  before(async () => {
    database = await createDatabase();
  });
  after(async () => {
    await db?.end();
    await database?.drop();
  });

  it("keeps format-1 histories verifying, commits every old chain's head in the first heads map, binds new chains", async () => {
    // A database as format 1 left it: migrations up to 0008, two bottles sealed in batch 1, one more link pending.
    await runner({
      databaseUrl: database.url,
      dir: fileURLToPath(new URL("../../service/db/migrations", import.meta.url)),
      direction: "up",
      migrationsTable: "schema_migrations",
      count: 8,
      singleTransaction: true,
      log: () => undefined,
      verbose: false,
    });
    db = createPool(database.url, log, 4);
    await db.query("INSERT INTO brands (id, slug, name, api_key_hash) VALUES (1, 'old', 'Old', '\\x01')");
    await db.query("INSERT INTO regions (brand_id, code, name) VALUES (1, 'CN-SH', 'Shanghai')");
    await db.query("INSERT INTO products (brand_id, gtin, name) VALUES (1, $1, 'Bottle')", [GTIN]);
    for (const serial of ["OLDA", "OLDB", "OLDD", "NEWC"]) {
      await db.query("INSERT INTO codes (serial, brand_id, gtin, lot, secret_hash) VALUES ($1, 1, $2, 'L1', $3)", [
        serial,
        GTIN,
        tokenHash(`secret-${serial}`),
      ]);
    }
    const heads = new Map<string, { n: number; hash: `0x${string}` }>();
    await formatOneEvent(db, "prod", "production", ["OLDA", "OLDB", "OLDD"], heads);
    await formatOneEvent(db, "whin", "warehouse_in", ["OLDA"], heads);
    await formatOneSeal(db, 1);
    await formatOneEvent(db, "whout", "warehouse_out", ["OLDB"], heads); // written, not yet sealed, when the upgrade comes

    await migrate(database.url, log);
    const { rows: indexed } = await db.query<{ serial: string; chain_index: number | null }>("SELECT serial, chain_index FROM codes ORDER BY serial");
    expect(indexed.find((r) => r.serial === "NEWC")!.chain_index).to.equal(null);
    expect(new Set(indexed.filter((r) => r.serial !== "NEWC").map((r) => r.chain_index)).size).to.equal(3);
    expect((await db.query("SELECT chain_index FROM links WHERE batch_seq IS NULL")).rows.every((r) => r.chain_index !== null)).to.equal(true);

    // After the upgrade: a new bottle's first link, and another link for an old one, written by the service's ledger.
    await withTransaction(db, async (tx) => {
      const locked = await lockHeads(tx, 1, ["OLDA", "NEWC"]);
      await appendEvents(
        tx,
        1,
        null,
        new Date().toISOString(),
        [
          {
            canonical: { brand: "old", id: "prod-new", type: "production", codes: ["NEWC"], salt: randomSalt(), party: "factory" },
            brandEventId: "prod-new",
            occurredAt: new Date().toISOString(),
            party: "factory",
            to: null,
            price: null,
            data: null,
          },
          {
            canonical: { brand: "old", id: "sale-a", type: "retail_sale", codes: ["OLDA"], salt: randomSalt(), party: "factory" },
            brandEventId: "sale-a",
            occurredAt: new Date().toISOString(),
            party: "factory",
            to: null,
            price: null,
            data: null,
          },
        ],
        locked,
      );
    });
    const sealer = createSealer({ db, maxLinks: 1_000, log, metrics: createMetrics(async () => 0) });
    const batch = await sealer.sealOnce();
    expect(batch).to.include({ seq: 2, leafCount: 3 });
    await db.query("UPDATE batches SET state = 'anchored', chain_id = $1, registry = $2, tx_hash = $3, block_number = 2, block_time = now() WHERE seq = 2", [
      CHAIN.chainId,
      CHAIN.registry,
      `0x${"cd".repeat(32)}`,
    ]);

    const bundles = createBundleRepo(db, async () => CHAIN);
    const bundleOf = async (serial: string) => (await bundles.bundleFor(serial, { secret: `secret-${serial}` }))!;

    // OLDA: links 1-2 in format-1 batch 1, link 3 in format-2 batch 2: valid, but its identity is not bound.
    const a = await bundleOf("OLDA");
    const va = verifyBundle(a);
    expect(va.status, JSON.stringify(va.problems)).to.equal("valid");
    expect(va.identityBound).to.equal(false);
    expect(a.batches.map((b) => b.format)).to.deep.equal([2]); // the head proof's batch covers every link
    expect(va.timesClaimed).to.deep.equal([1, 2, 3]);
    // With every link's own proof: the format-1 batch's proofs lead to its root, the format-2 batch's to its links root.
    const full = (await bundles.bundleFor("OLDA", { secret: "secret-OLDA" }, "all"))!;
    expect(full.batches.map((b) => b.format)).to.deep.equal([1, 2]);
    const vfull = verifyBundle(full);
    expect(vfull.status, JSON.stringify(vfull.problems)).to.equal("valid");
    expect(vfull.timesClaimed).to.deep.equal([]);
    expect(vfull.roots.map((r) => r.seq)).to.deep.equal([1, 2]);
    expect(a.head).to.include({ seq: 2, n: 3 });
    expect(va.notes.join(" ")).to.match(/identity not bound/);
    expect(a.links[0]!.link.prev).to.equal(ZERO_HASH);

    // OLDB: its link 1 sealed under format 1 and link 2 pending at the upgrade; the heads map records link 2.
    const b = await bundleOf("OLDB");
    expect(b.head).to.include({ seq: 2, n: 2 });
    expect(verifyBundle(b).status).to.equal("valid");
    expect(b.events[0]!.event.codes).to.deep.equal(["OLDA", "OLDB", "OLDD"]); // a format-1 event still lists its bottles

    // OLDD never moved after batch 1: the first heads map still records it (read from the format-1 batches).
    const d = await bundleOf("OLDD");
    expect(d.head).to.include({ seq: 2, n: 1 });
    expect(verifyBundle(d).status).to.equal("valid");

    // NEWC: begun after the upgrade, so bound and complete.
    const c = await bundleOf("NEWC");
    const vc = verifyBundle(c);
    expect(vc.status, JSON.stringify(vc.problems)).to.equal("valid");
    expect(vc.identityBound).to.equal(true);
    expect(vc.completeAsOf?.seq).to.equal(2);
    expect(JSON.stringify(c)).to.not.include("OLDA");

    // Truncating an old bottle's bundle is caught by the heads map too.
    a.links.pop();
    a.events.pop();
    expect(verifyBundle(a).status).to.equal("invalid");
  });

  it("keeps only the tile versions a proof can still ask for, and every bundle still proves its head", async () => {
    const sealer = createSealer({ db, maxLinks: 1_000, log, metrics: createMetrics(async () => 0) });
    const bundles = createBundleRepo(db, async () => CHAIN);
    for (let k = 0; k < 4; k++) {
      await withTransaction(db, async (tx) => {
        const locked = await lockHeads(tx, 1, ["NEWC"]);
        await appendEvents(
          tx,
          1,
          null,
          new Date().toISOString(),
          [
            {
              canonical: { brand: "old", id: `scan-${k}`, type: "consumer_scan", codes: ["NEWC"], salt: randomSalt() },
              brandEventId: `scan-${k}`,
              occurredAt: new Date().toISOString(),
              party: null,
              to: null,
              price: null,
              data: null,
            },
          ],
          locked,
        );
      });
      const batch = (await sealer.sealOnce())!;
      // Sealed but not yet anchored: the bundle still proves the head of the latest anchored batch.
      const before = verifyBundle((await bundles.bundleFor("NEWC", { secret: "secret-NEWC" }))!);
      expect(before.status).to.equal("incomplete");
      expect(before.pending).to.deep.equal([2 + k]);
      await db.query(
        "UPDATE batches SET state = 'anchored', chain_id = $1, registry = $2, tx_hash = $3, block_number = $4, block_time = now() WHERE seq = $4",
        [CHAIN.chainId, CHAIN.registry, `0x${"ef".repeat(32)}`, batch.seq],
      );
      const after = verifyBundle((await bundles.bundleFor("NEWC", { secret: "secret-NEWC" }))!);
      expect(after.status, JSON.stringify(after.problems)).to.equal("valid");
      expect(after.completeAsOf?.seq).to.equal(batch.seq);
    }
    // Tile 0/0 changed in every batch; only the version of the latest anchored batch's map (and none older) is kept.
    const { rows } = await db.query<{ seq: number }>("SELECT seq FROM head_tiles WHERE grp = 0 AND idx = 0 ORDER BY seq");
    expect(rows.map((r) => r.seq)).to.have.length.at.most(2);
    expect(verifyBundle((await bundles.bundleFor("OLDD", { secret: "secret-OLDD" }))!).status).to.equal("valid");
  });
});
