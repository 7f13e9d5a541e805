/**
 * Bench data straight into the tables: one brand, product, bottle and event, and `count` links
 * whose leaves are 32 pseudo-random bytes each (two md5s; the tree does not care where they come
 * from). Either pending (for sealing) or already sealed as batch 1, its leaves as tiles (for streaming them).
 * Pending links each stand for a chain of its own (heads-map indexes 0 … count − 1, as a run of
 * new lots would have): the most heads one batch can move.
 */
import type pg from "pg";

export async function seedLinks(db: pg.Client, count: number, options: { sealed?: boolean } = {}): Promise<void> {
  await db.query(`INSERT INTO brands (slug, name, api_key_hash) VALUES ('bench', 'bench', '\\x00')`);
  await db.query(`INSERT INTO regions (brand_id, code, name) SELECT id, 'R', 'R' FROM brands`);
  await db.query(`INSERT INTO products (brand_id, gtin, name) SELECT id, '06901234567892', 'bench' FROM brands`);
  await db.query(`INSERT INTO serials (serial, brand_id) SELECT 'BENCH', id FROM brands`);
  await db.query(`INSERT INTO codes (serial, brand_id, gtin, secret_hash) SELECT 'BENCH', id, '06901234567892', '\\x00' FROM brands`);
  await db.query(`INSERT INTO events (brand_id, brand_event_id, type, codes, occurred_at, received_at, party, salt, canonical, event_hash)
                  SELECT id, 'e', 'production', '{BENCH}', now(), now(), 'factory', 's', '{}', '\\x00' FROM brands`);
  await db.query(
    `INSERT INTO links (brand_id, serial, n, event_id, prev, link_hash, leaf, chain_index)
                  SELECT (SELECT id FROM brands), 'BENCH', i, (SELECT id FROM events LIMIT 1), '\\x00', decode(md5((i + 2)::text) || md5((i + 3)::text), 'hex'),
                         decode(md5(i::text) || md5((i + 1)::text), 'hex'), i - 1
                    FROM generate_series(1, $1) AS i`,
    [count],
  );
  if (options.sealed) {
    // Batch 1 holds them all, with its leaves as tiles (the upper tiles and the root are not needed to stream leaves).
    // Link ids start at the month's first id (migration 0016): the range and the tiles count from there.
    await db.query(
      `INSERT INTO batches (seq, root, leaf_count, first_link, last_link)
       SELECT 1, decode(md5('root') || md5('root'), 'hex'), $1, min(id) - 1, max(id) FROM links`,
      [count],
    );
    await db.query(`INSERT INTO link_tiles (seq, lvl, idx, hashes, ids)
                    SELECT 1, 0, (id - f.first) / 256, string_agg(leaf, ''::bytea ORDER BY id), array_agg(id ORDER BY id)
                      FROM links, (SELECT min(id) AS first FROM links) f GROUP BY (id - f.first) / 256`);
  }
}
