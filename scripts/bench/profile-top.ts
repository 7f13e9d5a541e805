/**
 * The functions with the most self time in V8 CPU profiles (`node --cpu-prof`, or
 * `BENCH_CPU_PROF=dir npm run bench`), summed over the files given; prints the top N.
 *   node scripts/bench/profile-top.ts [--top N] file.cpuprofile …
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "./processes.ts";

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ options: { top: { type: "string", default: "25" } }, allowPositionals: true });
const selfMs = new Map<string, number>();
let totalMs = 0;
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const names = new Map(
    profile.nodes.map((n) => {
      const { functionName, url, lineNumber } = n.callFrame;
      const where = url ? `${relative(ROOT, url.replace(/^file:\/\//, ""))}:${lineNumber + 1}` : "";
      return [n.id, `${functionName || "(anonymous)"} ${where}`.trim()];
    }),
  );
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    const name = names.get(id)!;
    selfMs.set(name, (selfMs.get(name) ?? 0) + ms);
  });
}
const top = [...selfMs].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
process.stdout.write(`${Math.round(totalMs)} ms sampled\n`);
for (const [name, ms] of top)
  process.stdout.write(`${((100 * ms) / totalMs).toFixed(1).padStart(5)} %  ${Math.round(ms).toString().padStart(7)} ms  ${name}\n`);
