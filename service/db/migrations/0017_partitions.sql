-- Up Migration

-- The three tables that grow with every event, link and consumer visit become partitioned tables
-- (docs/SCALING.md, "Partitions"): each index stays the size of one month, old months can be
-- archived whole, and sealing reads only the newest partition.
--
-- events and links are partitioned by RANGE (id), in months of ids: the partition of month k (k =
-- months since January 2020, UTC) holds ids [k·2^40, (k+1)·2^40). Ids, not times, because the
-- sealer's contract is a contiguous range of link ids (batches.first_link/last_link, link_tiles.ids)
-- and everything else finds an event or a link by its id: by id, a lookup and a seal both prune to
-- one partition. ensure_partitions() creates a month's partitions ahead of time and, once the
-- current month's exists, moves the id sequence forward to its first id (never backwards, and never
-- before the partition is there). 2^40 ids a month is 400,000 a second sustained; 2^53 (the largest
-- integer a JS number holds exactly: pg returns bigints as numbers, db/pool.ts) is reached in month
-- 8,192, in the year 2702.
--
-- scans are partitioned by RANGE (scanned_at), by calendar month (UTC): what is read of them is the
-- recent ones (the page's copy check, the per-hour cap), bounded in time, so the planner prunes.
--
-- Citus: every key of the three tables carries brand_id (the distribution column), so is every
-- foreign key that points at events. A partitioned table's unique keys must also hold its partition
-- key, so the global "one brand_event_id per brand" moves to event_keys, and (serial, n) is unique
-- per partition (see links below).

-- Month arithmetic, in one place: migration, worker (ledger/partitions.ts) and tests use these.
CREATE FUNCTION partition_month(at timestamptz) RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT ((extract(year FROM at AT TIME ZONE 'UTC')::int - 2020) * 12 + extract(month FROM at AT TIME ZONE 'UTC')::int - 1)
$$;
CREATE FUNCTION partition_first_id(month integer) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT month::bigint * 1099511627776 -- 2^40
$$;
CREATE FUNCTION partition_month_start(month integer) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (timestamp '2020-01-01' + make_interval(months => month)) AT TIME ZONE 'UTC'
$$;

-- scans (brand_id, serial) -> codes (brand_id, serial) uses codes' primary key (migration 0016).

-- Every foreign key of links and scans, and every one pointing at events, goes (they come back
-- below as (brand_id, …) -> events (brand_id, id)). epcis_events.corrects keeps its key from 0016,
-- (brand_id, corrects) -> epcis_events (brand_id, event_id): a correction names an EPCIS event.
-- Found by the catalog, not by name, so a migration that renamed one does not break this one.
DO $$ DECLARE fk record; BEGIN
  FOR fk IN
    SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
     WHERE contype = 'f' AND (confrelid IN ('events'::regclass, 'links'::regclass, 'scans'::regclass) OR conrelid IN ('links'::regclass, 'scans'::regclass))
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
  END LOOP;
END $$;

-- The old tables step aside (their index and constraint names freed for the new ones), their sequences kept.
ALTER TABLE events RENAME TO events_old;
ALTER TABLE links RENAME TO links_old;
ALTER TABLE scans RENAME TO scans_old;
ALTER TABLE events_old DROP CONSTRAINT events_pkey, DROP CONSTRAINT events_brand_id_brand_event_id_key, DROP CONSTRAINT events_brand_id_fkey;
ALTER TABLE links_old DROP CONSTRAINT links_pkey, DROP CONSTRAINT links_serial_n_key, DROP CONSTRAINT links_n_check;
ALTER TABLE scans_old DROP CONSTRAINT scans_pkey;
DROP INDEX events_console_party, events_console_time, events_retail_sales, links_batch, links_event, scans_serial;
ALTER SEQUENCE events_id_seq OWNED BY NONE;
ALTER SEQUENCE links_id_seq OWNED BY NONE;
ALTER SEQUENCE scans_id_seq OWNED BY NONE;

-- Events as posted, normalised. `canonical` is exactly the object whose JCS bytes hash to event_hash.
-- The key is (id, brand_id): id first, so a lookup by id alone (links -> events) uses it; brand_id in
-- it for Citus, and so that foreign keys can name (brand_id, id). Ids come from one sequence, so an
-- id is still unique on its own.
CREATE TABLE events (
  id              bigint NOT NULL DEFAULT nextval('events_id_seq'),
  brand_id        bigint NOT NULL CONSTRAINT events_brand_id_fkey REFERENCES brands(id) ON DELETE CASCADE,
  brand_event_id  text NOT NULL,
  type            text NOT NULL,
  codes           text[] NOT NULL,
  occurred_at     timestamptz NOT NULL,
  received_at     timestamptz NOT NULL,
  party           text,
  to_party        text,
  price_amount    numeric(14, 2),
  price_currency  text,
  data            jsonb,
  salt            text NOT NULL,
  canonical       jsonb NOT NULL,
  event_hash      bytea NOT NULL,
  webhook_id      text,
  codes_secret    bytea,
  PRIMARY KEY (id, brand_id)
) PARTITION BY RANGE (id);
ALTER SEQUENCE events_id_seq OWNED BY events.id;

-- One link per (event, bottle or log): the chain's own hash chain. brand_id is the event's brand
-- (a chain belongs to one brand). No foreign key to events: PostgreSQL 15 checks a key into a
-- partitioned table with a generic plan over every partition, and that check on each link cut
-- appendEvents from about 5,200 to 3,400 events/s (1,000-event transactions, this machine; with
-- event_keys' own, to 2,800). The one writer (ledger/append.ts) inserts the links in the transaction
-- that inserted their events, with the ids those returned, and events are never deleted but with their
-- brand (links go with it, by brand_id). A link naming another event could not pass the audit anyway:
-- its hash commits to its event's hash. (serial, n) cannot be a unique key of the whole partitioned table
-- (it would have to hold id): it is unique within each partition (links_<month>_chain, created with
-- the partition), and chains cannot fork across partitions either, because every writer appends
-- n = last_n + 1 while holding the chain's head row locked (codes or ledger_logs FOR UPDATE,
-- ledger/append.ts): two appends to one chain are serialised, the second sees the first's n.
CREATE TABLE links (
  id          bigint NOT NULL DEFAULT nextval('links_id_seq'),
  brand_id    bigint NOT NULL,
  serial      text NOT NULL,
  n           integer NOT NULL CONSTRAINT links_n_check CHECK (n >= 1),
  event_id    bigint NOT NULL,
  prev        bytea NOT NULL,
  link_hash   bytea NOT NULL,
  leaf        bytea NOT NULL,
  batch_seq   bigint,
  leaf_index  integer,
  proof       bytea,
  chain_index bigint,
  PRIMARY KEY (id, brand_id),
  CONSTRAINT links_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES brands(id) ON DELETE CASCADE
) PARTITION BY RANGE (id);
ALTER SEQUENCE links_id_seq OWNED BY links.id;

-- Consumer verifications, by month of scanned_at. A default partition catches a scan in a month
-- whose partition does not exist yet (no worker and no restart for over a month): a visit is never
-- refused for it, and ensure_partitions() moves such rows into their month when it creates it.
CREATE TABLE scans (
  id          bigint NOT NULL DEFAULT nextval('scans_id_seq'),
  brand_id    bigint NOT NULL,
  serial      text NOT NULL,
  event_id    bigint,
  scanned_at  timestamptz NOT NULL DEFAULT now(),
  place       text,
  latitude    double precision,
  longitude   double precision,
  ip_hash     bytea,
  PRIMARY KEY (brand_id, id, scanned_at),
  FOREIGN KEY (brand_id, serial) REFERENCES codes (brand_id, serial) ON DELETE CASCADE,
  -- only event_id is cleared when the event goes: brand_id is part of the key
  FOREIGN KEY (brand_id, event_id) REFERENCES events (brand_id, id) ON DELETE SET NULL (event_id)
) PARTITION BY RANGE (scanned_at);
ALTER SEQUENCE scans_id_seq OWNED BY scans.id;
CREATE TABLE scans_default PARTITION OF scans DEFAULT;

-- Creates the partitions of the month of `at` and of the next one when missing, and once the
-- month's partitions exist moves the events and links id sequences up to the month's first id.
-- Idempotent, driven only by what the catalog and the sequences say: run at every start-up (after
-- the migrations) and by the worker's partitions job (ledger/partitions.ts). Returns how many
-- partitions it created. One run at a time (an advisory lock, db/locks.ts `partitions`): the
-- sequence check and setval must not interleave with another run's.
CREATE FUNCTION ensure_partitions(at timestamptz DEFAULT now()) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  m integer := partition_month(at);
  k integer;
  suffix text;
  created integer := 0;
  first_id bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(1587609606); -- 0x5ea1_0006, ADVISORY_LOCKS.partitions
  FOR k IN m .. m + 1 LOOP
    suffix := to_char(partition_month_start(k) AT TIME ZONE 'UTC', 'YYYY_MM');
    IF to_regclass('events_' || suffix) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%s) TO (%s)', 'events_' || suffix, partition_first_id(k), partition_first_id(k + 1));
      created := created + 1;
    END IF;
    IF to_regclass('links_' || suffix) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF links FOR VALUES FROM (%s) TO (%s)', 'links_' || suffix, partition_first_id(k), partition_first_id(k + 1));
      -- brand_id last: a chain key belongs to one brand, so this is "(serial, n) unique", and it
      -- serves every lookup of a chain by serial in n order
      EXECUTE format('CREATE UNIQUE INDEX %I ON %I (serial, n, brand_id)', 'links_' || suffix || '_chain', 'links_' || suffix);
      created := created + 1;
    END IF;
    IF to_regclass('scans_' || suffix) IS NULL THEN
      -- PostgreSQL refuses to create a partition for rows the default partition holds: move them in.
      IF EXISTS (SELECT 1 FROM scans_default WHERE scanned_at >= partition_month_start(k) AND scanned_at < partition_month_start(k + 1)) THEN
        CREATE TEMP TABLE scans_caught ON COMMIT DROP AS
          SELECT * FROM scans_default WHERE scanned_at >= partition_month_start(k) AND scanned_at < partition_month_start(k + 1);
        DELETE FROM scans_default WHERE scanned_at >= partition_month_start(k) AND scanned_at < partition_month_start(k + 1);
        EXECUTE format('CREATE TABLE %I PARTITION OF scans FOR VALUES FROM (%L) TO (%L)', 'scans_' || suffix, partition_month_start(k), partition_month_start(k + 1));
        INSERT INTO scans SELECT * FROM scans_caught;
        DROP TABLE scans_caught;
      ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF scans FOR VALUES FROM (%L) TO (%L)', 'scans_' || suffix, partition_month_start(k), partition_month_start(k + 1));
      END IF;
      created := created + 1;
    END IF;
  END LOOP;
  -- The month's partitions exist now (created above, or earlier): new ids may go there. Forward only.
  first_id := partition_first_id(m);
  IF (SELECT last_value FROM events_id_seq) < first_id THEN
    PERFORM setval('events_id_seq', first_id, false);
  END IF;
  IF (SELECT last_value FROM links_id_seq) < first_id THEN
    PERFORM setval('links_id_seq', first_id, false);
  END IF;
  RETURN created;
END $$;

-- Everything already stored (ids below 2^40, any time) goes to one initial partition per table,
-- below the first month's range. (Ids already in this month's range, after going down and up
-- again, land in this month's partition; ids beyond next month's would find no partition and
-- fail the migration, rolled back whole.)
DO $$ BEGIN
  EXECUTE format('CREATE TABLE events_initial PARTITION OF events FOR VALUES FROM (MINVALUE) TO (%s)', partition_first_id(partition_month(now())));
  EXECUTE format('CREATE TABLE links_initial PARTITION OF links FOR VALUES FROM (MINVALUE) TO (%s)', partition_first_id(partition_month(now())));
  EXECUTE format('CREATE TABLE scans_initial PARTITION OF scans FOR VALUES FROM (MINVALUE) TO (%L)', partition_month_start(partition_month(now())));
END $$;
CREATE UNIQUE INDEX links_initial_chain ON links_initial (serial, n, brand_id);
SELECT ensure_partitions(now());

-- The rows move, nothing lost (counted below); the sequences were kept as they were, then moved forward.
INSERT INTO events SELECT * FROM events_old;
INSERT INTO links (id, brand_id, serial, n, event_id, prev, link_hash, leaf, batch_seq, leaf_index, proof, chain_index)
SELECT l.id, e.brand_id, l.serial, l.n, l.event_id, l.prev, l.link_hash, l.leaf, l.batch_seq, l.leaf_index, l.proof, l.chain_index
  FROM links_old l JOIN events_old e ON e.id = l.event_id;
INSERT INTO scans (id, brand_id, serial, event_id, scanned_at, place, latitude, longitude, ip_hash)
SELECT s.id, c.brand_id, s.serial, s.event_id, s.scanned_at, s.place, s.latitude, s.longitude, s.ip_hash
  FROM scans_old s JOIN codes c ON c.serial = s.serial;
DO $$ BEGIN
  IF (SELECT count(*) FROM events) <> (SELECT count(*) FROM events_old)
     OR (SELECT count(*) FROM links) <> (SELECT count(*) FROM links_old)
     OR (SELECT count(*) FROM scans) <> (SELECT count(*) FROM scans_old) THEN
    RAISE EXCEPTION 'rows would be lost moving events, links and scans into partitioned tables';
  END IF;
END $$;

-- Indexes on the partitioned tables (each partition gets its own), built once the rows are in.
CREATE INDEX events_console_time ON events (brand_id, occurred_at);
CREATE INDEX events_console_party ON events (brand_id, party, type, occurred_at);
CREATE INDEX events_retail_sales ON events (brand_id, occurred_at) WHERE type = 'retail_sale';
CREATE INDEX links_batch ON links (batch_seq, leaf_index) WHERE batch_seq IS NOT NULL;
CREATE INDEX links_event ON links (event_id);
CREATE INDEX scans_serial ON scans (serial, scanned_at);

-- One brand_event_id per brand, for every writer (webhooks, stores, EPCIS, SealTrace's own events):
-- the unique key events can no longer hold (it would have to include id). Written in the same
-- statement as the events (ledger/append.ts), so a repeated id fails the whole transaction as the
-- old constraint did (23505), and duplicates are found through it by (brand_id, brand_event_id).
-- No foreign key to events, for the cost given at links: written with its event, by one statement,
-- and gone with it only when the brand goes.
CREATE TABLE event_keys (
  brand_id        bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  brand_event_id  text NOT NULL,
  event_id        bigint NOT NULL,
  PRIMARY KEY (brand_id, brand_event_id)
);
INSERT INTO event_keys (brand_id, brand_event_id, event_id) SELECT brand_id, brand_event_id, id FROM events;

-- The foreign keys into events, now with the brand.
ALTER TABLE alerts ADD CONSTRAINT alerts_brand_id_event_id_fkey FOREIGN KEY (brand_id, event_id) REFERENCES events (brand_id, id) ON DELETE CASCADE;
ALTER TABLE epcis_events ADD CONSTRAINT epcis_events_brand_id_event_id_fkey FOREIGN KEY (brand_id, event_id) REFERENCES events (brand_id, id) ON DELETE CASCADE;
ALTER TABLE epcis_contents ADD CONSTRAINT epcis_contents_brand_id_event_id_fkey FOREIGN KEY (brand_id, event_id) REFERENCES events (brand_id, id) ON DELETE CASCADE;

DROP TABLE scans_old, links_old, events_old;

-- Down Migration
-- Months of partitions fold back into one table each (the schema of 0015, constraint names and all);
-- ids keep the values the months gave them.
ALTER TABLE alerts DROP CONSTRAINT alerts_brand_id_event_id_fkey;
ALTER TABLE epcis_events DROP CONSTRAINT epcis_events_brand_id_event_id_fkey;
ALTER TABLE epcis_contents DROP CONSTRAINT epcis_contents_brand_id_event_id_fkey;
DROP TABLE event_keys;
ALTER TABLE events RENAME TO events_parts;
ALTER TABLE links RENAME TO links_parts;
ALTER TABLE scans RENAME TO scans_parts;
ALTER SEQUENCE events_id_seq OWNED BY NONE;
ALTER SEQUENCE links_id_seq OWNED BY NONE;
ALTER SEQUENCE scans_id_seq OWNED BY NONE;
CREATE TABLE events (LIKE events_parts INCLUDING DEFAULTS);
INSERT INTO events SELECT * FROM events_parts;
CREATE TABLE links (LIKE links_parts INCLUDING DEFAULTS);
INSERT INTO links SELECT * FROM links_parts;
ALTER TABLE links DROP COLUMN brand_id;
CREATE TABLE scans (LIKE scans_parts INCLUDING DEFAULTS);
INSERT INTO scans SELECT * FROM scans_parts;
ALTER TABLE scans DROP COLUMN brand_id;
DROP TABLE scans_parts, links_parts, events_parts;
ALTER SEQUENCE events_id_seq OWNED BY events.id;
ALTER SEQUENCE links_id_seq OWNED BY links.id;
ALTER SEQUENCE scans_id_seq OWNED BY scans.id;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id),
  ADD CONSTRAINT events_brand_id_brand_event_id_key UNIQUE (brand_id, brand_event_id),
  ADD CONSTRAINT events_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES brands(id) ON DELETE CASCADE;
ALTER TABLE links ADD CONSTRAINT links_pkey PRIMARY KEY (id), ADD CONSTRAINT links_serial_n_key UNIQUE (serial, n),
  ADD CONSTRAINT links_n_check CHECK (n >= 1),
  ADD CONSTRAINT links_event_id_fkey FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;
ALTER TABLE scans ADD CONSTRAINT scans_pkey PRIMARY KEY (id),
  ADD CONSTRAINT scans_serial_fkey FOREIGN KEY (serial) REFERENCES serials (serial) ON DELETE CASCADE,
  ADD CONSTRAINT scans_event_id_fkey FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE SET NULL;
CREATE INDEX events_console_time ON events (brand_id, occurred_at);
CREATE INDEX events_console_party ON events (brand_id, party, type, occurred_at);
CREATE INDEX events_retail_sales ON events (brand_id, occurred_at) WHERE type = 'retail_sale';
CREATE INDEX links_batch ON links (batch_seq, leaf_index) WHERE batch_seq IS NOT NULL;
CREATE INDEX links_event ON links (event_id);
CREATE INDEX scans_serial ON scans (serial, scanned_at);
ALTER TABLE alerts ADD CONSTRAINT alerts_event_id_fkey FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;
ALTER TABLE epcis_events ADD CONSTRAINT epcis_events_event_id_fkey FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;
ALTER TABLE epcis_contents ADD CONSTRAINT epcis_contents_event_id_fkey FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;
-- As after 0016: scans name their bottle through serials.
DROP FUNCTION ensure_partitions(timestamptz);
DROP FUNCTION partition_month_start(integer);
DROP FUNCTION partition_first_id(integer);
DROP FUNCTION partition_month(timestamptz);
