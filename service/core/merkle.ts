/**
 * Binary Merkle tree over 32-byte leaves with sorted pairs: parent = keccak256(min(a,b) ‖ max(a,b)).
 * An odd node at the end of a level is carried up unchanged. This gives exactly the roots and proofs
 * of merkletreejs with `sortPairs: true`, and every proof checks with OpenZeppelin's
 * `MerkleProof.verify`. Written by hand because merkletreejs copies buffers on every hash and is
 * about ten times slower on the million-leaf batches the sealer builds (the tests cross-check both).
 *
 * Each level is one flat buffer (32 bytes a node), not an array of small arrays: a 1,000,000-leaf
 * tree is 64 MB in a few objects instead of two million garbage-collected ones. The keccak256 used
 * for inner nodes can be passed in (the sealer passes a WebAssembly one, several times faster than
 * the pure-JS default, which the browser's self-check keeps using); the result is the same.
 */
import { fromHex, keccak256, toHex, type Hash } from "./hash.ts";
import { TILE_HEIGHT, TILE_WIDTH, tileId, type TileKey } from "./tiles.ts";

/** keccak256 of `bytes` as 32 bytes (the result may be reused by the caller only until the next call). */
export type Keccak = (bytes: Uint8Array) => Uint8Array;

const NODE = 32;

/** Compares the 32-byte nodes at `a[i..]` and `b[j..]`. */
function compareAt(a: Uint8Array, i: number, b: Uint8Array, j: number): number {
  for (let k = 0; k < NODE; k++) {
    const d = a[i + k]! - b[j + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

const pairBuffer = new Uint8Array(2 * NODE);

export function hashPair(a: Uint8Array, b: Uint8Array, keccak: Keccak = keccak256): Uint8Array {
  const [lo, hi] = compareAt(a, 0, b, 0) <= 0 ? [a, b] : [b, a];
  pairBuffer.set(lo, 0);
  pairBuffer.set(hi, NODE);
  return keccak(pairBuffer).slice(0, NODE);
}

/** The proofs of a range of leaves: `bytes[offsets[k] .. offsets[k + 1])` is leaf `from + k`'s proof. */
export interface ProofRange {
  bytes: Uint8Array;
  offsets: Int32Array;
}

/**
 * The level above `level` (32 bytes a node): sorted pairs hashed, an odd last node carried up. A
 * tile's nodes give the same parents as the whole level's, since tiles start at even positions.
 */
function parentLevel(level: Uint8Array, keccak: Keccak): Uint8Array {
  const count = level.length / NODE;
  const nextCount = Math.ceil(count / 2);
  const next = new Uint8Array(nextCount * NODE);
  const pair = new Uint8Array(2 * NODE);
  for (let i = 0; i + 1 < count; i += 2) {
    const a = i * NODE,
      b = a + NODE;
    if (compareAt(level, a, level, b) <= 0) pair.set(level.subarray(a, b + NODE));
    else {
      pair.set(level.subarray(b, b + NODE), 0);
      pair.set(level.subarray(a, b), NODE);
    }
    next.set(keccak(pair).subarray(0, NODE), (i >> 1) * NODE);
  }
  if (count % 2 === 1) next.set(level.subarray((count - 1) * NODE, count * NODE), (nextCount - 1) * NODE);
  return next;
}

export class MerkleTree {
  /** levels[0] are the leaves, the last level holds the root alone; 32 bytes a node. */
  private readonly levels: Uint8Array[];

  /**
   * @param leaves the leaves as hashes or 32-byte arrays, or all of them concatenated in one array
   * @param keccak the keccak256 implementation for inner nodes (the pure-JS one by default)
   */
  constructor(leaves: readonly (Hash | Uint8Array)[] | Uint8Array, keccak: Keccak = keccak256) {
    let level: Uint8Array;
    if (leaves instanceof Uint8Array) {
      if (leaves.length % NODE !== 0) throw new RangeError("concatenated leaves must be a multiple of 32 bytes");
      level = leaves;
    } else {
      level = new Uint8Array(leaves.length * NODE);
      leaves.forEach((leaf, i) => {
        const bytes = typeof leaf === "string" ? fromHex(leaf) : leaf;
        if (bytes.length !== NODE) throw new RangeError(`leaf ${i} is not 32 bytes`);
        level.set(bytes, i * NODE);
      });
    }
    if (level.length === 0) throw new RangeError("a Merkle tree needs at least one leaf");
    this.levels = [level];
    while (level.length > NODE) {
      level = parentLevel(level, keccak);
      this.levels.push(level);
    }
  }

  /** A tree from the levels another `MerkleTree` built (`levels()`), as a worker thread hands them back. */
  static fromLevels(levels: Uint8Array[]): MerkleTree {
    const tree = Object.create(MerkleTree.prototype) as MerkleTree;
    for (let d = 0; d + 1 < levels.length; d++) {
      if (levels[d + 1]!.length !== Math.ceil(levels[d]!.length / NODE / 2) * NODE) throw new RangeError(`level ${d + 1} does not fit level ${d}`);
    }
    if (levels.length === 0 || levels.at(-1)!.length !== NODE) throw new RangeError("the last level must be the root alone");
    (tree as unknown as { levels: Uint8Array[] }).levels = levels;
    return tree;
  }

  /** The tree's levels, leaves first (the arrays themselves, not copies). */
  allLevels(): readonly Uint8Array[] {
    return this.levels;
  }

  get leafCount(): number {
    return this.levels[0]!.length / NODE;
  }

  get root(): Hash {
    return toHex(this.levels[this.levels.length - 1]!);
  }

  /** Sibling hashes from leaf `index` up to the root. */
  proof(index: number): Hash[] {
    const bytes = this.proofBytes(index);
    const proof: Hash[] = [];
    for (let i = 0; i < bytes.length; i += NODE) proof.push(toHex(bytes.subarray(i, i + NODE)));
    return proof;
  }

  /** The same proof as `proof(index)`, as its 32-byte siblings concatenated (how it is stored). */
  proofBytes(index: number): Uint8Array {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount) {
      throw new RangeError(`leaf index ${index} is outside 0..${this.leafCount - 1}`);
    }
    const { bytes } = this.proofRange(index, index + 1);
    return bytes;
  }

  /**
   * The proofs of leaves `from` (inclusive) to `to` (exclusive), computed level by level (each level
   * is read in order once) into one buffer: how the sealer stores a million proofs a slice at a time.
   */
  proofRange(from: number, to: number): ProofRange {
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > this.leafCount || from >= to) {
      throw new RangeError(`leaf range ${from}..${to} is outside 0..${this.leafCount}`);
    }
    const depth = this.levels.length - 1;
    const count = to - from;
    const offsets = new Int32Array(count + 1);
    // A leaf has a sibling at a level unless it is the odd node carried up there.
    for (let k = 0; k < count; k++) {
      let length = 0;
      for (let d = 0, i = from + k; d < depth; d++, i >>= 1) if ((i ^ 1) < this.levels[d]!.length / NODE) length += NODE;
      offsets[k + 1] = offsets[k]! + length;
    }
    const bytes = new Uint8Array(offsets[count]!);
    const cursor = offsets.slice(0, count);
    for (let d = 0; d < depth; d++) {
      const level = this.levels[d]!;
      const nodes = level.length / NODE;
      for (let k = 0; k < count; k++) {
        const sibling = ((from + k) >> d) ^ 1;
        if (sibling < nodes) {
          bytes.set(level.subarray(sibling * NODE, (sibling + 1) * NODE), cursor[k]!);
          cursor[k]! += NODE;
        }
      }
    }
    return { bytes, offsets };
  }

  /** How many tiles group `group` has (`linkTileGroups` tells how many groups there are). */
  tileCount(group: number): number {
    return Math.ceil(this.levels[group * TILE_HEIGHT]!.length / NODE / TILE_WIDTH);
  }

  /**
   * Tile `index` of group `group`: the nodes of tree level 8·group with indices index·256 …
   * index·256 + 255 (fewer in the level's last tile), concatenated; a view, not a copy.
   */
  tile(group: number, index: number): Uint8Array {
    const level = this.levels[group * TILE_HEIGHT]!;
    return level.subarray(index * TILE_WIDTH * NODE, Math.min(level.length, (index + 1) * TILE_WIDTH * NODE));
  }
}

/** The number of levels above the leaves of a tree of `leafCount` leaves (the length of a proof of its first leaf). */
export function treeDepth(leafCount: number): number {
  let depth = 0;
  for (let count = leafCount; count > 1; count = Math.ceil(count / 2)) depth++;
  return depth;
}

/**
 * How many tile groups store a tree of `leafCount` leaves: the groups whose bottom level lies below
 * the root, and always group 0 (the leaves, even when one leaf is the root).
 */
export function linkTileGroups(leafCount: number): number {
  return Math.max(1, Math.ceil(treeDepth(leafCount) / TILE_HEIGHT));
}

/** The tiles a proof of leaf `index` reads, one per group, from the bottom up. */
export function linkTilesForProof(index: number, leafCount: number): TileKey[] {
  const keys: TileKey[] = [];
  for (let g = 0; g < linkTileGroups(leafCount); g++) keys.push({ group: g, index: Math.floor(index / TILE_WIDTH ** (g + 1)) });
  return keys;
}

/**
 * The proof of leaf `index` in a tree of `leafCount` leaves (exactly `MerkleTree.proof(index)`),
 * cut from the tiles `linkTilesForProof` names: the siblings inside each tile are recomputed from
 * its nodes, the way C2SP tlog-tiles serves a log. Throws when a tile is missing or has the wrong
 * number of nodes for the tree (a stored tile that does not belong to this tree).
 */
export function proofFromLinkTiles(index: number, leafCount: number, tiles: ReadonlyMap<string, Uint8Array>, keccak: Keccak = keccak256): Hash[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leafCount) throw new RangeError(`leaf index ${index} is outside 0..${leafCount - 1}`);
  const depth = treeDepth(leafCount);
  const proof: Hash[] = [];
  linkTilesForProof(index, leafCount).forEach((key, g) => {
    const tile = tiles.get(tileId(key));
    const levelCount = Math.ceil(leafCount / TILE_WIDTH ** g);
    const expected = Math.min(TILE_WIDTH, levelCount - key.index * TILE_WIDTH) * NODE;
    if (tile === undefined || tile.length !== expected) {
      throw new RangeError(
        `tile ${tileId(key)} of a ${leafCount}-leaf tree must hold ${expected / NODE} nodes; found ${tile === undefined ? "none" : tile.length / NODE}`,
      );
    }
    let level = tile;
    let position = Math.floor(index / TILE_WIDTH ** g) % TILE_WIDTH;
    for (let d = g * TILE_HEIGHT; d < Math.min(depth, (g + 1) * TILE_HEIGHT); d++) {
      const sibling = position ^ 1;
      if (sibling < level.length / NODE) proof.push(toHex(level.subarray(sibling * NODE, (sibling + 1) * NODE)));
      level = parentLevel(level, keccak);
      position >>= 1;
    }
  });
  return proof;
}

/** The root that `proof` leads to from `leaf` (OpenZeppelin's `processProof`). */
export function processProof(leaf: Hash, proof: readonly Hash[]): Hash {
  let node = fromHex(leaf);
  for (const sibling of proof) node = hashPair(node, fromHex(sibling));
  return toHex(node);
}

/** Splits a stored proof (concatenated 32-byte siblings) back into hashes. */
export function proofFromBytes(bytes: Uint8Array): Hash[] {
  if (bytes.length % NODE !== 0) throw new RangeError("a stored proof must be a multiple of 32 bytes");
  const proof: Hash[] = [];
  for (let i = 0; i < bytes.length; i += NODE) proof.push(toHex(bytes.subarray(i, i + NODE)));
  return proof;
}

export function verifyProof(leaf: Hash, proof: readonly Hash[], root: Hash): boolean {
  return processProof(leaf, proof) === root;
}
