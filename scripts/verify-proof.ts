/**
 * npm run verify-proof -- <bundle.json> [--rpc URL] [--json]
 *
 * The independent verifier for a `sealtrace-proof/1` bundle. Offline it checks every hash, the
 * bottle's link chain and every Merkle proof; with --rpc it also asks the bundle's registry for
 * rootOf(seq) of every batch. Exit 0: valid (pending links are reported, not failures);
 * 1: invalid, with every reason; 2: usage error, unreadable file or unreachable chain.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { Contract, JsonRpcProvider } from "ethers";
import { verifyBundle, type Problem, type Verdict } from "../service/core/bundle.ts";
import { ANCHOR_REGISTRY_ABI } from "../service/core/registry-abi.ts";

const USAGE = "usage: npm run verify-proof -- <bundle.json> [--rpc URL] [--json]";

class UsageError extends Error {}

async function checkOnChain(bundle: { chain: { chainId: number; registry: string } }, verdict: Verdict, rpc: string): Promise<Problem[]> {
  const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true, batchMaxCount: 1 });
  try {
    const problems: Problem[] = [];
    let chainId: bigint;
    try {
      chainId = (await provider.getNetwork()).chainId;
    } catch (error) {
      throw new UsageError(`cannot reach the chain at ${rpc}: ${(error as Error).message}`);
    }
    if (chainId !== BigInt(bundle.chain.chainId)) {
      problems.push({ path: "chain.chainId", message: "the RPC serves another chain than the bundle names", expected: String(bundle.chain.chainId), found: String(chainId) });
      return problems;
    }
    if ((await provider.getCode(bundle.chain.registry)) === "0x") {
      problems.push({ path: "chain.registry", message: `no contract is deployed at ${bundle.chain.registry} on chain ${chainId}` });
      return problems;
    }
    const registry = new Contract(bundle.chain.registry, ANCHOR_REGISTRY_ABI, provider);
    for (const { seq, root, paths } of verdict.roots) {
      const onChain = (await registry.getFunction("rootOf")(seq)) as string;
      if (onChain.toLowerCase() !== root) {
        problems.push({
          path: paths.join(", "),
          message: BigInt(onChain) === 0n
            ? `the registry holds no root for batch ${seq}`
            : `the registry holds a different root for batch ${seq}`,
          expected: root,
          found: onChain,
        });
      }
    }
    return problems;
  } finally {
    provider.destroy();
  }
}

function describe(problem: Problem): string {
  const diff = problem.expected !== undefined || problem.found !== undefined
    ? ` (expected ${problem.expected ?? "—"}, found ${problem.found ?? "—"})`
    : "";
  return `  ${problem.path}: ${problem.message}${diff}`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { rpc: { type: "string" }, json: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "no bundle file given" : "give exactly one bundle file");
  const file = positionals[0]!;
  let bundle: unknown;
  try {
    bundle = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new UsageError(`cannot read ${file} as JSON: ${(error as Error).message}`);
  }

  const verdict = verifyBundle(bundle);
  let checkedOnChain = false;
  if (values.rpc !== undefined && verdict.problems.every((p) => !p.path.startsWith("chain"))) {
    verdict.problems.push(...(await checkOnChain(bundle as { chain: { chainId: number; registry: string } }, verdict, values.rpc)));
    verdict.valid = verdict.problems.length === 0;
    checkedOnChain = true;
  }

  const serial = (bundle as { serial?: unknown }).serial;
  if (values.json) {
    console.log(JSON.stringify({ ...verdict, checkedOnChain }));
  } else if (verdict.valid) {
    const anchored = verdict.linkCount - verdict.pending.length;
    const batches = verdict.roots.map((r) => r.seq).join(", ");
    const parts = [`VALID: bottle ${String(serial)}, ${verdict.linkCount} links, ${anchored} anchored`];
    if (batches) parts.push(`in batch${verdict.roots.length > 1 ? "es" : ""} ${batches}`);
    if (verdict.pending.length > 0) parts.push(`${verdict.pending.length} pending (n = ${verdict.pending.join(", ")})`);
    parts.push(checkedOnChain ? "roots match the chain" : "roots not checked on chain (no --rpc)");
    console.log(parts.join("; "));
  } else {
    console.log(`INVALID: bottle ${String(serial)}, ${verdict.problems.length} problem${verdict.problems.length > 1 ? "s" : ""}:`);
    for (const problem of verdict.problems) console.log(describe(problem));
  }
  return verdict.valid ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`verify-proof: ${message}\n${USAGE}`);
    process.exitCode = 2;
  },
);
