/**
 * npm run audit -- --api URL --rpc URL [--registry ADDR] [--chain-id N] [--state FILE] [--brand-key KEY]
 *                  [--full] [--sample N] [--from SEQ] [--max-age SECONDS]
 *
 * An auditor's independent check of a SealTrace deployment, trusting only the chain and service/core
 * (none of the service's own code paths).
 *
 *  - The registry: --registry (or the one the --state file remembers; without either, the one the API
 *    names, which the first line of output says). Every BatchAnchored event it holds; batch numbers run
 *    1, 2, 3 … with no gap on chain and in the API; roots, leaf counts and transactions agree.
 *  - Every batch's leaves (from --from on) recompute its root: a format-1 batch's root directly; a
 *    format-2 batch's leaves recompute its links root, and its root on chain must be
 *    node(linksRoot, headsRoot, headsDepth) (docs/PROOF-FORMAT.md).
 *  - With --brand-key, the brand's whole export (GET /api/v1/audit/events): every event's hash, its
 *    commitment to its bottles (recomputed from the members) and to its EPCIS body; every link, its
 *    hash and its Merkle proof; each chain's links run 1…k from the chain's genesis with no gap or
 *    repeat; the checkpoint's heads map (verified against the chain) records each chain's last link
 *    sealed by then, for every chain and no other, and the checkpoint was the latest when the export
 *    began (give or take --max-age seconds; default DEFAULT_MAX_AGE_SECONDS of core/onchain.ts, an
 *    hour). Then a sample (--sample N, default 20; --full: all) of the brand's bottles' proof bundles
 *    are verified (core/bundle.ts, core/onchain.ts, the same --max-age) and must show exactly the
 *    export's links of their bottle and its head. A chain left out of the export whole (every event
 *    naming it and its head record) cannot be noticed: nothing the audit trusts lists the brand's chains.
 *  - With --state FILE, a transparency-log monitor: the file remembers the chain, the registry and
 *    every root checked. A later run fails when the registry is another one (unless the remembered
 *    registry names it as its successor on chain, which is followed and recorded), a remembered root
 *    changed, or the history is shorter. The file is written (atomically) only after a passing run.
 *
 * Exit 0 with a summary; 1 with every discrepancy (each naming the batch, event or bottle); 2 for
 * usage errors or an unreachable API or chain.
 */
import { rename, readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { verifyBundle } from "../service/core/bundle.ts";
import { batchRoot, epcisDigest, genesis, headLeaf, memberLeaf, processHeadProof, type ChainIdentity } from "../service/core/commitments.ts";
import { isHash, ZERO_HASH, type Hash, type Json } from "../service/core/hash.ts";
import { eventHash, isBottleChain, leafOf, linkHash, type Link } from "../service/core/links.ts";
import { MerkleTree, processProof } from "../service/core/merkle.ts";
import {
  BATCH_ANCHORED,
  chainIdOf,
  checkOnChain,
  DEFAULT_MAX_AGE_SECONDS,
  findAnchoring,
  hasCode,
  LOG_RANGE,
  successorOf,
  type Rpc,
} from "../service/core/onchain.ts";
import { CannotCheck, httpRpc, isAddress, runMain, wholeNumber } from "./lib/cli.ts";

const USAGE =
  "usage: npm run audit -- --api URL --rpc URL [--registry ADDR] [--chain-id N] [--state FILE] [--brand-key KEY] [--full] [--sample N] [--from SEQ] [--max-age SECONDS]";
const STATE_FORMAT = "sealtrace-audit-state/1";
/** Successions followed at most in one run (a loop of successors is not a history). */
const MAX_SUCCESSIONS = 16;
/** Times a bundle is asked for again after the API answered 429 (too many requests). */
const RATE_LIMIT_RETRIES = 10;

interface Discrepancy {
  where: string;
  message: string;
  expected?: string;
  found?: string;
}
interface ChainBatch {
  seq: number;
  root: Hash;
  leafCount: number;
  txHash: string;
  blockNumber: number;
}
interface ApiBatch {
  seq: number;
  root: string;
  leafCount: number;
  status: string;
  txHash: string | null;
  blockNumber: number | null;
  format?: 1 | 2;
  linksRoot?: string;
  headsRoot?: string;
  headsDepth?: number;
}
interface ExportBatch {
  seq: number;
  leafIndex: number;
  root: string;
  proof: Hash[];
  format?: 1 | 2;
  linksRoot?: string;
  headsRoot?: string;
  headsDepth?: number;
}
interface ExportLink {
  link: Link;
  linkHash: string;
  leaf: string;
  batch: ExportBatch | null;
  anchor: { seq: number } | null;
  identity?: ChainIdentity;
}
interface ExportEvent {
  eventId: string;
  id: string;
  event: Record<string, Json>;
  eventHash: string;
  links: ExportLink[];
  members?: { serial: string; salt: string }[];
  epcis?: { event: Json; context: Json | null };
}
interface Checkpoint {
  seq: number;
  root: string;
  linksRoot: string;
  headsRoot: string;
  headsDepth: number;
}
interface HeadRecord {
  chain: string;
  index: number;
  n: number;
  linkHash: string;
  seq: number;
  proof: Hash[];
}

/** What the monitor remembers between runs. */
interface AuditState {
  format: typeof STATE_FORMAT;
  chainId: number;
  registry: string;
  /** The registry's latest batch when last checked. */
  latestSeq: number;
  /** Every root checked, by seq. */
  roots: Record<string, string>;
  /** Registry moves followed: the old registry named the new one as its successor on chain. */
  successions: { from: string; to: string; seenAt: string }[];
  checkedAt: string;
}

/** One chain's links as exported (a bottle's, or a log's such as the brand's EPCIS log). */
interface ExportedChain {
  links: Map<number, { prev: string; linkHash: string; batchSeq: number | null; headed: boolean; where: string }>;
  identity?: ChainIdentity;
}

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
const label = (chain: string): string => (isBottleChain(chain) ? `bottle ${chain}` : `chain ${chain}`);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { headers });
  } catch (error) {
    throw new CannotCheck(`cannot reach ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new CannotCheck(`${url} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  return (await response.json()) as T;
}

/** Every BatchAnchored event of the registry, read from the chain LOG_RANGE blocks a call. */
async function chainBatches(rpc: Rpc, registry: string): Promise<ChainBatch[]> {
  const latest = Number(BigInt((await rpc("eth_blockNumber", [])) as string));
  const batches: ChainBatch[] = [];
  for (let from = 0; from <= latest; from += LOG_RANGE) {
    const logs = await rpc("eth_getLogs", [
      {
        address: registry,
        topics: [BATCH_ANCHORED],
        fromBlock: `0x${from.toString(16)}`,
        toBlock: `0x${Math.min(latest, from + LOG_RANGE - 1).toString(16)}`,
      },
    ]);
    if (!Array.isArray(logs)) throw new CannotCheck("the node's answer to eth_getLogs was not understood");
    for (const log of logs as { topics: string[]; data: string; transactionHash: string; blockNumber: string; removed?: boolean }[]) {
      if (log.removed === true) continue;
      batches.push({
        seq: Number(BigInt(log.topics[1]!)),
        root: `0x${log.data.slice(2, 66).toLowerCase()}` as Hash,
        leafCount: Number(BigInt(`0x${log.data.slice(66, 130)}`)),
        txHash: log.transactionHash,
        blockNumber: Number(BigInt(log.blockNumber)),
      });
    }
  }
  return batches.sort((a, b) => a.seq - b.seq);
}

async function apiBatches(api: string): Promise<ApiBatch[]> {
  const all: ApiBatch[] = [];
  let after = 0;
  for (;;) {
    const page = await getJson<{ batches: ApiBatch[]; next: number | null }>(`${api}/api/v1/batches?after=${after}&limit=1000`);
    all.push(...page.batches);
    if (page.next === null) return all;
    after = page.next;
  }
}

/** Calls `onLine` for each non-empty line of a streamed response body, with its number (from 1). */
async function eachLine(response: Response, onLine: (line: string, number: number) => void): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  let number = 0;
  for await (const chunk of response.body!) {
    rest += decoder.decode(chunk as Uint8Array, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      number++;
      if (line.trim()) onLine(line, number);
    }
  }
  if (rest.trim()) onLine(rest, number + 1);
}

/**
 * A batch's leaves (one hex leaf per line), or why the API would not serve them. The API serves them
 * a bounded page at a time: while `x-next-from` names a next page, ask for it.
 */
async function leavesOf(api: string, seq: number): Promise<string[] | string> {
  const leaves: string[] = [];
  let from = 0;
  for (;;) {
    const response = await fetch(`${api}/api/v1/batches/${seq}/leaves${from === 0 ? "" : `?from=${from}`}`);
    if (!response.ok) return `HTTP ${response.status}`;
    await eachLine(response, (line) => leaves.push(line.trim()));
    const next = response.headers.get("x-next-from");
    if (next === null) return leaves;
    if (!/^[0-9]+$/.test(next) || Number(next) !== leaves.length) return `the leaves' next page starts at ${next}, after ${leaves.length} leaves`;
    from = leaves.length;
  }
}

/** A bottle's bundle as the brand receives it, waiting out the API's rate limit (429 and Retry-After) as asked. */
async function fetchBundle(api: string, serial: string, brandKey: string): Promise<Response | Error> {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(`${api}/api/v1/items/${encodeURIComponent(serial)}/proof`, { headers: { authorization: `Bearer ${brandKey}` } }).catch(
      (error: Error) => error,
    );
    if (response instanceof Error || response.status !== 429 || attempt === RATE_LIMIT_RETRIES) return response;
    const wait = Math.min(Math.max(Number(response.headers.get("retry-after")) || 1, 1), 120);
    progress(`the API limits our rate: waiting ${wait} s before asking for bottle ${serial}'s bundle again`);
    await response.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
}

function contiguous(seqs: number[], where: string, problems: Discrepancy[]): void {
  seqs.forEach((seq, i) => {
    if (seq !== i + 1)
      problems.push({
        where,
        message: seq > i + 1 ? `batch ${i + 1} is missing (numbers must run 1, 2, 3 … with no gap)` : `batch ${seq} appears twice`,
        expected: String(i + 1),
        found: String(seq),
      });
  });
}

async function readState(file: string): Promise<AuditState | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw new CannotCheck(`cannot read the state ${file}: ${(error as Error).message}`);
  }
  let state: AuditState;
  try {
    state = JSON.parse(text) as AuditState;
  } catch (error) {
    throw new CannotCheck(`the state ${file} is not JSON: ${(error as Error).message}`);
  }
  if (
    state?.format !== STATE_FORMAT ||
    !Number.isSafeInteger(state.chainId) ||
    !isAddress(state.registry) ||
    !Number.isSafeInteger(state.latestSeq) ||
    !isObject(state.roots) ||
    !Array.isArray(state.successions)
  ) {
    throw new CannotCheck(`the state ${file} is not a ${STATE_FORMAT} file`);
  }
  return state;
}

/** Replaces the state file in one step: a crash leaves the old state or the new, never half of one. */
async function writeState(file: string, state: AuditState): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`);
  await rename(temporary, file);
}

async function audit(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      api: { type: "string" },
      rpc: { type: "string" },
      registry: { type: "string" },
      "chain-id": { type: "string" },
      state: { type: "string" },
      from: { type: "string" },
      "brand-key": { type: "string" },
      full: { type: "boolean", default: false },
      sample: { type: "string" },
      "max-age": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.api || !values.rpc) throw new CannotCheck("--api and --rpc are required");
  const api = values.api.replace(/\/+$/, "");
  const from = values.from === undefined ? 1 : wholeNumber(values.from, "--from");
  const sample = values.sample === undefined ? 20 : wholeNumber(values.sample, "--sample");
  const maxAge = values["max-age"] === undefined ? DEFAULT_MAX_AGE_SECONDS : wholeNumber(values["max-age"], "--max-age");
  if (from < 1) throw new CannotCheck("--from must be a batch number ≥ 1");
  if (values.registry !== undefined && !isAddress(values.registry))
    throw new CannotCheck(`--registry must be an address (0x and 40 hex digits), not ${values.registry}`);
  const pinnedChainId = values["chain-id"] === undefined ? null : wholeNumber(values["chain-id"], "--chain-id");
  const brandKey = values["brand-key"];

  const problems: Discrepancy[] = [];
  const state = values.state === undefined ? null : await readState(values.state);
  const info = await getJson<{ chainId: number; registry: string }>(`${api}/api/v1/chain`);
  const rpc = httpRpc(values.rpc);
  const chainId = await chainIdOf(rpc);

  // 0. What is trusted: the chain and registry chosen (or remembered), else the API's (said first).
  const trustedChainId = pinnedChainId ?? state?.chainId ?? info.chainId;
  if (chainId !== trustedChainId)
    problems.push({ where: "chain", message: "the RPC serves another chain than the one trusted", expected: String(trustedChainId), found: String(chainId) });
  if (info.chainId !== trustedChainId)
    problems.push({
      where: "chain",
      message: "the API names another chain than the one trusted",
      expected: String(trustedChainId),
      found: String(info.chainId),
    });
  if (state !== null && pinnedChainId !== null && pinnedChainId !== state.chainId) {
    problems.push({
      where: "state",
      message: "--chain-id names another chain than the state remembers",
      expected: String(state.chainId),
      found: String(pinnedChainId),
    });
  }
  const successions: AuditState["successions"] = [];
  let registry: string;
  let trustLine: string;
  if (state !== null) {
    registry = state.registry;
    const wanted = values.registry ?? info.registry;
    if (!same(wanted, state.registry)) {
      // Another registry is followed only along successors the remembered one recorded on chain.
      let at = state.registry;
      const seen = new Set([at.toLowerCase()]);
      while (!same(at, wanted) && successions.length < MAX_SUCCESSIONS) {
        const next = await successorOf(rpc, at);
        if (next === null || seen.has(next.toLowerCase())) break;
        successions.push({ from: at.toLowerCase(), to: next.toLowerCase(), seenAt: new Date().toISOString() });
        seen.add(next.toLowerCase());
        at = next;
      }
      if (same(at, wanted)) {
        registry = wanted;
      } else {
        problems.push({
          where: "state",
          message: `${values.registry !== undefined ? "--registry" : "the API"} names another registry than the state remembers, and no successor recorded on chain leads to it: another registry is another history`,
          expected: state.registry,
          found: wanted,
        });
        successions.length = 0;
      }
    }
    trustLine = `(remembered in ${values.state}${successions.length > 0 ? ", and followed to its successor" : ""})`;
  } else if (values.registry !== undefined) {
    registry = values.registry;
    trustLine = "(--registry)";
  } else {
    registry = info.registry;
    trustLine = "as named by the API itself: pin it with --registry, or remember it with --state FILE";
  }
  registry = registry.toLowerCase();
  console.log(`trusted: chain ${trustedChainId}, registry ${registry}${trustLine.startsWith("(") ? " " : ", "}${trustLine}`);
  for (const s of successions) console.log(`registry moved: ${s.from} names ${s.to} as its successor on chain; following it`);
  if (!same(registry, info.registry))
    problems.push({ where: "chain", message: "the API names another registry than the one audited", expected: registry, found: info.registry });
  if (!(await hasCode(rpc, registry))) {
    problems.push({ where: "chain", message: `no contract is deployed at ${registry} on chain ${chainId}` });
    return report(problems, "");
  }

  // 1. The chain's record, and the API's, each numbered without gaps.
  const onChain = await chainBatches(rpc, registry);
  progress(`chain: ${onChain.length} batches anchored on registry ${registry}`);
  contiguous(
    onChain.map((b) => b.seq),
    "chain",
    problems,
  );
  const listed = await apiBatches(api);
  progress(`api: ${listed.length} batches listed`);
  contiguous(
    listed.map((b) => b.seq),
    "api",
    problems,
  );
  const bySeq = new Map(listed.map((b) => [b.seq, b]));
  const chainBySeq = new Map(onChain.map((b) => [b.seq, b]));
  for (const batch of onChain) {
    const listedBatch = bySeq.get(batch.seq);
    if (listedBatch === undefined) {
      problems.push({ where: `batch ${batch.seq}`, message: "is anchored on chain but missing from the API", expected: batch.root });
      continue;
    }
    if (listedBatch.root !== batch.root)
      problems.push({ where: `batch ${batch.seq}`, message: "the API's root differs from the chain's", expected: batch.root, found: listedBatch.root });
    if (listedBatch.leafCount !== batch.leafCount)
      problems.push({
        where: `batch ${batch.seq}`,
        message: "the API's leaf count differs from the chain's",
        expected: String(batch.leafCount),
        found: String(listedBatch.leafCount),
      });
    if (listedBatch.status === "anchored" && listedBatch.txHash?.toLowerCase() !== batch.txHash.toLowerCase()) {
      problems.push({
        where: `batch ${batch.seq}`,
        message: "the API names another anchoring transaction",
        expected: batch.txHash,
        found: listedBatch.txHash ?? "none",
      });
    }
  }
  for (const batch of listed) {
    if (batch.status === "anchored" && !chainBySeq.has(batch.seq))
      problems.push({ where: `batch ${batch.seq}`, message: "the API says it is anchored, but the registry holds no such batch" });
    if (batch.format === 2) {
      if (!isHash(batch.linksRoot) || !isHash(batch.headsRoot) || !Number.isInteger(batch.headsDepth)) {
        problems.push({ where: `batch ${batch.seq}`, message: "a format-2 batch needs linksRoot, headsRoot and headsDepth" });
        continue;
      }
      let composed: string;
      try {
        composed = batchRoot(batch.linksRoot, batch.headsRoot, batch.headsDepth!);
      } catch (error) {
        composed = (error as Error).message;
      }
      if (composed !== batch.root)
        problems.push({
          where: `batch ${batch.seq}`,
          message: "its root is not node(linksRoot, headsRoot, headsDepth)",
          expected: composed,
          found: batch.root,
        });
    }
  }

  // 1b. The monitor: the history it remembers is still there, unchanged, and no shorter.
  if (state !== null) {
    if (state.chainId !== chainId)
      problems.push({
        where: "state",
        message: "the RPC serves another chain than the state remembers",
        expected: String(state.chainId),
        found: String(chainId),
      });
    for (const [seq, root] of Object.entries(state.roots)) {
      const now = chainBySeq.get(Number(seq));
      if (now === undefined)
        problems.push({
          where: `state: batch ${seq}`,
          message: `was checked before, but registry ${registry} no longer holds it (a shorter history)`,
          expected: root,
        });
      else if (now.root !== root)
        problems.push({
          where: `state: batch ${seq}`,
          message: "its root changed since it was checked (a rewritten history)",
          expected: root,
          found: now.root,
        });
    }
    const latest = onChain.at(-1)?.seq ?? 0;
    if (latest < state.latestSeq)
      problems.push({
        where: "state",
        message: `registry ${registry} holds a shorter history than was checked before`,
        expected: `batch ${state.latestSeq} or later`,
        found: `batch ${latest}`,
      });
  }

  // 2. The brand's export: every event, link and proof; each chain complete against the checkpoint.
  const expectedLeaves = new Map<number, Map<number, { leaf: string; what: string }>>();
  /** Leaves of links the export shows as not anchored on the registry (pending, or in a batch it does not hold). */
  const unanchoredLeaves = new Map<string, string>();
  const chains = new Map<string, ExportedChain>();
  const heads = new Map<string, HeadRecord>();
  let checkpoint: Checkpoint | null = null;
  let exported = 0;
  let begunBefore2 = 0;
  if (brandKey !== undefined) {
    const latestBlock = (await rpc("eth_getBlockByNumber", ["latest", false])) as { timestamp?: string } | null;
    const exportStart = Math.max(Math.floor(Date.now() / 1000), latestBlock?.timestamp ? Number(BigInt(latestBlock.timestamp)) : 0);
    let response: Response;
    try {
      response = await fetch(`${api}/api/v1/audit/events`, { headers: { authorization: `Bearer ${brandKey}` } });
    } catch (error) {
      throw new CannotCheck(`cannot reach ${api}: ${(error as Error).message}`);
    }
    if (!response.ok) throw new CannotCheck(`the brand export answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
    await eachLine(response, (line, number) => {
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        problems.push({ where: `export line ${number}`, message: "is not JSON", found: line.slice(0, 120) });
        return;
      }
      try {
        if (isObject(record) && "checkpoint" in record) {
          if (checkpoint !== null) problems.push({ where: `export line ${number}`, message: "a second checkpoint" });
          else checkpoint = checkCheckpoint(record.checkpoint as Checkpoint);
        } else if (isObject(record) && "heads" in record) checkHead(record.heads as HeadRecord, number);
        else {
          exported++;
          checkEvent(record as ExportEvent);
        }
      } catch (error) {
        problems.push({ where: `export line ${number}`, message: `is not a record of the export: ${(error as Error).message}`, found: line.slice(0, 120) });
      }
    });
    progress(`export: ${exported} events of the brand checked`);
    checkChains();
    await checkFresh(exportStart);
  }

  /** An event: its hash, its commitments, and each of its links (recorded for the chains' checks). */
  function checkEvent(record: ExportEvent): void {
    const where = `event ${record.eventId} (${record.id})`;
    const computed = eventHash(record.event);
    if (computed !== record.eventHash)
      problems.push({
        where,
        message: "its content no longer hashes to the hash it was sealed with (changed after sealing)",
        expected: record.eventHash,
        found: computed,
      });
    const bottles = [...new Set(record.links.map((l) => l.link.serial).filter(isBottleChain))].sort();
    const codes = record.event.codes;
    let named: string[];
    if (Array.isArray(codes)) {
      named = codes.map(String); // an event stored before format 2 lists its bottles
    } else {
      // A format-2 event commits to its bottles: the members given must recompute its codes root.
      const members = record.members;
      const commitment = codes as { root?: unknown; count?: unknown } | null;
      if (!Array.isArray(members)) {
        problems.push({ where, message: "a format-2 event comes without its members, so its commitment to its bottles cannot be checked" });
        named = bottles;
      } else {
        named = members.map((m) => m.serial);
        // An event naming no bottle (an EPCIS event only its brand's log records) commits to zero.
        const root = members.length === 0 ? ZERO_HASH : new MerkleTree(members.map((m) => memberLeaf(m.salt, m.serial))).root;
        if (root !== commitment?.root)
          problems.push({
            where,
            message: "its members do not recompute the root its codes commit to (a bottle was added, left out or changed)",
            expected: String(commitment?.root),
            found: String(root),
          });
        if (commitment?.count !== members.length)
          problems.push({
            where,
            message: "it commits to another number of bottles than its members",
            expected: String(commitment?.count),
            found: String(members.length),
          });
      }
    }
    const namedSet = [...new Set(named)].sort();
    if (namedSet.length !== named.length) problems.push({ where, message: "it names a bottle twice" });
    for (const serial of namedSet)
      if (!bottles.includes(serial)) problems.push({ where, message: `it names bottle ${serial}, but no link of that bottle points at it` });
    for (const serial of bottles)
      if (!namedSet.includes(serial)) problems.push({ where, message: `bottle ${serial} has a link to it, but the event does not name that bottle` });
    if (isHash(record.event.epcis)) {
      const digest = record.epcis === undefined ? "no EPCIS body" : epcisDigest(record.epcis.event, record.epcis.context ?? null);
      if (digest !== record.event.epcis)
        problems.push({ where, message: "its EPCIS body and @context do not recompute the digest it commits to", expected: record.event.epcis, found: digest });
    }

    for (const l of record.links) {
      const chain = l.link.serial;
      const what = `${label(chain)} link ${l.link.n}`;
      if (l.link.event !== record.eventHash)
        problems.push({ where: `${where}, ${what}`, message: "the link points at another event hash", expected: record.eventHash, found: l.link.event });
      const hash = linkHash(l.link);
      if (hash !== l.linkHash)
        problems.push({ where: `${where}, ${what}`, message: "the link's content does not match its linkHash", expected: hash, found: l.linkHash });
      if (!chains.has(chain)) chains.set(chain, { links: new Map() });
      const exportedChain = chains.get(chain)!;
      const before = exportedChain.links.get(l.link.n);
      if (before !== undefined) {
        problems.push({ where: `${label(chain)} link ${l.link.n}`, message: `appears twice in the export (${before.where} and ${where})` });
        continue;
      }
      if (l.identity !== undefined) exportedChain.identity = l.identity;
      // Whether the link is in a format-2 batch the registry holds (which the chain and the API's
      // recomputed roots say, not the export): its chain must then have a head record.
      const onChainBatch = l.batch !== null && chainBySeq.has(l.batch.seq);
      const headed = onChainBatch && bySeq.get(l.batch!.seq)?.format === 2;
      exportedChain.links.set(l.link.n, { prev: l.link.prev, linkHash: hash, batchSeq: l.batch?.seq ?? null, headed, where });
      // Every batch the registry held was read before the export began: their leaves must not include
      // a link the export shows as not anchored there (checked as the leaves are read).
      if (!onChainBatch) unanchoredLeaves.set(leafOf(hash), `${where}, ${what}`);
      if (l.batch === null) continue;
      if (!bySeq.has(l.batch.seq)) problems.push({ where: `${where}, ${what}`, message: `names batch ${l.batch.seq}, which the API does not list` });

      // Its leaf leads to the batch's links root; a format-2 root is node(linksRoot, headsRoot, depth).
      const leaf = leafOf(hash);
      const batch = l.batch;
      const chainRoot = chainBySeq.get(batch.seq)?.root;
      if (!expectedLeaves.has(batch.seq)) expectedLeaves.set(batch.seq, new Map());
      expectedLeaves.get(batch.seq)!.set(batch.leafIndex, { leaf, what });
      if (chainRoot !== undefined && batch.root !== chainRoot)
        problems.push({
          where: `${where}, ${what}`,
          message: `names another root for batch ${batch.seq} than the chain holds`,
          expected: chainRoot,
          found: batch.root,
        });
      if (batch.format === 2) {
        let composed: string;
        try {
          composed = batchRoot(batch.linksRoot as Hash, batch.headsRoot as Hash, batch.headsDepth!);
        } catch (error) {
          composed = (error as Error).message;
        }
        if (composed !== (chainRoot ?? batch.root))
          problems.push({
            where: `${where}, ${what}`,
            message: `batch ${batch.seq}'s root is not node(linksRoot, headsRoot, headsDepth)`,
            expected: chainRoot ?? batch.root,
            found: composed,
          });
      }
      const target = batch.format === 2 ? batch.linksRoot : (chainRoot ?? batch.root);
      const reached = batch.proof.every(isHash) ? processProof(leaf, batch.proof) : "malformed proof";
      if (reached !== target)
        problems.push({
          where: `${where}, ${what}`,
          message: `its Merkle proof does not lead to batch ${batch.seq}'s ${batch.format === 2 ? "links root" : "root on chain"}`,
          expected: String(target),
          found: reached,
        });
    }
  }

  /** The checkpoint: a format-2 batch the trusted registry holds, whose root is node(linksRoot, headsRoot, depth). */
  function checkCheckpoint(c: Checkpoint): Checkpoint {
    const where = `checkpoint (batch ${c.seq})`;
    const chainRoot = chainBySeq.get(c.seq)?.root;
    if (chainRoot === undefined) problems.push({ where, message: `registry ${registry} holds no batch ${c.seq}` });
    else if (c.root !== chainRoot) problems.push({ where, message: "its root differs from the chain's", expected: chainRoot, found: c.root });
    let composed: string;
    try {
      composed = batchRoot(c.linksRoot as Hash, c.headsRoot as Hash, c.headsDepth);
    } catch (error) {
      composed = (error as Error).message;
    }
    if (composed !== (chainRoot ?? c.root))
      problems.push({ where, message: "its root is not node(linksRoot, headsRoot, headsDepth)", expected: chainRoot ?? c.root, found: composed });
    return c;
  }

  /** A head record: proven in the checkpoint's heads map. */
  function checkHead(head: HeadRecord, number: number): void {
    const where = `${label(head.chain)} head record`;
    if (heads.has(head.chain)) {
      problems.push({ where, message: `appears twice in the export (line ${number})` });
      return;
    }
    heads.set(head.chain, head);
    const c = checkpoint as Checkpoint | null;
    if (c === null) {
      problems.push({ where, message: "comes without a checkpoint to check it against" });
      return;
    }
    if (head.seq !== c.seq) {
      problems.push({ where, message: "is for another batch than the checkpoint", expected: String(c.seq), found: String(head.seq) });
      return;
    }
    if (!Array.isArray(head.proof) || head.proof.length !== c.headsDepth || !head.proof.every(isHash) || !isHash(head.linkHash)) {
      problems.push({
        where,
        message: `a proof in batch ${c.seq}'s heads map is ${c.headsDepth} hashes`,
        expected: String(c.headsDepth),
        found: String(head.proof?.length),
      });
      return;
    }
    let reached: string;
    try {
      reached = processHeadProof(head.index, headLeaf(head.index, head.n, head.linkHash), head.proof);
    } catch (error) {
      reached = (error as Error).message;
    }
    if (reached !== c.headsRoot)
      problems.push({ where, message: `its proof does not lead to batch ${c.seq}'s heads root`, expected: c.headsRoot, found: reached });
  }

  /** Each chain: links 1…k from its genesis, and its last link sealed by the checkpoint is its proven head. */
  function checkChains(): void {
    const c = checkpoint as Checkpoint | null;
    for (const [key, chain] of chains) {
      const name = label(key);
      const last = Math.max(...chain.links.keys());
      for (let n = 1; n <= last; n++) {
        const link = chain.links.get(n);
        if (link === undefined) {
          problems.push({ where: name, message: `link ${n} is missing from the export (its links must run 1…${last})` });
          continue;
        }
        if (n > 1) {
          const previous = chain.links.get(n - 1);
          if (previous !== undefined && link.prev !== previous.linkHash)
            problems.push({
              where: `${name} link ${n}`,
              message: "prev is not link n − 1's linkHash (the chain is broken)",
              expected: previous.linkHash,
              found: link.prev,
            });
        } else if (link.prev === ZERO_HASH) {
          begunBefore2++; // a chain begun before format 2: its first link commits to nothing
        } else if (chain.identity === undefined) {
          problems.push({ where: `${name} link 1`, message: "its prev commits to an identity the export does not give" });
        } else {
          const identity = chain.identity;
          const expected = genesis(identity);
          if (link.prev !== expected)
            problems.push({
              where: `${name} link 1`,
              message: "its prev is not the genesis of the chain's identity (brand, GTIN, lot, serial, index)",
              expected,
              found: link.prev,
            });
          if (("log" in identity ? identity.log : identity.serial) !== key)
            problems.push({ where: `${name} link 1`, message: "its identity names another chain", found: JSON.stringify(identity) });
        }
      }
      const head = heads.get(key);
      const headed = c !== null && [...chain.links.values()].some((l) => l.headed && l.batchSeq !== null && l.batchSeq <= c.seq);
      if (head === undefined) {
        if (headed)
          problems.push({
            where: name,
            message: `has links in anchored format-2 batches, but the export gives no head record for it in batch ${c!.seq}'s heads map`,
          });
        continue;
      }
      if (c === null) continue;
      if (chain.identity !== undefined && head.index !== chain.identity.index) {
        problems.push({
          where: `${name} head record`,
          message: "is at another index of the heads map than the chain's identity",
          expected: String(chain.identity.index),
          found: String(head.index),
        });
      }
      const sealed = [...chain.links.entries()]
        .filter(([, l]) => l.batchSeq !== null && l.batchSeq <= c.seq)
        .sort(([a], [b]) => a - b)
        .at(-1);
      if (sealed === undefined) {
        problems.push({
          where: name,
          message: `batch ${c.seq}'s heads map records link ${head.n} as its last, but the export has no link of it sealed by then`,
        });
      } else if (head.n !== sealed[0] || head.linkHash !== sealed[1].linkHash) {
        problems.push({
          where: name,
          message: `batch ${c.seq}'s heads map records link ${head.n} as its last; the export's last link sealed by then is link ${sealed[0]}${head.n > sealed[0] ? ": links were left out of the export" : ""}`,
          expected: `link ${head.n} ${head.linkHash}`,
          found: `link ${sealed[0]} ${sealed[1].linkHash}`,
        });
      }
    }
    for (const key of heads.keys())
      if (!chains.has(key)) problems.push({ where: label(key), message: "has a head record, but none of its links is in the export" });
    const anyHeaded = [...chains.values()].some((chain) => [...chain.links.values()].some((l) => l.headed));
    if (c === null && anyHeaded)
      problems.push({
        where: "export",
        message: "ends without a checkpoint, though it has links anchored in format-2 batches: completeness cannot be checked",
      });
  }

  /** The checkpoint must be the latest format-2 batch when the export began, give or take --max-age. */
  async function checkFresh(exportStart: number): Promise<void> {
    const after = (checkpoint as Checkpoint | null)?.seq ?? 0;
    // Every batch after a format-2 batch is of format 2; without a checkpoint, the first format-2 batch.
    const newer = onChain.find((b) => b.seq > after && (after > 0 || bySeq.get(b.seq)?.format === 2));
    if (newer === undefined) return;
    const anchoring = await findAnchoring(rpc, registry, newer.seq, { hint: newer.blockNumber });
    if (anchoring !== null && exportStart - anchoring.blockTime > maxAge) {
      problems.push({
        where: "export",
        message: `its checkpoint is ${after === 0 ? "missing" : `batch ${after}`}, but the registry has held batch ${newer.seq} since ${new Date(anchoring.blockTime * 1000).toISOString()}, more than ${maxAge} s before the export began: what that batch sealed may be left out`,
      });
    }
  }

  // 3. Every batch's leaves, recomputed into its root (format 2: into its links root).
  let leavesVerified = 0;
  let batchesVerified = 0;
  for (const batch of onChain.filter((b) => b.seq >= from)) {
    const listedBatch = bySeq.get(batch.seq);
    if (listedBatch === undefined) continue;
    const where = `batch ${batch.seq}`;
    const leaves = await leavesOf(api, batch.seq);
    if (typeof leaves === "string") {
      problems.push({ where, message: `its leaves could not be fetched (${leaves})` });
      continue;
    }
    if (leaves.length !== batch.leafCount)
      problems.push({
        where,
        message: "the API serves another number of leaves than the chain records (a leaf was dropped or added)",
        expected: String(batch.leafCount),
        found: String(leaves.length),
      });
    const malformed = leaves.findIndex((leaf) => !isHash(leaf));
    if (malformed >= 0) {
      problems.push({ where: `${where} leaf ${malformed}`, message: "is not a 32-byte hash", found: leaves[malformed]! });
      continue;
    }
    const computed = leaves.length === 0 ? null : new MerkleTree(leaves as Hash[]).root;
    const format2 = listedBatch.format === 2;
    const expected = format2 ? listedBatch.linksRoot! : batch.root;
    const matches = computed === expected;
    if (!matches) {
      problems.push({
        where,
        message: `the ${format2 ? "links root" : "root"} recomputed from its ${leaves.length} leaves differs from the ${format2 ? "batch's (whose node with its heads root is the chain's root)" : "chain's"}`,
        expected,
        found: computed ?? "no leaves",
      });
    }
    leaves.forEach((leaf, index) => {
      const what = unanchoredLeaves.get(leaf);
      if (what !== undefined)
        problems.push({
          where: what,
          message: `the export shows this link as not anchored, but its leaf is leaf ${index} of batch ${batch.seq}, which the registry holds`,
        });
    });
    for (const [index, { leaf, what }] of expectedLeaves.get(batch.seq) ?? []) {
      if (leaves[index] !== leaf)
        problems.push({ where: `${where} leaf ${index}`, message: `differs from ${what}`, expected: leaf, found: leaves[index] ?? "missing" });
    }
    leavesVerified += leaves.length;
    batchesVerified++;
    progress(`batch ${batch.seq}: ${leaves.length} leaves ${matches ? "match the chain" : "DO NOT match the chain"}${format2 ? " (format 2)" : ""}`);
  }

  // 4. Bottles' proof bundles, as the brand (or a consumer) receives them: valid, and the export's.
  let bundles = 0;
  if (brandKey !== undefined) {
    const serials = [...chains.keys()].filter(isBottleChain);
    const picked = values.full ? serials : serials.sort(() => Math.random() - 0.5).slice(0, sample);
    const c = checkpoint as Checkpoint | null;
    for (const serial of picked) {
      const where = `bottle ${serial} bundle`;
      const response = await fetchBundle(api, serial, brandKey);
      if (response instanceof Error || !response.ok) {
        problems.push({ where, message: `could not be fetched (${response instanceof Error ? response.message : `HTTP ${response.status}`})` });
        continue;
      }
      let bundle: unknown;
      try {
        bundle = await response.json();
      } catch {
        problems.push({ where, message: "is not JSON" });
        continue;
      }
      bundles++;
      const verdict = verifyBundle(bundle);
      for (const p of verdict.problems)
        problems.push({
          where: `${where} ${p.path}`,
          message: p.message,
          ...(p.expected ? { expected: p.expected } : {}),
          ...(p.found ? { found: p.found } : {}),
        });
      const b = bundle as {
        chain?: { chainId: number; registry: string };
        links?: { linkHash?: string; anchor?: { seq?: number } | null }[];
        head?: { seq: number; n: number; linkHash: string } | null;
      };
      if (isObject(b.chain) && Number.isSafeInteger(b.chain.chainId) && typeof b.chain.registry === "string") {
        const onChainCheck = await checkOnChain(
          rpc,
          { chainId: trustedChainId, registry, maxAgeSeconds: maxAge, now: Math.floor(Date.now() / 1000) },
          b.chain,
          verdict,
        );
        for (const p of onChainCheck.problems)
          problems.push({
            where: `${where} ${p.path}`,
            message: p.message,
            ...(p.expected ? { expected: p.expected } : {}),
            ...(p.found ? { found: p.found } : {}),
          });
      }

      // The bundle and the export show the same history: the same links, and the same head.
      const links = Array.isArray(b.links) ? b.links : [];
      const exportedLinks = chains.get(serial)!.links;
      const exportedCount = Math.max(...exportedLinks.keys());
      links.slice(0, exportedCount).forEach((l, i) => {
        const theirs = exportedLinks.get(i + 1);
        if (theirs !== undefined && l?.linkHash !== theirs.linkHash)
          problems.push({ where, message: `its link ${i + 1} differs from the export's`, expected: theirs.linkHash, found: String(l?.linkHash) });
        const seq = l?.anchor?.seq;
        if (theirs !== undefined && seq !== undefined && theirs.batchSeq !== null && seq !== theirs.batchSeq) {
          problems.push({ where, message: `its link ${i + 1} claims another batch than the export's`, expected: String(theirs.batchSeq), found: String(seq) });
        }
      });
      if (links.length < exportedCount)
        problems.push({
          where,
          message: `stops at link ${links.length}, but the export has ${exportedCount} links of bottle ${serial}: links were left out of the bundle`,
          expected: String(exportedCount),
          found: String(links.length),
        });
      links.slice(exportedCount).forEach((l, i) => {
        // Links newer than the export are fine; one sealed by the checkpoint should have been exported.
        const seq = l?.anchor?.seq;
        if (c !== null && seq !== undefined && seq <= c.seq)
          problems.push({ where, message: `shows link ${exportedCount + i + 1}, anchored in batch ${seq}, which the export leaves out` });
      });
      const head = heads.get(serial);
      if (b.head === null || b.head === undefined) {
        if (head !== undefined)
          problems.push({ where, message: `carries no head proof, but batch ${head.seq}'s heads map records link ${head.n} as bottle ${serial}'s last` });
      } else if (head !== undefined) {
        // A head proof in an older batch is as good as the checkpoint's when it proves the same head
        // (the bottle has not moved since: a service may serve a bundle cached that long); one that
        // proves an older head hides the links after it.
        const sameHead = b.head.n === head.n && b.head.linkHash === head.linkHash;
        if (b.head.seq < head.seq && !sameHead) {
          problems.push({
            where,
            message: `its head proof is in batch ${b.head.seq}, older than the export's checkpoint (batch ${head.seq}), and proves another head`,
            expected: `link ${head.n} ${head.linkHash}`,
            found: `link ${b.head.n} ${b.head.linkHash}`,
          });
        } else if (b.head.seq === head.seq && !sameHead) {
          problems.push({
            where,
            message: `its head differs from the export's head record in batch ${head.seq}`,
            expected: `link ${head.n} ${head.linkHash}`,
            found: `link ${b.head.n} ${b.head.linkHash}`,
          });
        }
      } else if (c !== null && b.head.seq <= c.seq) {
        problems.push({ where, message: `has a head proof in batch ${b.head.seq}, but the export gives no head record for bottle ${serial}` });
      }
    }
  } else {
    progress("no --brand-key: the brand's export and its bottles' bundles were not checked");
  }

  const completeness =
    checkpoint === null
      ? ""
      : `, ${heads.size} chains complete as of batch ${(checkpoint as Checkpoint).seq}${begunBefore2 > 0 ? ` (${begunBefore2} begun before format 2: identity not bound)` : ""}`;
  const extra = brandKey !== undefined ? `, ${exported} events${completeness} and ${bundles} bottle bundles of the brand` : "";
  const code = report(
    problems,
    `AUDIT PASSED: ${batchesVerified} batches, ${leavesVerified} leaves verified against registry ${registry} on chain ${chainId}${extra}`,
  );
  if (code === 0 && values.state !== undefined) {
    const roots: Record<string, string> = { ...(state?.roots ?? {}) };
    for (const batch of onChain) roots[String(batch.seq)] = batch.root;
    await writeState(values.state, {
      format: STATE_FORMAT,
      chainId,
      registry,
      latestSeq: Math.max(state?.latestSeq ?? 0, onChain.at(-1)?.seq ?? 0),
      roots,
      successions: [...(state?.successions ?? []), ...successions],
      checkedAt: new Date().toISOString(),
    });
    progress(`state: ${onChain.length} roots of registry ${registry} remembered in ${values.state}`);
  }
  return code;
}

/** Prints the outcome: every discrepancy (exit 1), or the summary (exit 0). */
function report(problems: Discrepancy[], passed: string): number {
  if (problems.length > 0) {
    console.log(`AUDIT FAILED: ${problems.length} discrepanc${problems.length === 1 ? "y" : "ies"}`);
    for (const p of problems) {
      const diff = p.expected !== undefined || p.found !== undefined ? ` (expected ${p.expected ?? "—"}, found ${p.found ?? "—"})` : "";
      console.log(`  ${p.where}: ${p.message}${diff}`);
    }
    return 1;
  }
  console.log(passed);
  return 0;
}

runMain("audit", USAGE, audit);
