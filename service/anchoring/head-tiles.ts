/**
 * The `head_tiles` table (migration 0009): the heads map's tiles (core/heads.ts), one row per
 * version, a version per batch that changed the tile. The sealer writes and prunes them; the audit
 * export and the bench read them. (The bundle repo reads them in the same statement as their batch,
 * for one snapshot: service/verify/bundles.ts.)
 */
import { tileId, type TileKey } from "../core/tiles.ts";
import type { Db, Tx } from "../db/pool.ts";

/** The SQL condition on `head_tiles` for the tiles of arrays $k (groups) and $k+1 (indexes). */
const tilesIn = (k: number): string => `(grp, idx) IN (SELECT * FROM unnest($${k}::smallint[], $${k + 1}::bigint[]))`;

/**
 * Each tile of `keys` as the heads map of batch `atOrBefore` had it (its newest version at or before
 * that batch), or its newest version when `atOrBefore` is null; a tile with no such version is absent.
 */
export async function readTiles(db: Db | Tx, keys: readonly TileKey[], atOrBefore: number | null): Promise<Map<string, Uint8Array>> {
  const { rows } = await db.query<{ grp: number; idx: number; hashes: Buffer }>(
    `SELECT DISTINCT ON (grp, idx) grp, idx, hashes FROM head_tiles
      WHERE ${tilesIn(1)} AND ($3::bigint IS NULL OR seq <= $3) ORDER BY grp, idx, seq DESC`,
    [keys.map((k) => k.group), keys.map((k) => k.index), atOrBefore],
  );
  return new Map(rows.map((r) => [tileId({ group: r.grp, index: r.idx }), r.hashes]));
}

/**
 * Stores batch `seq`'s versions of `tiles`, and deletes the versions of those tiles no proof will ask
 * for again: older than their newest version at or before the latest anchored batch (bundles prove
 * heads against the latest anchored batch).
 */
export async function writeTiles(tx: Tx, seq: number, tiles: readonly { key: TileKey; bytes: Uint8Array }[]): Promise<void> {
  const size = tiles[0]?.bytes.length ?? 0;
  const bytes = Buffer.allocUnsafe(tiles.length * size);
  tiles.forEach((tile, i) => bytes.set(tile.bytes, i * size));
  const groups = tiles.map((t) => t.key.group),
    indexes = tiles.map((t) => t.key.index);
  await tx.query(
    `INSERT INTO head_tiles (grp, idx, seq, hashes)
     SELECT t.g, t.i, $1, substring($2::bytea FROM ((t.k - 1) * $5::int + 1)::int FOR $5::int)
       FROM unnest($3::smallint[], $4::bigint[]) WITH ORDINALITY AS t(g, i, k)`,
    [seq, bytes, groups, indexes, size],
  );
  await tx.query(
    `DELETE FROM head_tiles t
      WHERE ${tilesIn(1)}
        AND t.seq < (SELECT max(u.seq) FROM head_tiles u WHERE u.grp = t.grp AND u.idx = t.idx
                        AND u.seq <= (SELECT COALESCE(max(seq), 0) FROM batches WHERE state = 'anchored'))`,
    [groups, indexes],
  );
}
