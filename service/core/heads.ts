/**
 * The heads map stored as tiles (core/tiles.ts: groups of 8 levels, 256 nodes of 32 bytes a tile).
 * The map is a positional tree of fixed depth, so every tile is full (8,192 bytes, ZERO where no
 * chain is); the top group is shorter when the depth is not a multiple of 8, and then holds one tile.
 *
 * A batch rewrites only the tiles under the chains it moves (and each group's tile 0, whose root
 * changes when the tree deepens); a proof reads one tile per group. Chains get consecutive indices
 * as they start, so a lot's bottles share tiles and a batch of new bottles writes about one tile per
 * 256 of them. Pure: the sealer (service/anchoring) and the bundle repo read and write the tiles.
 */
import { headNodeBytes } from "./commitments.ts";
import { fromHex, keccak256, toHex, type Hash } from "./hash.ts";
import { TILE_BYTES, TILE_HEIGHT, TILE_WIDTH, tileId, type TileKey } from "./tiles.ts";

type Keccak = (bytes: Uint8Array) => Uint8Array;

/** How many tile groups a tree of `depth` levels has. */
export const groupsFor = (depth: number): number => Math.ceil(depth / TILE_HEIGHT);

/** The levels group `g` spans in a tree of `depth`: 8, except for a shorter top group. */
function heightOf(group: number, depth: number): number {
  return Math.min(TILE_HEIGHT, depth - group * TILE_HEIGHT);
}

/** The level above `level` (its nodes, 32 bytes each, an even number of them). */
function parentLevel(level: Uint8Array, keccak: Keccak): Uint8Array {
  const next = new Uint8Array(level.length / 2);
  for (let at = 0; at < level.length; at += 64) {
    next.set(headNodeBytes(level.subarray(at, at + 32), level.subarray(at + 32, at + 64), keccak), at / 2);
  }
  return next;
}

/** The node `levels` levels above the first 2^levels entries of a tile. */
export function tileRoot(tile: Uint8Array, levels: number, keccak: Keccak = keccak256): Uint8Array {
  let level = tile.subarray(0, 2 ** levels * 32);
  for (let d = 0; d < levels; d++) level = parentLevel(level, keccak);
  return level.slice(0, 32);
}

/** The tiles a proof of leaf `index` reads, one per group, from the bottom up. */
export function tilesForProof(index: number, depth: number): TileKey[] {
  const keys: TileKey[] = [];
  for (let g = 0; g < groupsFor(depth); g++) keys.push({ group: g, index: Math.floor(index / TILE_WIDTH ** (g + 1)) });
  return keys;
}

/**
 * The proof of leaf `index` (siblings from the leaf up, `depth` of them) from the tiles
 * `tilesForProof` names; a missing tile is an empty one.
 */
export function proofFromTiles(index: number, depth: number, tiles: ReadonlyMap<string, Uint8Array>, keccak: Keccak = keccak256): Hash[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** depth) throw new RangeError(`index ${index} does not fit depth ${depth}`);
  const proof: Hash[] = [];
  tilesForProof(index, depth).forEach((key, g) => {
    const levels = heightOf(g, depth);
    let level = (tiles.get(tileId(key)) ?? new Uint8Array(TILE_BYTES)).subarray(0, 2 ** levels * 32);
    let position = Math.floor(index / TILE_WIDTH ** g) % TILE_WIDTH;
    for (let d = 0; d < levels; d++) {
      const sibling = position ^ 1;
      proof.push(toHex(level.subarray(sibling * 32, sibling * 32 + 32)));
      level = parentLevel(level, keccak);
      position >>= 1;
    }
  });
  return proof;
}

/**
 * The tiles `updateHeads` reads and rewrites when the leaves at `indices` (ascending) move in a tree
 * of `depth`: in every group, the tiles above those leaves, and tile 0.
 */
export function tilesUnder(indices: ArrayLike<number>, depth: number): TileKey[] {
  const keys: TileKey[] = [];
  for (let g = 0; g < groupsFor(depth); g++) {
    const span = TILE_WIDTH ** (g + 1);
    keys.push({ group: g, index: 0 });
    let last = 0;
    for (let i = 0; i < indices.length; i++) {
      const t = Math.floor(indices[i]! / span);
      if (t !== last) keys.push({ group: g, index: t });
      last = t;
    }
  }
  return keys;
}

export interface HeadsUpdate {
  /** The new version of every tile that changed, by `tileId`, bottom group first. */
  tiles: Map<string, { key: TileKey; bytes: Uint8Array }>;
  root: Hash;
}

/** New leaves as flat arrays: ascending, distinct indexes, and their hashes, 32 bytes each in the same order. */
export interface LeafRun {
  indices: ArrayLike<number>;
  leaves: Uint8Array;
}

function runOf(leaves: ReadonlyMap<number, Uint8Array | Hash> | LeafRun): LeafRun {
  if (!(leaves instanceof Map)) return leaves as LeafRun;
  const indices = [...leaves.keys()].sort((a, b) => a - b);
  const flat = new Uint8Array(indices.length * 32);
  indices.forEach((index, i) => {
    const leaf = leaves.get(index)!;
    flat.set(typeof leaf === "string" ? fromHex(leaf) : leaf.subarray(0, 32), i * 32);
  });
  return { indices, leaves: flat };
}

/**
 * Applies new leaves to the map. `current` gives a tile's latest stored version (undefined: empty);
 * `leaves` are the new leaf hashes, as a map by index (small maps) or as flat arrays (the sealer
 * moves up to a million chains a batch), every index below 2^depth; `depth` may exceed the last
 * batch's (the map deepens as chains are added) but never shrinks.
 */
export function updateHeads(
  current: (key: TileKey) => Uint8Array | undefined,
  leaves: ReadonlyMap<number, Uint8Array | Hash> | LeafRun,
  depth: number,
  keccak: Keccak = keccak256,
): HeadsUpdate {
  const run = runOf(leaves);
  if (run.leaves.length !== run.indices.length * 32) throw new RangeError("one 32-byte leaf per index");
  for (let i = 0; i < run.indices.length; i++) {
    const index = run.indices[i]!;
    if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** depth) throw new RangeError(`index ${index} does not fit depth ${depth}`);
    if (i > 0 && index <= run.indices[i - 1]!) throw new RangeError("indices must be ascending and distinct");
  }
  const groups = groupsFor(depth);
  const tiles: HeadsUpdate["tiles"] = new Map();
  let positions: ArrayLike<number> = run.indices;
  let nodes = run.leaves;
  let root: Uint8Array | null = null;
  for (let g = 0; g < groups; g++) {
    const height = heightOf(g, depth);
    const parents: number[] = [];
    const roots: Uint8Array[] = [];
    const apply = (t: number, from: number, to: number): void => {
      const key = { group: g, index: t };
      const bytes = new Uint8Array(TILE_BYTES);
      const stored = current(key);
      if (stored !== undefined) bytes.set(stored.subarray(0, TILE_BYTES));
      for (let i = from; i < to; i++) bytes.set(nodes.subarray(i * 32, i * 32 + 32), (positions[i]! % TILE_WIDTH) * 32);
      tiles.set(tileId(key), { key, bytes });
      const subtree = tileRoot(bytes, height, keccak);
      if (g === groups - 1) {
        if (t !== 0) throw new RangeError("the top tile group holds one tile");
        root = subtree;
      } else {
        parents.push(t);
        roots.push(subtree);
      }
    };
    // Tile 0 of every group is recomputed even when nothing under it moved: a deeper tree changes
    // what the old top group's root is.
    if (positions.length === 0 || Math.floor(positions[0]! / TILE_WIDTH) !== 0) apply(0, 0, 0);
    for (let from = 0; from < positions.length;) {
      const t = Math.floor(positions[from]! / TILE_WIDTH);
      let to = from + 1;
      while (to < positions.length && Math.floor(positions[to]! / TILE_WIDTH) === t) to++;
      apply(t, from, to);
      from = to;
    }
    positions = parents;
    nodes = new Uint8Array(roots.length * 32);
    roots.forEach((r, i) => nodes.set(r, i * 32));
  }
  return { tiles, root: toHex(root!) };
}
