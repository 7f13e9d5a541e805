-- Up Migration

-- Guide prices with their tolerance band, national (region NULL) or regional, with history:
-- the row valid at a sale's time is the one that applies.
CREATE TABLE guide_prices (
  id          bigserial PRIMARY KEY,
  brand_id    bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  gtin        text NOT NULL,
  region      text,
  amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
  currency    text NOT NULL,
  below       numeric(6, 4) NOT NULL CHECK (below >= 0 AND below < 1),
  above       numeric(6, 4) NOT NULL CHECK (above >= 0),
  valid_from  timestamptz NOT NULL DEFAULT now(),
  created_at  timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (brand_id, gtin) REFERENCES products (brand_id, gtin),
  FOREIGN KEY (brand_id, region) REFERENCES regions (brand_id, code)
);
CREATE INDEX guide_prices_lookup ON guide_prices (brand_id, gtin, valid_from);

-- Where a code's assigned region came from: minting, or the first shipment to a distributor.
ALTER TABLE codes ADD COLUMN region_source text;
UPDATE codes SET region_source = 'minted' WHERE region IS NOT NULL;

CREATE INDEX alerts_brand_kind ON alerts (brand_id, kind, created_at DESC, id DESC);
CREATE INDEX alerts_brand_party ON alerts (brand_id, party, created_at DESC, id DESC);

-- Down Migration
DROP INDEX alerts_brand_party;
DROP INDEX alerts_brand_kind;
ALTER TABLE codes DROP COLUMN region_source;
DROP TABLE guide_prices;
