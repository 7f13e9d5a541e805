/**
 * Consumer visits written many to a transaction (service/verify/scan-writer.ts): every page that
 * answers 200 names a committed scan, many concurrent visits land each once and in chain order, one
 * IP counts once even inside one group, a group whose COMMIT dies loses no acknowledged scan, and a
 * page costs at most three database round trips.
 */
import { createHash } from "node:crypto";
import { expect } from "chai";
import type pg from "pg";
import { lifecycle, startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

type Page = { ip: string; status: number; body: string; retryAfter: string | null };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const countOf = (body: string) => Number(/data-scan-count="(\d+)"/.exec(body)?.[1] ?? Number.NaN);
const THIS_SCAN = "（含本次）";

describe("consumer visits, grouped into transactions", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let brand: BrandFixture;
  let salt: Buffer;
  let ipCounter = 0;
  /** A consumer address never used before in this file. */
  const freshIp = () => {
    ipCounter++;
    return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
  };

  before(async () => {
    // HTTP only: no sealer runs in this process, so the statements counted below are the pages' alone.
    services = await startChainStack({
      keyIndex: 12,
      role: "http",
      env: { TRUST_PROXY: "1", RATE_LIMIT_PER_BOTTLE: "100000", RATE_LIMIT_PER_IP: "100000", SCANS_PER_BOTTLE_PER_HOUR: "100000" },
    });
    ({ stack, db } = services);
    brand = await stack.createBrand({ codes: 8 });
    expect((await stack.postEvents(brand, lifecycle(brand.codes.map((c) => c.serial)))).status).to.equal(202);
    const {
      rows: [row],
    } = await db.query<{ scan_salt: Buffer }>("SELECT scan_salt FROM brands WHERE slug = $1", [brand.slug]);
    salt = row!.scan_salt;
  });
  after(async () => {
    await services?.stop();
  });

  const pathOf = (url: string) => {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  };
  async function visit(url: string, ip: string, headers: Record<string, string> = {}): Promise<Page> {
    const response = await fetch(`${stack.url}${pathOf(url)}`, { headers: { "x-forwarded-for": ip, ...headers } });
    return { ip, status: response.status, body: await response.text(), retryAfter: response.headers.get("retry-after") };
  }
  const ipHash = (ip: string) => createHash("sha256").update(salt).update(ip).digest();

  /** How many scans are stored for each of these IPs on the bottle. */
  async function storedScans(serial: string, ips: string[]): Promise<Map<string, number>> {
    const { rows } = await db.query<{ ip_hash: Buffer; n: number }>(
      "SELECT ip_hash, count(*)::int AS n FROM scans WHERE serial = $1 AND ip_hash = ANY($2::bytea[]) GROUP BY ip_hash",
      [serial, ips.map(ipHash)],
    );
    const byHash = new Map(rows.map((r) => [r.ip_hash.toString("hex"), r.n]));
    return new Map(ips.map((ip) => [ip, byHash.get(ipHash(ip).toString("hex")) ?? 0]));
  }

  /** The bottle's chain has no gap and no fork, each scan row names its own link, in chain order. */
  async function expectChainIntact(serial: string): Promise<void> {
    const { rows: links } = await db.query<{ n: number; prev: Buffer; link_hash: Buffer }>(
      "SELECT n, prev, link_hash FROM links WHERE serial = $1 ORDER BY n",
      [serial],
    );
    links.forEach((link, i) => {
      expect(link.n).to.equal(i + 1);
      if (i > 0) expect(link.prev.equals(links[i - 1]!.link_hash), `link ${link.n} follows link ${link.n - 1}`).to.equal(true);
    });
    const { rows: scans } = await db.query<{ n: number }>(
      "SELECT l.n FROM scans s JOIN links l ON l.event_id = s.event_id AND l.serial = s.serial WHERE s.serial = $1 ORDER BY s.id",
      [serial],
    );
    const {
      rows: [all],
    } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM scans WHERE serial = $1", [serial]);
    expect(scans.length, "every scan row has its link").to.equal(all!.n);
    expect(
      scans.map((s) => s.n),
      "scans are appended in the order they were written",
    ).to.deep.equal([...scans.map((s) => s.n)].sort((a, b) => a - b));
  }

  /** Holds the lock on one bottle's head, so the group that wants it waits (and the next group accumulates). */
  async function holdHead(serial: string): Promise<{ release(): Promise<void> }> {
    const client = await db.connect();
    await client.query("BEGIN");
    await client.query("SELECT 1 FROM codes WHERE serial = $1 FOR UPDATE", [serial]);
    return {
      async release() {
        await client.query("COMMIT");
        client.release();
      },
    };
  }
  async function waitForLockWaiter(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const { rows } = await db.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      if (rows.length > 0) return;
      await sleep(25);
    }
    throw new Error("no group is waiting for the held head");
  }

  it("many concurrent visits across bottles all land, each once, in chain order, and each page counts its own", async () => {
    const bottles = brand.codes.slice(0, 4);
    const requests = bottles.flatMap((code) => Array.from({ length: 15 }, () => ({ code, ip: freshIp() })));
    const pages = await Promise.all(requests.map(({ code, ip }) => visit(code.url, ip)));
    expect(pages.map((p) => p.status)).to.deep.equal(pages.map(() => 200));
    for (const p of pages) expect(p.body, "each page says its scan was counted").to.include(THIS_SCAN);
    for (const code of bottles) {
      const ips = requests.filter((r) => r.code === code).map((r) => r.ip);
      expect([...(await storedScans(code.serial, ips)).values()]).to.deep.equal(ips.map(() => 1));
      await expectChainIntact(code.serial);
    }
    // They were grouped: a group's events share one received_at.
    const {
      rows: [groups],
    } = await db.query<{ groups: number; scans: number }>(
      `SELECT count(DISTINCT e.received_at)::int AS groups, count(*)::int AS scans
         FROM scans s JOIN events e ON e.id = s.event_id WHERE s.serial = ANY($1::text[])`,
      [bottles.map((c) => c.serial)],
    );
    expect(groups!.scans).to.equal(requests.length);
    expect(groups!.groups, "fewer transactions than scans").to.be.lessThan(groups!.scans);
  });

  it("one IP twice in the same group counts once; both pages show the one scan", async () => {
    const [blocker, bottle] = [brand.codes[4]!, brand.codes[5]!];
    const held = await holdHead(blocker.serial);
    let first: Promise<Page>;
    try {
      first = visit(blocker.url, freshIp()); // this group waits for the held head
      await waitForLockWaiter();
      const ip = freshIp();
      const pair = [visit(bottle.url, ip), visit(bottle.url, ip)];
      await sleep(500); // both pages have read the bottle and queued their visits behind the waiting group
      await held.release();
      const pages = await Promise.all(pair);
      expect(pages.map((p) => p.status)).to.deep.equal([200, 200]);
      expect(
        pages.map((p) => countOf(p.body)),
        "both pages show one scan",
      ).to.deep.equal([1, 1]);
      expect(
        pages.filter((p) => p.body.includes(THIS_SCAN)),
        "one of them is counted",
      ).to.have.length(1);
      expect([...(await storedScans(bottle.serial, [ip])).values()]).to.deep.equal([1]);
      expect((await first).status).to.equal(200);
      await expectChainIntact(bottle.serial);
      // and later from the same IP: a reload, not a scan
      const again = await visit(bottle.url, ip);
      expect(countOf(again.body)).to.equal(1);
      expect(again.body).not.to.include(THIS_SCAN);
    } finally {
      await held.release().catch(() => undefined);
    }
  });

  it("concurrent cap scans of one bottle open it once, and every page shows it opened", async () => {
    const other = await stack.createBrand({ codes: 1 });
    const code = other.codes[0]!;
    expect((await stack.postEvents(other, lifecycle([code.serial]).slice(0, 3))).status).to.equal(202);
    const pages = await Promise.all(Array.from({ length: 12 }, () => visit(code.capUrl, freshIp())));
    expect(pages.map((p) => p.status)).to.deep.equal(pages.map(() => 200));
    for (const p of pages) {
      expect(p.body).to.include('data-warning="opened"');
      expect(p.body.match(/data-step="opened"/g), "one opened step").to.have.length(1);
    }
    const {
      rows: [opened],
    } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM links l JOIN events e ON e.id = l.event_id WHERE l.serial = $1 AND e.type = 'opened'", [
      code.serial,
    ]);
    expect(opened!.n).to.equal(1);
    await expectChainIntact(code.serial);
  });

  it("a group whose COMMIT is killed loses no acknowledged scan: every 200 is stored, every unstored visit got a 503 + Retry-After", async () => {
    // Every COMMIT that inserted scans takes half a second (a deferred trigger), and the test kills the
    // backends caught in it: the first groups fail (with their retries), later ones commit.
    await db.query(`
      CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('test.slow', true) IS DISTINCT FROM 'done' THEN
          PERFORM set_config('test.slow', 'done', true);
          PERFORM pg_sleep(0.5);
        END IF;
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON scans DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit();`);
    let killed = 0;
    let killing = true;
    const killer = (async () => {
      while (killing) {
        const { rows } = await db.query<{ killed: boolean }>(
          `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query = 'COMMIT'`,
        );
        killed += rows.filter((r) => r.killed).length;
        if (killed >= 4) break;
        await sleep(20);
      }
    })();
    try {
      const bottles = brand.codes.slice(6, 8);
      const requests = Array.from({ length: 6 }, (_, wave) => bottles.flatMap((code) => Array.from({ length: 5 }, () => ({ code, ip: freshIp(), wave }))));
      const pages: (Page & { code: BrandFixture["codes"][number] })[] = [];
      // Waves a little apart, so that some groups die and later ones live.
      for (const wave of requests) {
        pages.push(...(await Promise.all(wave.map(async ({ code, ip }) => ({ ...(await visit(code.url, ip)), code })))));
        if (killed >= 4) killing = false;
      }
      killing = false;
      await killer;

      expect(killed, "COMMITs killed").to.be.greaterThan(0);
      const ok = pages.filter((p) => p.status === 200);
      const failed = pages.filter((p) => p.status !== 200);
      expect(ok.length, "some visits were recorded").to.be.greaterThan(0);
      expect(failed.length, "some visits failed").to.be.greaterThan(0);
      for (const p of failed) {
        expect(p.status, p.body).to.equal(503);
        expect(p.retryAfter).to.match(/^\d+$/);
        expect(JSON.parse(p.body)).to.include({ error: "unavailable" });
      }
      for (const code of bottles) {
        const mine = pages.filter((p) => p.code === code);
        const stored = await storedScans(
          code.serial,
          mine.map((p) => p.ip),
        );
        for (const p of mine) {
          expect(stored.get(p.ip), `scans stored for ${p.ip}`).to.be.at.most(1);
          if (p.status === 200) {
            expect(stored.get(p.ip), `the acknowledged scan of ${p.ip} is stored`).to.equal(1);
            expect(p.body).to.include(THIS_SCAN);
          }
        }
        await expectChainIntact(code.serial);
      }
    } finally {
      killing = false;
      await killer;
      await db.query("DROP TRIGGER IF EXISTS test_slow_commit ON scans; DROP FUNCTION IF EXISTS test_slow_commit()");
    }
    // The service goes on.
    expect((await visit(brand.codes[6]!.url, freshIp())).status).to.equal(200);
  });

  describe("round trips to the database", () => {
    /** Counts the statements the service's pool sends while `work` runs. */
    async function statements(work: () => Promise<unknown>): Promise<string[]> {
      const pool = stack.runtime.db;
      const seen: string[] = [];
      const counted = new WeakSet<object>();
      const instrument = (client: pg.PoolClient) => {
        if (counted.has(client)) return;
        counted.add(client);
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
          if (recording) seen.push(typeof args[0] === "string" ? args[0] : (args[0] as { text: string }).text);
          return query(...args);
        };
      };
      let recording = true;
      // pg-pool's own query() checks a client out through connect(): wrapping connect catches both.
      const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
      const patched = pool as unknown as { connect: (...args: unknown[]) => unknown };
      patched.connect = (...args: unknown[]) => {
        const callback = args[0] as ((error: Error | undefined, client: pg.PoolClient, done: unknown) => void) | undefined;
        if (callback)
          return connect((error: Error | undefined, client: pg.PoolClient, done: unknown) => {
            if (client) instrument(client);
            callback(error, client, done);
          });
        return (connect() as Promise<pg.PoolClient>).then((client) => {
          instrument(client);
          return client;
        });
      };
      try {
        await work();
      } finally {
        recording = false;
        delete (patched as { connect?: unknown }).connect;
      }
      return seen;
    }

    it("a reload from the same IP, and the brand's own look: one round trip", async () => {
      const code = brand.codes[0]!;
      const ip = freshIp();
      expect((await visit(code.url, ip)).body).to.include(THIS_SCAN);
      const reload = await statements(() => visit(code.url, ip));
      expect(reload, reload.join("\n---\n")).to.have.length(1);
      const own = await statements(() => visit(code.url, freshIp(), { authorization: `Bearer ${brand.apiKey}` }));
      expect(own, own.join("\n---\n")).to.have.length(1);
    });

    it("a counted scan: one read of its own plus its share of the group's transaction, at most 3 per page under concurrency", async () => {
      const lone = await statements(() => visit(brand.codes[1]!.url, freshIp()));
      const reads = lone.filter((sql) => sql.includes("LEFT JOIN LATERAL"));
      expect(reads, "the page's reads are one statement").to.have.length(1);
      expect(lone[1], "then its group's transaction").to.equal("BEGIN");
      expect(lone.at(-1)).to.equal("COMMIT");
      process.stdout.write(`      (a lone counted scan: ${lone.length} statements, ${lone.length - 1} of them its group's transaction)\n`);

      const pages = 48;
      const burst = await statements(() => Promise.all(Array.from({ length: pages }, (_, i) => visit(brand.codes[i % 4]!.url, freshIp()))));
      const transactions = burst.filter((sql) => sql === "BEGIN").length;
      process.stdout.write(
        `      (${pages} concurrent counted scans: ${burst.length} statements in ${transactions} transactions, ${(burst.length / pages).toFixed(2)} a page)\n`,
      );
      expect(burst.filter((sql) => sql.includes("LEFT JOIN LATERAL"))).to.have.length(pages);
      expect(burst.length / pages).to.be.at.most(3);
    });
  });
});
