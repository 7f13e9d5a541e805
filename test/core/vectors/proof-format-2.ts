/**
 * The worked example of docs/PROOF-FORMAT.md ("Test vectors"), computed with the real code
 * (service/core) from fixed inputs: three bottles of one lot produced in one event, an EPCIS event
 * that moves one of them (and is also the first entry of the brand's EPCIS log), two format-2
 * batches, a heads map of four chains (depth 2), and the first bottle's bundle twice: full (every
 * link with its own Merkle proof, `?proofs=all`) and compact (as the service serves it by default:
 * the head proof covers both links, which keep only their batch number).
 *
 * `buildVectors()` gives every intermediate value under a flat name (`values`), which the doc
 * lists as `name = value` lines and test/core/proof-format.test.ts recomputes independently.
 *
 *   node test/core/vectors/proof-format-2.ts --write    rewrites proof-format-2.json
 *   node test/core/vectors/proof-format-2.ts --markdown prints the doc's vector blocks
 *
 * Regenerating is a change of format: every verifier in the field computes these numbers.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildBundle, verifyBundle, type ProofBundle, type StoredEvent, type Verdict } from "../../../service/core/bundle.ts";
import {
  batchRoot,
  commitCodes,
  commitEvent,
  epcisDigest,
  genesis,
  headLeaf,
  headNode,
  memberLeaf,
  memberSalt,
  TAGS,
  type BottleIdentity,
  type ChainIdentity,
} from "../../../service/core/commitments.ts";
import { canonicalJson, fromHex, toHex, ZERO_HASH, type Hash, type Json } from "../../../service/core/hash.ts";
import { proofFromTiles, updateHeads } from "../../../service/core/heads.ts";
import { tileId } from "../../../service/core/tiles.ts";
import { eventHash, leafOf, linkHash, logKey, nextLink, type CanonicalEvent, type Link } from "../../../service/core/links.ts";
import { hashPair, MerkleTree } from "../../../service/core/merkle.ts";

export const BRAND = "moutai-demo";
export const GTIN = "06901234567892";
export const LOT = "2026-11-A";
export const CHAIN = { chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };

/** The chains, by their short name in the vectors: three bottles and the brand's EPCIS log. */
export const CHAINS: Record<"A" | "B" | "C" | "L", ChainIdentity> = {
  A: { brand: BRAND, gtin: GTIN, lot: LOT, serial: "MT2026A0000001", index: 0 },
  B: { brand: BRAND, gtin: GTIN, lot: LOT, serial: "MT2026A0000002", index: 1 },
  C: { brand: BRAND, gtin: GTIN, lot: LOT, serial: "MT2026A0000003", index: 2 },
  L: { brand: BRAND, log: logKey(BRAND), index: 3 },
};
export type ChainName = keyof typeof CHAINS;
export const keyOf = (name: ChainName): string => {
  const identity = CHAINS[name];
  return "log" in identity ? identity.log : identity.serial;
};

/** E1: the lot's production, as a webhook delivers it (service/ingest/repo.ts `canonicalEvent`). */
export const E1_DRAFT: CanonicalEvent = {
  brand: BRAND,
  id: "prod-2026-11-A-001",
  type: "production",
  codes: ["MT2026A0000001", "MT2026A0000002", "MT2026A0000003"],
  occurredAt: "2026-11-20T08:00:00+08:00",
  receivedAt: "2026-11-20T00:00:01.000Z",
  party: "factory-zunyi",
  salt: "000102030405060708090a0b0c0d0e0f",
  data: { lot: LOT },
};

/** The EPCIS document's @context and the event E2 is captured from (service/epcis/capture.ts). */
export const E2_CONTEXT: Json = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"];
export const E2_EPCIS: Json = {
  type: "ObjectEvent",
  eventID: "urn:uuid:3f0b7d56-6c7e-4b8e-9d0a-2f3c4b5a6d7e",
  eventTime: "2026-11-21T09:30:00.000+08:00",
  eventTimeZoneOffset: "+08:00",
  epcList: ["https://id.gs1.org/01/06901234567892/21/MT2026A0000001"],
  action: "OBSERVE",
  bizStep: "receiving",
  readPoint: { id: "urn:epc:id:sgln:6901234.00002.0" },
  bizLocation: { id: "urn:epc:id:sgln:6901234.00002.0" },
};

/** E2: bottle A received at the warehouse, captured as EPCIS: it joins A's history and the brand's log. */
export const E2_DRAFT: CanonicalEvent = {
  brand: BRAND,
  id: "urn:uuid:3f0b7d56-6c7e-4b8e-9d0a-2f3c4b5a6d7e",
  type: "warehouse_in",
  codes: ["MT2026A0000001"],
  occurredAt: "2026-11-21T09:30:00.000+08:00",
  receivedAt: "2026-11-21T01:30:02.000Z",
  salt: "202122232425262728292a2b2c2d2e2f",
  bizStep: "receiving",
  epcis: E2_EPCIS,
  context: E2_CONTEXT,
  party: "wh-guiyang",
};

/** Each event's codes secret (16 bytes, never published): the bottles' salts are derived from it. */
export const SECRETS = {
  E1: "101112131415161718191a1b1c1d1e1f",
  E2: "303132333435363738393a3b3c3d3e3f",
};

/** Where each batch lands on chain (the bundle shows it; no hash covers it). */
export const ANCHORINGS = [
  { seq: 1, txHash: `0x${"a1".repeat(32)}` as Hash, blockNumber: 101, blockTime: "2026-11-20T00:00:10.000Z" },
  { seq: 2, txHash: `0x${"a2".repeat(32)}` as Hash, blockNumber: 202, blockTime: "2026-11-21T01:30:10.000Z" },
];

const bytes = (hex: string): Uint8Array => fromHex(hex);
const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const hex = (data: Uint8Array): string => Buffer.from(data).toString("hex");
const u64 = (value: number): string => value.toString(16).padStart(16, "0");

export interface Vectors {
  description: string;
  generatedBy: string;
  inputs: {
    chain: typeof CHAIN;
    chains: typeof CHAINS;
    events: { E1: { draft: CanonicalEvent; codesSecret: string }; E2: { draft: CanonicalEvent; codesSecret: string } };
    batches: { seq: number; links: string[]; txHash: Hash; blockNumber: number; blockTime: string }[];
  };
  /** Every intermediate value, by name, in the order the doc lists them. */
  values: Record<string, string>;
  /** The groups of `values` the doc shows, one block each. */
  sections: { title: string; keys: string[] }[];
  bundles: { full: ProofBundle; compact: ProofBundle };
  verdicts: { full: VerdictSummary; compact: VerdictSummary };
}

/** What `verifyBundle` says of a bundle, without its problems (there are none) and notes (none either). */
export type VerdictSummary = Pick<Verdict, "status" | "completeAsOf" | "identityBound" | "linkCount" | "pending" | "timesClaimed" | "roots">;

const summaryOf = (verdict: Verdict): VerdictSummary => {
  const { status, completeAsOf, identityBound, linkCount, pending, timesClaimed, roots } = verdict;
  return { status, completeAsOf, identityBound, linkCount, pending, timesClaimed, roots };
};

/** Computes every vector with service/core. */
export function buildVectors(): Vectors {
  const values: Record<string, string> = {};
  const sections: Vectors["sections"] = [];
  let section: { title: string; keys: string[] } | null = null;
  const open = (title: string): void => {
    section = { title, keys: [] };
    sections.push(section);
  };
  const put = (name: string, value: string | number): void => {
    if (name in values) throw new Error(`vector ${name} is named twice`);
    values[name] = String(value);
    section!.keys.push(name);
  };

  open("Domain-separation tags (ASCII, no terminator)");
  for (const [kind, tag] of Object.entries(TAGS)) {
    put(`tag.${kind}`, `0x${hex(ascii(tag))}`);
    put(`tag.${kind}.length`, ascii(tag).length);
  }

  open("Identities and genesis hashes");
  const genesisOf = new Map<ChainName, Hash>();
  for (const name of Object.keys(CHAINS) as ChainName[]) {
    const identity = CHAINS[name];
    const object: Json =
      "log" in identity
        ? { brand: identity.brand, index: identity.index, log: identity.log }
        : { brand: identity.brand, gtin: identity.gtin, index: identity.index, lot: identity.lot, serial: identity.serial };
    put(`${name}.identity.jcs`, canonicalJson(object));
    put(`${name}.genesis.input`, `0x${hex(ascii(TAGS.genesis))}${hex(ascii(canonicalJson(object)))}`);
    const g = genesis(identity);
    put(`${name}.genesis`, g);
    genesisOf.set(name, g);
  }

  // Events: each bottle's salt and leaf, the codes tree, the EPCIS digest, the stored form and hash.
  const stored = new Map<string, { event: StoredEvent; hash: Hash; members: ReturnType<typeof commitCodes>["members"] }>();
  for (const [name, draft] of [
    ["E1", E1_DRAFT],
    ["E2", E2_DRAFT],
  ] as const) {
    open(`Event ${name}: bottle commitments${name === "E2" ? ", EPCIS digest" : ""}, stored form, hash`);
    const secret = bytes(SECRETS[name]);
    const leaves: Hash[] = [];
    for (const serial of draft.codes) {
      const chainName = (Object.keys(CHAINS) as ChainName[]).find((n) => keyOf(n) === serial)!;
      const salt = memberSalt(secret, serial);
      put(`${name}.${chainName}.salt.input`, `0x${hex(ascii(TAGS.salt))}${SECRETS[name]}${hex(ascii(serial))}`);
      put(`${name}.${chainName}.salt`, salt);
      put(`${name}.${chainName}.leaf.input`, `0x${hex(ascii(TAGS.code))}${salt}${hex(ascii(serial))}`);
      const leaf = memberLeaf(salt, serial);
      put(`${name}.${chainName}.leaf`, leaf);
      leaves.push(leaf);
    }
    if (leaves.length === 3) put(`${name}.codes.node.1.0`, toHex(hashPair(bytes(leaves[0]!), bytes(leaves[1]!))));
    const { codes, members } = commitCodes(secret, draft.codes);
    put(`${name}.codes.root`, codes.root);
    put(`${name}.codes.count`, codes.count);
    draft.codes.forEach((serial) => {
      const chainName = (Object.keys(CHAINS) as ChainName[]).find((n) => keyOf(n) === serial)!;
      const proof = members.get(serial)!.proof;
      put(`${name}.${chainName}.membership.proof`, JSON.stringify(proof));
    });
    if (draft.epcis !== undefined) {
      put(`${name}.epcis.jcs`, canonicalJson({ context: draft.context ?? null, event: draft.epcis }));
      put(`${name}.epcis`, epcisDigest(draft.epcis, draft.context ?? null));
    }
    const { event } = commitEvent(draft, secret);
    put(`${name}.stored.jcs`, canonicalJson(event));
    const hash = eventHash(event);
    put(`${name}.hash`, hash);
    stored.set(name, { event: event as StoredEvent, hash, members });
  }

  // Links of every chain, in the order the ledger writes them.
  open("Links: JCS, link hash, leaf");
  const plan: { chain: ChainName; event: "E1" | "E2"; batch: number }[] = [
    { chain: "A", event: "E1", batch: 1 },
    { chain: "B", event: "E1", batch: 1 },
    { chain: "C", event: "E1", batch: 1 },
    { chain: "A", event: "E2", batch: 2 },
    { chain: "L", event: "E2", batch: 2 },
  ];
  const chainLinks = new Map<ChainName, { link: Link; hash: Hash }[]>();
  for (const step of plan) {
    const previous = chainLinks.get(step.chain)?.at(-1);
    const link = nextLink(
      keyOf(step.chain),
      stored.get(step.event)!.hash,
      previous ? { n: previous.link.n, linkHash: previous.hash } : null,
      genesisOf.get(step.chain),
    );
    const hash = linkHash(link);
    chainLinks.set(step.chain, [...(chainLinks.get(step.chain) ?? []), { link, hash }]);
    const id = `${step.chain}.${link.n}`;
    put(`${id}.jcs`, canonicalJson({ serial: link.serial, n: link.n, event: link.event, prev: link.prev }));
    put(`${id}.linkHash`, hash);
    put(`${id}.leaf`, leafOf(hash));
  }

  // Batches: the links tree, the heads map after it, the root.
  const bundleBatches: ProofBundle["batches"] = [];
  const linkAnchors = new Map<string, { seq: number; proof: Hash[] }>();
  let tiles = new Map<string, Uint8Array>();
  const heads = new Map<number, Hash>();
  const batchInputs: Vectors["inputs"]["batches"] = [];
  let headProofA: Hash[] = [];
  for (const anchoring of ANCHORINGS) {
    const { seq } = anchoring;
    open(`Batch ${seq}: links tree, heads map, root`);
    const members = plan
      .filter((p) => p.batch === seq)
      .map((p) => {
        const n = plan.filter((q) => q.chain === p.chain && q.batch <= seq).length;
        return { name: p.chain, n, ...chainLinks.get(p.chain)![n - 1]! };
      });
    batchInputs.push({ ...anchoring, links: members.map((m) => `${m.name}.${m.n}`) });
    const tree = new MerkleTree(members.map((m) => leafOf(m.hash)));
    if (members.length === 3) put(`batch${seq}.links.node.1.0`, toHex(hashPair(bytes(leafOf(members[0]!.hash)), bytes(leafOf(members[1]!.hash)))));
    put(`batch${seq}.linksRoot`, tree.root);
    members.forEach((m, position) => {
      const proof = tree.proof(position);
      put(`batch${seq}.${m.name}.${m.n}.proof`, JSON.stringify(proof));
      linkAnchors.set(`${m.name}.${m.n}`, { seq, proof });
    });
    put(`batch${seq}.leafCount`, members.length);

    const changed = new Map<number, Hash>();
    for (const m of members) {
      const index = CHAINS[m.name].index;
      put(`batch${seq}.head.${index}.input`, `0x${hex(ascii(TAGS.head))}${u64(index)}${u64(m.n)}${m.hash.slice(2)}`);
      const leaf = headLeaf(index, m.n, m.hash);
      put(`batch${seq}.head.${index}`, leaf);
      changed.set(index, leaf);
      heads.set(index, leaf);
    }
    const depth = 2;
    const leafAt = (i: number): Hash => heads.get(i) ?? ZERO_HASH;
    put(`batch${seq}.heads.node.1.0`, headNode(leafAt(0), leafAt(1)));
    put(`batch${seq}.heads.node.1.1`, headNode(leafAt(2), leafAt(3)));
    const previous = tiles;
    const update = updateHeads((key) => previous.get(tileId(key)), changed, depth);
    tiles = new Map(previous);
    for (const [id, tile] of update.tiles) tiles.set(id, tile.bytes);
    put(`batch${seq}.headsRoot`, update.root);
    put(`batch${seq}.headsDepth`, depth);
    put(`batch${seq}.tile.0/0.entries`, JSON.stringify([0, 1, 2, 3].map((i) => toHex(tiles.get("0/0")!.subarray(i * 32, i * 32 + 32)))));
    put(`batch${seq}.root.input`, `0x${hex(ascii(TAGS.batch))}${tree.root.slice(2)}${update.root.slice(2)}${depth.toString(16).padStart(2, "0")}`);
    const root = batchRoot(tree.root, update.root, depth);
    put(`batch${seq}.root`, root);
    bundleBatches.push({
      seq,
      format: 2,
      root,
      linksRoot: tree.root,
      headsRoot: update.root,
      headsDepth: depth,
      txHash: anchoring.txHash,
      blockNumber: anchoring.blockNumber,
      blockTime: anchoring.blockTime,
    });
    if (seq === 2) {
      headProofA = proofFromTiles(CHAINS.A.index, depth, tiles);
      put("batch2.A.headProof", JSON.stringify(headProofA));
    }
  }

  // A's bundles. Full: both events with A's membership, both links with their proofs, both batches,
  // the head in batch 2. Compact: the head proof covers both links (n ≤ 2), which keep only their
  // batch number, and only the head's batch is listed.
  const a = chainLinks.get("A")!;
  const head = { seq: 2, n: 2, linkHash: a[1]!.hash, proof: headProofA };
  const events = (["E1", "E2"] as const).map((e) => ({ event: stored.get(e)!.event, member: stored.get(e)!.members.get(keyOf("A"))! }));
  const full = buildBundle({
    identity: CHAINS.A as BottleIdentity,
    chain: CHAIN,
    batches: bundleBatches,
    events,
    links: a.map(({ link }) => ({ link, anchor: linkAnchors.get(`A.${link.n}`)! })),
    head,
  });
  const compact = buildBundle({
    identity: CHAINS.A as BottleIdentity,
    chain: CHAIN,
    batches: bundleBatches.filter((b) => b.seq === head.seq),
    events,
    links: a.map(({ link }) => ({ link, anchor: { seq: linkAnchors.get(`A.${link.n}`)!.seq } })),
    head,
  });
  const verdicts = { full: summaryOf(verifyBundle(full)), compact: summaryOf(verifyBundle(compact)) };

  open("Bottle A's bundles: size (bytes of JSON without whitespace), batches listed, verdict");
  for (const [name, bundle] of [
    ["full", full],
    ["compact", compact],
  ] as const) {
    put(`bundle.${name}.bytes`, Buffer.byteLength(JSON.stringify(bundle)));
    put(`bundle.${name}.batches`, JSON.stringify(bundle.batches.map((b) => b.seq)));
    put(`bundle.${name}.status`, verdicts[name].status);
    put(`bundle.${name}.completeAsOf`, verdicts[name].completeAsOf?.seq ?? "null");
    put(`bundle.${name}.timesClaimed`, JSON.stringify(verdicts[name].timesClaimed));
    put(`bundle.${name}.roots`, JSON.stringify(verdicts[name].roots.map((r) => r.seq)));
  }
  return {
    description: "The worked example of docs/PROOF-FORMAT.md: every intermediate value of bottle A's sealtrace-proof/2 bundles, full and compact.",
    generatedBy: "node test/core/vectors/proof-format-2.ts --write",
    inputs: {
      chain: CHAIN,
      chains: CHAINS,
      events: { E1: { draft: E1_DRAFT, codesSecret: SECRETS.E1 }, E2: { draft: E2_DRAFT, codesSecret: SECRETS.E2 } },
      batches: batchInputs,
    },
    values,
    sections,
    bundles: { full: JSON.parse(JSON.stringify(full)) as ProofBundle, compact: JSON.parse(JSON.stringify(compact)) as ProofBundle },
    verdicts: JSON.parse(JSON.stringify(verdicts)) as Vectors["verdicts"],
  };
}

/** The titles of the doc's two bundle blocks (test/core/proof-format.test.ts finds the bundles by them). */
export const BUNDLE_TITLES = {
  full: "Bottle A's full bundle",
  compact: "Bottle A's compact bundle",
} as const;

/** The doc's vector blocks: one `text` block of `name = value` lines per section, then the two bundles. */
export function markdownOf(vectors: Vectors): string {
  const blocks = vectors.sections.map((s) => [`**${s.title}**`, "", "```text", ...s.keys.map((k) => `${k} = ${vectors.values[k]}`), "```"].join("\n"));
  const bundles = (
    [
      ["full", "every anchored link with its own Merkle proof, as `?proofs=all` serves it"],
      ["compact", "as the service serves it by default: the head proof covers both links, which keep only their batch number"],
    ] as const
  ).map(([name, what]) =>
    [`**${BUNDLE_TITLES[name]}** (${what}; \`JSON.stringify(bundle, null, 2)\`)`, "", "```json", JSON.stringify(vectors.bundles[name], null, 2), "```"].join(
      "\n",
    ),
  );
  return [...blocks, ...bundles].join("\n\n");
}

export const VECTORS_FILE = fileURLToPath(new URL("./proof-format-2.json", import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const vectors = buildVectors();
  if (process.argv.includes("--write")) writeFileSync(VECTORS_FILE, `${JSON.stringify(vectors, null, 2)}\n`);
  if (process.argv.includes("--markdown")) process.stdout.write(`${markdownOf(vectors)}\n`);
}
