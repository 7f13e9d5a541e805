/**
 * The schema stays Citus-ready (issue 19; docs/SCALING.md "Citus"): every brand-owned table could be
 * distributed by brand_id, co-located with the others, because brand_id is in each of its primary
 * keys, unique constraints and unique indexes (Citus enforces uniqueness per shard only), and each of
 * its foreign keys pairs brand_id with brand_id (a co-located join) or points at a reference table.
 * The checker reads the migrated database's catalog, so a new table or key that breaks the rule fails
 * here, named, before anyone tries to distribute it.
 */
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import pg from "pg";
import { migrate } from "../../service/db/migrate.ts";
import { createLogger } from "../../service/log.ts";
import { MINT_CODES_SQL } from "../../service/setup/repo.ts";
import { createDatabase } from "../helpers/stack.ts";

/**
 * How a table that is not brand-owned would live in Citus:
 * - reference: copied to every node; small and read with brand tables, so any shard joins it locally.
 *   May only reference other reference tables.
 * - distributed: distributed by its own column `by`, in a co-location group of its own (joined with
 *   nothing by brand); its unique keys must hold `by`. May only reference reference tables.
 * - local: a plain table on the coordinator, where its one writer runs; never joined with brand tables
 *   in one statement. May reference local and reference tables.
 */
export type GlobalTable = { kind: "reference"; why: string } | { kind: "distributed"; by: string; why: string } | { kind: "local"; why: string };

/** Every table that is not brand-owned, and why. Anything else must carry brand_id in all its keys. */
export const GLOBAL_TABLES: Readonly<Record<string, GlobalTable>> = {
  brands: {
    kind: "reference",
    why: "the tenants: few rows, found by slug and by API key hash (unique across brands), and the target of every brand table's brand_id key",
  },
  serials: {
    kind: "distributed",
    by: "serial",
    why: "serial → brand: serials are unique across brands (the page and the proof API name a bottle by serial alone); the one lookup that is not co-located",
  },
  console_sign_in_failures: {
    kind: "distributed",
    by: "brand",
    why: "sign-in lockout counters keyed by the brand slug as typed, which may name no brand at all",
  },
  batches: {
    kind: "reference",
    why: "the sealer's batches (one row per seal): every bottle's proof joins its links to them (link_batch), on any shard",
  },
  batch_anchors: { kind: "reference", why: "each final anchoring of a batch, joined with batches by the outbox's fan-out" },
  seal_start: { kind: "reference", why: "one row, read with batches by links_sealed_through()" },
  head_tiles: { kind: "local", why: "the heads map's tiles: written by the sealer, read alone by seq; large, so not copied to every node" },
  link_tiles: { kind: "local", why: "the links trees' tiles: written once by the sealer, read alone by seq; large, so not copied to every node" },
  schema_migrations: { kind: "local", why: "node-pg-migrate's bookkeeping, on the coordinator" },
};

export interface Violation {
  table: string;
  /** The constraint or index (or "-" for the table itself). */
  constraint: string;
  problem: string;
}

interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

const BRAND_ID = "brand_id";

/**
 * Every break of the rule in `schema`. Tables are named within the schema; partitions are skipped
 * (their keys are their parent's).
 */
export async function citusKeyViolations(
  db: Queryable,
  schema = "public",
  global: Readonly<Record<string, GlobalTable>> = GLOBAL_TABLES,
): Promise<Violation[]> {
  const { rows: tables } = await db.query<{ oid: number; name: string; columns: Record<string, number> }>(
    `SELECT c.oid::int AS oid, c.relname AS name,
            COALESCE((SELECT jsonb_object_agg(a.attname, a.attnum) FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}') AS columns
       FROM pg_class c
      WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'p') AND NOT c.relispartition`,
    [schema],
  );
  const byOid = new Map(tables.map((t) => [t.oid, t]));
  // The column a table is (or would be) distributed by: brand_id for brand-owned tables.
  const kindOf = (name: string) => global[name]?.kind ?? "brand";
  const distributionColumn = (name: string): string | null => {
    const g = global[name];
    return g === undefined ? BRAND_ID : g.kind === "distributed" ? g.by : null;
  };
  const violations: Violation[] = [];
  const report = (table: string, constraint: string, problem: string) => violations.push({ table, constraint, problem });

  for (const t of tables) {
    const g = global[t.name];
    if (g === undefined && t.columns[BRAND_ID] === undefined) report(t.name, "-", "a table not listed as global must have a brand_id column");
    if (g !== undefined && g.kind !== "distributed" && t.columns[BRAND_ID] !== undefined) {
      report(t.name, "-", `has a brand_id column but is listed as a ${g.kind} table: a brand's rows belong in a brand-owned table`);
    }
    if (g?.kind === "distributed" && t.columns[g.by] === undefined) report(t.name, "-", `listed as distributed by ${g.by}, which it has no column for`);
  }

  // Primary keys, unique constraints and unique indexes (partial or not): the distribution column must be one of their key columns.
  const { rows: uniques } = await db.query<{ table_oid: number; name: string; keys: number[] }>(
    `SELECT i.indrelid::int AS table_oid, COALESCE(con.conname, ic.relname) AS name,
            (SELECT array_agg(k) FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(k, o) WHERE o <= i.indnkeyatts) AS keys
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
       LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
      WHERE (i.indisunique OR con.contype = 'x') AND ic.relnamespace = to_regnamespace($1)`,
    [schema],
  );
  for (const u of uniques) {
    const t = byOid.get(u.table_oid);
    if (t === undefined) continue;
    const column = distributionColumn(t.name);
    if (column === null) continue; // reference and local tables keep their own keys
    const att = t.columns[column];
    if (att === undefined || !u.keys.includes(att)) report(t.name, u.name, `unique key without ${column}: Citus can only enforce it within one shard`);
  }

  // Foreign keys: to a reference table, or brand_id to brand_id between brand-owned tables (co-located).
  const { rows: fks } = await db.query<{ table_oid: number; target_oid: number; name: string; keys: number[]; target_keys: number[] }>(
    `SELECT con.conrelid::int AS table_oid, con.confrelid::int AS target_oid, con.conname AS name, con.conkey AS keys, con.confkey AS target_keys
       FROM pg_constraint con WHERE con.contype = 'f' AND con.conparentid = 0 AND con.connamespace = to_regnamespace($1)`,
    [schema],
  );
  for (const fk of fks) {
    const t = byOid.get(fk.table_oid);
    if (t === undefined) continue;
    const target = byOid.get(fk.target_oid);
    if (target === undefined) {
      report(t.name, fk.name, "references a table outside the schema");
      continue;
    }
    const from = kindOf(t.name),
      to = kindOf(target.name);
    if (to === "reference") continue; // any table may reference a reference table (it is on every node)
    if (from === "brand" && to === "brand") {
      const pairs = fk.keys.map((k, i) => [k, fk.target_keys[i]]);
      if (!pairs.some(([k, tk]) => k === t.columns[BRAND_ID] && tk === target.columns[BRAND_ID])) {
        report(t.name, fk.name, `references ${target.name} without pairing brand_id with brand_id: not a co-located join`);
      }
    } else if (!(from === "local" && to === "local")) {
      report(
        t.name,
        fk.name,
        `a ${from === "brand" ? "brand-owned" : from} table cannot reference the ${to === "brand" ? "brand-owned" : to} table ${target.name}`,
      );
    }
  }
  return violations;
}

const describeViolations = (violations: Violation[]) => violations.map((v) => `${v.table}.${v.constraint}: ${v.problem}`).join("\n");

describe("a Citus-ready schema: brand_id in every brand-owned table's keys", function () {
  let database: Awaited<ReturnType<typeof createDatabase>>;
  let client: pg.Client;

  before(async function () {
    database = await createDatabase();
    await migrate(database.url, createLogger("silent"));
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });

  after(async function () {
    await client?.end();
    await database?.drop();
  });

  it("holds for every table of the migrated database", async function () {
    const violations = await citusKeyViolations(client);
    expect(violations, describeViolations(violations)).to.deep.equal([]);
  });

  it("lists only tables that exist", async function () {
    const { rows } = await client.query<{ name: string }>(
      "SELECT relname AS name FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')",
    );
    const names = new Set(rows.map((r) => r.name));
    for (const name of Object.keys(GLOBAL_TABLES)) expect(names.has(name), `${name} is listed but does not exist`).to.equal(true);
  });

  it("reports, by table and constraint, every kind of break (a throwaway schema)", async function () {
    const schema = `citus_check_${randomBytes(4).toString("hex")}`;
    await client.query(`CREATE SCHEMA ${schema}`);
    try {
      await client.query(`
        CREATE TABLE ${schema}.brands (id bigint PRIMARY KEY, slug text UNIQUE);
        CREATE TABLE ${schema}.serials (serial text PRIMARY KEY, brand_id bigint REFERENCES ${schema}.brands (id));
        -- as it should be: keyed by brand, its brand key to the reference table
        CREATE TABLE ${schema}.good (brand_id bigint NOT NULL REFERENCES ${schema}.brands (id), id bigint, code text,
                                     PRIMARY KEY (brand_id, id), UNIQUE (brand_id, code));
        -- a brand's table keyed by its id alone, with a unique index and a partial one without brand_id
        CREATE TABLE ${schema}.bad_keys (brand_id bigint NOT NULL, id bigint PRIMARY KEY, token bytea, lot text);
        CREATE UNIQUE INDEX bad_keys_token ON ${schema}.bad_keys (token);
        CREATE UNIQUE INDEX bad_keys_lot ON ${schema}.bad_keys (lot) WHERE lot IS NOT NULL;
        -- brand_id in the key only as an INCLUDE column does not count
        CREATE UNIQUE INDEX bad_keys_include ON ${schema}.bad_keys (id) INCLUDE (brand_id);
        -- foreign keys that would not be co-located joins
        CREATE TABLE ${schema}.bad_refs (brand_id bigint NOT NULL, other_brand bigint, good_id bigint, serial text, PRIMARY KEY (brand_id, good_id),
          CONSTRAINT bad_refs_crossed FOREIGN KEY (other_brand, good_id) REFERENCES ${schema}.good (brand_id, id),
          CONSTRAINT bad_refs_serial FOREIGN KEY (serial) REFERENCES ${schema}.serials (serial));
        -- a brand's table with no brand at all (not listed as global)
        CREATE TABLE ${schema}.orphan (id bigint PRIMARY KEY, good_brand bigint, good_id bigint,
          CONSTRAINT orphan_good FOREIGN KEY (good_brand, good_id) REFERENCES ${schema}.good (brand_id, id));
        -- a reference table pointing at a brand's table
        CREATE TABLE ${schema}.batches (seq bigint PRIMARY KEY, brand bigint, good bigint,
          CONSTRAINT batches_good FOREIGN KEY (brand, good) REFERENCES ${schema}.good (brand_id, id));
      `);
      const global: Record<string, GlobalTable> = {
        brands: GLOBAL_TABLES.brands!,
        serials: GLOBAL_TABLES.serials!,
        batches: GLOBAL_TABLES.batches!,
      };
      const found = (await citusKeyViolations(client, schema, global)).map((v) => `${v.table}.${v.constraint}`).sort();
      expect(found).to.deep.equal(
        [
          "bad_keys.bad_keys_include",
          "bad_keys.bad_keys_lot",
          "bad_keys.bad_keys_pkey",
          "bad_keys.bad_keys_token",
          "bad_refs.bad_refs_crossed",
          "bad_refs.bad_refs_serial",
          "batches.batches_good",
          "orphan.-",
          "orphan.orphan_good",
          "orphan.orphan_pkey",
        ].sort(),
      );
      // The same schema with its breaks mended passes: the checker does not cry wolf.
      await client.query(`
        DROP TABLE ${schema}.bad_keys, ${schema}.bad_refs, ${schema}.orphan, ${schema}.batches;
        CREATE TABLE ${schema}.child (brand_id bigint NOT NULL, id bigint, good_id bigint, PRIMARY KEY (brand_id, id),
          FOREIGN KEY (brand_id, good_id) REFERENCES ${schema}.good (brand_id, id));
      `);
      expect(await citusKeyViolations(client, schema, global)).to.deep.equal([]);
    } finally {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    }
  });
});

describe("migration 0016 on a populated database", function () {
  let database: Awaited<ReturnType<typeof createDatabase>>;
  let client: pg.Client;
  const GTIN = "06901234567892";

  /** The statement's SQLSTATE, or null when it succeeded. */
  const failure = (text: string, values: unknown[] = []) =>
    client.query(text, values).then(
      () => null,
      (error: { code?: string }) => error.code ?? "?",
    );

  before(async function () {
    database = await createDatabase();
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    // The schema as it was before 0016, with two brands' rows in every table that changes.
    await runner({
      dbClient: client,
      dir: fileURLToPath(new URL("../../service/db/migrations", import.meta.url)),
      direction: "up",
      migrationsTable: "schema_migrations",
      count: 15,
      singleTransaction: true,
      log: () => undefined,
      verbose: false,
    });
    await client.query(`
      INSERT INTO brands (id, slug, name, api_key_hash) VALUES (1, 'one', 'One', '\\x01'), (2, 'two', 'Two', '\\x02');
      INSERT INTO products (brand_id, gtin, name) VALUES (1, '${GTIN}', 'P1'), (2, '${GTIN}', 'P2');
      INSERT INTO codes (serial, brand_id, gtin, secret_hash) VALUES ('ONE1', 1, '${GTIN}', '\\x11'), ('ONE2', 1, '${GTIN}', '\\x12'), ('TWO1', 2, '${GTIN}', '\\x21');
      INSERT INTO endpoints (id, brand_id, url, types, secret) VALUES (3, 1, 'https://one.example/', '{diversion}', 's1'), (4, 2, 'https://two.example/', '{diversion}', 's2');
      SELECT setval('endpoints_id_seq', 4);
      INSERT INTO deliveries (id, endpoint_id, event_type, source_id, payload) VALUES (10, 3, 'diversion', 1, '{}'), (11, 4, 'diversion', 1, '{}');
      SELECT setval('deliveries_id_seq', 11);
      INSERT INTO delivery_attempts (id, delivery_id, attempted_at, status, duration_ms) VALUES (20, 10, now(), 200, 5), (21, 11, now(), 200, 6);
      SELECT setval('delivery_attempts_id_seq', 21);
      INSERT INTO console_users (id, brand_id, username, kind, password_hash) VALUES (5, 1, 'ann', 'brand', 'x'), (6, 2, 'ann', 'brand', 'x');
      SELECT setval('console_users_id_seq', 6);
      INSERT INTO console_sessions (id, user_id, token_hash, expires_at) VALUES (7, 5, '\\x07', now() + interval '1 hour'), (8, 6, '\\x08', now() + interval '1 hour');
      SELECT setval('console_sessions_id_seq', 8);
      INSERT INTO price_reports (id, brand_id, serial, amount, currency) VALUES (30, 2, 'TWO1', 10, 'CNY');
    `);
    await migrate(database.url, createLogger("silent"));
  });

  after(async function () {
    await client?.end();
    await database?.drop();
  });

  it("keeps every row and id, gives each its brand, and fills the serials' lookup", async function () {
    const rows = async (sql: string) => (await client.query(sql)).rows.map((r) => Object.values(r).map(String).join(":"));
    expect(await rows("SELECT serial, brand_id FROM serials ORDER BY serial")).to.deep.equal(["ONE1:1", "ONE2:1", "TWO1:2"]);
    expect(await rows("SELECT id, brand_id, endpoint_id FROM deliveries ORDER BY id")).to.deep.equal(["10:1:3", "11:2:4"]);
    expect(await rows("SELECT id, brand_id, delivery_id FROM delivery_attempts ORDER BY id")).to.deep.equal(["20:1:10", "21:2:11"]);
    expect(await rows("SELECT id, brand_id, user_id FROM console_sessions ORDER BY id")).to.deep.equal(["7:1:5", "8:2:6"]);
    expect(await rows("SELECT id, brand_id, serial FROM price_reports")).to.deep.equal(["30:2:TWO1"]);
    // The sequences go on where they were: new rows get new ids, never an old one again.
    expect(
      await rows("INSERT INTO deliveries (brand_id, endpoint_id, event_type, source_id, payload) VALUES (1, 3, 'diversion', 2, '{}') RETURNING id"),
    ).to.deep.equal(["12"]);
    expect(await rows("INSERT INTO console_sessions (brand_id, user_id, token_hash, expires_at) VALUES (1, 5, '\\x09', now()) RETURNING id")).to.deep.equal([
      "9",
    ]);
  });

  it("refuses a row whose brand is not its parent's: the new brand_id columns cannot lie", async function () {
    // Brand 2's delivery for brand 1's endpoint, attempt of brand 1's delivery, session of brand 1's user, report on brand 1's bottle.
    expect(await failure("INSERT INTO deliveries (brand_id, endpoint_id, event_type, source_id, payload) VALUES (2, 3, 'diversion', 9, '{}')")).to.equal(
      "23503",
    );
    expect(await failure("INSERT INTO delivery_attempts (brand_id, delivery_id, attempted_at, status, duration_ms) VALUES (2, 10, now(), 200, 1)")).to.equal(
      "23503",
    );
    expect(await failure("INSERT INTO console_sessions (brand_id, user_id, token_hash, expires_at) VALUES (2, 5, '\\x0a', now())")).to.equal("23503");
    expect(await failure("INSERT INTO price_reports (brand_id, serial, amount, currency) VALUES (1, 'TWO1', 1, 'CNY')")).to.equal("23503");
  });

  it("keeps serials unique across brands: minting another brand's serial fails whole, writing nothing", async function () {
    const mint = (brandId: number, serials: string[]) =>
      failure(MINT_CODES_SQL, [brandId, GTIN, "L", null, serials, serials.map(() => Buffer.from("s")), serials.map(() => Buffer.from("c"))]);
    expect(await mint(2, ["TWO2", "ONE1"])).to.equal("23505");
    expect((await client.query("SELECT serial FROM codes WHERE serial IN ('TWO2', 'ONE1') AND brand_id = 2")).rows).to.deep.equal([]);
    expect((await client.query("SELECT serial FROM serials WHERE serial = 'TWO2'")).rows).to.deep.equal([]);
    // codes alone, keyed (brand_id, serial), would have taken it: the guarantee is the lookup's.
    expect(await failure("INSERT INTO codes (serial, brand_id, gtin, secret_hash) VALUES ('ONE1', 2, $1, '\\x00')", [GTIN])).to.equal(null);
    expect(await mint(2, ["TWO3"])).to.equal(null);
    expect((await client.query("SELECT brand_id FROM serials WHERE serial = 'TWO3'")).rows).to.deep.equal([{ brand_id: 2 }]);
  });
});
