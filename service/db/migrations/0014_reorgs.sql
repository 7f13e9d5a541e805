-- Up Migration

-- Reorganisations (issue 16, point 11). A batch is final ('anchored') only once its transaction is
-- CONFIRMATIONS blocks deep and its block is still the chain's block at that height. Until then it
-- stays 'sent'; once mined, block_number, block_hash and block_time say where (the API calls that
-- 'confirming'). block_hash is what later runs compare with the chain to notice that a reorganisation
-- moved or dropped an anchor.
ALTER TABLE batches ADD COLUMN block_hash text;

-- Every final anchoring of a batch, oldest first. A batch made final again after a reorganisation
-- (or on another registry) gets a new row that `supersedes` the previous one; the outbox's fan-out
-- turns such a row into a `batch.reanchored` delivery for every endpoint that was told of the batch,
-- and sets fanned_out_at. (No foreign key to batches: rows outlive nothing, they only record.)
CREATE TABLE batch_anchors (
  id            bigserial PRIMARY KEY,
  seq           bigint NOT NULL,
  chain_id      bigint NOT NULL,
  registry      text NOT NULL,
  tx_hash       text NOT NULL,
  block_number  bigint NOT NULL,
  block_hash    text,
  block_time    timestamptz,
  final_at      timestamptz NOT NULL DEFAULT now(),
  supersedes    bigint REFERENCES batch_anchors (id),
  fanned_out_at timestamptz
);
CREATE INDEX batch_anchors_seq ON batch_anchors (seq, id);
CREATE INDEX batch_anchors_corrections ON batch_anchors (id) WHERE supersedes IS NOT NULL AND fanned_out_at IS NULL;

-- Batches anchored before this migration: their anchoring is the one a correction would supersede.
INSERT INTO batch_anchors (seq, chain_id, registry, tx_hash, block_number, block_time, final_at)
SELECT seq, chain_id, registry, tx_hash, block_number, block_time, COALESCE(anchored_at, now())
  FROM batches
 WHERE state = 'anchored' AND chain_id IS NOT NULL AND registry IS NOT NULL AND tx_hash IS NOT NULL AND block_number IS NOT NULL
 ORDER BY seq;

-- Down Migration
DROP TABLE batch_anchors;
ALTER TABLE batches DROP COLUMN block_hash;
