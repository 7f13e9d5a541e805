/**
 * Child processes for the benchmarks: the service (HTTP or worker) under test, the load generator,
 * and one-shot measuring scripts; and their memory, read from /proc.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Peak resident memory of a live process (VmHWM), in MiB. */
export function peakRssMiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

/**
 * Extra node flags for the service processes: `--cpu-prof` into BENCH_CPU_PROF when it is set, and
 * `--heapsnapshot-signal=SIGUSR2` when BENCH_HEAP_SNAPSHOTS is (run.ts then asks the HTTP process for a
 * heap snapshot, written to its working directory, after each phase).
 */
function profileFlags(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return [...(dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : []), ...(process.env.BENCH_HEAP_SNAPSHOTS ? ["--heapsnapshot-signal=SIGUSR2"] : [])];
}

export interface ServiceProcess {
  pid: number;
  stop(): Promise<void>;
}

async function exitOf(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** `node service/main.ts [--http|--worker]` with `env` ("all": both in one process); resolves once it serves (HTTP) or runs its workers. */
export async function startService(role: "http" | "worker" | "all", env: Record<string, string>, nodeFlags: string[] = []): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...profileFlags(), ...nodeFlags, "service/main.ts", ...(role === "all" ? [] : [`--${role}`])], {
    cwd: ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: role === "worker" ? "info" : "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const ready = role === "worker" ? "workers running" : "running at";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
      if (output.includes(ready)) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`service --${role} exited (${code}) before it was ready:\n${output}`)));
  });
  // Keep draining its output so that it never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.on("data", (chunk: Buffer) => process.stderr.write(`[${role}] ${chunk}`));
  return {
    pid: child.pid!,
    async stop() {
      const started = Date.now();
      await exitOf(child, 30_000);
      if (child.signalCode === "SIGKILL") process.stderr.write(`[bench] service --${role} did not stop within 30 s of SIGTERM: killed\n`);
      else if (Date.now() - started > 5_000) process.stderr.write(`[bench] service --${role} took ${Date.now() - started} ms to stop\n`);
    },
  };
}

/** Runs `node <script> ...args` to completion and returns its last stdout line, parsed as JSON. */
export async function runJson<T>(script: string, args: string[]): Promise<T> {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const last = stdout.trim().split("\n").at(-1) ?? "";
  if (code !== 0) throw new Error(`${script} exited with ${code}: ${last}`);
  return JSON.parse(last) as T;
}

/** Runs the load generator (scripts/bench/load.ts) on `spec` in a process of its own. */
export async function runLoad<T>(spec: unknown): Promise<T> {
  const file = join(tmpdir(), `sealtrace-bench-load-${process.pid}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(spec));
  return await runJson<T>("scripts/bench/load.ts", [file]);
}

/** `node scripts/bench/bare.ts` serving `bodies` on `port`. */
export async function startBare(bodies: { json: unknown; html: string }, port: number): Promise<ServiceProcess> {
  const file = join(tmpdir(), `sealtrace-bench-bare-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(bodies));
  const child = spawn(process.execPath, ["scripts/bench/bare.ts", file, String(port)], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`bare server exited (${code})`)));
  });
  return { pid: child.pid!, stop: () => exitOf(child, 5_000) };
}
