/**
 * The hashes `sealtrace-proof/2` adds to format 1 (docs/PROOF-FORMAT.md specifies each byte by byte):
 *
 *   genesis     = keccak256("sealtrace:genesis:2" ‖ JCS(identity))        the `prev` of a chain's link 1
 *   member leaf = keccak256("sealtrace:code:2" ‖ salt[16] ‖ UTF-8(serial)) one bottle of an event
 *   member salt = keccak256("sealtrace:salt:2" ‖ secret[16] ‖ UTF-8(serial))[0..16]
 *   epcis       = keccak256("sealtrace:epcis:2" ‖ JCS({context, event}))  an EPCIS event, committed
 *   head leaf   = keccak256("sealtrace:head:2" ‖ u64(index) ‖ u64(n) ‖ linkHash)
 *   head node   = ZERO if left = right = ZERO, else keccak256("sealtrace:node:2" ‖ left ‖ right)
 *   batch root  = keccak256("sealtrace:batch:2" ‖ linksRoot ‖ headsRoot ‖ u8(headsDepth))
 *
 * u64 / u8 are big-endian unsigned integers; every tag is its ASCII bytes, with no terminator. Each
 * kind of hash has its own tag, so no hash of one kind can be passed off as another. Links, their
 * leaves and the batch's links tree are format 1's, unchanged (core/links.ts, core/merkle.ts).
 */
import { canonicalJson, fromHex, keccak256, toHex, ZERO_HASH, type Hash, type Json } from "./hash.ts";
import { jsonSafe, type CanonicalEvent } from "./links.ts";
import { MerkleTree, processProof } from "./merkle.ts";

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

export const TAGS = {
  genesis: "sealtrace:genesis:2",
  code: "sealtrace:code:2",
  salt: "sealtrace:salt:2",
  epcis: "sealtrace:epcis:2",
  head: "sealtrace:head:2",
  node: "sealtrace:node:2",
  batch: "sealtrace:batch:2",
} as const;

const TAG = {
  genesis: ascii(TAGS.genesis),
  code: ascii(TAGS.code),
  salt: ascii(TAGS.salt),
  epcis: ascii(TAGS.epcis),
  head: ascii(TAGS.head),
  node: ascii(TAGS.node),
  batch: ascii(TAGS.batch),
};

/** The most levels a heads tree may have: 2^40 chains is far beyond any industry. */
export const MAX_HEADS_DEPTH = 40;

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function checkU64(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${value} is not a whole number ≥ 0`);
}

/** A 16-byte salt as 32 lowercase hex digits (no 0x), as it appears in bundles. */
const SALT_PATTERN = /^[0-9a-f]{32}$/;
export const isSalt = (value: unknown): value is string => typeof value === "string" && SALT_PATTERN.test(value);

// ---------------------------------------------------------------------------------------------
// Identity: the first link of every format-2 chain points at a hash of what the chain is about.

/** What a bottle's chain is about: the brand's slug, the bottle's GTIN-14, its lot, its serial, its place in the heads map. */
export interface BottleIdentity {
  brand: string;
  gtin: string;
  lot: string | null;
  serial: string;
  index: number;
}
/** What another chain is about (a brand's EPCIS log, keyed `epcis:{brand}`). */
export interface LogIdentity {
  brand: string;
  log: string;
  index: number;
}
export type ChainIdentity = BottleIdentity | LogIdentity;

export function genesis(identity: ChainIdentity): Hash {
  // The identity's JCS written out, keys in their sorted order (as linkHash does): the same bytes as canonicalJson.
  if (
    !("log" in identity) &&
    typeof identity.index === "number" &&
    Number.isFinite(identity.index) &&
    jsonSafe(identity.brand) &&
    jsonSafe(identity.gtin) &&
    jsonSafe(identity.serial) &&
    (identity.lot === null || jsonSafe(identity.lot))
  ) {
    const { brand, gtin, index, lot, serial } = identity;
    return toHex(
      keccak256(
        concat(
          TAG.genesis,
          ascii(
            `{"brand":${JSON.stringify(brand)},"gtin":${JSON.stringify(gtin)},"index":${index},"lot":${JSON.stringify(lot)},"serial":${JSON.stringify(serial)}}`,
          ),
        ),
      ),
    );
  }
  const object: Record<string, Json> =
    "log" in identity
      ? { brand: identity.brand, index: identity.index, log: identity.log }
      : { brand: identity.brand, gtin: identity.gtin, index: identity.index, lot: identity.lot, serial: identity.serial };
  return toHex(keccak256(concat(TAG.genesis, ascii(canonicalJson(object)))));
}

// ---------------------------------------------------------------------------------------------
// Events commit to the bottles they name by a Merkle root over salted leaves, one per bottle.

/** What an event's canonical form holds instead of its serials. */
export interface CodesCommitment {
  root: Hash;
  count: number;
}

/** One bottle's proof that an event names it: its salt and the sibling hashes up to `codes.root`. */
export interface Membership {
  salt: string;
  proof: Hash[];
}

/** The per-bottle salt of an event, derived from the event's secret (never published). */
export function memberSalt(secret: Uint8Array, serial: string): string {
  return toHex(saltBytes(secret, ascii(serial))).slice(2);
}

export function memberLeaf(salt: string, serial: string): Hash {
  if (!isSalt(salt)) throw new RangeError("a member salt is 32 lowercase hex digits");
  return toHex(keccak256(concat(TAG.code, fromHex(salt), ascii(serial))));
}

function saltBytes(secret: Uint8Array, serial: Uint8Array): Uint8Array {
  if (secret.length !== 16) throw new RangeError("an event's codes secret is 16 bytes");
  return keccak256(concat(TAG.salt, secret, serial)).slice(0, 16);
}

/**
 * An event's bottle tree, computed on bytes (an event may name 1,000 bottles and a bundle is asked
 * for often): each bottle's salt, and the tree over the salted leaves in the event's order.
 */
export class MemberTree {
  readonly tree: MerkleTree;
  private readonly salts: Uint8Array;
  private readonly position = new Map<string, number>();
  constructor(secret: Uint8Array, serials: readonly string[]) {
    const leaves = new Uint8Array(serials.length * 32);
    this.salts = new Uint8Array(serials.length * 16);
    serials.forEach((serial, i) => {
      const bytes = ascii(serial);
      const salt = saltBytes(secret, bytes);
      this.salts.set(salt, i * 16);
      leaves.set(keccak256(concat(TAG.code, salt, bytes)).subarray(0, 32), i * 32);
      if (!this.position.has(serial)) this.position.set(serial, i);
    });
    this.tree = new MerkleTree(leaves);
  }

  member(serial: string): Membership | undefined {
    const i = this.position.get(serial);
    if (i === undefined) return undefined;
    return { salt: toHex(this.salts.subarray(i * 16, i * 16 + 16)).slice(2), proof: this.tree.proof(i) };
  }
}

/** The commitment to `serials` alone (what an event stores); no proof is computed. */
export function codesRoot(secret: Uint8Array, serials: readonly string[]): CodesCommitment {
  return serials.length === 0 ? { root: ZERO_HASH, count: 0 } : { root: new MemberTree(secret, serials).tree.root, count: serials.length };
}

/**
 * The commitment to `serials` (in the event's order) and each bottle's membership proof. An event
 * that names no bottle (an EPCIS event about other things, kept in the brand's log) commits to
 * `{ root: ZERO_HASH, count: 0 }`.
 */
export function commitCodes(secret: Uint8Array, serials: readonly string[]): { codes: CodesCommitment; members: Map<string, Membership> } {
  if (serials.length === 0) return { codes: { root: ZERO_HASH, count: 0 }, members: new Map() };
  const tree = new MemberTree(secret, serials);
  return { codes: { root: tree.tree.root, count: serials.length }, members: new Map(serials.map((serial) => [serial, tree.member(serial)!])) };
}

/** Whether `membership` proves that the event committed to `codes` names `serial`. */
export function isMember(codes: CodesCommitment, serial: string, membership: Membership): boolean {
  return processProof(memberLeaf(membership.salt, serial), membership.proof) === codes.root;
}

/** The commitment to an EPCIS event (and the document's @context), which bundles show instead of it. */
export function epcisDigest(event: Json, context: Json | null): Hash {
  return toHex(keccak256(concat(TAG.epcis, ascii(canonicalJson({ context, event })))));
}

/**
 * The format-2 form of an event, the object that is stored and hashed: `codes` becomes the
 * commitment to the bottles, and an EPCIS event (`epcis`, with the document's `context`) becomes its
 * digest, so that a bundle shows no other bottle's serial. Every other field is kept as it is.
 */
export function commitEvent(draft: CanonicalEvent, secret: Uint8Array): { event: Record<string, Json>; members: Map<string, Membership> } {
  const { codes, members } = commitCodes(secret, draft.codes);
  return { event: committedEvent(draft, codes), members };
}

/** `commitEvent`'s event alone, with `codes` already computed (the ledger needs no proof). */
export function committedEvent(draft: CanonicalEvent, codes: CodesCommitment): Record<string, Json> {
  const { epcis, context, ...rest } = draft;
  const event: Record<string, Json> = { ...rest, codes: { root: codes.root, count: codes.count } };
  if (epcis !== undefined) event.epcis = epcisDigest(epcis, context ?? null);
  else if (context !== undefined) event.context = context;
  return event;
}

// ---------------------------------------------------------------------------------------------
// The heads map: a positional binary tree of depth D; a chain's head sits at leaf `index`.

export function headLeaf(index: number, n: number, linkHash: Hash): Hash {
  const leaf = new Uint8Array(32);
  headLeafInto(leaf, 0, index, n, fromHex(linkHash));
  return toHex(leaf);
}

const headBuffer = new Uint8Array(TAG.head.length + 48);
headBuffer.set(TAG.head, 0);
const headView = new DataView(headBuffer.buffer);

/** `headLeaf` on bytes, written into `out` at `at` (the sealer computes a million of them). */
export function headLeafInto(
  out: Uint8Array,
  at: number,
  index: number,
  n: number,
  linkHash: Uint8Array,
  keccak: (bytes: Uint8Array) => Uint8Array = keccak256,
): void {
  checkU64(index);
  checkU64(n);
  // Big-endian u64s as two u32s (BigInt conversions cost more than the hash on a million heads).
  headView.setUint32(TAG.head.length, Math.floor(index / 2 ** 32));
  headView.setUint32(TAG.head.length + 4, index >>> 0);
  headView.setUint32(TAG.head.length + 8, Math.floor(n / 2 ** 32));
  headView.setUint32(TAG.head.length + 12, n >>> 0);
  headBuffer.set(linkHash.subarray(0, 32), TAG.head.length + 16);
  out.set(keccak(headBuffer).subarray(0, 32), at);
}

const ZERO = new Uint8Array(32);
const nodeBuffer = new Uint8Array(TAG.node.length + 64);
nodeBuffer.set(TAG.node, 0);

function isZero(bytes: Uint8Array, at = 0): boolean {
  for (let i = 0; i < 32; i++) if (bytes[at + i] !== 0) return false;
  return true;
}

/**
 * An inner node of the heads tree from its children (32 bytes each). An empty subtree is ZERO at
 * every height, so a map of a few chains needs no padding and its tiles hold mostly zeros.
 */
export function headNodeBytes(left: Uint8Array, right: Uint8Array, keccak: (bytes: Uint8Array) => Uint8Array = keccak256): Uint8Array {
  if (isZero(left) && isZero(right)) return ZERO.slice();
  nodeBuffer.set(left.subarray(0, 32), TAG.node.length);
  nodeBuffer.set(right.subarray(0, 32), TAG.node.length + 32);
  return keccak(nodeBuffer).slice(0, 32);
}

export function headNode(left: Hash, right: Hash): Hash {
  return toHex(headNodeBytes(fromHex(left), fromHex(right)));
}

/** The depth a heads tree needs to hold leaf `maxIndex`: at least 1. */
export function depthFor(maxIndex: number): number {
  let depth = 1;
  while (2 ** depth <= maxIndex) depth++;
  return depth;
}

/** The heads root that `proof` (siblings from the leaf up, one per level) leads to from leaf `index`. */
export function processHeadProof(index: number, leaf: Hash, proof: readonly Hash[]): Hash {
  if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** proof.length) {
    throw new RangeError(`index ${index} does not fit a tree of depth ${proof.length}`);
  }
  let node = fromHex(leaf);
  let position = index;
  for (const sibling of proof) {
    const other = fromHex(sibling);
    node = position % 2 === 0 ? headNodeBytes(node, other) : headNodeBytes(other, node);
    position = Math.floor(position / 2);
  }
  return toHex(node);
}

/** The heads root of a whole map, computed directly (for tests and small maps: O(leaves × depth)). */
export function headsRootOf(leaves: ReadonlyMap<number, Hash>, depth: number): Hash {
  let level = new Map([...leaves].map(([index, leaf]) => [index, fromHex(leaf)]));
  for (let d = 0; d < depth; d++) {
    const next = new Map<number, Uint8Array>();
    for (const index of level.keys()) {
      const parent = Math.floor(index / 2);
      if (next.has(parent)) continue;
      const left = level.get(parent * 2) ?? ZERO,
        right = level.get(parent * 2 + 1) ?? ZERO;
      next.set(parent, headNodeBytes(left, right));
    }
    level = next;
  }
  return level.size === 0 ? ZERO_HASH : toHex(level.get(0)!);
}

// ---------------------------------------------------------------------------------------------
// The root a format-2 batch anchors: its links tree and the heads map after it, in one hash.

export function batchRoot(linksRoot: Hash, headsRoot: Hash, headsDepth: number): Hash {
  if (!Number.isInteger(headsDepth) || headsDepth < 1 || headsDepth > MAX_HEADS_DEPTH)
    throw new RangeError(`heads depth ${headsDepth} is outside 1..${MAX_HEADS_DEPTH}`);
  return toHex(keccak256(concat(TAG.batch, fromHex(linksRoot), fromHex(headsRoot), Uint8Array.of(headsDepth))));
}
