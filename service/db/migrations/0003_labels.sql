-- Up Migration

-- The label export (GET /api/v1/codes/export?lot=…) pages through one lot of one brand in serial
-- order (keyset pagination), so a 100,000-code lot never sits in memory or in one huge sort.
-- The new index serves every lookup the old (brand_id, lot) one did, so it replaces it.
CREATE INDEX codes_brand_lot_serial ON codes (brand_id, lot, serial);
DROP INDEX codes_brand_lot;

-- Down Migration
CREATE INDEX codes_brand_lot ON codes (brand_id, lot);
DROP INDEX codes_brand_lot_serial;
