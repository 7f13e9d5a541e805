-- Up Migration

-- A batch's links tree is stored once, as immutable tiles (core/tiles.ts, core/merkle.ts), instead of
-- a proof written into every sealed link: sealing a million links no longer rewrites a million rows.
-- Batches sealed from now on cover a contiguous range of link ids, (first_link, last_link]; their
-- leaves are the range's links in id order. The sealer fences link writers (service/ledger/append.ts)
-- before it picks the range's end, so no link can commit into a range once it is sealed.
ALTER TABLE batches ADD COLUMN first_link bigint, ADD COLUMN last_link bigint;
ALTER TABLE batches ADD CONSTRAINT batches_link_range
  CHECK ((first_link IS NULL) = (last_link IS NULL) AND (first_link IS NULL OR first_link < last_link));
CREATE UNIQUE INDEX batches_last_link ON batches (last_link) WHERE last_link IS NOT NULL;

-- Where the first range starts: after every link sealed the old way, or before the first link still
-- pending. Links sealed the old way keep batch_seq, leaf_index and proof (even inside a later range:
-- the sealer skips them); links written from now on keep them null.
CREATE TABLE seal_start (
  one      boolean PRIMARY KEY DEFAULT true CHECK (one),
  link_id  bigint NOT NULL
);
INSERT INTO seal_start (link_id)
SELECT COALESCE((SELECT min(id) - 1 FROM links WHERE batch_seq IS NULL), (SELECT max(id) FROM links), 0);

-- Pending is now "after the last range", found by the primary key; only old-way links are indexed by batch.
DROP INDEX links_pending;
DROP INDEX links_batch;
CREATE INDEX links_batch ON links (batch_seq, leaf_index) WHERE batch_seq IS NOT NULL;

-- Tile (lvl, idx) of batch seq's links tree: the nodes of tree level 8·lvl with indices idx·256 …
-- idx·256 + 255 (fewer in a level's last tile). Level-0 tiles are the leaves, and carry the id of each
-- leaf's link, so a link finds its leaf index (and its batch) by the tile whose first id precedes it.
CREATE TABLE link_tiles (
  seq     bigint NOT NULL REFERENCES batches(seq),
  lvl     smallint NOT NULL CHECK (lvl >= 0),
  idx     bigint NOT NULL CHECK (idx >= 0),
  hashes  bytea NOT NULL CHECK (length(hashes) BETWEEN 32 AND 8192 AND length(hashes) % 32 = 0),
  ids     bigint[] CHECK ((lvl = 0) = (ids IS NOT NULL) AND (ids IS NULL OR cardinality(ids) * 32 = length(hashes))),
  PRIMARY KEY (seq, lvl, idx)
);
CREATE UNIQUE INDEX link_tiles_first_id ON link_tiles ((ids[1])) WHERE lvl = 0;
-- 32-byte hashes do not compress: store tiles out of line without trying.
ALTER TABLE link_tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;
ALTER TABLE head_tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;

-- The last link id sealed so far: links after it (and not sealed the old way) are pending.
CREATE FUNCTION links_sealed_through() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT COALESCE((SELECT max(last_link) FROM batches), (SELECT link_id FROM seal_start))
$$;

-- The batch of link `link_id` (whose batch_seq column is `legacy_seq`), or null while it is pending.
CREATE FUNCTION link_batch(link_id bigint, legacy_seq bigint) RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT COALESCE(legacy_seq,
    (SELECT seq FROM batches WHERE last_link >= link_id AND first_link < link_id ORDER BY last_link LIMIT 1))
$$;

-- Down Migration
-- A batch sealed as a range has no per-link proofs to fall back on: going down would lose its leaves.
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM batches WHERE last_link IS NOT NULL) THEN
    RAISE EXCEPTION 'batches were sealed as link ranges with tiles; migration 0010 cannot be undone';
  END IF;
END $$;
DROP FUNCTION link_batch(bigint, bigint);
DROP FUNCTION links_sealed_through();
ALTER TABLE head_tiles ALTER COLUMN hashes SET STORAGE EXTENDED;
DROP TABLE link_tiles;
DROP INDEX links_batch;
CREATE INDEX links_batch ON links (batch_seq, leaf_index);
CREATE INDEX links_pending ON links (id) WHERE batch_seq IS NULL;
DROP TABLE seal_start;
DROP INDEX batches_last_link;
ALTER TABLE batches DROP CONSTRAINT batches_link_range, DROP COLUMN last_link, DROP COLUMN first_link;
