-- Up Migration

-- A Citus-ready schema (issue 19; docs/SCALING.md "Citus"). Every brand-owned table carries brand_id
-- in its primary, unique and foreign keys, so each could be distributed by brand_id, co-located, with
-- every key and every join between them enforced inside one shard. Global tables (brands, the sealer's
-- tables) are classified in test/service/citus-keys.test.ts, which fails when a table breaks the rule.
-- Nothing is renumbered: ids keep their values and their sequences; only the keys around them change.
-- events, links and scans are rekeyed by their own migration (partitioned by time).

-- Serials are unique across brands: the consumer page and the proof API name a bottle by serial alone,
-- and printed labels cannot change. A table distributed by brand_id cannot enforce that on serial, so
-- the one global fact gets its own table: serial → brand, written with the codes by the same statement
-- at minting (in Citus, distributed by serial: the one lookup that is not co-located). codes itself is
-- keyed (brand_id, serial).
CREATE TABLE serials (
  serial    text PRIMARY KEY,
  brand_id  bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE
);
INSERT INTO serials (serial, brand_id) SELECT serial, brand_id FROM codes;

-- Keys that point at codes(serial) alone must go before codes' key can change. price_reports gets its
-- brand's key below; scans (rekeyed with events) keeps pointing at the serial, now through serials.
ALTER TABLE price_reports DROP CONSTRAINT price_reports_serial_fkey;
ALTER TABLE scans DROP CONSTRAINT scans_serial_fkey;
ALTER TABLE scans ADD CONSTRAINT scans_serial_fkey FOREIGN KEY (serial) REFERENCES serials (serial) ON DELETE CASCADE;

ALTER TABLE codes DROP CONSTRAINT codes_pkey, ADD CONSTRAINT codes_pkey PRIMARY KEY (brand_id, serial);
-- chain_index comes from one sequence (chain_index_seq) for codes and logs alike, so its uniqueness
-- across brands is the sequence's; the key is the brand's. Partial, like codes_brand_chain (a brand's
-- chains in heads-map order), which it replaces: a code gets its place with its first event, so minting
-- writes no entry in it, and with the serials' key writes as many index entries per code as before.
ALTER TABLE codes DROP CONSTRAINT codes_chain_index_key;
DROP INDEX codes_brand_chain;
CREATE UNIQUE INDEX codes_brand_chain ON codes (brand_id, chain_index) WHERE chain_index IS NOT NULL;

ALTER TABLE ledger_logs DROP CONSTRAINT ledger_logs_pkey, ADD CONSTRAINT ledger_logs_pkey PRIMARY KEY (brand_id, key);
ALTER TABLE ledger_logs DROP CONSTRAINT ledger_logs_chain_index_key, ADD CONSTRAINT ledger_logs_brand_id_chain_index_key UNIQUE (brand_id, chain_index);

ALTER TABLE webhook_secrets DROP CONSTRAINT webhook_secrets_pkey, ADD CONSTRAINT webhook_secrets_pkey PRIMARY KEY (brand_id, id);
DROP INDEX webhook_secrets_brand;

ALTER TABLE alerts DROP CONSTRAINT alerts_pkey, ADD CONSTRAINT alerts_pkey PRIMARY KEY (brand_id, id);
-- The outbox's cursors are alert ids across brands (the newest alert when an endpoint is created, the
-- fan-out's mark, service/outbox/repo.ts): a plain index keeps those reads what the old key made them.
CREATE INDEX alerts_id ON alerts (id);
ALTER TABLE guide_prices DROP CONSTRAINT guide_prices_pkey, ADD CONSTRAINT guide_prices_pkey PRIMARY KEY (brand_id, id);

ALTER TABLE price_reports DROP CONSTRAINT price_reports_pkey, ADD CONSTRAINT price_reports_pkey PRIMARY KEY (brand_id, id);
ALTER TABLE price_reports ADD CONSTRAINT price_reports_brand_id_serial_fkey FOREIGN KEY (brand_id, serial) REFERENCES codes (brand_id, serial) ON DELETE CASCADE;
DROP INDEX price_reports_serial;
CREATE INDEX price_reports_serial ON price_reports (brand_id, serial, reported_at);

-- Store keys are found by their hash alone (the key names no brand). 192 random bits make a clash
-- impossible in practice; the constraint is the brand's, the lookup a plain index.
ALTER TABLE store_keys DROP CONSTRAINT store_keys_pkey, ADD CONSTRAINT store_keys_pkey PRIMARY KEY (brand_id, id);
ALTER TABLE store_keys DROP CONSTRAINT store_keys_key_hash_key, ADD CONSTRAINT store_keys_brand_id_key_hash_key UNIQUE (brand_id, key_hash);
CREATE INDEX store_keys_hash ON store_keys (key_hash);

-- Outgoing webhooks: deliveries and their attempts get their endpoint's brand.
ALTER TABLE deliveries ADD COLUMN brand_id bigint;
UPDATE deliveries d SET brand_id = e.brand_id FROM endpoints e WHERE e.id = d.endpoint_id;
ALTER TABLE deliveries ALTER COLUMN brand_id SET NOT NULL;
ALTER TABLE delivery_attempts ADD COLUMN brand_id bigint;
UPDATE delivery_attempts a SET brand_id = d.brand_id FROM deliveries d WHERE d.id = a.delivery_id;
ALTER TABLE delivery_attempts ALTER COLUMN brand_id SET NOT NULL;

ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_delivery_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_endpoint_id_fkey;
ALTER TABLE endpoints DROP CONSTRAINT endpoints_pkey, ADD CONSTRAINT endpoints_pkey PRIMARY KEY (brand_id, id);
DROP INDEX endpoints_brand;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey, ADD CONSTRAINT deliveries_pkey PRIMARY KEY (brand_id, id);
-- webhook_id is a random UUID (msg_…): unique by construction, kept unique within the brand.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_webhook_id_key, ADD CONSTRAINT deliveries_brand_id_webhook_id_key UNIQUE (brand_id, webhook_id);
-- Fan-out's idempotence key (ON CONFLICT target in service/outbox/repo.ts); its brand_id leads, so it
-- also serves the endpoint's listing that deliveries_endpoint served.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_endpoint_id_event_type_source_id_key,
  ADD CONSTRAINT deliveries_brand_id_endpoint_id_event_type_source_id_key UNIQUE (brand_id, endpoint_id, event_type, source_id);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_brand_id_endpoint_id_fkey FOREIGN KEY (brand_id, endpoint_id) REFERENCES endpoints (brand_id, id) ON DELETE CASCADE;
DROP INDEX deliveries_endpoint;
CREATE INDEX deliveries_endpoint ON deliveries (brand_id, endpoint_id, id DESC);
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_pkey, ADD CONSTRAINT delivery_attempts_pkey PRIMARY KEY (brand_id, id);
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_brand_id_delivery_id_fkey
  FOREIGN KEY (brand_id, delivery_id) REFERENCES deliveries (brand_id, id) ON DELETE CASCADE;
DROP INDEX delivery_attempts_delivery;
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (brand_id, delivery_id, id);

-- EPCIS: a capture job and a captured event are the brand's; a correction names an event of the same brand.
ALTER TABLE epcis_events DROP CONSTRAINT epcis_events_capture_id_fkey, DROP CONSTRAINT epcis_events_corrects_fkey;
ALTER TABLE epcis_captures DROP CONSTRAINT epcis_captures_pkey, ADD CONSTRAINT epcis_captures_pkey PRIMARY KEY (brand_id, id);
ALTER TABLE epcis_events DROP CONSTRAINT epcis_events_pkey, ADD CONSTRAINT epcis_events_pkey PRIMARY KEY (brand_id, event_id);
ALTER TABLE epcis_events ADD CONSTRAINT epcis_events_brand_id_capture_id_fkey
  FOREIGN KEY (brand_id, capture_id) REFERENCES epcis_captures (brand_id, id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE epcis_events ADD CONSTRAINT epcis_events_brand_id_corrects_fkey FOREIGN KEY (brand_id, corrects) REFERENCES epcis_events (brand_id, event_id);
DROP INDEX epcis_events_corrects;
CREATE INDEX epcis_events_corrects ON epcis_events (brand_id, corrects) WHERE corrects IS NOT NULL;

-- Console: a session is its user's brand's. Like store keys, a session is found by its token's hash alone.
ALTER TABLE console_sessions ADD COLUMN brand_id bigint;
UPDATE console_sessions s SET brand_id = u.brand_id FROM console_users u WHERE u.id = s.user_id;
ALTER TABLE console_sessions ALTER COLUMN brand_id SET NOT NULL;
ALTER TABLE console_sessions DROP CONSTRAINT console_sessions_user_id_fkey;
ALTER TABLE console_users DROP CONSTRAINT console_users_pkey, ADD CONSTRAINT console_users_pkey PRIMARY KEY (brand_id, id);
DROP INDEX console_users_brand;
ALTER TABLE console_sessions DROP CONSTRAINT console_sessions_pkey, ADD CONSTRAINT console_sessions_pkey PRIMARY KEY (brand_id, id);
ALTER TABLE console_sessions DROP CONSTRAINT console_sessions_token_hash_key, ADD CONSTRAINT console_sessions_brand_id_token_hash_key UNIQUE (brand_id, token_hash);
CREATE INDEX console_sessions_token ON console_sessions (token_hash);
ALTER TABLE console_sessions ADD CONSTRAINT console_sessions_brand_id_user_id_fkey
  FOREIGN KEY (brand_id, user_id) REFERENCES console_users (brand_id, id) ON DELETE CASCADE;
DROP INDEX console_sessions_user;
CREATE INDEX console_sessions_user ON console_sessions (brand_id, user_id);

-- Down Migration
DROP INDEX console_sessions_user;
CREATE INDEX console_sessions_user ON console_sessions (user_id);
ALTER TABLE console_sessions DROP CONSTRAINT console_sessions_brand_id_user_id_fkey;
DROP INDEX console_sessions_token;
ALTER TABLE console_sessions DROP CONSTRAINT console_sessions_brand_id_token_hash_key, ADD CONSTRAINT console_sessions_token_hash_key UNIQUE (token_hash);
ALTER TABLE console_sessions DROP CONSTRAINT console_sessions_pkey, ADD CONSTRAINT console_sessions_pkey PRIMARY KEY (id);
CREATE INDEX console_users_brand ON console_users (brand_id, id);
ALTER TABLE console_users DROP CONSTRAINT console_users_pkey, ADD CONSTRAINT console_users_pkey PRIMARY KEY (id);
ALTER TABLE console_sessions ADD CONSTRAINT console_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES console_users (id) ON DELETE CASCADE;
ALTER TABLE console_sessions DROP COLUMN brand_id;

DROP INDEX epcis_events_corrects;
CREATE INDEX epcis_events_corrects ON epcis_events (corrects) WHERE corrects IS NOT NULL;
ALTER TABLE epcis_events DROP CONSTRAINT epcis_events_brand_id_corrects_fkey, DROP CONSTRAINT epcis_events_brand_id_capture_id_fkey;
ALTER TABLE epcis_events DROP CONSTRAINT epcis_events_pkey, ADD CONSTRAINT epcis_events_pkey PRIMARY KEY (event_id);
ALTER TABLE epcis_captures DROP CONSTRAINT epcis_captures_pkey, ADD CONSTRAINT epcis_captures_pkey PRIMARY KEY (id);
ALTER TABLE epcis_events ADD CONSTRAINT epcis_events_capture_id_fkey
  FOREIGN KEY (capture_id) REFERENCES epcis_captures (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE epcis_events ADD CONSTRAINT epcis_events_corrects_fkey FOREIGN KEY (corrects) REFERENCES epcis_events (event_id);

DROP INDEX delivery_attempts_delivery;
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_brand_id_delivery_id_fkey;
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_pkey, ADD CONSTRAINT delivery_attempts_pkey PRIMARY KEY (id);
DROP INDEX deliveries_endpoint;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id DESC);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_brand_id_endpoint_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_brand_id_endpoint_id_event_type_source_id_key,
  ADD CONSTRAINT deliveries_endpoint_id_event_type_source_id_key UNIQUE (endpoint_id, event_type, source_id);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_brand_id_webhook_id_key, ADD CONSTRAINT deliveries_webhook_id_key UNIQUE (webhook_id);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey, ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id);
CREATE INDEX endpoints_brand ON endpoints (brand_id, id);
ALTER TABLE endpoints DROP CONSTRAINT endpoints_pkey, ADD CONSTRAINT endpoints_pkey PRIMARY KEY (id);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES endpoints (id) ON DELETE CASCADE;
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE;
ALTER TABLE delivery_attempts DROP COLUMN brand_id;
ALTER TABLE deliveries DROP COLUMN brand_id;

DROP INDEX store_keys_hash;
ALTER TABLE store_keys DROP CONSTRAINT store_keys_brand_id_key_hash_key, ADD CONSTRAINT store_keys_key_hash_key UNIQUE (key_hash);
ALTER TABLE store_keys DROP CONSTRAINT store_keys_pkey, ADD CONSTRAINT store_keys_pkey PRIMARY KEY (id);

DROP INDEX price_reports_serial;
CREATE INDEX price_reports_serial ON price_reports (serial, reported_at);
ALTER TABLE price_reports DROP CONSTRAINT price_reports_brand_id_serial_fkey;
ALTER TABLE price_reports DROP CONSTRAINT price_reports_pkey, ADD CONSTRAINT price_reports_pkey PRIMARY KEY (id);
ALTER TABLE guide_prices DROP CONSTRAINT guide_prices_pkey, ADD CONSTRAINT guide_prices_pkey PRIMARY KEY (id);
DROP INDEX alerts_id;
ALTER TABLE alerts DROP CONSTRAINT alerts_pkey, ADD CONSTRAINT alerts_pkey PRIMARY KEY (id);
CREATE INDEX webhook_secrets_brand ON webhook_secrets (brand_id);
ALTER TABLE webhook_secrets DROP CONSTRAINT webhook_secrets_pkey, ADD CONSTRAINT webhook_secrets_pkey PRIMARY KEY (id);

ALTER TABLE ledger_logs DROP CONSTRAINT ledger_logs_brand_id_chain_index_key, ADD CONSTRAINT ledger_logs_chain_index_key UNIQUE (chain_index);
ALTER TABLE ledger_logs DROP CONSTRAINT ledger_logs_pkey, ADD CONSTRAINT ledger_logs_pkey PRIMARY KEY (key);

DROP INDEX codes_brand_chain;
CREATE INDEX codes_brand_chain ON codes (brand_id, chain_index) WHERE chain_index IS NOT NULL;
ALTER TABLE codes ADD CONSTRAINT codes_chain_index_key UNIQUE (chain_index);
ALTER TABLE scans DROP CONSTRAINT scans_serial_fkey;
ALTER TABLE codes DROP CONSTRAINT codes_pkey, ADD CONSTRAINT codes_pkey PRIMARY KEY (serial);
ALTER TABLE scans ADD CONSTRAINT scans_serial_fkey FOREIGN KEY (serial) REFERENCES codes (serial) ON DELETE CASCADE;
ALTER TABLE price_reports ADD CONSTRAINT price_reports_serial_fkey FOREIGN KEY (serial) REFERENCES codes (serial) ON DELETE CASCADE;
DROP TABLE serials;
