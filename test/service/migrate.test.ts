/**
 * Migrations at start-up with many processes: `docker compose up` (or a supervisor) starts the HTTP
 * processes and the workers at the same moment, each running the migrations first. They must wait for
 * each other, not fail: before this test node-pg-migrate's advisory lock was taken in its default
 * "fail" mode, and every process but the first exited with "Another migration is already running"
 * (seen in test/cluster/processes.test.ts). Each migration is applied once.
 */
import { readdir } from "node:fs/promises";
import { expect } from "chai";
import pg from "pg";
import { migrate } from "../../service/db/migrate.ts";
import { createLogger } from "../../service/log.ts";
import { createDatabase } from "../helpers/stack.ts";

const log = createLogger("silent");

describe("migrations: processes starting at once", function () {
  this.timeout(120_000);

  it("five processes migrating an empty database at once all start, and each migration is applied once", async () => {
    const database = await createDatabase();
    try {
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => migrate(database.url, log)));
      const refused = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
      expect(refused, "processes that could not start").to.deep.equal([]);
      const files = (await readdir(new URL("../../service/db/migrations/", import.meta.url)))
        .filter((f) => f.endsWith(".sql"))
        .map((f) => f.replace(/\.sql$/, ""));
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ name: string }>("SELECT name FROM schema_migrations ORDER BY run_on, id");
        expect(rows.map((r) => r.name).sort(), "each migration once").to.deep.equal(files.sort());
      } finally {
        await client.end();
      }
    } finally {
      await database.drop();
    }
  });
});
