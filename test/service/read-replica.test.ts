/**
 * The read replica's routing (service/db/replica.ts) and settings, against stand-in pools whose WAL
 * positions the test moves: lag measured from LSNs (0 on an idle primary), the bound, a replica that
 * is not a standby or does not answer, and an answer that meets a failing replica going on on the
 * primary. The real engines (a primary, a pg_basebackup replica, paused replay, a stopped replica)
 * are in test/cluster/replica.test.ts (npm run test:cluster).
 */
import { expect } from "chai";
import pino from "pino";
import { ConfigError, loadConfig } from "../../service/config.ts";
import type { Db } from "../../service/db/pool.ts";
import { createReads, lsnBytes, type Reads } from "../../service/db/replica.ts";

const PRIMARY = "postgres://sealtrace@db:5432/sealtrace";
const REPLICA = "postgres://sealtrace@db-replica:5432/sealtrace";
const LABEL_SECRET = "0123456789abcdef0123456789abcdef";
// Required with DATABASE_URL too (docs/MEMBERS.md).
const MEMBER_KEYS = `k1:${Buffer.alloc(32, 1).toString("base64")}`;
const MEMBER_HASH_KEY = Buffer.alloc(32, 2).toString("base64");
const log = pino({ level: "silent" });

interface Fake {
  db: Db;
  queries: string[];
  fail: Error | null;
}
function fake(answer: (sql: string) => Record<string, unknown>): Fake {
  const self: Fake = {
    queries: [],
    fail: null,
    db: {
      query: async (sql: string | { text: string }) => {
        const text = typeof sql === "string" ? sql : sql.text;
        self.queries.push(text);
        if (self.fail !== null) throw self.fail;
        return { rows: [answer(text)] };
      },
    } as unknown as Db,
  };
  return self;
}
const lsn = (bytes: number) => `0/${bytes.toString(16).toUpperCase()}`;

describe("read replica: settings", () => {
  it("DATABASE_READ_URL is optional, needs DATABASE_URL, must differ from it; REPLICA_MAX_LAG_MS is bounded", () => {
    const config = loadConfig({ DATABASE_URL: PRIMARY, LABEL_SECRET, MEMBER_KEYS, MEMBER_HASH_KEY });
    expect(config.databaseReadUrl).to.equal(null);
    expect(config.replicaMaxLagMs).to.equal(5_000);
    expect(
      loadConfig({ DATABASE_URL: PRIMARY, LABEL_SECRET, MEMBER_KEYS, MEMBER_HASH_KEY, DATABASE_READ_URL: REPLICA, REPLICA_MAX_LAG_MS: "2000" }),
    ).to.include({
      databaseReadUrl: REPLICA,
      replicaMaxLagMs: 2_000,
    });
    expect(() => loadConfig({ DATABASE_READ_URL: REPLICA })).to.throw(ConfigError, /DATABASE_READ_URL is set without DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_URL: PRIMARY, LABEL_SECRET, MEMBER_KEYS, MEMBER_HASH_KEY, DATABASE_READ_URL: PRIMARY })).to.throw(
      ConfigError,
      /same as DATABASE_URL/,
    );
    expect(() => loadConfig({ DATABASE_URL: PRIMARY, LABEL_SECRET, MEMBER_KEYS, MEMBER_HASH_KEY, DATABASE_READ_URL: "mysql://x/y" })).to.throw(
      ConfigError,
      /DATABASE_READ_URL must be a postgres: or postgresql: URL/,
    );
    expect(() =>
      loadConfig({ DATABASE_URL: PRIMARY, LABEL_SECRET, MEMBER_KEYS, MEMBER_HASH_KEY, DATABASE_READ_URL: REPLICA, REPLICA_MAX_LAG_MS: "10" }),
    ).to.throw(ConfigError, /REPLICA_MAX_LAG_MS must be an integer from 100/);
  });
});

describe("read replica: routing", () => {
  let clock = 1_000_000;
  let written = 0x1000;
  let replayed = 0x1000;
  let standby = true;
  let primary: Fake;
  let replica: Fake;
  let reads: Reads;
  beforeEach(async () => {
    clock = 1_000_000;
    written = 0x1000;
    replayed = 0x1000;
    standby = true;
    primary = fake((sql) => (sql.includes("pg_current_wal_lsn") ? { lsn: lsn(written) } : { from: "primary" }));
    replica = fake((sql) => (sql.includes("pg_last_wal_replay_lsn") ? { standby, replay: standby ? lsn(replayed) : null } : { from: "replica" }));
    reads = await createReads({ primary: primary.db, replica: replica.db, maxLagMs: 2_000, log, intervalMs: 1e9, now: () => clock });
  });
  afterEach(async () => {
    await reads.close();
  });
  const from = async (db: Db) => ((await db.query("SELECT 1")).rows[0] as { from: string }).from;

  it("parses LSNs as byte positions", () => {
    expect(lsnBytes("16/B374D848")).to.equal((0x16n << 32n) + 0xb374d848n);
    expect(lsnBytes("0/0")).to.equal(0n);
  });

  it("an idle primary with a caught-up replica is no lag, however long nothing was replayed", async () => {
    for (let i = 0; i < 20; i++) {
      clock += 60_000;
      await reads.probe();
    }
    expect(reads.status()).to.deep.equal({ source: "replica", replica: "ok", lagMs: 0 });
    expect(await from(reads.readDb("proof-bundle"))).to.equal("replica");
  });

  it("dates the lag from the newest primary position the replica has replayed; past the bound, reads go to the primary, and come back", async () => {
    await reads.probe();
    written = 0x2000;
    clock += 500;
    await reads.probe(); // the replica is stuck at 0x1000, written by the first sample
    expect(reads.status()).to.include({ source: "replica", lagMs: 500 });
    written = 0x3000;
    clock += 1_000;
    await reads.probe();
    expect(reads.status()).to.include({ source: "replica", lagMs: 1_500 });
    clock += 1_000;
    await reads.probe();
    expect(reads.status()).to.deep.equal({ source: "primary", replica: "lagging", lagMs: 2_500 });
    expect(await from(reads.readDb("consumer-page"))).to.equal("primary");
    replayed = 0x2000;
    clock += 100;
    await reads.probe(); // has what the second sample saw
    expect(reads.status()).to.deep.equal({ source: "primary", replica: "lagging", lagMs: 2_100 });
    replayed = 0x3000;
    clock += 100;
    await reads.probe();
    expect(reads.status()).to.deep.equal({ source: "replica", replica: "ok", lagMs: 0 });
    expect(await from(reads.readDb("audit"))).to.equal("replica");
  });

  it("never reads a database that is not a standby (a promoted replica has a history of its own), nor one that does not answer", async () => {
    standby = false;
    await reads.probe();
    expect(reads.status()).to.deep.equal({ source: "primary", replica: "not a standby", lagMs: null });
    standby = true;
    replica.fail = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    await reads.probe();
    expect(reads.status()).to.deep.equal({ source: "primary", replica: "failing", lagMs: null });
    expect(await from(reads.readDb("epcis-query"))).to.equal("primary");
    replica.fail = null;
    await reads.probe();
    expect(reads.status().source).to.equal("replica");
  });

  it("an unmeasured replica is not read: a monitor that stopped measuring sends reads to the primary", async () => {
    await reads.probe();
    expect(reads.status().source).to.equal("replica");
    clock += 10_000;
    expect(reads.status().source).to.equal("primary");
  });

  it("an answer whose replica fails goes on on the primary, for all its remaining statements; other errors are the answer's", async () => {
    await reads.probe();
    const db = reads.readDb("proof-bundle");
    expect(await from(db)).to.equal("replica");
    replica.fail = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });
    expect(await from(db)).to.equal("primary");
    replica.fail = null;
    expect(await from(db), "later statements of the same answer: never back to the (older) replica").to.equal("primary");
    expect(reads.status()).to.include({ source: "primary", replica: "failing" });

    await reads.probe();
    const other = reads.readDb("proof-bundle");
    replica.fail = Object.assign(new Error('relation "nope" does not exist'), { code: "42P01" });
    let thrown: unknown = null;
    await other.query("SELECT 1").catch((error: unknown) => {
      thrown = error;
    });
    expect((thrown as { code?: string } | null)?.code).to.equal("42P01");
  });
});
