-- Up Migration

-- sealtrace-proof/2 (docs/PROOF-FORMAT.md). Every chain (a bottle's, or a brand's EPCIS log) gets a
-- fixed place in the heads map, allocated when its first link is written and committed to by that
-- link's `prev` (the chain's genesis). Chains that began before this migration get theirs now; their
-- first links keep prev = 0, so their bundles say their identity and completeness are not proven.
CREATE SEQUENCE chain_index_seq MINVALUE 0 START 0;
ALTER TABLE codes ADD COLUMN chain_index bigint UNIQUE;
ALTER TABLE ledger_logs ADD COLUMN chain_index bigint UNIQUE;
UPDATE codes SET chain_index = nextval('chain_index_seq')
 WHERE serial IN (SELECT serial FROM codes WHERE last_n > 0 ORDER BY created_at, serial);
UPDATE ledger_logs SET chain_index = nextval('chain_index_seq')
 WHERE key IN (SELECT key FROM ledger_logs WHERE last_n > 0 ORDER BY key);

-- The chain's index on each link, so the sealer reads a batch's heads with its leaves. Only links
-- still to be sealed need it.
ALTER TABLE links ADD COLUMN chain_index bigint;
UPDATE links SET chain_index = COALESCE(
         (SELECT c.chain_index FROM codes c WHERE c.serial = links.serial),
         (SELECT g.chain_index FROM ledger_logs g WHERE g.key = links.serial))
 WHERE batch_seq IS NULL;

-- A link found by its event (the brand's audit export pages by event), and a brand's chains in
-- heads-map order (the export's head records).
CREATE INDEX links_event ON links (event_id);
CREATE INDEX codes_brand_chain ON codes (brand_id, chain_index) WHERE chain_index IS NOT NULL;

-- An event commits to its bottles by a Merkle root over salted leaves; each bottle's salt is derived
-- from this secret, which is never published (null: an event stored before format 2 lists its codes).
ALTER TABLE events ADD COLUMN codes_secret bytea;

-- A format-2 batch anchors node(links_root, heads_root, heads_depth); a format-1 batch its links root.
ALTER TABLE batches ADD COLUMN format smallint NOT NULL DEFAULT 1 CHECK (format IN (1, 2));
ALTER TABLE batches ADD COLUMN links_root bytea;
ALTER TABLE batches ADD COLUMN heads_root bytea;
ALTER TABLE batches ADD COLUMN heads_depth smallint;
ALTER TABLE batches ADD CONSTRAINT batches_format_2 CHECK (format = 1 OR (links_root IS NOT NULL AND heads_root IS NOT NULL AND heads_depth BETWEEN 1 AND 40));

-- The heads map as tiles (core/heads.ts): tile (grp, idx) holds the 256 nodes of tree level 8·grp
-- with indices idx·256 … idx·256 + 255, 8,192 bytes. A batch writes a new version (seq) of each tile
-- it changes; the map as of batch L is, for each tile, its latest version with seq ≤ L.
CREATE TABLE head_tiles (
  grp     smallint NOT NULL CHECK (grp >= 0),
  idx     bigint NOT NULL CHECK (idx >= 0),
  seq     bigint NOT NULL REFERENCES batches(seq),
  hashes  bytea NOT NULL CHECK (length(hashes) = 8192),
  PRIMARY KEY (grp, idx, seq)
);

-- Down Migration
DROP TABLE head_tiles;
DROP INDEX codes_brand_chain;
DROP INDEX links_event;
ALTER TABLE batches DROP CONSTRAINT batches_format_2, DROP COLUMN heads_depth, DROP COLUMN heads_root, DROP COLUMN links_root, DROP COLUMN format;
ALTER TABLE events DROP COLUMN codes_secret;
ALTER TABLE links DROP COLUMN chain_index;
ALTER TABLE ledger_logs DROP COLUMN chain_index;
ALTER TABLE codes DROP COLUMN chain_index;
DROP SEQUENCE chain_index_seq;
