/**
 * The heads map stored as tiles, the way C2SP tlog-tiles stores a log: the tree is cut into groups of
 * 8 levels, and a tile holds the 256 nodes at the bottom level of one group (8,192 bytes). Tile
 * (g, t) holds the nodes of tree level 8g with indices t·256 … t·256 + 255; every node inside a group
 * is recomputed from its tile when needed. The top group is shorter when the depth is not a multiple
 * of 8, and then holds one tile.
 *
 * A batch rewrites only the tiles under the chains it moves (and each group's tile 0, whose root
 * changes when the tree deepens); a proof reads one tile per group. Chains get consecutive indices
 * as they start, so a lot's bottles share tiles and a batch of new bottles writes about one tile per
 * 256 of them. Pure: the sealer (service/anchoring) and the bundle store read and write the tiles.
 */
import { headNodeBytes } from "./commitments.ts";
import { fromHex, keccak256, toHex, type Hash } from "./hash.ts";

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 2 ** TILE_HEIGHT;
export const TILE_BYTES = TILE_WIDTH * 32;

type Keccak = (bytes: Uint8Array) => Uint8Array;

/** A tile's address: group `g` (its bottom is tree level 8g) and its index `t` within the group. */
export interface TileKey { group: number; index: number }

export const tileId = (key: TileKey): string => `${key.group}/${key.index}`;

/** How many tile groups a tree of `depth` levels has. */
export const groupsFor = (depth: number): number => Math.ceil(depth / TILE_HEIGHT);

/** The levels group `g` spans in a tree of `depth`: 8, except for a shorter top group. */
function heightOf(group: number, depth: number): number {
  return Math.min(TILE_HEIGHT, depth - group * TILE_HEIGHT);
}

/** The node `levels` levels above the first 2^levels entries of a tile. */
export function tileRoot(tile: Uint8Array, levels: number, keccak: Keccak = keccak256): Uint8Array {
  let width = 2 ** levels;
  let level = tile.subarray(0, width * 32);
  while (width > 1) {
    const next = new Uint8Array((width / 2) * 32);
    for (let i = 0; i < width; i += 2) {
      next.set(headNodeBytes(level.subarray(i * 32, i * 32 + 32), level.subarray(i * 32 + 32, i * 32 + 64), keccak), (i / 2) * 32);
    }
    level = next;
    width /= 2;
  }
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
    let level = tiles.get(tileId(key)) ?? new Uint8Array(TILE_BYTES);
    let position = Math.floor(index / TILE_WIDTH ** g) % TILE_WIDTH;
    let width = 2 ** heightOf(g, depth);
    level = level.subarray(0, width * 32);
    while (width > 1) {
      const sibling = position ^ 1;
      proof.push(toHex(level.subarray(sibling * 32, sibling * 32 + 32)));
      const next = new Uint8Array((width / 2) * 32);
      for (let i = 0; i < width; i += 2) {
        next.set(headNodeBytes(level.subarray(i * 32, i * 32 + 32), level.subarray(i * 32 + 32, i * 32 + 64), keccak), (i / 2) * 32);
      }
      level = next;
      width /= 2;
      position >>= 1;
    }
  });
  return proof;
}

export interface HeadsUpdate {
  /** The new version of every tile that changed, by `tileId`. */
  tiles: Map<string, { key: TileKey; bytes: Uint8Array }>;
  root: Hash;
}

/**
 * Applies new leaves to the map. `current` gives a tile's latest stored version (undefined: empty);
 * `leaves` are the new leaf hashes by index (all below 2^depth); `depth` may exceed the last batch's
 * (the map deepens as chains are added) but never shrinks.
 */
export function updateHeads(
  current: (key: TileKey) => Uint8Array | undefined, leaves: ReadonlyMap<number, Uint8Array | Hash>, depth: number, keccak: Keccak = keccak256,
): HeadsUpdate {
  const groups = groupsFor(depth);
  // changes[g]: tile index → (position in tile → new node)
  let changes = new Map<number, Map<number, Uint8Array>>();
  for (const [index, leaf] of leaves) {
    if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** depth) throw new RangeError(`index ${index} does not fit depth ${depth}`);
    const t = Math.floor(index / TILE_WIDTH);
    if (!changes.has(t)) changes.set(t, new Map());
    changes.get(t)!.set(index % TILE_WIDTH, typeof leaf === "string" ? fromHex(leaf) : leaf);
  }
  const tiles = new Map<string, { key: TileKey; bytes: Uint8Array }>();
  let root: Uint8Array | null = null;
  for (let g = 0; g < groups; g++) {
    // Tile 0 of every group is recomputed: a deeper tree changes what the old top group's root is.
    if (!changes.has(0)) changes.set(0, new Map());
    const height = heightOf(g, depth);
    const parents = new Map<number, Map<number, Uint8Array>>();
    for (const [t, set] of changes) {
      const key = { group: g, index: t };
      const stored = current(key);
      const bytes = new Uint8Array(TILE_BYTES);
      if (stored !== undefined) bytes.set(stored.subarray(0, TILE_BYTES));
      for (const [position, node] of set) bytes.set(node.subarray(0, 32), position * 32);
      tiles.set(tileId(key), { key, bytes });
      const subtree = tileRoot(bytes, height, keccak);
      if (g === groups - 1) {
        if (t !== 0) throw new RangeError("the top tile group holds one tile");
        root = subtree;
      } else {
        const p = Math.floor(t / TILE_WIDTH);
        if (!parents.has(p)) parents.set(p, new Map());
        parents.get(p)!.set(t % TILE_WIDTH, subtree);
      }
    }
    changes = parents;
  }
  return { tiles, root: toHex(root!) };
}
