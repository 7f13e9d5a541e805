/**
 * The `sealtrace-proof/1` bundle, the format of batches sealed before format 2 (core/bundle.ts): a
 * bottle's events, links and Merkle proofs, proving that what it shows was anchored (not that
 * nothing was left out). Kept so that bundles saved then still verify, reported as format 1.
 * `buildBundleV1` assembles one (the tests' old bundles); `verifyBundleV1` checks an untrusted one.
 */
import { isHash, ZERO_HASH, type Hash } from "./hash.ts";
import { eventHash, leafOf, linkHash, type CanonicalEvent, type Link } from "./links.ts";
import { processProof } from "./merkle.ts";

export const BUNDLE_FORMAT_1 = "sealtrace-proof/1";

export interface ChainRef {
  chainId: number;
  registry: string;
}

export interface AnchorV1 {
  seq: number;
  root: Hash;
  proof: Hash[];
  txHash: Hash | null;
  blockNumber: number | null;
  blockTime: string | null;
}

export interface BundleEventV1 {
  event: CanonicalEvent;
  eventHash: Hash;
}

export interface BundleLinkV1 {
  link: Link;
  linkHash: Hash;
  leaf: Hash;
  anchor: AnchorV1 | null;
}

export interface ProofBundleV1 {
  format: typeof BUNDLE_FORMAT_1;
  serial: string;
  gtin: string;
  chain: ChainRef;
  events: BundleEventV1[];
  links: BundleLinkV1[];
}

export interface BundleInputV1 {
  serial: string;
  gtin: string;
  chain: ChainRef;
  /** The bottle's events, in the order of its links. */
  events: CanonicalEvent[];
  /** The bottle's links, n = 1, 2, 3 … */
  links: { link: Link; anchor: AnchorV1 | null }[];
}

export function buildBundleV1(input: BundleInputV1): ProofBundleV1 {
  return {
    format: BUNDLE_FORMAT_1,
    serial: input.serial,
    gtin: input.gtin,
    chain: input.chain,
    events: input.events.map((event) => ({ event, eventHash: eventHash(event) })),
    links: input.links.map(({ link, anchor }) => {
      const hash = linkHash(link);
      return { link, linkHash: hash, leaf: leafOf(hash), anchor };
    }),
  };
}

/** One thing wrong with a bundle: where (a JSON path), what, and the values that disagree. */
export interface Problem {
  path: string;
  message: string;
  expected?: string;
  found?: string;
}

export interface VerdictV1 {
  valid: boolean;
  problems: Problem[];
  /** n of each link that is not anchored yet (not a failure). */
  pending: number[];
  /** Every (seq, root) the bundle claims, for a caller to compare with the chain. */
  roots: { seq: number; root: Hash; paths: string[] }[];
  linkCount: number;
}

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
}

/** Checks an untrusted bundle: shape, every hash, the link chain, and every Merkle proof. */
export function verifyBundleV1(bundle: unknown): VerdictV1 {
  const problems: Problem[] = [];
  const pending: number[] = [];
  const roots = new Map<number, { seq: number; root: Hash; paths: string[] }>();
  const problem = (path: string, message: string, expected?: unknown, found?: unknown): void => {
    const p: Problem = { path, message };
    if (expected !== undefined) p.expected = show(expected);
    if (found !== undefined) p.found = show(found);
    problems.push(p);
  };
  const done = (linkCount: number): VerdictV1 => ({
    valid: problems.length === 0,
    problems,
    pending,
    roots: [...roots.values()].sort((a, b) => a.seq - b.seq),
    linkCount,
  });

  if (!isObject(bundle)) {
    problem("$", "a proof bundle must be a JSON object");
    return done(0);
  }
  if (bundle.format !== BUNDLE_FORMAT_1) problem("format", "unsupported bundle format", BUNDLE_FORMAT_1, bundle.format);
  const serial = bundle.serial;
  if (typeof serial !== "string" || serial === "") problem("serial", "the bundle names no bottle serial");
  if (!isObject(bundle.chain) || !Number.isSafeInteger(bundle.chain.chainId) || typeof bundle.chain.registry !== "string") {
    problem("chain", "the bundle must name a chain: { chainId: number, registry: address }");
  }
  if (!Array.isArray(bundle.events)) problem("events", "events must be an array");
  if (!Array.isArray(bundle.links) || bundle.links.length === 0) problem("links", "links must be a non-empty array");
  if (!Array.isArray(bundle.events) || !Array.isArray(bundle.links)) return done(0);

  // Events: each hash must match its content; remember which codes each covers.
  const eventsByHash = new Map<string, { codes: unknown; path: string; used: boolean }>();
  bundle.events.forEach((entry: unknown, i) => {
    const path = `events[${i}]`;
    if (!isObject(entry) || !isObject(entry.event)) {
      problem(path, "an event entry must be { event: {…}, eventHash }");
      return;
    }
    const event = entry.event;
    if (typeof event.type !== "string") problem(`${path}.event.type`, "the event has no type");
    if (!Array.isArray(event.codes) || !event.codes.every((c) => typeof c === "string")) {
      problem(`${path}.event.codes`, "the event's codes must be an array of serials");
    }
    let computed: Hash;
    try {
      computed = eventHash(event as CanonicalEvent);
    } catch (error) {
      problem(`${path}.event`, `the event cannot be hashed: ${(error as Error).message}`);
      return;
    }
    if (entry.eventHash !== computed) {
      problem(`${path}.eventHash`, "the event's content does not match its hash (an event field was changed)", computed, entry.eventHash);
    }
    eventsByHash.set(computed, { codes: event.codes, path, used: false });
  });

  // Links: hashes, chain order, serial membership, Merkle proofs.
  let previous: Hash = ZERO_HASH;
  bundle.links.forEach((entry: unknown, i) => {
    const path = `links[${i}]`;
    const n = i + 1;
    if (!isObject(entry) || !isObject(entry.link)) {
      problem(path, "a link entry must be { link: {…}, linkHash, leaf, anchor }");
      return;
    }
    const link = entry.link;
    const fields: Obj = { serial: link.serial, n: link.n, event: link.event, prev: link.prev };
    if (link.serial !== serial) problem(`${path}.link.serial`, "the link is for another bottle", serial, link.serial);
    if (link.n !== n) {
      problem(`${path}.link.n`, link.n === undefined ? "the link has no n" : "links are out of order or have a gap", n, link.n);
    }
    if (link.prev !== previous) {
      problem(`${path}.link.prev`, "prev is not the previous link's linkHash (the chain is broken)", previous, link.prev);
    }
    if (!isHash(link.event) || !isHash(link.prev)) {
      problem(`${path}.link`, "event and prev must be 0x-prefixed 32-byte lowercase hex");
      return;
    }
    const computedLink = linkHash(fields as unknown as Link);
    if (entry.linkHash !== computedLink) {
      problem(`${path}.linkHash`, "the link's content does not match its linkHash", computedLink, entry.linkHash);
    }
    const computedLeaf = leafOf(computedLink);
    if (entry.leaf !== computedLeaf) problem(`${path}.leaf`, "leaf is not keccak256(linkHash)", computedLeaf, entry.leaf);
    // The next link must point at this one's real hash, whatever the bundle claims.
    previous = computedLink;

    const event = eventsByHash.get(link.event);
    if (event === undefined) {
      problem(`${path}.link.event`, "the link points at an event the bundle does not contain", undefined, link.event);
    } else {
      event.used = true;
      if (!Array.isArray(event.codes) || !event.codes.includes(serial)) {
        problem(`${path}.link.event`, `the linked event (${event.path}) does not list serial ${show(serial)}`);
      }
    }

    const anchor = entry.anchor;
    if (anchor === null || anchor === undefined) {
      pending.push(n);
      return;
    }
    if (
      !isObject(anchor) ||
      !Number.isSafeInteger(anchor.seq) ||
      (anchor.seq as number) < 1 ||
      !isHash(anchor.root) ||
      !Array.isArray(anchor.proof) ||
      !anchor.proof.every(isHash)
    ) {
      problem(`${path}.anchor`, "an anchor must be { seq ≥ 1, root, proof: [hash…], … } or null");
      return;
    }
    const reached = processProof(computedLeaf, anchor.proof as Hash[]);
    if (reached !== anchor.root) {
      problem(`${path}.anchor.proof`, "the Merkle proof does not lead from the leaf to the root", anchor.root, reached);
    }
    const seq = anchor.seq as number;
    const known = roots.get(seq);
    if (known === undefined) roots.set(seq, { seq, root: anchor.root, paths: [`${path}.anchor`] });
    else if (known.root !== anchor.root) {
      problem(`${path}.anchor.root`, `two different roots are given for batch ${seq}`, known.root, anchor.root);
    } else known.paths.push(`${path}.anchor`);
  });

  for (const [hash, event] of eventsByHash) {
    if (!event.used) problem(event.path, "the event is not part of the bottle's link chain", undefined, hash);
  }
  return done(bundle.links.length);
}
