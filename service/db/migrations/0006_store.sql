-- Up Migration

-- Store API keys (sts_…): each bound to one store party of one brand, created by the brand, stored
-- as SHA-256 only (192 random bits, like brand API keys). Revoked keys are kept for the record.
CREATE TABLE store_keys (
  id          bigserial PRIMARY KEY,
  brand_id    bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  party       text NOT NULL,
  key_hash    bytea NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz,
  FOREIGN KEY (brand_id, party) REFERENCES parties (brand_id, id) ON DELETE CASCADE
);
CREATE INDEX store_keys_party ON store_keys (brand_id, party);

-- Prices consumers report from the verification page, judged against the guide-price band in force
-- when reported (verdict null when no guide price was in force). `store` is what the consumer typed
-- (a party id or a shop's name); store_party is set when it names one of the brand's parties.
-- Like scans, only a salted hash of the reporter's IP is kept.
CREATE TABLE price_reports (
  id              bigserial PRIMARY KEY,
  brand_id        bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  serial          text NOT NULL REFERENCES codes(serial) ON DELETE CASCADE,
  amount          numeric(14, 2) NOT NULL,
  currency        text NOT NULL,
  store           text,
  store_party     text,
  verdict         text CHECK (verdict IN ('below', 'within', 'above', 'other_currency')),
  guide_amount    numeric(14, 2),
  guide_currency  text,
  reported_at     timestamptz NOT NULL DEFAULT now(),
  ip_hash         bytea
);
CREATE INDEX price_reports_brand ON price_reports (brand_id, reported_at DESC, id DESC);
CREATE INDEX price_reports_serial ON price_reports (serial, reported_at);

-- The brand's price-protection policy (see service/core/price-protection.ts for the formula).
ALTER TABLE brands ADD COLUMN price_policy jsonb NOT NULL
  DEFAULT '{"minCompliance": 0.95, "baseRate": 0.05, "maxRate": 0.08, "maxFall": 0.3}';

-- The price-protection report reads a brand's retail sales by time.
CREATE INDEX events_retail_sales ON events (brand_id, occurred_at) WHERE type = 'retail_sale';

-- Down Migration
DROP INDEX events_retail_sales;
ALTER TABLE brands DROP COLUMN price_policy;
DROP TABLE price_reports, store_keys;
