/**
 * How SealTrace stores its Merkle trees, the way C2SP tlog-tiles stores a log: the tree is cut into
 * groups of 8 levels, and a tile holds the (at most) 256 nodes at the bottom level of one group,
 * 32 bytes each. Tile (g, t) holds the nodes of tree level 8g with indices t·256 … t·256 + 255; every
 * node inside a group is recomputed from its tile when a proof needs it. Both trees use this layout:
 * a batch's links tree (core/merkle.ts, immutable once sealed) and the heads map (core/heads.ts,
 * a new version of a tile for each batch that changes it).
 */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 2 ** TILE_HEIGHT;
export const TILE_BYTES = TILE_WIDTH * 32;

/** A tile's address: group `g` (its bottom is tree level 8g) and its index `t` within the group. */
export interface TileKey {
  group: number;
  index: number;
}

export const tileId = (key: TileKey): string => `${key.group}/${key.index}`;
