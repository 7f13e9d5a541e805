/**
 * The `sealtrace-proof/2` bundle (docs/PROOF-FORMAT.md): one bottle's whole history, provable
 * without trusting SealTrace.
 *
 *  - every event, with only this bottle's membership proof (the other bottles it names stay hidden);
 *  - every link of the bottle's hash chain, whose first link commits to the bottle's identity
 *    (brand, GTIN, lot, serial, place in the heads map);
 *  - a head proof: the heads map of the latest anchored batch (root = node(linksRoot, headsRoot,
 *    depth)) records this bottle's last link. Through the hash chain that one proof authenticates
 *    every link, and no link can be left out of the bundle without the verifier noticing;
 *  - each link's batch, and (on request: `?proofs=all`) its own Merkle proof there, which proves
 *    when it was anchored; without one, a link's batch number is the bundle's claim.
 *
 * `buildBundle` assembles one from stored rows (recomputing every derived hash); `verifyBundle`
 * checks an untrusted bundle of either format and says what is wrong, what is pending, and which
 * roots a caller must compare with the chain (I/O, left to the callers). It never throws.
 */
import { BUNDLE_FORMAT_1, verifyBundleV1, type ChainRef, type Problem } from "./bundle-v1.ts";
import {
  batchRoot,
  genesis,
  headLeaf,
  isMember,
  isSalt,
  MAX_HEADS_DEPTH,
  processHeadProof,
  type BottleIdentity,
  type CodesCommitment,
  type Membership,
} from "./commitments.ts";
import { isHash, ZERO_HASH, type Hash } from "./hash.ts";
import { eventHash, leafOf, linkHash, type Link } from "./links.ts";
import { processProof } from "./merkle.ts";

export { BUNDLE_FORMAT_1, type ChainRef, type Problem };
export const BUNDLE_FORMAT = "sealtrace-proof/2";

/** What one verifier answers: every link anchored and the whole history proven; or not yet; or wrong. */
export type Status = "valid" | "incomplete" | "invalid";

/** A batch as a bundle names it. Format 1 batches anchor their links tree alone. */
export type BundleBatch = {
  seq: number;
  root: Hash;
  txHash: Hash | null;
  blockNumber: number | null;
  blockTime: string | null;
} & ({ format: 1 } | { format: 2; linksRoot: Hash; headsRoot: Hash; headsDepth: number });

/** An event as stored and hashed. A format-2 event commits to its bottles (`codes`); an older one lists them. */
export interface StoredEvent {
  type: string;
  codes: CodesCommitment | string[];
  salt: string;
  [field: string]: unknown;
}

export interface BundleEvent {
  event: StoredEvent;
  eventHash: Hash;
  /** This bottle's proof of membership in a format-2 event; absent for an event that lists its codes. */
  member?: Membership;
}

/** The batch a link was sealed in, with (optionally) the sibling hashes from its leaf to the batch's links root. */
export interface LinkAnchor {
  seq: number;
  proof?: Hash[];
}

export interface BundleLink {
  link: Link;
  linkHash: Hash;
  /** Null while the link is pending. */
  anchor: LinkAnchor | null;
}

/** The bottle's head as the heads map of batch `seq` records it, with its proof (siblings, leaf up). */
export interface HeadProof {
  seq: number;
  n: number;
  linkHash: Hash;
  proof: Hash[];
}

export interface ProofBundle {
  format: typeof BUNDLE_FORMAT;
  serial: string;
  brand: string;
  gtin: string;
  lot: string | null;
  /** The bottle's leaf in the heads map, committed to by its first link. */
  index: number;
  chain: ChainRef;
  batches: BundleBatch[];
  events: BundleEvent[];
  links: BundleLink[];
  head: HeadProof | null;
}

export interface BundleInput {
  identity: BottleIdentity;
  chain: ChainRef;
  batches: BundleBatch[];
  events: { event: StoredEvent; member?: Membership }[];
  links: { link: Link; anchor: LinkAnchor | null }[];
  head: HeadProof | null;
}

export function buildBundle(input: BundleInput): ProofBundle {
  const { identity } = input;
  return {
    format: BUNDLE_FORMAT,
    serial: identity.serial,
    brand: identity.brand,
    gtin: identity.gtin,
    lot: identity.lot,
    index: identity.index,
    chain: input.chain,
    batches: input.batches,
    events: input.events.map(({ event, member }) => ({ event, eventHash: eventHash(event as never), ...(member ? { member } : {}) })),
    links: input.links.map(({ link, anchor }) => ({ link, linkHash: linkHash(link), anchor })),
    head: input.head,
  };
}

export interface Verdict {
  format: 1 | 2 | null;
  status: Status;
  /** status === "valid". */
  valid: boolean;
  problems: Problem[];
  /** n of each link that is not anchored yet. */
  pending: number[];
  /** n of each anchored link whose batch is the bundle's claim (no Merkle proof of its own; the head proof covers it). */
  timesClaimed: number[];
  /** Every (seq, root) the bundle claims, for a caller to compare with the chain. */
  roots: { seq: number; root: Hash; paths: string[] }[];
  linkCount: number;
  /** The batch whose heads map proves the history complete, when it does. */
  completeAsOf: { seq: number; blockNumber: number | null; blockTime: string | null } | null;
  /** Whether the first link commits to the bundle's brand, GTIN, lot and serial (false for a chain begun under format 1). */
  identityBound: boolean;
  /** Why the verdict is not `valid` when no problem was found, and what a valid verdict does not prove. */
  notes: string[];
}

type Obj = Record<string, unknown>;
const isObject = (value: unknown): value is Obj => typeof value === "object" && value !== null && !Array.isArray(value);
const show = (value: unknown): string => (typeof value === "string" ? value : (JSON.stringify(value) ?? String(value)));
const isIndex = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isProof = (value: unknown): value is Hash[] => Array.isArray(value) && value.every(isHash);

/** Checks an untrusted bundle of either format. Never throws. */
export function verifyBundle(bundle: unknown): Verdict {
  try {
    if (isObject(bundle) && bundle.format === BUNDLE_FORMAT_1) return fromV1(verifyBundleV1(bundle));
    return verifyV2(bundle);
  } catch (error) {
    // Every input is checked before use; this is a last line against a verifier bug.
    return {
      format: null,
      status: "invalid",
      valid: false,
      linkCount: 0,
      pending: [],
      timesClaimed: [],
      roots: [],
      completeAsOf: null,
      identityBound: false,
      notes: [],
      problems: [{ path: "$", message: `the bundle could not be checked: ${(error as Error).message}` }],
    };
  }
}

function fromV1(v1: ReturnType<typeof verifyBundleV1>): Verdict {
  const status: Status = v1.problems.length > 0 ? "invalid" : v1.pending.length > 0 ? "incomplete" : "valid";
  const notes = ["format 1: completeness not proven (nothing shows that no link was left out)"];
  if (v1.pending.length > 0) notes.unshift(`${v1.pending.length} link${v1.pending.length === 1 ? "" : "s"} pending (n = ${v1.pending.join(", ")})`);
  return { ...v1, format: 1, status, valid: status === "valid", timesClaimed: [], completeAsOf: null, identityBound: false, notes };
}

function verifyV2(bundle: unknown): Verdict {
  const problems: Problem[] = [];
  const pending: number[] = [];
  const timesClaimed: number[] = [];
  const notes: string[] = [];
  const roots = new Map<number, { seq: number; root: Hash; paths: string[] }>();
  let completeAsOf: Verdict["completeAsOf"] = null;
  let identityBound = false;
  const problem = (path: string, message: string, expected?: unknown, found?: unknown): void => {
    const p: Problem = { path, message };
    if (expected !== undefined) p.expected = show(expected);
    if (found !== undefined) p.found = show(found);
    problems.push(p);
  };
  const done = (linkCount: number): Verdict => {
    // Valid only when every link is anchored and, for a chain begun under format 2, its history is
    // proven complete; a chain begun under format 1 cannot be, which the notes say.
    const status: Status = problems.length > 0 ? "invalid" : pending.length > 0 || (identityBound && completeAsOf === null) ? "incomplete" : "valid";
    return {
      format: 2,
      status,
      valid: status === "valid",
      problems,
      pending,
      timesClaimed,
      linkCount,
      completeAsOf,
      identityBound,
      roots: [...roots.values()].sort((a, b) => a.seq - b.seq),
      notes,
    };
  };

  if (!isObject(bundle)) {
    problem("$", "a proof bundle must be a JSON object");
    return done(0);
  }
  if (bundle.format !== BUNDLE_FORMAT) problem("format", "unsupported bundle format", BUNDLE_FORMAT, bundle.format);
  const { serial, brand, gtin, lot, index } = bundle;
  if (typeof serial !== "string" || serial === "") problem("serial", "the bundle names no bottle serial");
  if (typeof brand !== "string" || brand === "") problem("brand", "the bundle names no brand");
  if (typeof gtin !== "string" || !/^[0-9]{14}$/.test(gtin)) problem("gtin", "the bundle's GTIN must be 14 digits", undefined, gtin);
  if (lot !== null && typeof lot !== "string") problem("lot", "the lot must be a string or null", undefined, lot);
  if (!isIndex(index) || index >= 2 ** MAX_HEADS_DEPTH) problem("index", "the heads-map index must be a whole number", undefined, index);
  if (!isObject(bundle.chain) || !Number.isSafeInteger(bundle.chain.chainId) || typeof bundle.chain.registry !== "string") {
    problem("chain", "the bundle must name a chain: { chainId: number, registry: address }");
  }
  for (const field of ["batches", "events"] as const) if (!Array.isArray(bundle[field])) problem(field, `${field} must be an array`);
  if (!Array.isArray(bundle.links) || bundle.links.length === 0) problem("links", "links must be a non-empty array");
  if (problems.length > 0 || !Array.isArray(bundle.batches) || !Array.isArray(bundle.events) || !Array.isArray(bundle.links)) return done(0);
  const bottle = serial as string;

  // Batches: each format-2 root must be the node of its links root and heads root.
  const batches = new Map<
    number,
    { format: 1 | 2; linksRoot: Hash; headsRoot: Hash | null; depth: number; path: string; blockNumber: number | null; blockTime: string | null }
  >();
  bundle.batches.forEach((entry: unknown, i) => {
    const path = `batches[${i}]`;
    if (
      !isObject(entry) ||
      !Number.isSafeInteger(entry.seq) ||
      (entry.seq as number) < 1 ||
      !isHash(entry.root) ||
      (entry.format !== 1 && entry.format !== 2)
    ) {
      problem(path, "a batch must be { seq ≥ 1, format: 1 | 2, root, … }");
      return;
    }
    const seq = entry.seq as number;
    if (batches.has(seq)) {
      problem(`${path}.seq`, `batch ${seq} is listed twice`);
      return;
    }
    const blockNumber = Number.isSafeInteger(entry.blockNumber) ? (entry.blockNumber as number) : null;
    const blockTime = typeof entry.blockTime === "string" ? entry.blockTime : null;
    if (entry.format === 1) {
      batches.set(seq, { format: 1, linksRoot: entry.root, headsRoot: null, depth: 0, path, blockNumber, blockTime });
    } else {
      const depth = entry.headsDepth;
      if (!isHash(entry.linksRoot) || !isHash(entry.headsRoot) || !Number.isInteger(depth) || (depth as number) < 1 || (depth as number) > MAX_HEADS_DEPTH) {
        problem(path, "a format-2 batch needs linksRoot, headsRoot and headsDepth (1 … 40)");
        return;
      }
      const computed = batchRoot(entry.linksRoot, entry.headsRoot, depth as number);
      if (computed !== entry.root) problem(`${path}.root`, "the root is not node(linksRoot, headsRoot, headsDepth)", computed, entry.root);
      batches.set(seq, { format: 2, linksRoot: entry.linksRoot, headsRoot: entry.headsRoot, depth: depth as number, path, blockNumber, blockTime });
    }
    roots.set(seq, { seq, root: entry.root, paths: [path] });
  });
  const used = new Set<number>();

  // Events, in the order of the links that use them: each hash must match its content, and each must name this bottle.
  const events = new Map<string, { path: string; used: boolean }>();
  const eventOrder: (Hash | null)[] = [];
  bundle.events.forEach((entry: unknown, i) => {
    const path = `events[${i}]`;
    if (!isObject(entry) || !isObject(entry.event)) {
      problem(path, "an event entry must be { event: {…}, eventHash, member? }");
      return;
    }
    const event = entry.event;
    if (typeof event.type !== "string") problem(`${path}.event.type`, "the event has no type");
    let computed: Hash;
    try {
      computed = eventHash(event as never);
    } catch (error) {
      problem(`${path}.event`, `the event cannot be hashed: ${(error as Error).message}`);
      return;
    }
    if (entry.eventHash !== computed)
      problem(`${path}.eventHash`, "the event's content does not match its hash (an event field was changed)", computed, entry.eventHash);
    eventOrder[i] = computed;
    if (events.has(computed)) {
      problem(path, "the event appears twice");
      return;
    }
    events.set(computed, { path, used: false });
    const codes = event.codes;
    if (Array.isArray(codes)) {
      // An event stored before format 2 lists its bottles.
      if (!codes.includes(bottle)) problem(`${path}.event.codes`, `the event does not list serial ${bottle}`);
    } else if (isObject(codes) && isHash(codes.root) && Number.isSafeInteger(codes.count) && (codes.count as number) >= 1) {
      const member = entry.member;
      if (!isObject(member) || !isSalt(member.salt) || !isProof(member.proof)) {
        problem(`${path}.member`, "a format-2 event needs this bottle's membership proof: { salt: 32 hex digits, proof: [hash…] }");
      } else if (!isMember(codes as unknown as CodesCommitment, bottle, member as unknown as Membership)) {
        problem(`${path}.member`, `the membership proof does not show that the event names bottle ${bottle}`);
      }
    } else {
      problem(`${path}.event.codes`, "codes must be the event's commitment { root, count ≥ 1 } (or, before format 2, a list of serials)");
    }
  });

  // Links: the chain from the identity to the last link, and where each was anchored.
  const identity: BottleIdentity = { brand: brand as string, gtin: gtin as string, lot: lot as string | null, serial: bottle, index: index as number };
  const expectedGenesis = genesis(identity);
  const hashes: Hash[] = [];
  const anchoredIn: (number | null)[] = [];
  let previous: Hash | null = null;
  bundle.links.forEach((entry: unknown, i) => {
    const path = `links[${i}]`;
    const n = i + 1;
    if (!isObject(entry) || !isObject(entry.link)) {
      problem(path, "a link entry must be { link: {…}, linkHash, anchor }");
      hashes.push(ZERO_HASH);
      anchoredIn.push(null);
      return;
    }
    const link = entry.link;
    if (link.serial !== bottle) problem(`${path}.link.serial`, "the link is for another bottle", bottle, link.serial);
    if (link.n !== n) problem(`${path}.link.n`, link.n === undefined ? "the link has no n" : "links are out of order or have a gap", n, link.n);
    if (!isHash(link.event) || !isHash(link.prev)) {
      problem(`${path}.link`, "event and prev must be 0x-prefixed 32-byte lowercase hex");
      hashes.push(ZERO_HASH);
      anchoredIn.push(null);
      previous = ZERO_HASH;
      return;
    }
    if (n === 1) {
      if (link.prev === expectedGenesis) identityBound = true;
      else if (link.prev !== ZERO_HASH)
        problem(
          `${path}.link.prev`,
          "the first link does not commit to this bottle's brand, GTIN, lot, serial and index (a header field was changed)",
          expectedGenesis,
          link.prev,
        );
    } else if (link.prev !== previous) {
      problem(`${path}.link.prev`, "prev is not the previous link's linkHash (the chain is broken)", previous, link.prev);
    }
    const computed = linkHash({ serial: bottle, n, event: link.event, prev: link.prev });
    if (entry.linkHash !== computed) problem(`${path}.linkHash`, "the link's content does not match its linkHash", computed, entry.linkHash);
    hashes.push(computed);
    previous = computed;

    const event = events.get(link.event);
    if (event === undefined) problem(`${path}.link.event`, "the link points at an event the bundle does not contain", undefined, link.event);
    else if (event.used) problem(`${path}.link.event`, "two links point at the same event");
    else {
      event.used = true;
      if (eventOrder[i] !== link.event) problem(`events[${i}]`, `events must be in the order of the links: link ${n}'s event is ${event.path}`);
    }

    const anchor = entry.anchor;
    if (anchor === null || anchor === undefined) {
      pending.push(n);
      anchoredIn.push(null);
      return;
    }
    if (!isObject(anchor) || !Number.isSafeInteger(anchor.seq) || (anchor.seq as number) < 1 || (anchor.proof !== undefined && !isProof(anchor.proof))) {
      problem(`${path}.anchor`, "an anchor must be { seq ≥ 1, proof?: [hash…] } or null");
      anchoredIn.push(null);
      return;
    }
    const seq = anchor.seq as number;
    anchoredIn.push(seq);
    if (pending.length > 0) problem(`${path}.anchor`, `link ${n} is anchored but link ${pending[0]} before it is not`);
    const prior = anchoredIn
      .slice(0, -1)
      .filter((s): s is number => s !== null)
      .at(-1);
    if (prior !== undefined && seq < prior) problem(`${path}.anchor.seq`, `link ${n} is in batch ${seq}, before the batch of the link it follows (${prior})`);
    if (anchor.proof === undefined) {
      // Its batch is a claim; the link itself is proven by the head proof, checked below.
      timesClaimed.push(n);
      if (batches.has(seq)) used.add(seq);
      return;
    }
    const batch = batches.get(seq);
    if (batch === undefined) {
      problem(`${path}.anchor.seq`, `batch ${seq} is not among the bundle's batches`);
      return;
    }
    used.add(seq);
    const reached = processProof(leafOf(computed), anchor.proof as Hash[]);
    if (reached !== batch.linksRoot)
      problem(`${path}.anchor.proof`, `the Merkle proof does not lead from the link's leaf to batch ${seq}'s links root`, batch.linksRoot, reached);
  });
  for (const [hash, event] of events) if (!event.used) problem(event.path, "the event is not part of the bottle's chain of links", undefined, hash);
  if (bundle.events.length !== bundle.links.length) problem("events", "a bundle holds one event per link", bundle.links.length, bundle.events.length);
  if (!identityBound && problems.every((p) => p.path !== "links[0].link.prev")) {
    notes.push("identity not bound: the bottle's chain began before format 2, so its first link does not commit to its brand, GTIN and lot");
  }

  // Head: the latest anchored heads map records this bottle's last link.
  const head = bundle.head;
  const linkCount = bundle.links.length;
  if (head === null || head === undefined) {
    notes.push(
      "completeness not proven: the bundle carries no head proof, so nothing shows that no link was left out (a bundle has one once an anchored format-2 batch's heads map records this bottle's last sealed link)",
    );
  } else if (
    !isObject(head) ||
    !Number.isSafeInteger(head.seq) ||
    !Number.isSafeInteger(head.n) ||
    (head.n as number) < 1 ||
    !isHash(head.linkHash) ||
    !isProof(head.proof)
  ) {
    problem("head", "a head proof must be { seq, n ≥ 1, linkHash, proof: [hash…] }");
  } else {
    const seq = head.seq as number,
      n = head.n as number;
    const batch = batches.get(seq);
    if (batch === undefined) problem("head.seq", `batch ${seq} is not among the bundle's batches`);
    else if (batch.format !== 2) problem("head.seq", `batch ${seq} is a format-1 batch: it has no heads map`);
    else if (head.proof.length !== batch.depth)
      problem("head.proof", `a proof in batch ${seq}'s heads map has ${batch.depth} hashes`, batch.depth, head.proof.length);
    else if (isIndex(index) && index >= 2 ** batch.depth) problem("index", `index ${index} lies outside batch ${seq}'s heads map`);
    else {
      used.add(seq);
      const reached = processHeadProof(index as number, headLeaf(index as number, n, head.linkHash), head.proof);
      if (reached !== batch.headsRoot) {
        problem("head.proof", `the head proof does not lead to batch ${seq}'s heads root`, batch.headsRoot, reached);
      } else if (n > linkCount) {
        problem(
          "links",
          `batch ${seq}'s heads map records link ${n} as this bottle's last, but the bundle stops at link ${linkCount}: links were left out`,
          n,
          linkCount,
        );
      } else if (hashes[n - 1] !== head.linkHash) {
        problem("head.linkHash", `batch ${seq}'s heads map records another link ${n} for this bottle than the bundle shows`, head.linkHash, hashes[n - 1]);
      } else {
        const later = anchoredIn
          .slice(n)
          .map((s, k) => ({ s, n: n + 1 + k }))
          .filter((x) => x.s !== null);
        const contradicting = later.find((x) => x.s! <= seq);
        const unproven = later.find((x) => timesClaimed.includes(x.n));
        const early = anchoredIn.findIndex((s, k) => k < n && s !== null && s > seq);
        const hidden = pending.find((p) => p <= n);
        if (hidden !== undefined) {
          problem(`links[${hidden - 1}].anchor`, `link ${hidden} is shown as pending, but batch ${seq}'s heads map records link ${n}: it was anchored by then`);
        } else if (early >= 0) {
          problem(
            `links[${early}].anchor.seq`,
            `link ${early + 1} is in batch ${anchoredIn[early]}, after batch ${seq}, whose heads map already records link ${n}`,
          );
        } else if (unproven !== undefined) {
          problem(
            `links[${unproven.n - 1}].anchor`,
            `link ${unproven.n} claims batch ${unproven.s} without a proof, and the head proof (batch ${seq}) does not cover it`,
          );
        } else if (contradicting !== undefined) {
          problem(
            `links[${contradicting.n - 1}].anchor`,
            `link ${contradicting.n} is in batch ${contradicting.s}, but batch ${seq}'s heads map ends this bottle's history at link ${n}`,
          );
        } else if (later.length > 0) {
          notes.push(`completeness proven only up to link ${n}: links ${later.map((x) => x.n).join(", ")} were anchored after batch ${seq}`);
        } else if (identityBound) {
          completeAsOf = { seq, blockNumber: batch.blockNumber, blockTime: batch.blockTime };
        } else {
          notes.push("completeness not proven: the chain began before format 2, so its place in the heads map is not bound to it");
        }
      }
    }
  }
  if (pending.length > 0) notes.unshift(`${pending.length} link${pending.length === 1 ? "" : "s"} pending (n = ${pending.join(", ")})`);
  if (timesClaimed.length > 0 && (head === null || head === undefined)) {
    problem(`links[${timesClaimed[0]! - 1}].anchor`, "a link without a Merkle proof of its own needs the head proof, and the bundle has none");
  }
  for (const [seq, batch] of batches) if (!used.has(seq)) problem(batch.path, `batch ${seq} is not used by any link or by the head proof`);
  return done(linkCount);
}
