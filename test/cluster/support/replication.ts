/**
 * A PostgreSQL primary and a streaming replica of it, as a user would run them on two machines:
 * `initdb` for the primary (wal_level replica, WAL senders, a replication entry in pg_hba.conf), and
 * `pg_basebackup -R` for the replica (hot standby, following the primary). Each in a temporary
 * directory, on a private port, run as `postgres` when the test runs as root. The shared PostgreSQL
 * on 5432 is never touched; `destroy()` stops both and removes their directories.
 */
import { execFile } from "node:child_process";
import { appendFile, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "../../../service/anchoring/local-chain.ts";
import { postgresBin, until } from "../../faults/support/servers.ts";

const run = promisify(execFile);

export interface PgServer {
  url: string;
  port: number;
  start(): Promise<void>;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** One statement on a connection of its own (so it works while the pools are broken). */
  query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]>;
}

export interface Replication {
  primary: PgServer;
  replica: PgServer;
  /** Waits until the replica has replayed everything the primary has written so far. */
  caughtUp(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

export async function startReplication(): Promise<Replication> {
  const bin = await postgresBin();
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), "sealtrace-replication-"));
  if (asRoot) {
    const { stdout: uid } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, Number(uid.trim()), Number(gid.trim()));
  }
  const exec = async (file: string, args: string[]) => (asRoot ? await run("runuser", ["-u", "postgres", "--", file, ...args]) : await run(file, args));
  const running = new Set<PgServer>();
  const servers: PgServer[] = [];

  const server = (data: string, port: number, name: string): PgServer => {
    const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=60`;
    const query = async <T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
      client.on("error", () => undefined);
      try {
        await client.connect();
        return (await client.query<T>(sql, values)).rows;
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    const self: PgServer = {
      url,
      port,
      query,
      async start() {
        await exec(join(bin, "pg_ctl"), ["-D", data, "-o", options, "-l", join(dir, `${name}.log`), "-w", "start"]);
        running.add(self);
        await until(
          `the ${name}`,
          async () =>
            await query("SELECT 1").then(
              () => true,
              () => false,
            ),
        );
      },
      async stop(mode = "fast") {
        await exec(join(bin, "pg_ctl"), ["-D", data, "-m", mode, "-w", "stop"]);
        running.delete(self);
      },
    };
    servers.push(self);
    return self;
  };

  const destroy = async () => {
    for (const s of [...running].reverse()) await s.stop("immediate").catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const primaryData = join(dir, "primary");
    await exec(join(bin, "initdb"), ["-D", primaryData, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
    // What a streaming primary needs (most are PostgreSQL's defaults today; said here so a packager's defaults cannot differ).
    await appendFile(join(primaryData, "postgresql.conf"), "\nwal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n");
    await appendFile(join(primaryData, "pg_hba.conf"), "\nhost replication all 127.0.0.1/32 trust\n");
    const primary = server(primaryData, await freePort(), "primary");
    await primary.start();

    const replicaData = join(dir, "replica");
    // -R writes standby.signal and primary_conninfo: the copy starts as a hot standby streaming from the primary.
    await exec(join(bin, "pg_basebackup"), [
      "-h",
      "127.0.0.1",
      "-p",
      String(primary.port),
      "-U",
      "postgres",
      "-D",
      replicaData,
      "-R",
      "-X",
      "stream",
      "--no-sync",
    ]);
    const replica = server(replicaData, await freePort(), "replica");
    await replica.start();
    const [{ standby }] = (await replica.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby")) as [{ standby: boolean }];
    if (!standby) throw new Error("the replica is not in recovery");

    return {
      primary,
      replica,
      destroy,
      async caughtUp(timeoutMs = 30_000) {
        const [{ lsn }] = (await primary.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")) as [{ lsn: string }];
        await until(
          "the replica catching up",
          async () => {
            const rows = await replica.query<{ done: boolean }>("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done", [lsn]).catch(() => []);
            return rows[0]?.done === true;
          },
          timeoutMs,
        );
      },
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}
