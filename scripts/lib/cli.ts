/**
 * What the two command-line checkers (`verify-proof`, `audit`) share: JSON-RPC over plain fetch (the
 * `Rpc` that core/onchain.ts asks the chain with), a pinned chain and registry read from a file,
 * problems printed one a line, and the exit code of a check that could not be run (2).
 */
import { readFile } from "node:fs/promises";
import type { Problem } from "../../service/core/bundle.ts";
import type { Rpc } from "../../service/core/onchain.ts";

/** The check could not be run: a usage error, an unreadable file, an unreachable API or chain. Exit 2. */
export class CannotCheck extends Error {}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
export const isAddress = (value: unknown): value is string => typeof value === "string" && ADDRESS.test(value);

/** A whole number ≥ 0 from an option, or a usage error naming it. */
export function wholeNumber(value: string, option: string): number {
  const number = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(number) || number < 0)
    throw new CannotCheck(`${option} must be a whole number ≥ 0, not ${JSON.stringify(value)}`);
  return number;
}

/**
 * JSON-RPC 2.0 over HTTP with fetch, one call a request. A node that cannot be reached, or that
 * answers with an error, makes the check impossible (CannotCheck), never a verdict.
 */
export function httpRpc(url: string, timeoutMs = 30_000): Rpc {
  let id = 0;
  return async (method, params) => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      throw new CannotCheck(`cannot reach the chain at ${url}: ${(error as Error).message}${cause ? ` (${cause})` : ""}`);
    }
    const text = await response.text();
    if (!response.ok) throw new CannotCheck(`the chain at ${url} answered HTTP ${response.status} to ${method}: ${text.slice(0, 200)}`);
    let body: { result?: unknown; error?: { message?: string } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new CannotCheck(`the chain at ${url} answered ${method} with something that is not JSON: ${text.slice(0, 200)}`);
    }
    if (body.error !== undefined)
      throw new CannotCheck(`the chain at ${url} answered ${method} with an error: ${body.error.message ?? JSON.stringify(body.error)}`);
    return body.result;
  };
}

/** A chain and registry pinned in a JSON file: { "chainId": number, "registry": "0x…" }. */
export async function readPin(file: string): Promise<{ chainId: number; registry: string }> {
  let pin: unknown;
  try {
    pin = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new CannotCheck(`cannot read the pin ${file} as JSON: ${(error as Error).message}`);
  }
  const { chainId, registry } = (pin ?? {}) as { chainId?: unknown; registry?: unknown };
  if (!Number.isSafeInteger(chainId) || (chainId as number) < 1 || !isAddress(registry)) {
    throw new CannotCheck(`the pin ${file} must be {"chainId": number, "registry": "0x" + 40 hex digits}`);
  }
  return { chainId: chainId as number, registry };
}

/** One problem as a line: where, what, and the values that disagree. */
export function describe(problem: Problem): string {
  const diff = problem.expected !== undefined || problem.found !== undefined ? ` (expected ${problem.expected ?? "—"}, found ${problem.found ?? "—"})` : "";
  return `  ${problem.path}: ${problem.message}${diff}`;
}

/**
 * Runs a command's `main` and sets the exit code: main's own, or 2 (with the usage) when the check
 * could not be run. Any other error (a node's answer that was not understood, or a bug of ours) is
 * also 2, never a verdict; a bug's stack is printed.
 */
export function runMain(name: string, usage: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      const bug =
        (error instanceof TypeError || error instanceof ReferenceError) && !String((error as { code?: unknown }).code ?? "").startsWith("ERR_PARSE_ARGS");
      console.error(`${name}: ${bug ? `the check failed unexpectedly: ${(error as Error).stack ?? message}` : message}\n${usage}`);
      process.exitCode = 2;
    },
  );
}
