-- Up Migration

-- A party may be registered with its GLN (any SGLN extension of it resolves to the party) or with
-- one SGLN (that extension only; it wins over the bare GLN). EPCIS locations resolve through these.
ALTER TABLE parties ADD COLUMN gln text CHECK (gln ~ '^[0-9]{13}$'), ADD COLUMN gln_ext text;
CREATE UNIQUE INDEX parties_gln ON parties (brand_id, gln, COALESCE(gln_ext, '')) WHERE gln IS NOT NULL;

-- An EPCIS event at an unregistered location names no party of ours.
ALTER TABLE events ALTER COLUMN party DROP NOT NULL;

-- Links now also form chains that are not bottle codes: each brand's EPCIS log ("epcis:<brand>"),
-- one link per captured EPCIS event, so every EPCIS event is anchored even when it names no bottle.
-- Bottle serials are alphanumeric, so a log key can never be mistaken for one.
ALTER TABLE links DROP CONSTRAINT links_serial_fkey;
CREATE TABLE ledger_logs (
  key             text PRIMARY KEY,
  brand_id        bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  last_n          integer NOT NULL DEFAULT 0,
  last_link_hash  bytea
);

-- Capture jobs (EPCIS 2.0 REST binding): processed before the 202 answer, so a job is never left
-- half done; `errors` lists each refused event with its index, eventID and reason.
CREATE TABLE epcis_captures (
  id           uuid PRIMARY KEY,
  brand_id     bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  behaviour    text NOT NULL CHECK (behaviour IN ('rollback', 'proceed')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz NOT NULL DEFAULT now(),
  success      boolean NOT NULL,
  event_count  integer NOT NULL,
  stored       integer NOT NULL,
  duplicates   integer NOT NULL,
  errors       jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX epcis_captures_brand ON epcis_captures (brand_id, created_at);

-- Captured EPCIS events: `body` is the event exactly as captured (also inside the anchored
-- canonical event), the other columns are what queries filter on, normalised (identifiers as
-- canonical Digital Links, CBV values as bare names). An error declaration is stored as its own
-- anchored event that `corrects` the original; the original stays as it was.
CREATE TABLE epcis_events (
  event_id      bigint PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
  brand_id      bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  epcis_id      text NOT NULL,
  hashed_id     boolean NOT NULL,
  corrects      bigint REFERENCES epcis_events(event_id),
  -- deferred: the job row is written last, with the outcome, in the same transaction
  capture_id    uuid NOT NULL REFERENCES epcis_captures(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  event_type    text NOT NULL,
  event_time    timestamptz NOT NULL,
  biz_step      text,
  biz_location  text,
  read_point    text,
  epcs          text[] NOT NULL,
  parent        text,
  body          jsonb NOT NULL,
  context       jsonb
);
CREATE UNIQUE INDEX epcis_events_id ON epcis_events (brand_id, epcis_id) WHERE corrects IS NULL;
CREATE INDEX epcis_events_time ON epcis_events (brand_id, event_time);
CREATE INDEX epcis_events_epcs ON epcis_events USING gin (epcs);
CREATE INDEX epcis_events_corrects ON epcis_events (corrects) WHERE corrects IS NOT NULL;

-- What is packed in what right now (packing adds, unpacking removes): a case's later events cover
-- the bottles inside it.
CREATE TABLE epcis_contents (
  brand_id  bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  parent    text NOT NULL,
  child     text NOT NULL,
  event_id  bigint NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  PRIMARY KEY (brand_id, parent, child)
);

-- Down Migration
DROP TABLE epcis_contents, epcis_events, epcis_captures, ledger_logs;
ALTER TABLE links ADD CONSTRAINT links_serial_fkey FOREIGN KEY (serial) REFERENCES codes(serial) ON DELETE CASCADE;
ALTER TABLE events ALTER COLUMN party SET NOT NULL;
DROP INDEX parties_gln;
ALTER TABLE parties DROP COLUMN gln_ext, DROP COLUMN gln;
