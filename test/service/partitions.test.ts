/**
 * Partitioned events, links and scans (migration 0017, docs/SCALING.md "Partitions"): the migration
 * moves a populated database's rows with nothing lost and every proof still verifying; the month
 * partitions are created ahead, idempotently, with the id sequences only ever moved forward; a
 * chain cannot fork although (serial, n) is unique only per partition; the sealer's read and the
 * recent-scan counts prune; ids stay exact JS numbers for centuries; PGlite runs it all.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import { createBullJobs, createInProcessJobs } from "../../service/anchoring/jobs.ts";
import { createSealer, SEAL_WINDOW_SQL, type Sealer } from "../../service/anchoring/sealer.ts";
import { verifyBundle } from "../../service/core/bundle.ts";
import { codesRoot, committedEvent, genesis } from "../../service/core/commitments.ts";
import { canonicalJson, fromHex, keccak256, toHex } from "../../service/core/hash.ts";
import { leafOf, linkHash, nextLink, randomSalt } from "../../service/core/links.ts";
import { tokenHash } from "../../service/core/secrets.ts";
import { startEmbeddedDatabase } from "../../service/db/embedded.ts";
import { migrate } from "../../service/db/migrate.ts";
import { createPool, withTransaction, type Db } from "../../service/db/pool.ts";
import { appendEvents, lockHeads, type NewEvent } from "../../service/ledger/append.ts";
import { ensurePartitions } from "../../service/ledger/partitions.ts";
import { createLogger } from "../../service/log.ts";
import { createMetrics } from "../../service/metrics.ts";
import { createBundleRepo } from "../../service/verify/bundles.ts";
import { capWindowScansSql, createScanWriter } from "../../service/verify/scan-writer.ts";
import { createDatabase, TEST_REDIS_URL } from "../helpers/stack.ts";

const CHAIN = { chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };
const GTIN = "06901234567892";
const MIGRATIONS = fileURLToPath(new URL("../../service/db/migrations", import.meta.url));
/** The partitions' migration: going down to before it undoes it and every later one. */
const PARTITIONS_MIGRATION = 17;
const log = createLogger("silent");
const MONTH_IDS = 2 ** 40;

async function migrateTo(url: string, count: number): Promise<void> {
  await runner({
    databaseUrl: url,
    dir: MIGRATIONS,
    direction: "up",
    migrationsTable: "schema_migrations",
    count,
    singleTransaction: true,
    log: () => undefined,
    verbose: false,
  });
}

/** A brand "old" (id 1) with a region, a product and these bottles (secret: "secret-<serial>"). */
async function seedBrand(db: Db, serials: string[]): Promise<void> {
  await db.query("INSERT INTO brands (id, slug, name, api_key_hash) VALUES (1, 'old', 'Old', '\\x01')");
  await db.query("INSERT INTO regions (brand_id, code, name) VALUES (1, 'CN-SH', 'Shanghai')");
  await db.query("INSERT INTO products (brand_id, gtin, name) VALUES (1, $1, 'Bottle')", [GTIN]);
  // At migration 0015 (the populated database's start) there is no serials lookup yet: 0016 fills it from codes.
  const lookup = (await db.query<{ t: string | null }>("SELECT to_regclass('serials')::text AS t")).rows[0]!.t !== null;
  for (const serial of serials) {
    await db.query("INSERT INTO codes (serial, brand_id, gtin, lot, secret_hash) VALUES ($1, 1, $2, 'L1', $3)", [serial, GTIN, tokenHash(`secret-${serial}`)]);
    if (lookup) await db.query("INSERT INTO serials (serial, brand_id) VALUES ($1, 1)", [serial]);
  }
}

/**
 * What ledger/append.ts wrote before migration 0017 (format 2, links without brand_id, no
 * event_keys), for a database at migration 0015: the event, one link per bottle, the heads moved.
 */
async function appendAt0015(db: Db, id: string, type: string, serials: string[]): Promise<number> {
  return withTransaction(db, async (tx) => {
    const { rows: heads } = await tx.query<{ serial: string; last_n: number; last_link_hash: Buffer | null; chain_index: number | null }>(
      "SELECT serial, last_n, last_link_hash, chain_index FROM codes WHERE serial = ANY($1::text[]) ORDER BY serial FOR UPDATE",
      [serials],
    );
    const at = new Date().toISOString();
    const draft = { brand: "old", id, type, codes: serials, occurredAt: at, receivedAt: at, party: null, salt: randomSalt() };
    const secret = randomBytes(16);
    const json = canonicalJson(committedEvent(draft, codesRoot(secret, serials)));
    const hash = toHex(keccak256(new TextEncoder().encode(json)));
    const {
      rows: [event],
    } = await tx.query<{ id: number }>(
      `INSERT INTO events (brand_id, brand_event_id, type, codes, occurred_at, received_at, party, salt, canonical, event_hash, codes_secret)
       VALUES (1, $1, $2, $3, $4, $4, NULL, $5, $6, $7, $8) RETURNING id`,
      [id, type, serials, at, draft.salt, json, Buffer.from(fromHex(hash)), Buffer.from(secret)],
    );
    for (const head of heads) {
      const index = head.chain_index ?? (await tx.query<{ i: number }>("SELECT nextval('chain_index_seq') AS i")).rows[0]!.i;
      const link =
        head.last_link_hash === null
          ? nextLink(head.serial, hash, null, genesis({ brand: "old", gtin: GTIN, lot: "L1", serial: head.serial, index }))
          : nextLink(head.serial, hash, { n: head.last_n, linkHash: toHex(head.last_link_hash) });
      const h = linkHash(link);
      await tx.query("INSERT INTO links (serial, n, event_id, prev, link_hash, leaf, chain_index) VALUES ($1, $2, $3, $4, $5, $6, $7)", [
        head.serial,
        link.n,
        event!.id,
        Buffer.from(fromHex(link.prev)),
        Buffer.from(fromHex(h)),
        Buffer.from(fromHex(leafOf(h))),
        index,
      ]);
      await tx.query(
        "UPDATE codes SET last_n = $2, last_link_hash = $3, chain_index = $4, state = CASE WHEN $5 = 'consumer_scan' THEN state ELSE $5 END WHERE serial = $1",
        [head.serial, link.n, Buffer.from(fromHex(h)), index, type],
      );
    }
    return event!.id;
  });
}

/** An event through today's ledger (ledger/append.ts), for brand 1. */
async function append(db: Db, id: string, type: string, serials: string[]): Promise<void> {
  await withTransaction(db, async (tx) => {
    const heads = await lockHeads(tx, 1, serials);
    const event: NewEvent = {
      canonical: { brand: "old", id, type, codes: serials, salt: randomSalt(), party: "factory" },
      brandEventId: id,
      occurredAt: new Date().toISOString(),
      party: "factory",
      to: null,
      price: null,
      data: null,
    };
    await appendEvents(tx, 1, null, new Date().toISOString(), [event], heads);
  });
}

async function anchorAll(db: Db): Promise<void> {
  await db.query(
    "UPDATE batches SET state = 'anchored', chain_id = $1, registry = $2, tx_hash = $3, block_number = seq, block_time = now() WHERE state <> 'anchored'",
    [CHAIN.chainId, CHAIN.registry, `0x${"ab".repeat(32)}`],
  );
}

/** A digest of a table's rows in id order, over the columns the table had before migration 0017. */
async function digest(db: Db, table: "events" | "links" | "scans"): Promise<{ count: number; md5: string }> {
  const columns = {
    events:
      "id, brand_id, brand_event_id, type, codes, occurred_at, received_at, party, to_party, price_amount, price_currency, data, salt, canonical, event_hash, webhook_id, codes_secret",
    links: "id, serial, n, event_id, prev, link_hash, leaf, batch_seq, leaf_index, proof, chain_index",
    scans: "id, serial, event_id, scanned_at, place, latitude, longitude, ip_hash",
  }[table];
  const {
    rows: [row],
  } = await db.query<{ count: number; md5: string }>(
    `SELECT count(*)::int AS count, md5(COALESCE(string_agg(t::text, '|' ORDER BY t.id), '')) AS md5 FROM (SELECT ${columns} FROM ${table}) t`,
  );
  return row!;
}

/** The relations a plan reads (every "Relation Name" in EXPLAIN's JSON). */
function relationsOf(plan: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "Relation Name" && typeof value === "string") found.push(value);
        else walk(value);
      }
    }
  };
  walk(plan);
  return found;
}

const sealerFor = (db: Db) => createSealer({ db, maxLinks: 1_000, log, metrics: createMetrics(async () => 0) });

describe("partitioned events, links and scans (migration 0017)", function () {
  this.timeout(120_000);

  describe("the migration on a populated database", () => {
    let database: { url: string; drop(): Promise<void> };
    let db: Db;
    before(async () => {
      database = await createDatabase();
    });
    after(async () => {
      await db?.end();
      await database?.drop();
    });

    it("moves every row (same digests), keeps the sequences, every bundle verifies, and appends, seals and scans go on", async () => {
      // A database as migration 0015 left it: two batches sealed and anchored, links pending, scans, an alert, EPCIS contents.
      await migrateTo(database.url, 15);
      db = createPool(database.url, log, 4);
      await seedBrand(db, ["OLDA", "OLDB", "OLDC", "NEWD"]);
      const sealer = sealerFor(db);
      await appendAt0015(db, "prod", "production", ["OLDA", "OLDB", "OLDC"]);
      const whin = await appendAt0015(db, "whin", "warehouse_in", ["OLDA"]);
      expect((await sealer.sealOnce())!.seq).to.equal(1);
      await anchorAll(db);
      const scanEvent = await appendAt0015(db, "scan-1", "consumer_scan", ["OLDA"]);
      const whout = await appendAt0015(db, "whout", "warehouse_out", ["OLDB"]);
      expect((await sealer.sealOnce())!.seq).to.equal(2);
      await anchorAll(db);
      await appendAt0015(db, "sale", "retail_sale", ["OLDC"]); // pending at the upgrade
      const scanNow = await appendAt0015(db, "scan-2", "consumer_scan", ["OLDA"]);
      // one scan months ago (the initial partition), one now (this month's partition)
      await db.query("INSERT INTO scans (serial, event_id, scanned_at, place, ip_hash) VALUES ('OLDA', $1, '2026-06-15T10:00:00Z', 'Shanghai', '\\x0102')", [
        scanEvent,
      ]);
      await db.query("INSERT INTO scans (serial, event_id, place, ip_hash) VALUES ('OLDA', $1, 'Beijing', '\\x0304')", [scanNow]);
      await db.query("INSERT INTO alerts (brand_id, kind, serial, event_id) VALUES (1, 'grey_market', 'OLDB', $1)", [whout]);
      await db.query("INSERT INTO epcis_contents (brand_id, parent, child, event_id) VALUES (1, 'urn:case:1', 'OLDA', $1)", [whin]);

      const before = { events: await digest(db, "events"), links: await digest(db, "links"), scans: await digest(db, "scans") };
      const {
        rows: [seqs],
      } = await db.query<{ events: number; links: number; scans: number }>(
        "SELECT (SELECT last_value FROM events_id_seq) AS events, (SELECT last_value FROM links_id_seq) AS links, (SELECT last_value FROM scans_id_seq) AS scans",
      );
      expect(before.events.count).to.equal(6);
      expect(before.links.count).to.equal(8);

      await migrate(database.url, log);

      // Nothing lost, nothing changed.
      expect(await digest(db, "events")).to.deep.equal(before.events);
      expect(await digest(db, "links")).to.deep.equal(before.links);
      expect(await digest(db, "scans")).to.deep.equal(before.scans);
      const { rows: placed } = await db.query<{ part: string; n: number }>(
        `SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM events GROUP BY 1
         UNION ALL SELECT tableoid::regclass::text, count(*)::int FROM links GROUP BY 1
         UNION ALL SELECT tableoid::regclass::text, count(*)::int FROM scans GROUP BY 1 ORDER BY 1`,
      );
      const {
        rows: [month],
      } = await db.query<{ suffix: string; first: number }>(
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM') AS suffix, partition_first_id(partition_month(now())) AS first",
      );
      expect(placed).to.deep.equal(
        [
          { part: "events_initial", n: 6 },
          { part: "links_initial", n: 8 },
          { part: "scans_initial", n: 1 },
          { part: `scans_${month!.suffix}`, n: 1 },
        ].sort((a, b) => (a.part < b.part ? -1 : 1)),
      );
      expect((await db.query("SELECT count(*)::int AS n FROM event_keys")).rows[0].n).to.equal(6);
      expect((await db.query("SELECT count(*)::int AS n FROM links WHERE brand_id = 1")).rows[0].n).to.equal(8);
      expect((await db.query("SELECT count(*)::int AS n FROM scans WHERE brand_id = 1")).rows[0].n).to.equal(2);
      // The foreign keys came back with the brand: the alert and the EPCIS contents still name their events.
      const { rows: fks } = await db.query<{ conname: string }>(
        "SELECT conname FROM pg_constraint WHERE contype = 'f' AND confrelid = 'events'::regclass AND conparentid = 0 ORDER BY conname",
      );
      expect(fks.map((f) => f.conname)).to.include.members([
        "alerts_brand_id_event_id_fkey",
        "epcis_contents_brand_id_event_id_fkey",
        "epcis_events_brand_id_event_id_fkey",
        "scans_brand_id_event_id_fkey",
      ]);
      // A correction still names an EPCIS event of its brand (the key migration 0016 gave it).
      const { rows: corrects } = await db.query<{ target: string }>(
        "SELECT confrelid::regclass::text AS target FROM pg_constraint WHERE conname = 'epcis_events_brand_id_corrects_fkey'",
      );
      expect(corrects).to.deep.equal([{ target: "epcis_events" }]);
      // Sequences: never backwards; events and links moved up to this month's first id.
      const {
        rows: [after],
      } = await db.query<{ events: number; links: number; scans: number }>(
        "SELECT (SELECT last_value FROM events_id_seq) AS events, (SELECT last_value FROM links_id_seq) AS links, (SELECT last_value FROM scans_id_seq) AS scans",
      );
      expect(after!.events).to.equal(Math.max(seqs!.events, month!.first));
      expect(after!.links).to.equal(Math.max(seqs!.links, month!.first));
      expect(after!.scans).to.equal(seqs!.scans);

      // Every bundle of an anchored bottle verifies as it did.
      const bundles = createBundleRepo(db, async () => CHAIN);
      const verified = async (serial: string, status = "valid") => {
        const bundle = (await bundles.bundleFor(serial, { secret: `secret-${serial}` }))!;
        const result = verifyBundle(bundle);
        expect(result.problems, serial).to.deep.equal([]);
        expect(result.status, serial).to.equal(status);
        return bundle;
      };
      await verified("OLDA", "incomplete"); // its newest link was pending at the upgrade
      await verified("OLDB");
      await verified("OLDC", "incomplete");

      // An id the brand used before the upgrade (now in the initial partition) is still taken: event_keys holds it.
      let refused: unknown = null;
      await append(db, "whin", "warehouse_out", ["OLDB"]).catch((error: unknown) => (refused = error));
      expect((refused as { code?: string } | null)?.code).to.equal("23505");

      // New appends go to this month's partition; a seal spans the id jump; new scans are written.
      await append(db, "prod-new", "production", ["NEWD"]);
      await append(db, "whin-2", "warehouse_in", ["OLDA", "NEWD"]);
      const writer = createScanWriter(db, log, { scansPerHour: 100 });
      const outcome = await writer.record({
        serial: "OLDB",
        brandId: 1,
        brandSlug: "old",
        place: null,
        seen: { n: 2, rescan: false, lastHour: 0 },
        kind: "consumer_scan",
        ipHash: Buffer.from("0506", "hex"),
      });
      expect(outcome.counted).to.equal(true);
      const batch = (await sealer.sealOnce())!;
      expect(batch.seq).to.equal(3);
      expect(batch.firstLink).to.be.below(month!.first);
      expect(batch.lastLink).to.be.at.least(month!.first);
      expect(batch.leafCount).to.equal(2 + 1 + 2 + 1); // the two pending legacy links, then four new ones
      await anchorAll(db);
      for (const serial of ["OLDA", "OLDB", "OLDC", "NEWD"]) {
        const bundle = await verified(serial);
        expect(bundle.head).to.include({ seq: 3 });
      }
      const { rows: fresh } = await db.query<{ part: string }>("SELECT DISTINCT tableoid::regclass::text AS part FROM links WHERE id >= $1", [month!.first]);
      expect(fresh.map((r) => r.part)).to.deep.equal([`links_${month!.suffix}`]);
      expect((await db.query("SELECT count(*)::int AS n FROM scans WHERE serial = 'OLDB' AND brand_id = 1")).rows[0].n).to.equal(1);
      await writer.drain();
    });

    it("goes down to one table each and up again with the same rows, and the bundles still verify", async () => {
      const before = { events: await digest(db, "events"), links: await digest(db, "links"), scans: await digest(db, "scans") };
      await runner({
        databaseUrl: database.url,
        dir: MIGRATIONS,
        direction: "down",
        migrationsTable: "schema_migrations",
        count: (await readdir(MIGRATIONS)).filter((f) => /^\d{4}_.*\.sql$/.test(f) && Number(f.slice(0, 4)) >= PARTITIONS_MIGRATION).length,
        singleTransaction: true,
        log: () => undefined,
        verbose: false,
      });
      expect((await db.query("SELECT relkind FROM pg_class WHERE relname = 'links'")).rows[0].relkind).to.equal("r");
      expect(await digest(db, "events")).to.deep.equal(before.events);
      await migrate(database.url, log);
      expect((await db.query("SELECT relkind FROM pg_class WHERE relname = 'links'")).rows[0].relkind).to.equal("p");
      expect({ events: await digest(db, "events"), links: await digest(db, "links"), scans: await digest(db, "scans") }).to.deep.equal(before);
      const bundles = createBundleRepo(db, async () => CHAIN);
      for (const serial of ["OLDA", "OLDB", "OLDC", "NEWD"]) {
        const result = verifyBundle((await bundles.bundleFor(serial, { secret: `secret-${serial}` }))!);
        expect(result.status, JSON.stringify(result.problems)).to.equal("valid");
      }
    });
  });

  describe("on a fresh database", () => {
    let database: { url: string; drop(): Promise<void> };
    let db: Db;
    before(async () => {
      database = await createDatabase();
      await migrate(database.url, log);
      db = createPool(database.url, log, 6);
      await seedBrand(db, ["FRKA", "FRKB"]);
    });
    after(async () => {
      await db?.end();
      await database?.drop();
    });

    const monthOf = async (at: string) => (await db.query<{ m: number }>("SELECT partition_month($1) AS m", [at])).rows[0]!.m;
    const suffixOf = (m: number) => `${2020 + Math.floor(m / 12)}_${String((m % 12) + 1).padStart(2, "0")}`;
    const dateOf = (m: number, day = 15) => new Date(Date.UTC(2020, m, day));
    const lastValues = async () =>
      (
        await db.query<{ events: number; links: number }>(
          "SELECT (SELECT last_value FROM events_id_seq) AS events, (SELECT last_value FROM links_id_seq) AS links",
        )
      ).rows[0]!;

    it("ids stay exact JS numbers (below 2^53) until 2702: about 680 years of months of 2^40 ids", async () => {
      const { rows } = await db.query<{ m: number; last: string }>(
        "SELECT partition_month(at) AS m, (partition_first_id(partition_month(at) + 1) - 1)::text AS last FROM unnest($1::timestamptz[]) AS at",
        [["2700-12-31T23:59:59Z", "2702-08-31T23:59:59Z", "2702-09-01T00:00:00Z"]],
      );
      expect(BigInt(rows[0]!.last) <= BigInt(Number.MAX_SAFE_INTEGER)).to.equal(true);
      expect(BigInt(rows[1]!.last)).to.equal(BigInt(Number.MAX_SAFE_INTEGER)); // the last month that fits: 2702-08
      expect(BigInt(rows[2]!.last) > BigInt(Number.MAX_SAFE_INTEGER)).to.equal(true);
      expect(rows[1]!.m / 12).to.be.above(680);
      expect(Number.isSafeInteger(Number(rows[0]!.last))).to.equal(true);
    });

    it("creates the months ahead once, moves the id sequences forward only after their partitions exist, and never back", async () => {
      const now = await monthOf(new Date().toISOString());
      const ahead = now + 2;
      const start = await lastValues();
      // two months ahead: its and the next month's partitions, three tables each; the sequences jump to its first id
      expect(await ensurePartitions(db, dateOf(ahead))).to.equal(6);
      const moved = await lastValues();
      expect(moved.events).to.equal(ahead * MONTH_IDS);
      expect(moved.links).to.equal(ahead * MONTH_IDS);
      expect(moved.events).to.be.above(start.events);
      for (const table of ["events", "links", "scans"]) {
        expect((await db.query("SELECT to_regclass($1) IS NOT NULL AS ok", [`${table}_${suffixOf(ahead)}`])).rows[0].ok).to.equal(true);
        expect((await db.query("SELECT to_regclass($1) IS NOT NULL AS ok", [`${table}_${suffixOf(ahead + 1)}`])).rows[0].ok).to.equal(true);
      }
      // again, or for an earlier month (a worker with a slow clock): nothing created, nothing moved back
      expect(await ensurePartitions(db, dateOf(ahead))).to.equal(0);
      expect(await ensurePartitions(db, dateOf(now))).to.equal(0);
      expect(await lastValues()).to.deep.equal(moved);
      // several workers at once: each partition created once, no error
      const results = await Promise.all([1, 2, 3, 4].map(() => ensurePartitions(db, dateOf(ahead + 3))));
      expect(results.reduce((a, b) => a + b, 0)).to.equal(6);
      // an event written now lands in the newest month's partition
      await append(db, "after-jump", "production", ["FRKA"]);
      const {
        rows: [row],
      } = await db.query<{ id: number; part: string }>("SELECT id, tableoid::regclass::text AS part FROM events WHERE brand_event_id = 'after-jump'");
      expect(row!.part).to.equal(`events_${suffixOf(ahead + 3)}`);
      expect(Number.isSafeInteger(row!.id)).to.equal(true);
    });

    it("a scan in a month without a partition is kept (default partition) and moved into its month when that is created", async () => {
      const far = (await monthOf(new Date().toISOString())) + 9;
      await db.query("INSERT INTO scans (brand_id, serial, scanned_at, place) VALUES (1, 'FRKB', $1, 'far')", [dateOf(far, 20)]);
      expect((await db.query("SELECT count(*)::int AS n FROM ONLY scans_default")).rows[0].n).to.equal(1);
      expect(await ensurePartitions(db, dateOf(far))).to.equal(6);
      expect((await db.query("SELECT count(*)::int AS n FROM ONLY scans_default")).rows[0].n).to.equal(0);
      const { rows } = await db.query<{ part: string }>("SELECT tableoid::regclass::text AS part FROM scans WHERE place = 'far'");
      expect(rows.map((r) => r.part)).to.deep.equal([`scans_${suffixOf(far)}`]);
    });

    it("two concurrent appends to one bottle get n = 1, 2: the locked head, not a unique index, keeps chains from forking", async () => {
      // T1 locks FRKB's head and holds it until T2 is seen waiting for that lock; then both commit.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const first = withTransaction(db, async (tx) => {
        const heads = await lockHeads(tx, 1, ["FRKB"]);
        await held;
        const event: NewEvent = {
          canonical: { brand: "old", id: "race-1", type: "production", codes: ["FRKB"], salt: randomSalt(), party: "factory" },
          brandEventId: "race-1",
          occurredAt: new Date().toISOString(),
          party: "factory",
          to: null,
          price: null,
          data: null,
        };
        await appendEvents(tx, 1, null, new Date().toISOString(), [event], heads);
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = append(db, "race-2", "warehouse_in", ["FRKB"]);
      for (let i = 0; i < 100; i++) {
        const waiting = await db.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()");
        if (waiting.rows[0].n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      release();
      await Promise.all([first, second]);
      const { rows } = await db.query<{ n: number; prev: Buffer; link_hash: Buffer; brand_event_id: string }>(
        "SELECT l.n, l.prev, l.link_hash, e.brand_event_id FROM links l JOIN events e ON e.id = l.event_id AND e.brand_id = l.brand_id WHERE l.serial = 'FRKB' ORDER BY l.n",
      );
      expect(rows.map((r) => [r.n, r.brand_event_id])).to.deep.equal([
        [1, "race-1"],
        [2, "race-2"],
      ]);
      expect(toHex(rows[1]!.prev)).to.equal(toHex(rows[0]!.link_hash));
    });

    it("a forged second link with the same (serial, n) in the same partition is refused by the partition's unique index", async () => {
      const {
        rows: [link],
      } = await db.query("SELECT * FROM links WHERE serial = 'FRKB' AND n = 2");
      let refused: unknown = null;
      await db
        .query("INSERT INTO links (brand_id, serial, n, event_id, prev, link_hash, leaf, chain_index) VALUES (1, 'FRKB', 2, $1, $2, $3, $3, $4)", [
          link.event_id,
          link.prev,
          Buffer.alloc(32, 9),
          link.chain_index,
        ])
        .catch((error: unknown) => (refused = error));
      expect((refused as { code?: string } | null)?.code).to.equal("23505");
    });

    it("the sealer's read prunes to the newest links partition; recent-scan counts skip the old months", async () => {
      const sealer = sealerFor(db);
      await sealer.sealAll();
      await append(db, "to-seal-1", "warehouse_out", ["FRKA"]);
      await append(db, "to-seal-2", "warehouse_out", ["FRKB"]);
      const {
        rows: [range],
      } = await db.query<{ after: number; through: number }>("SELECT links_sealed_through() AS after, (SELECT max(id) FROM links) AS through");
      const literal = await db.query(
        `EXPLAIN (FORMAT JSON) ${SEAL_WINDOW_SQL.replace("$1", String(range!.after)).replace("$2", String(range!.through)).replace("$3", "50000")}`,
      );
      const newest = (await db.query<{ part: string }>("SELECT tableoid::regclass::text AS part FROM links WHERE id = $1", [range!.through])).rows[0]!.part;
      expect(relationsOf(literal.rows)).to.deep.equal([newest]);
      // As the sealer runs it: a prepared statement whose generic plan prunes when it starts.
      const client = await db.connect();
      try {
        await client.query("SET plan_cache_mode = force_generic_plan");
        await client.query(`PREPARE seal_window(bigint, bigint, int) AS ${SEAL_WINDOW_SQL}`);
        const generic = await client.query(`EXPLAIN (FORMAT JSON) EXECUTE seal_window(${range!.after}, ${range!.through}, 50000)`);
        expect(relationsOf(generic.rows)).to.deep.equal([newest]);
        expect(JSON.stringify(generic.rows)).to.match(/"Subplans Removed":\s*[1-9]/);
      } finally {
        await client.query("DEALLOCATE seal_window").catch(() => undefined);
        await client.query("RESET plan_cache_mode");
        client.release();
      }
      expect((await sealer.sealOnce())!.leafCount).to.equal(2);

      const scans = await db.query(`EXPLAIN (FORMAT JSON) SELECT ${capWindowScansSql("'FRKB'")}`);
      const read = relationsOf(scans.rows);
      expect(read).to.not.include("scans_initial");
      expect(read.length).to.be.above(0);
    });
  });

  describe("the worker's job", () => {
    // The jobs wiring with a sealer that seals nothing: the partitions job must run as soon as workers start.
    const processors = (partitions: () => Promise<unknown>) => ({
      sealer: { sealAll: async () => [] } as unknown as Sealer,
      anchorer: null,
      sealIntervalMs: 60_000,
      sealMaxLinks: 1_000,
      partitions,
      partitionsIntervalMs: 60 * 60 * 1_000,
      log,
    });
    const ran = () => {
      let done!: () => void;
      const called = new Promise<void>((resolve) => (done = resolve));
      return { called, job: async () => (done(), 0) };
    };
    const within = <T>(promise: Promise<T>, ms: number) =>
      Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms))]);

    it("runs when in-process workers start", async () => {
      const { called, job } = ran();
      const jobs = createInProcessJobs(processors(job));
      await jobs.startWorkers();
      try {
        await within(called, 5_000);
      } finally {
        await jobs.close();
      }
    });

    it("runs from its BullMQ schedule on the seal queue", async () => {
      const { called, job } = ran();
      const prefix = `parts-${randomBytes(4).toString("hex")}`;
      const jobs = createBullJobs({ ...processors(job), redis: { kind: "single", url: TEST_REDIS_URL }, prefix });
      await jobs.startWorkers();
      try {
        await within(called, 15_000);
      } finally {
        await jobs.close();
      }
    });
  });

  describe("embedded (PGlite)", () => {
    it("migrates, creates the months ahead and appends into them", async () => {
      const dir = await mkdtemp(join(tmpdir(), "sealtrace-partitions-"));
      const embedded = await startEmbeddedDatabase(dir);
      const db = createPool(embedded.url, log, 1);
      try {
        await migrate(embedded.url, log);
        await seedBrand(db, ["EMBA"]);
        const next = new Date();
        next.setUTCMonth(next.getUTCMonth() + 1, 15);
        expect(await ensurePartitions(db)).to.equal(0); // the migration made this month's and the next
        expect(await ensurePartitions(db, next)).to.equal(3);
        await append(db, "emb-1", "production", ["EMBA"]);
        const {
          rows: [row],
        } = await db.query<{ part: string; id: number; first: number }>(
          "SELECT tableoid::regclass::text AS part, id, partition_first_id(partition_month($1)) AS first FROM links WHERE serial = 'EMBA'",
          [next],
        );
        expect(row!.id).to.equal(row!.first);
        expect(row!.part).to.match(/^links_\d{4}_\d{2}$/);
        expect((await db.query("SELECT count(*)::int AS n FROM event_keys WHERE brand_event_id = 'emb-1'")).rows[0].n).to.equal(1);
      } finally {
        await db.end();
        await embedded.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
