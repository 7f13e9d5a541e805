/**
 * npm run verify-proof -- <bundle.json> [--rpc URL] [--chain-id N --registry ADDR | --pin FILE] [--max-age SECONDS] [--json]
 *
 * The independent verifier of a bottle's proof bundle (docs/PROOF-FORMAT.md). Offline it checks
 * what core/bundle.ts `verifyBundle` checks: every hash, the chain of links from the bottle's identity
 * (brand, GTIN, lot, serial) to its last link, each event's proof that it names this bottle, every
 * Merkle proof, and the head proof that no link was left out. With --rpc it asks the trusted registry
 * (core/onchain.ts `checkOnChain`) for the root of every batch the bundle names, and fails a head
 * proof whose batch the registry has superseded for longer than --max-age seconds (default
 * DEFAULT_MAX_AGE_SECONDS of core/onchain.ts, an hour).
 *
 * The verifier chooses the registry: --chain-id with --registry, or --pin FILE ({"chainId": N,
 * "registry": "0x…"}); a bundle naming another chain or registry fails. Without them, the chain and
 * registry the bundle names are trusted, and the first line of output says so.
 *
 * Exit 0 VALID: every link anchored, the history proven complete as of a batch (format 2) and, with
 * --rpc, every root found on chain; 1 INVALID, with every problem; 3 INCOMPLETE: links pending, or
 * completeness not proven (a bundle of format 1, or of a chain begun before format 2, is VALID with a
 * note that it does not prove completeness); 2 usage error, unreadable file or unreachable chain.
 * --json prints one JSON object: status, the verdict, the chain check, and the chain and registry trusted.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { verifyBundle, type Problem, type Status } from "../service/core/bundle.ts";
import { checkOnChain, DEFAULT_MAX_AGE_SECONDS, type ChainCheck, type Rpc } from "../service/core/onchain.ts";
import { CannotCheck, describe, httpRpc, isAddress, readPin, runMain, wholeNumber } from "./lib/cli.ts";

const USAGE = "usage: npm run verify-proof -- <bundle.json> [--rpc URL] [--chain-id N --registry ADDR | --pin FILE] [--max-age SECONDS] [--json]";

const EXIT: Record<Status, number> = { valid: 0, invalid: 1, incomplete: 3 };

interface Trusted {
  chainId: number;
  registry: string;
  source: "options" | "pin" | "bundle";
}

/** Thrown by the RPC of an offline run: checkOnChain compares the pinned chain and registry before its first call. */
class Offline extends Error {}
const offline: Rpc = () => Promise.reject(new Offline());

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      rpc: { type: "string" },
      "chain-id": { type: "string" },
      registry: { type: "string" },
      pin: { type: "string" },
      "max-age": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new CannotCheck(positionals.length === 0 ? "no bundle file given" : "give exactly one bundle file");
  const maxAgeSeconds = values["max-age"] === undefined ? DEFAULT_MAX_AGE_SECONDS : wholeNumber(values["max-age"], "--max-age");

  // The chain and registry to trust: chosen by the user, or else (said first) the bundle's own.
  let pinned: Trusted | null = null;
  if (values.pin !== undefined) {
    if (values["chain-id"] !== undefined || values.registry !== undefined) throw new CannotCheck("give --pin or --chain-id with --registry, not both");
    pinned = { ...(await readPin(values.pin)), source: "pin" };
  } else if (values["chain-id"] !== undefined || values.registry !== undefined) {
    if (values["chain-id"] === undefined || values.registry === undefined) throw new CannotCheck("--chain-id and --registry go together");
    if (!isAddress(values.registry)) throw new CannotCheck(`--registry must be an address (0x and 40 hex digits), not ${values.registry}`);
    const chainId = wholeNumber(values["chain-id"], "--chain-id");
    pinned = { chainId, registry: values.registry, source: "options" };
  }

  const file = positionals[0]!;
  let bundle: unknown;
  try {
    bundle = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new CannotCheck(`cannot read ${file} as JSON: ${(error as Error).message}`);
  }
  const verdict = verifyBundle(bundle);
  const named = (bundle as { chain?: { chainId?: unknown; registry?: unknown } } | null)?.chain;
  const bundleChain =
    Number.isSafeInteger(named?.chainId) && isAddress(named?.registry) ? { chainId: named.chainId as number, registry: named.registry as string } : null;
  const trusted: Trusted | null = pinned ?? (bundleChain === null ? null : { ...bundleChain, source: "bundle" });
  const problems: Problem[] = [...verdict.problems];
  if (bundleChain === null && typeof named?.registry === "string" && !isAddress(named.registry)) {
    problems.push({ path: "chain.registry", message: "the registry the bundle names is not an address", found: named.registry });
  }

  // The chain: the pin (offline, that is all that can be compared), the roots and the head's age.
  let chain: ChainCheck | null = null;
  if (trusted !== null && bundleChain !== null) {
    const trust = { chainId: trusted.chainId, registry: trusted.registry, maxAgeSeconds, now: Math.floor(Date.now() / 1000) };
    if (values.rpc !== undefined) {
      chain = await checkOnChain(httpRpc(values.rpc), trust, bundleChain, verdict);
      problems.push(...chain.problems);
    } else {
      try {
        problems.push(...(await checkOnChain(offline, trust, bundleChain, verdict)).problems);
      } catch (error) {
        if (!(error instanceof Offline)) throw error;
      }
    }
  }

  // Valid only when nothing is wrong, nothing is pending, and with --rpc every root was compared.
  const unchecked = values.rpc !== undefined && (chain === null || chain.rootsChecked === 0 || chain.rootsChecked < verdict.roots.length);
  const status: Status = problems.length > 0 ? "invalid" : verdict.status === "incomplete" || unchecked ? "incomplete" : verdict.status;
  const completeAsOf =
    chain?.completeAsOf != null
      ? {
          seq: chain.completeAsOf.seq,
          anchoredAt: new Date(chain.completeAsOf.blockTime * 1000).toISOString(),
          blockNumber: chain.completeAsOf.blockNumber,
          from: "chain" as const,
        }
      : verdict.completeAsOf !== null
        ? { seq: verdict.completeAsOf.seq, anchoredAt: verdict.completeAsOf.blockTime, blockNumber: verdict.completeAsOf.blockNumber, from: "bundle" as const }
        : null;

  if (values.json) {
    console.log(JSON.stringify({ status, valid: status === "valid", trusted, problems, completeAsOf, verdict, chain }));
    return EXIT[status];
  }

  // First, what was trusted, so that nobody takes the bundle's word for it unawares.
  if (trusted === null) console.log("trusted: no chain or registry (the bundle names none, and none was pinned)");
  else if (trusted.source === "bundle") {
    console.log(
      `trusted: chain ${trusted.chainId}, registry ${trusted.registry}, as named by the bundle itself: pin them with --chain-id and --registry, or --pin FILE`,
    );
  } else
    console.log(
      `trusted: chain ${trusted.chainId}, registry ${trusted.registry} (pinned by ${trusted.source === "pin" ? values.pin : "--chain-id and --registry"})`,
    );

  const serial = String((bundle as { serial?: unknown } | null)?.serial);
  const anchored = verdict.linkCount - verdict.pending.length;
  // The batches the links name (consistent unless the verdict is INVALID, which lists problems instead).
  const links = (bundle as { links?: unknown } | null)?.links;
  const batches = [
    ...new Set(
      (Array.isArray(links) ? links : [])
        .map((l) => (l as { anchor?: { seq?: unknown } | null } | null)?.anchor?.seq)
        .filter((seq): seq is number => Number.isSafeInteger(seq)),
    ),
  ].sort((a, b) => a - b);
  const claimed = verdict.timesClaimed.length > 0 ? " (as the bundle says)" : "";
  const summary = `bottle ${serial}, ${plural(verdict.linkCount, "link")}, ${anchored} anchored${batches.length > 0 ? `; in batch${batches.length > 1 ? "es" : ""} ${batches.join(", ")}${claimed}` : ""}`;
  if (status === "invalid") {
    console.log(`INVALID: ${summary}; ${plural(problems.length, "problem")}:`);
    for (const problem of problems) console.log(describe(problem));
    return EXIT[status];
  }
  const notes = [...verdict.notes];
  if (verdict.timesClaimed.length > 0) {
    notes.push(
      `the batch of link${verdict.timesClaimed.length === 1 ? "" : "s"} ${verdict.timesClaimed.join(", ")} is the bundle's claim: the head proof authenticates the links, ` +
        "not when each was anchored (a bundle fetched with ?proofs=all proves that too)",
    );
  }
  if (status === "incomplete") {
    const why =
      verdict.pending.length > 0
        ? `${plural(verdict.pending.length, "link")} pending (n = ${verdict.pending.join(", ")})`
        : verdict.status === "incomplete"
          ? (notes.shift() ?? "completeness not proven")
          : "--rpc compared no root with the chain";
    if (verdict.pending.length > 0 && notes[0]?.includes("pending")) notes.shift();
    console.log(`INCOMPLETE: ${why}; ${summary}`);
  } else {
    const parts = [`VALID: ${summary}`];
    if (completeAsOf !== null) {
      parts.push(
        `complete as of batch ${completeAsOf.seq}, anchored at ${completeAsOf.anchoredAt ?? "an unknown time"} ${
          completeAsOf.from === "chain" ? `(from the chain, block ${completeAsOf.blockNumber})` : "(as the bundle says; not checked without --rpc)"
        }`,
      );
    }
    parts.push(chain !== null ? `roots match the chain (${plural(chain.rootsChecked, "root")} compared)` : "roots not checked on chain (no --rpc)");
    console.log(parts.join("; "));
  }
  for (const note of notes) console.log(`  note: ${note}`);
  return EXIT[status];
}

runMain("verify-proof", USAGE, main);
