/**
 * The sealing benchmark's worker process: measures the keccak256 code the sealer uses (raw hashes/s
 * of 64-byte inputs, the tree's ceiling), then seals the pending links of the database it is given
 * as one batch with the service's own sealer, and prints one JSON line: the sealer's timings, the
 * hash rate and this process's peak RSS (VmHWM).
 *   node scripts/bench/seal.ts <database-url> <max-links>
 */
import { readFileSync } from "node:fs";
import { wasmKeccak256 } from "../../service/anchoring/keccak.ts";
import { createSealer } from "../../service/anchoring/sealer.ts";
import { createPool } from "../../service/db/pool.ts";
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

const rate = await hashesPerSecond();
const log = createLogger("warn");
const db = createPool(databaseUrl, log, 1);
const sealer = createSealer({ db, maxLinks, log, metrics: createMetrics(async () => 0) });
const started = performance.now();
const batch = await sealer.sealOnce();
const seconds = (performance.now() - started) / 1000;
await db.end();
const peak = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024;
process.stdout.write(`${JSON.stringify({ leafCount: batch?.leafCount ?? 0, seconds, ms: batch?.ms ?? null, hashesPerSecond: rate, peakRssMiB: peak })}\n`);
