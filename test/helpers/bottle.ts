/**
 * Small, realistic bottle histories for tests of bundles and verifiers.
 *
 *  - `sealedHistory`: one bottle with five events sealed into two format-1 batches among other
 *    bottles' leaves, as a `sealtrace-proof/1` bundle (core/bundle-v1.ts): what batches sealed before
 *    format 2 gave, and what old bundles look like.
 *  - `sealedHistoryV2`: the same life under format 2 (core/bundle.ts): the bottle is one of a lot
 *    produced in one multi-bottle event, its later events name it alone, and its links are sealed
 *    into two or more format-2 batches with other chains' links (other bottles, the brand's EPCIS
 *    log); each batch moves the heads map (core/heads.ts `updateHeads`, the sealer's own code) and
 *    the bundle carries the head proof cut from its tiles (`proofFromTiles`). Everything is derived
 *    from a seed, so a history is the same on every run. Its bundles are compact by default, as the
 *    service serves them (`compactBundle`): only links the head proof does not cover carry their own
 *    Merkle proof; with `proofs: "all"` (the service's `?proofs=all`) every anchored link does.
 */
import { buildBundleV1, type AnchorV1, type ChainRef, type ProofBundleV1 } from "../../service/core/bundle-v1.ts";
import { buildBundle, type BundleBatch, type BundleInput, type HeadProof, type ProofBundle, type StoredEvent } from "../../service/core/bundle.ts";
import { batchRoot, commitCodes, commitEvent, depthFor, genesis, headLeaf, type BottleIdentity, type ChainIdentity } from "../../service/core/commitments.ts";
import { keccak256, toHex, ZERO_HASH, type Hash, type Json } from "../../service/core/hash.ts";
import { proofFromTiles, updateHeads } from "../../service/core/heads.ts";
import { tileId } from "../../service/core/tiles.ts";
import { eventHash, leafOf, linkHash, logKey, nextLink, randomSalt, type CanonicalEvent, type Link } from "../../service/core/links.ts";
import { MerkleTree } from "../../service/core/merkle.ts";
import type { LinkProofs } from "../../service/verify/bundles.ts";

export const SERIAL = "MT2026A0000001";
export const GTIN = "06901234567892";
export const BRAND = "moutai-demo";
export const LOT = "2026-11-A";

export function clone<T>(value: T): T {
  return structuredClone(value);
}

// ---------------------------------------------------------------------------------------------
// Format 1

function event(type: string, codes: string[], extra: Record<string, string>): CanonicalEvent {
  return { type, codes, salt: randomSalt(), brand: BRAND, occurredAt: "2026-11-20T08:00:00+08:00", ...extra };
}

export interface SealedHistory {
  events: CanonicalEvent[];
  links: Link[];
  batches: { seq: number; tree: MerkleTree; leafCount: number }[];
  bundle: ProofBundleV1;
}

/**
 * A format-1 history: links 1–3 in batch `firstSeq`, the rest in `firstSeq + 1`, each batch padded
 * with other bottles' leaves. With `pendingFrom`, links from that n on are left unanchored.
 */
export function sealedHistory(
  chain: ChainRef,
  options: { firstSeq?: number; pendingFrom?: number; editEvents?: (events: CanonicalEvent[]) => void } = {},
): SealedHistory {
  const firstSeq = options.firstSeq ?? 1;
  const events = [
    event("production", [SERIAL, "MT2026A0000002"], { party: "factory-zunyi", lot: LOT }),
    event("warehouse_in", [SERIAL], { party: "wh-guiyang" }),
    event("warehouse_out", [SERIAL], { party: "wh-guiyang", to: "dist-shanghai" }),
    event("store_receiving", [SERIAL], { party: "store-pudong-01" }),
    event("retail_sale", [SERIAL], { party: "store-pudong-01", price: "1499.00 CNY" }),
  ];
  options.editEvents?.(events);
  const links: Link[] = [];
  for (const e of events) {
    const previous = links.at(-1);
    links.push(nextLink(SERIAL, eventHash(e), previous ? { n: previous.n, linkHash: linkHash(previous) } : null));
  }
  const filler = (count: number, tag: string): Hash[] =>
    Array.from({ length: count }, (_, i) =>
      leafOf(linkHash({ serial: `other-${tag}-${i}`, n: 1, event: eventHash(event("production", [`x${i}`], {})), prev: ZERO_HASH })),
    );

  const groups = [links.slice(0, 3), links.slice(3)];
  const batches: SealedHistory["batches"] = [];
  const anchors: (AnchorV1 | null)[] = [];
  groups.forEach((group, g) => {
    const seq = firstSeq + g;
    const own = group.map((l) => leafOf(linkHash(l)));
    const all = [...filler(2 + g * 3, String(seq)), ...own, ...filler(4, `${seq}b`)];
    const tree = new MerkleTree(all);
    batches.push({ seq, tree, leafCount: all.length });
    group.forEach((link, i) => {
      const pending = options.pendingFrom !== undefined && link.n >= options.pendingFrom;
      anchors.push(
        pending
          ? null
          : {
              seq,
              root: tree.root,
              proof: tree.proof(2 + g * 3 + i),
              txHash: `0x${"ab".repeat(32)}`,
              blockNumber: 10 + g,
              blockTime: "2026-11-20T08:00:05Z",
            },
      );
    });
  });
  const bundle = buildBundleV1({ serial: SERIAL, gtin: GTIN, chain, events, links: links.map((link, i) => ({ link, anchor: anchors[i] ?? null })) });
  return { events, links, batches, bundle };
}

// ---------------------------------------------------------------------------------------------
// Format 2

export interface HistoryV2Options {
  /** The first batch's seq (default 1). */
  firstSeq?: number;
  /** The bottle's place in the heads map (default 3); its lot follows it. */
  index?: number;
  /** Bottles in the production event, this one included (default 4). */
  lotSize?: number;
  /** Chains outside the lot, the brand's EPCIS log first, placed below `index` (default 3, at most `index`). */
  otherChains?: number;
  /** The n of each link that starts a new batch (default [4]: links 1–3 in one batch, 4–5 in the next). */
  cuts?: number[];
  /** Links from this n on are left unanchored (the batches are sealed all the same). */
  pendingFrom?: number;
  /** The chains began under format 1: the first batch is a format-1 batch and first links have prev = 0. */
  formatOneStart?: boolean;
  /** Changes the event drafts before they are committed: a forged history whose hashes all agree. */
  editEvents?: (drafts: CanonicalEvent[]) => void;
  /** Every secret and salt is derived from it (default "bottle"). */
  seed?: string;
  /** Which links of the bundles carry their own Merkle proof: "head" (default, as the service) or "all" (`?proofs=all`). */
  proofs?: LinkProofs;
}

/** A batch as sealed: its links tree, and (format 2) the heads map after it. */
export interface SealedBatchV2 {
  seq: number;
  format: 1 | 2;
  tree: MerkleTree;
  leafCount: number;
  root: Hash;
  headsRoot: Hash | null;
  headsDepth: number | null;
  /** Every tile of the heads map as of this batch (format 2). */
  tiles: Map<string, Uint8Array>;
  /** Every head leaf of the map as of this batch, by index (format 2), for `headsRootOf`. */
  headLeaves: Map<number, Hash>;
  /** How the bundle shows it. */
  entry: BundleBatch;
}

/** One chain of the history: a bottle (its serial) or the brand's EPCIS log (`epcis:{brand}`). */
export interface ChainV2 {
  key: string;
  identity: ChainIdentity;
  links: Link[];
  /** Index of each link's event in `SealedHistoryV2.events`. */
  events: number[];
  /** Where each link was sealed, or null while pending. */
  anchors: ({ seq: number; proof: Hash[] } | null)[];
}

export interface SealedHistoryV2 {
  chain: ChainRef;
  /** Every event of the history: its draft (as the service builds it, every serial in it), stored form and codes secret. */
  events: { draft: CanonicalEvent; stored: StoredEvent; secret: Uint8Array }[];
  chains: Map<string, ChainV2>;
  batches: SealedBatchV2[];
  /** The bottle's identity (brand, GTIN, lot, serial, index), which its first link commits to. */
  identity: BottleIdentity;
  /** The bottle's bundle, with the link proofs `options.proofs` asks for. */
  bundle: ProofBundle;
  /** The bundle of any bottle of the history (the lot's others, the other lot's); `proofs` defaults to `options.proofs`. */
  bundleFor: (serial: string, proofs?: LinkProofs) => ProofBundle;
  /** The proof, in batch `seq`'s heads map, of the chain at `index`. */
  headProofIn: (seq: number, index: number) => Hash[];
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/**
 * A bottle's format-2 history (see the file's comment). The bottle is `SERIAL`, produced with
 * `lotSize - 1` others in one event, then moved by four one-bottle events (warehouse in and out,
 * store receiving, retail sale). Each batch also seals one link of each chain outside the lot: one
 * EPCIS event (naming no bottle) in the brand's log, one event of each bottle of another lot.
 */
export function sealedHistoryV2(chain: ChainRef, options: HistoryV2Options = {}): SealedHistoryV2 {
  const seed = options.seed ?? "bottle";
  const firstSeq = options.firstSeq ?? 1;
  const index = options.index ?? 3;
  const lotSize = options.lotSize ?? 4;
  const otherCount = Math.min(options.otherChains ?? 3, index);
  const derived = (label: string): Uint8Array => keccak256(utf8(`${seed}:${label}`));
  const day = (d: number): string => `2026-11-${String(20 + d).padStart(2, "0")}T08:00:00+08:00`;

  // The chains: the lot at consecutive indexes from `index` (in serial order, as the ledger gives
  // them), and the others spread below it, the brand's EPCIS log first.
  const lot = Array.from({ length: lotSize }, (_, i) => `MT2026A${String(i + 1).padStart(7, "0")}`);
  const chains = new Map<string, ChainV2>();
  const addChain = (key: string, identity: ChainIdentity): void => {
    chains.set(key, { key, identity, links: [], events: [], anchors: [] });
  };
  lot.forEach((serial, i) => addChain(serial, { brand: BRAND, gtin: GTIN, lot: LOT, serial, index: index + i }));
  const others: string[] = [];
  for (let k = 0; k < otherCount; k++) {
    const position = Math.floor((k * index) / otherCount);
    const key = k === 0 ? logKey(BRAND) : `MT2026B${String(k).padStart(7, "0")}`;
    addChain(key, k === 0 ? { brand: BRAND, log: key, index: position } : { brand: BRAND, gtin: GTIN, lot: "2026-10-C", serial: key, index: position });
    others.push(key);
  }

  const draft = (id: string, type: string, codes: string[], d: number, extra: Record<string, Json>): CanonicalEvent => ({
    brand: BRAND,
    id: `${seed}-${id}`,
    type,
    codes,
    occurredAt: day(d),
    receivedAt: `2026-11-${20 + d}T00:00:01.000Z`,
    salt: toHex(derived(`salt:${id}`)).slice(2, 34),
    ...extra,
  });
  const life = [
    draft("production", "production", lot, 0, { party: "factory-zunyi", data: { lot: LOT } }),
    draft("warehouse_in", "warehouse_in", [SERIAL], 1, { party: "wh-guiyang" }),
    draft("warehouse_out", "warehouse_out", [SERIAL], 2, { party: "wh-guiyang", to: "dist-shanghai" }),
    draft("store_receiving", "store_receiving", [SERIAL], 3, { party: "store-pudong-01" }),
    draft("retail_sale", "retail_sale", [SERIAL], 4, { party: "store-pudong-01", price: { amount: "1499.00", currency: "CNY" } }),
  ];
  options.editEvents?.(life);

  // Which batch seals each event of the bottle's life; the other chains get one event in every batch.
  const cuts = [...new Set(options.cuts ?? [4])].filter((c) => c > 1 && c <= life.length).sort((a, b) => a - b);
  const batchCount = cuts.length + 1;
  const formatOf = (g: number): 1 | 2 => (options.formatOneStart && g === 0 ? 1 : 2);

  const events: SealedHistoryV2["events"] = [];
  const groupOfEvent: (number | null)[] = [];
  /** Stores an event (in the form of the batch it is sealed in) and appends its links; group null: pending. */
  const record = (d: CanonicalEvent, g: number, group: number | null): void => {
    const secret = derived(`secret:${String(d.id)}`).slice(0, 16);
    const stored = (formatOf(g) === 1 ? clone(d) : commitEvent(d, secret).event) as StoredEvent;
    const e = events.push({ draft: d, stored, secret }) - 1;
    groupOfEvent.push(group);
    for (const key of d.type === "epcis" ? [logKey(BRAND)] : d.codes) {
      const c = chains.get(key)!;
      const previous = c.links.at(-1);
      const first = formatOf(g) === 1 ? ZERO_HASH : genesis(c.identity);
      c.links.push(nextLink(key, eventHash(stored as never), previous ? { n: previous.n, linkHash: linkHash(previous) } : null, first));
      c.events.push(e);
      c.anchors.push(null);
    }
  };
  for (let g = 0; g < batchCount; g++) {
    life.forEach((d, i) => {
      const n = i + 1;
      if (cuts.filter((c) => c <= n).length !== g) return;
      record(d, g, options.pendingFrom !== undefined && n >= options.pendingFrom ? null : g);
    });
    others.forEach((key, k) => {
      const d =
        key === logKey(BRAND)
          ? draft(`epcis-${g}`, "epcis", [], g, {
              epcis: { type: "ObjectEvent", eventTime: day(g), action: "OBSERVE", bizStep: "inspecting" },
              context: ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            })
          : draft(`other-${k}-${g}`, g === 0 ? "production" : "warehouse_in", [key], g, { party: "factory-zunyi" });
      record(d, g, g);
    });
  }

  // Seal: batch g takes every link of the events of group g, and moves the heads map.
  const batches: SealedBatchV2[] = [];
  const sealed = new Map<string, number>(); // chain → n of its last sealed link
  let tiles = new Map<string, Uint8Array>();
  let depth = 0;
  const leavesNow = new Map<number, Hash>();
  for (let g = 0; g < batchCount; g++) {
    const seq = firstSeq + batches.length;
    const members: { c: ChainV2; n: number }[] = [];
    for (const c of chains.values())
      c.events.forEach((e, i) => {
        if (groupOfEvent[e] === g) members.push({ c, n: i + 1 });
      });
    if (members.length === 0) continue; // nothing to seal: no batch
    const tree = new MerkleTree(members.map(({ c, n }) => leafOf(linkHash(c.links[n - 1]!))));
    members.forEach(({ c, n }, position) => {
      c.anchors[n - 1] = { seq, proof: tree.proof(position) };
    });
    const moved = new Set(members.map(({ c }) => c.key));
    for (const { c, n } of members) sealed.set(c.key, Math.max(sealed.get(c.key) ?? 0, n));
    const entry = { seq, txHash: `0x${"ab".repeat(32)}` as Hash, blockNumber: 10 + batches.length, blockTime: `2026-11-${20 + g}T00:00:05.000Z` };
    if (formatOf(g) === 1) {
      batches.push({
        seq,
        format: 1,
        tree,
        leafCount: members.length,
        root: tree.root,
        headsRoot: null,
        headsDepth: null,
        tiles,
        headLeaves: new Map(),
        entry: { ...entry, format: 1, root: tree.root },
      });
      continue;
    }
    // The first format-2 batch commits to every chain sealed so far, as the sealer does.
    const first = !batches.some((b) => b.format === 2);
    const changed = new Map<number, Hash>();
    for (const [key, n] of sealed) {
      if (!first && !moved.has(key)) continue;
      const c = chains.get(key)!;
      const leaf = headLeaf(c.identity.index, n, linkHash(c.links[n - 1]!));
      changed.set(c.identity.index, leaf);
      leavesNow.set(c.identity.index, leaf);
    }
    depth = Math.max(depth, depthFor(Math.max(0, ...leavesNow.keys())));
    const previous = tiles;
    const update = updateHeads((key) => previous.get(tileId(key)), changed, depth);
    tiles = new Map(previous);
    for (const [id, { bytes }] of update.tiles) tiles.set(id, bytes);
    const root = batchRoot(tree.root, update.root, depth);
    batches.push({
      seq,
      format: 2,
      tree,
      leafCount: members.length,
      root,
      headsRoot: update.root,
      headsDepth: depth,
      tiles,
      headLeaves: new Map(leavesNow),
      entry: { ...entry, format: 2, root, linksRoot: tree.root, headsRoot: update.root, headsDepth: depth },
    });
  }

  const headProofIn = (seq: number, at: number): Hash[] => {
    const batch = batches.find((b) => b.seq === seq);
    if (batch === undefined || batch.format !== 2) throw new RangeError(`batch ${seq} has no heads map`);
    return proofFromTiles(at, batch.headsDepth!, batch.tiles);
  };

  const bundleFor = (serial: string, proofs: LinkProofs = options.proofs ?? "head"): ProofBundle => {
    const c = chains.get(serial);
    if (c === undefined || "log" in c.identity) throw new RangeError(`${serial} is not a bottle of this history`);
    const used = new Set<number>();
    const links: BundleInput["links"] = c.links.map((link, i) => {
      const anchor = c.anchors[i] ?? null;
      if (anchor !== null) used.add(anchor.seq);
      return { link: clone(link), anchor: anchor === null ? null : clone(anchor) };
    });
    const bundleEvents: BundleInput["events"] = c.events.map((e) => {
      const { draft: d, stored, secret } = events[e]!;
      if (Array.isArray(stored.codes)) return { event: clone(stored) };
      return { event: clone(stored), member: clone(commitCodes(secret, d.codes).members.get(serial)!) };
    });
    // The head: this chain's place in the latest batch's heads map, if the map has it.
    const latest = batches.at(-1);
    const n = sealed.get(serial);
    let head: HeadProof | null = null;
    if (latest !== undefined && latest.format === 2 && n !== undefined) {
      head = { seq: latest.seq, n, linkHash: linkHash(c.links[n - 1]!), proof: headProofIn(latest.seq, c.identity.index) };
      used.add(latest.seq);
    }
    const full = buildBundle({
      identity: c.identity,
      chain,
      batches: batches.filter((b) => used.has(b.seq)).map((b) => clone(b.entry)),
      events: bundleEvents,
      links,
      head,
    });
    return proofs === "all" ? full : compactBundle(full);
  };

  return { chain, events, chains, batches, identity: chains.get(SERIAL)!.identity as BottleIdentity, bundle: bundleFor(SERIAL), bundleFor, headProofIn };
}

/**
 * `bundle` as the service serves it by default (service/verify/bundles.ts): every anchored link the
 * head proof covers (n ≤ head.n) keeps only its batch number, and `batches` keeps only the batches a
 * proof refers to (the head's, and those of links that keep their own proof). Without a head proof
 * nothing is covered, and the bundle is returned as it is.
 */
export function compactBundle(bundle: ProofBundle): ProofBundle {
  const compact = clone(bundle);
  const head = compact.head;
  if (head === null) return compact;
  const used = new Set<number>([head.seq]);
  for (const entry of compact.links) {
    if (entry.anchor === null) continue;
    if (entry.link.n <= head.n) entry.anchor = { seq: entry.anchor.seq };
    else used.add(entry.anchor.seq);
  }
  compact.batches = compact.batches.filter((b) => used.has(b.seq));
  return compact;
}
