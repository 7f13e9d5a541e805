/**
 * Measures the HTTP process's memory while it streams the leaves of a 1,000,000-leaf batch
 * (GET /api/v1/batches/{seq}/leaves, page by page as the API serves it). Needs the local PostgreSQL (TEST_DATABASE_URL) and starts its
 * own local chain. Prints one JSON line: baseline and peak RSS of the server process, bytes and time.
 *   node scripts/bench/leaves-memory.ts [--leaves N]
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import pg from "pg";
import { freePort, startLocalChain } from "../../service/anchoring/local-chain.ts";
import { createDatabase, deployTestRegistry, devKey } from "../../test/helpers/stack.ts";
import { seedLinks } from "./seed.ts";

const { values } = parseArgs({ options: { leaves: { type: "string", default: "1000000" } } });
const count = Number(values.leaves);

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const chain = await startLocalChain();
const database = await createDatabase();
const key = devKey(19);
const registry = await deployTestRegistry(chain.url, key);
const port = await freePort();
const env = {
  ...process.env,
  DATABASE_URL: database.url,
  CHAIN_RPC_URL: chain.url,
  ANCHOR_PRIVATE_KEY: key,
  REGISTRY_ADDRESS: registry,
  PORT: String(port),
  LOG_LEVEL: "warn",
  ADMIN_TOKEN: "bench-admin-token-0123456789",
  LABEL_SECRET: randomBytes(32).toString("hex"),
  DATA_DIR: "/tmp/sealtrace-bench",
};
// A small old-space cap: if streaming held the batch in memory, the server would run out.
const server = spawn(process.execPath, ["--max-old-space-size=96", "service/main.ts", "--http"], { env, stdio: ["ignore", "pipe", "inherit"] });
try {
  await new Promise<void>((resolve) =>
    server.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("running at")) resolve();
    }),
  );
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  const started = Date.now();
  await seedLinks(db, count, { sealed: true });
  await db.end();
  const seeded = (Date.now() - started) / 1000;

  const baseline = rssMiB(server.pid!);
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB(server.pid!));
  }, 50);
  const t0 = Date.now();
  let bytes = 0;
  let lines = 0;
  // The API serves a bounded page of leaves per request: follow x-next-from to the last one.
  for (let next: string | null = "0"; next !== null;) {
    const response: Response = await fetch(`http://127.0.0.1:${port}/api/v1/batches/1/leaves?from=${next}`);
    for await (const chunk of response.body!) {
      bytes += (chunk as Uint8Array).length;
      for (const b of chunk as Uint8Array) if (b === 10) lines++;
    }
    next = response.headers.get("x-next-from");
  }
  const seconds = (Date.now() - t0) / 1000;
  clearInterval(sampler);
  console.log(
    JSON.stringify({
      leaves: lines,
      bytes,
      seconds,
      leavesPerSecond: Math.round(lines / seconds),
      serverRssMiB: { baseline: Math.round(baseline), peak: Math.round(peak) },
      seedSeconds: seeded,
    }),
  );
} finally {
  server.kill("SIGTERM");
  await new Promise((resolve) => server.once("exit", resolve));
  await database.drop();
  await chain.stop();
}
