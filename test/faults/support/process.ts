/**
 * SealTrace as a real process (`node service/main.ts [--worker|--http]`), the way it runs in
 * production: a test can SIGKILL it, and read everything it wrote to stdout and stderr (its logs).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { ROOT } from "../../helpers/run.ts";
import { createBrandWith, httpClient, stackEnv, type BrandFixture, type Stack, type StackOptions } from "../../helpers/stack.ts";

export interface ServiceProcess {
  child: ChildProcess;
  /** The exit code, or 137 after a SIGKILL. */
  exited: Promise<number | null>;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** The HTTP address it printed (HTTP roles only). */
  url(timeoutMs?: number): Promise<string>;
  /** The first match of `pattern` in its output, once it has written it. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Stops it gracefully (SIGTERM), or by SIGKILL after 15 s. */
  stop(): Promise<void>;
}

export function spawnService(env: Record<string, string>, args: string[] = []): ServiceProcess {
  const child = spawn(process.execPath, ["service/main.ts", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const chunks: string[] = [];
  child.stdout!.on("data", (chunk: Buffer) => chunks.push(chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => chunks.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(signal === "SIGKILL" ? 137 : code)));
  const output = () => chunks.join("");
  const waitFor = async (pattern: RegExp, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(output());
      if (match) return match;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the service exited before writing ${pattern}:\n${output().slice(-2_000)}`);
      if (Date.now() > deadline) throw new Error(`the service did not write ${pattern} within ${timeoutMs} ms:\n${output().slice(-2_000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return {
    child,
    exited,
    output,
    waitFor,
    async url(timeoutMs = 60_000) {
      return (await waitFor(/SealTrace is running at (http:\/\/\S+)/, timeoutMs))[1]!;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A stack (its own database, registry, Redis prefix) served by SealTrace as a child process. */
export interface ProcessStack {
  service: ServiceProcess;
  url: string;
  env: Record<string, string>;
  request: Stack["request"];
  createBrand(options?: { codes?: number }): Promise<BrandFixture>;
  stop(): Promise<void>;
}

export async function startProcessStack(options: StackOptions & { args?: string[] } = {}): Promise<ProcessStack> {
  const { env, cleanup } = await stackEnv(options);
  const service = spawnService(env, options.args ?? []);
  try {
    const url = await service.url();
    const request = httpClient(url);
    return {
      service,
      url,
      env,
      request,
      createBrand: (brandOptions) => createBrandWith(request, brandOptions),
      async stop() {
        await service.stop();
        await cleanup();
      },
    };
  } catch (error) {
    await service.stop();
    await cleanup();
    throw error;
  }
}
