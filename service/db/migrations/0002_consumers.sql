-- Up Migration

-- The hidden code printed under the cap (hash only), and when the bottle was opened.
ALTER TABLE codes ADD COLUMN cap_hash bytea;
ALTER TABLE codes ADD COLUMN opened_at timestamptz;

-- Events written by SealTrace itself (a consumer's scan, a cap-code opening) have no brand party.
ALTER TABLE events ALTER COLUMN party DROP NOT NULL;

-- A per-brand salt for hashing scanners' IP addresses: the raw address is never stored.
ALTER TABLE brands ADD COLUMN scan_salt bytea NOT NULL DEFAULT uuid_send(gen_random_uuid());

-- Consumer verifications. Each is also a `consumer_scan` link in the bottle's chain (event_id), so
-- the count shown on the page is itself anchored. Only a coarse place is kept.
CREATE TABLE scans (
  id          bigserial PRIMARY KEY,
  serial      text NOT NULL REFERENCES codes(serial) ON DELETE CASCADE,
  event_id    bigint REFERENCES events(id) ON DELETE SET NULL,
  scanned_at  timestamptz NOT NULL DEFAULT now(),
  place       text,
  latitude    double precision,
  longitude   double precision,
  ip_hash     bytea
);
CREATE INDEX scans_serial ON scans (serial, scanned_at);

-- The brand's table of IP ranges to coarse places, for scans.
CREATE TABLE ip_places (
  brand_id   bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  cidr       cidr NOT NULL,
  place      text NOT NULL,
  latitude   double precision,
  longitude  double precision,
  PRIMARY KEY (brand_id, cidr)
);

-- Alerts raised by checks on ingested events, for the brand.
CREATE TABLE alerts (
  id          bigserial PRIMARY KEY,
  brand_id    bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  kind        text NOT NULL,
  serial      text,
  event_id    bigint REFERENCES events(id) ON DELETE CASCADE,
  party       text,
  details     jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_brand_created ON alerts (brand_id, created_at DESC, id DESC);

-- Down Migration
DROP TABLE alerts, ip_places, scans;
ALTER TABLE brands DROP COLUMN scan_salt;
ALTER TABLE codes DROP COLUMN opened_at, DROP COLUMN cap_hash;
