/**
 * The `link_tiles` table (migration 0010): each sealed batch's links tree, stored once as immutable
 * tiles (core/tiles.ts), written by the sealer in one statement; proofs are cut from them when asked
 * (core/merkle.ts `proofFromLinkTiles`). Level-0 tiles are the leaves, with the id of each leaf's
 * link, so a link finds its batch and leaf index by the tile whose first id precedes its own.
 * Batches sealed before migration 0010 kept a proof in each link row instead (`links.proof`).
 */
import { toHex, type Hash } from "../core/hash.ts";
import { linkTileGroups, proofFromBytes, proofFromLinkTiles, type MerkleTree } from "../core/merkle.ts";
import { TILE_WIDTH, tileId } from "../core/tiles.ts";
import type { Db, Tx } from "../db/pool.ts";

/**
 * SQL: the batch of the link aliased `l` (what the SQL function `link_batch` of migration 0010 gives),
 * written out for queries that run per request: PostgreSQL does not inline a SQL function with a
 * subquery, and calling it per link cost the consumer page 0.4 ms.
 */
export const linkBatchSql = (l: string): string =>
  `COALESCE(${l}.batch_seq, (SELECT lb.seq FROM batches lb WHERE lb.last_link >= ${l}.id AND lb.first_link < ${l}.id ORDER BY lb.last_link LIMIT 1))`;

/** Stores every tile of batch `seq`'s tree; `ids[i]` is the link id of leaf `i`. */
export async function writeLinkTiles(tx: Tx, seq: number, tree: MerkleTree, ids: readonly number[]): Promise<number> {
  const levels: number[] = [],
    indexes: number[] = [],
    offsets: number[] = [],
    lengths: number[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (let group = 0; group < linkTileGroups(tree.leafCount); group++) {
    for (let index = 0; index < tree.tileCount(group); index++) {
      const tile = tree.tile(group, index);
      levels.push(group);
      indexes.push(index);
      offsets.push(offset);
      lengths.push(tile.length);
      parts.push(tile);
      offset += tile.length;
    }
  }
  // The hashes travel as one binary parameter and the ids as one array; each row takes its slice.
  await tx.query({
    name: "link-tiles-write",
    text: `INSERT INTO link_tiles (seq, lvl, idx, hashes, ids)
           SELECT $1, t.lvl, t.idx, substring($2::bytea FROM t.off + 1 FOR t.len),
                  CASE WHEN t.lvl = 0 THEN ($7::bigint[])[t.idx * ${TILE_WIDTH} + 1 : t.idx * ${TILE_WIDTH} + t.len / 32] END
             FROM unnest($3::smallint[], $4::bigint[], $5::int[], $6::int[]) AS t(lvl, idx, off, len)`,
    // A million ids as one array literal written here: pg escapes array elements one by one.
    values: [seq, Buffer.concat(parts), levels, indexes, offsets, lengths, `{${ids.join(",")}}`],
  });
  return levels.length;
}

/** Where a link sits in its batch, with its Merkle proof to the batch's links root. */
export interface LinkPlace {
  seq: number;
  leafIndex: number;
  proof: Hash[];
}

/**
 * The places of the links `ids` that are sealed in a batch with tiles (others are absent: pending,
 * or sealed before migration 0010 with their proof in their row). One statement: each link's level-0
 * tile, then the one tile per group above it that its proof reads.
 */
export async function readLinkPlaces(db: Db | Tx, ids: readonly number[]): Promise<Map<number, LinkPlace>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ id: number; seq: number; leaf_index: number; leaf_count: number; lvl: number; idx: number; hashes: Buffer }>({
    name: "link-places",
    text: `WITH leaf AS (
             SELECT w.id, t.seq, t.idx * ${TILE_WIDTH} + array_position(t.ids, w.id) - 1 AS leaf_index
               FROM unnest($1::bigint[]) AS w(id)
               CROSS JOIN LATERAL (SELECT seq, idx, ids FROM link_tiles WHERE lvl = 0 AND ids[1] <= w.id ORDER BY ids[1] DESC LIMIT 1) t
              WHERE array_position(t.ids, w.id) IS NOT NULL)
           SELECT leaf.id, leaf.seq, leaf.leaf_index, b.leaf_count, tl.lvl, tl.idx, tl.hashes
             FROM leaf JOIN batches b ON b.seq = leaf.seq
             CROSS JOIN generate_series(0, 6) AS g(lvl)
             JOIN link_tiles tl ON tl.seq = leaf.seq AND tl.lvl = g.lvl AND tl.idx = leaf.leaf_index >> (8 * (g.lvl + 1))`,
    values: [ids],
  });
  const byLink = new Map<number, { seq: number; leafIndex: number; leafCount: number; tiles: Map<string, Uint8Array> }>();
  for (const row of rows) {
    let entry = byLink.get(row.id);
    if (entry === undefined) byLink.set(row.id, (entry = { seq: row.seq, leafIndex: row.leaf_index, leafCount: row.leaf_count, tiles: new Map() }));
    entry.tiles.set(tileId({ group: row.lvl, index: row.idx }), row.hashes);
  }
  return new Map([...byLink].map(([id, e]) => [id, { seq: e.seq, leafIndex: e.leafIndex, proof: proofFromLinkTiles(e.leafIndex, e.leafCount, e.tiles) }]));
}

/**
 * A sealed link's proof: the one stored in its row (batches sealed before migration 0010), else the
 * one `readLinkPlaces` cut from its batch's tiles; null when neither is there.
 */
export function storedProof(inRow: Uint8Array | null, place: LinkPlace | undefined): Hash[] | null {
  if (inRow !== null) return proofFromBytes(inRow);
  return place?.proof ?? null;
}

/** Tile (level, index) of batch `seq`'s links tree, or null when the batch has no such tile. */
export async function readLinkTile(db: Db, seq: number, level: number, index: number): Promise<Buffer | null> {
  const {
    rows: [row],
  } = await db.query<{ hashes: Buffer }>({
    name: "link-tile",
    text: "SELECT hashes FROM link_tiles WHERE seq = $1 AND lvl = $2 AND idx = $3",
    values: [seq, level, index],
  });
  return row?.hashes ?? null;
}

/** The leaves of batch `seq` after leaf `after` (exclusive), a tile at a time, as hex lines. */
export async function leafLinesAfter(db: Db, seq: number, after: number, tiles: number): Promise<{ text: string; last: number | null }> {
  const { rows } = await db.query<{ idx: number; hashes: Buffer }>(
    "SELECT idx, hashes FROM link_tiles WHERE seq = $1 AND lvl = 0 AND idx >= $2 ORDER BY idx LIMIT $3",
    [seq, Math.floor((after + 1) / TILE_WIDTH), tiles],
  );
  let text = "",
    last: number | null = null;
  for (const { idx, hashes } of rows) {
    for (let k = 0; k * 32 < hashes.length; k++) {
      const leafIndex = idx * TILE_WIDTH + k;
      if (leafIndex <= after) continue;
      text += `${toHex(hashes.subarray(k * 32, k * 32 + 32))}\n`;
      last = leafIndex;
    }
  }
  return { text, last };
}
