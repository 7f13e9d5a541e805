/**
 * npm run audit -- --api URL --rpc URL [--registry ADDR] [--from SEQ] [--brand-key KEY] [--full] [--sample N]
 *
 * An auditor's independent check of a SealTrace deployment. It trusts only the chain: it reads every
 * BatchAnchored event of the registry, checks that batch numbers run 1, 2, 3 … with no gap on chain
 * and in the API, downloads every batch's leaves and recomputes each root (service/core only, none of
 * the service's own code paths), and compares roots and leaf counts. With a brand's API key it also
 * checks the brand's whole export (every event's hash, link and proof) and verifies a sample (or, with
 * --full, all) of its bottles' proof bundles. Exit 0 with a summary; 1 with every discrepancy; 2 for
 * usage errors or an unreachable API or chain.
 */
import { parseArgs } from "node:util";
import { Interface, JsonRpcProvider, type Log } from "ethers";
import { verifyBundle, type ProofBundle } from "../service/core/bundle.ts";
import { isHash, type Hash } from "../service/core/hash.ts";
import { eventHash, isBottleChain, leafOf, linkHash, type CanonicalEvent, type Link } from "../service/core/links.ts";
import { MerkleTree, processProof } from "../service/core/merkle.ts";
import { ANCHOR_REGISTRY_ABI } from "../service/core/registry-abi.ts";

const USAGE = "usage: npm run audit -- --api URL --rpc URL [--registry ADDR] [--from SEQ] [--brand-key KEY] [--full] [--sample N]";
const LOG_CHUNK_BLOCKS = 50_000;

class UsageError extends Error {}

interface Discrepancy { where: string; message: string; expected?: string; found?: string }
interface ChainBatch { seq: number; root: Hash; leafCount: number; txHash: string; blockNumber: number }
interface ApiBatch { seq: number; root: string; leafCount: number; status: string; txHash: string | null; blockNumber: number | null }
interface ExportLink { link: Link; linkHash: string; leaf: string; batch: { seq: number; leafIndex: number; root: string; proof: Hash[] } | null }
interface ExportRecord { eventId: string; id: string; event: CanonicalEvent; eventHash: string; links: ExportLink[] }

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { headers });
  } catch (error) {
    throw new UsageError(`cannot reach ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new UsageError(`${url} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  return (await response.json()) as T;
}

/** Every BatchAnchored event of the registry, read from the chain in block ranges. */
async function chainBatches(provider: JsonRpcProvider, registry: string): Promise<ChainBatch[]> {
  const iface = new Interface(ANCHOR_REGISTRY_ABI);
  const topic = iface.getEvent("BatchAnchored")!.topicHash;
  const latest = await provider.getBlockNumber();
  const logs: Log[] = [];
  for (let from = 0; from <= latest; from += LOG_CHUNK_BLOCKS) {
    logs.push(...await provider.getLogs({ address: registry, topics: [topic], fromBlock: from, toBlock: Math.min(latest, from + LOG_CHUNK_BLOCKS - 1) }));
  }
  return logs.map((log) => {
    const parsed = iface.parseLog(log)!;
    return { seq: Number(parsed.args.seq), root: (parsed.args.root as string).toLowerCase() as Hash, leafCount: Number(parsed.args.leafCount), txHash: log.transactionHash, blockNumber: log.blockNumber };
  });
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

/** Calls `onLine` for each non-empty line of a streamed response body. */
async function eachLine(response: Response, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of response.body!) {
    rest += decoder.decode(chunk as Uint8Array, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) if (line.trim()) onLine(line);
  }
  if (rest.trim()) onLine(rest);
}

/** A batch's leaves (one hex leaf per line). */
async function leavesOf(api: string, seq: number): Promise<string[]> {
  const response = await fetch(`${api}/api/v1/batches/${seq}/leaves`);
  if (!response.ok) throw new Error(`leaves of batch ${seq}: HTTP ${response.status}`);
  const leaves: string[] = [];
  await eachLine(response, (line) => leaves.push(line));
  return leaves;
}

async function exportRecords(api: string, brandKey: string, onRecord: (record: ExportRecord) => void): Promise<void> {
  const response = await fetch(`${api}/api/v1/audit/events`, { headers: { authorization: `Bearer ${brandKey}` } });
  if (!response.ok) throw new UsageError(`the brand export answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  await eachLine(response, (line) => onRecord(JSON.parse(line) as ExportRecord));
}

function contiguous(seqs: number[], where: string, problems: Discrepancy[]): void {
  seqs.forEach((seq, i) => {
    if (seq !== i + 1) problems.push({ where, message: seq > i + 1 ? `batch ${i + 1} is missing (numbers must run 1, 2, 3 … with no gap)` : `batch ${seq} appears twice`, expected: String(i + 1), found: String(seq) });
  });
}

async function audit(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      api: { type: "string" }, rpc: { type: "string" }, registry: { type: "string" }, from: { type: "string" },
      "brand-key": { type: "string" }, full: { type: "boolean", default: false }, sample: { type: "string" }, help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) { console.log(USAGE); return 0; }
  if (!values.api || !values.rpc) throw new UsageError("--api and --rpc are required");
  const api = values.api.replace(/\/+$/, "");
  const from = values.from === undefined ? 1 : Number(values.from);
  const sample = values.sample === undefined ? 20 : Number(values.sample);
  if (!Number.isInteger(from) || from < 1) throw new UsageError("--from must be a batch number ≥ 1");
  if (!Number.isInteger(sample) || sample < 0) throw new UsageError("--sample must be a whole number");

  const problems: Discrepancy[] = [];
  const info = await getJson<{ chainId: number; registry: string }>(`${api}/api/v1/chain`);
  const registry = (values.registry ?? info.registry).toLowerCase();
  if (registry !== info.registry.toLowerCase()) problems.push({ where: "chain", message: "the API names another registry than the one audited", expected: registry, found: info.registry });
  const provider = new JsonRpcProvider(values.rpc, undefined, { staticNetwork: true, batchMaxCount: 1 });
  try {
    let chainId: number;
    try {
      chainId = Number((await provider.getNetwork()).chainId);
    } catch (error) {
      throw new UsageError(`cannot reach the chain at ${values.rpc}: ${(error as Error).message}`);
    }
    if (chainId !== info.chainId) problems.push({ where: "chain", message: "the RPC serves another chain than the API names", expected: String(info.chainId), found: String(chainId) });

    // 1. The chain's record, and the API's, each numbered without gaps.
    const onChain = await chainBatches(provider, registry);
    progress(`chain: ${onChain.length} batches anchored on registry ${registry}`);
    contiguous(onChain.map((b) => b.seq), "chain", problems);
    const listed = await apiBatches(api);
    progress(`api: ${listed.length} batches listed`);
    contiguous(listed.map((b) => b.seq), "api", problems);
    const bySeq = new Map(listed.map((b) => [b.seq, b]));
    const chainBySeq = new Map(onChain.map((b) => [b.seq, b]));
    for (const batch of onChain) {
      const listedBatch = bySeq.get(batch.seq);
      if (listedBatch === undefined) { problems.push({ where: `batch ${batch.seq}`, message: "is anchored on chain but missing from the API", expected: batch.root }); continue; }
      if (listedBatch.root !== batch.root) problems.push({ where: `batch ${batch.seq}`, message: "the API's root differs from the chain's", expected: batch.root, found: listedBatch.root });
      if (listedBatch.leafCount !== batch.leafCount) problems.push({ where: `batch ${batch.seq}`, message: "the API's leaf count differs from the chain's", expected: String(batch.leafCount), found: String(listedBatch.leafCount) });
      if (listedBatch.status === "anchored" && listedBatch.txHash?.toLowerCase() !== batch.txHash.toLowerCase()) {
        problems.push({ where: `batch ${batch.seq}`, message: "the API names another anchoring transaction", expected: batch.txHash, found: listedBatch.txHash ?? "none" });
      }
    }
    for (const batch of listed) {
      if (batch.status === "anchored" && !chainBySeq.has(batch.seq)) problems.push({ where: `batch ${batch.seq}`, message: "the API says it is anchored, but the registry holds no such batch" });
    }

    // 2. The brand's export, if we have its key: every event, link and proof, and where each leaf sits.
    const expectedLeaves = new Map<number, Map<number, { leaf: string; what: string }>>();
    const serials = new Set<string>();
    let exported = 0;
    if (values["brand-key"]) {
      await exportRecords(api, values["brand-key"], (record) => {
        exported++;
        const where = `event ${record.eventId} (${record.id})`;
        const computed = eventHash(record.event);
        if (computed !== record.eventHash) problems.push({ where, message: "its content no longer hashes to the hash it was sealed with (changed after sealing)", expected: record.eventHash, found: computed });
        for (const l of record.links) {
          // chains that are not bottles (a brand's EPCIS log) have no bottle bundle
          if (isBottleChain(l.link.serial)) serials.add(l.link.serial);
          const what = `bottle ${l.link.serial} link ${l.link.n}`;
          if (l.link.event !== record.eventHash) problems.push({ where: `${where}, ${what}`, message: "the link points at another event hash", expected: record.eventHash, found: l.link.event });
          const hash = linkHash(l.link);
          if (hash !== l.linkHash) problems.push({ where: `${where}, ${what}`, message: "the link's content does not match its linkHash", expected: hash, found: l.linkHash });
          const leaf = leafOf(hash);
          if (l.batch === null) continue;
          const chainRoot = chainBySeq.get(l.batch.seq)?.root;
          if (!expectedLeaves.has(l.batch.seq)) expectedLeaves.set(l.batch.seq, new Map());
          expectedLeaves.get(l.batch.seq)!.set(l.batch.leafIndex, { leaf, what });
          if (chainRoot !== undefined && (!l.batch.proof.every(isHash) || processProof(leaf, l.batch.proof) !== chainRoot)) {
            problems.push({ where: `${where}, ${what}`, message: `its Merkle proof does not lead to batch ${l.batch.seq}'s root on chain`, expected: chainRoot, found: l.batch.proof.every(isHash) ? processProof(leaf, l.batch.proof) : "malformed proof" });
          }
        }
      });
      progress(`export: ${exported} events of the brand checked`);
    }

    // 3. Every batch's leaves, recomputed into its root.
    let leavesVerified = 0;
    let batchesVerified = 0;
    for (const batch of onChain.filter((b) => b.seq >= from)) {
      if (!bySeq.has(batch.seq)) continue;
      const leaves = await leavesOf(api, batch.seq);
      const where = `batch ${batch.seq}`;
      if (leaves.length !== batch.leafCount) problems.push({ where, message: "the API serves another number of leaves than the chain records (a leaf was dropped or added)", expected: String(batch.leafCount), found: String(leaves.length) });
      const malformed = leaves.findIndex((leaf) => !isHash(leaf));
      if (malformed >= 0) { problems.push({ where: `${where} leaf ${malformed}`, message: "is not a 32-byte hash", found: leaves[malformed]! }); continue; }
      const root = leaves.length === 0 ? null : new MerkleTree(leaves as Hash[]).root;
      if (root !== batch.root) problems.push({ where, message: `the root recomputed from its ${leaves.length} leaves differs from the chain's`, expected: batch.root, found: root ?? "no leaves" });
      for (const [index, { leaf, what }] of expectedLeaves.get(batch.seq) ?? []) {
        if (leaves[index] !== leaf) problems.push({ where: `${where} leaf ${index}`, message: `differs from ${what}`, expected: leaf, found: leaves[index] ?? "missing" });
      }
      leavesVerified += leaves.length;
      batchesVerified++;
      progress(`batch ${batch.seq}: ${leaves.length} leaves ${root === batch.root ? "match the chain" : "DO NOT match the chain"}`);
    }

    // 4. Bottles' proof bundles, as the brand (or a consumer) receives them.
    let bundles = 0;
    if (values["brand-key"]) {
      const chosen = [...serials];
      const picked = values.full ? chosen : chosen.sort(() => Math.random() - 0.5).slice(0, sample);
      for (const serial of picked) {
        const bundle = await getJson<ProofBundle>(`${api}/api/v1/items/${encodeURIComponent(serial)}/proof`, { authorization: `Bearer ${values["brand-key"]}` });
        const verdict = verifyBundle(bundle);
        for (const p of verdict.problems) problems.push({ where: `bottle ${serial} bundle ${p.path}`, message: p.message, ...(p.expected ? { expected: p.expected } : {}), ...(p.found ? { found: p.found } : {}) });
        for (const { seq, root } of verdict.roots) {
          const chainRoot = chainBySeq.get(seq)?.root;
          if (chainRoot !== root) problems.push({ where: `bottle ${serial} bundle`, message: `claims a root for batch ${seq} the registry does not hold`, expected: chainRoot ?? "no batch", found: root });
        }
        bundles++;
      }
    } else {
      progress("no --brand-key: the brand's export and its bottles' bundles were not checked");
    }

    if (problems.length > 0) {
      console.log(`AUDIT FAILED: ${problems.length} discrepanc${problems.length === 1 ? "y" : "ies"}`);
      for (const p of problems) {
        const diff = p.expected !== undefined || p.found !== undefined ? ` (expected ${p.expected ?? "—"}, found ${p.found ?? "—"})` : "";
        console.log(`  ${p.where}: ${p.message}${diff}`);
      }
      return 1;
    }
    const extra = values["brand-key"] ? `, ${exported} events and ${bundles} bottle bundles of the brand` : "";
    console.log(`AUDIT PASSED: ${batchesVerified} batches, ${leavesVerified} leaves verified against registry ${registry} on chain ${chainId}${extra}`);
    return 0;
  } finally {
    provider.destroy();
  }
}

audit(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    console.error(`audit: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    process.exitCode = error instanceof UsageError || (error as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? 2 : 1;
  },
);
