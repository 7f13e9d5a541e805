-- Up Migration

-- The brand's policy for what its stores' keys may write (issue 16, point 3; service/core/custody.ts):
-- how far back a store event may be dated (hours before it reached SealTrace), and whether a store
-- may sell a bottle it never recorded receiving. Set with PATCH /api/v1/settings.
ALTER TABLE brands
  ADD COLUMN store_backdate_hours integer NOT NULL DEFAULT 72 CHECK (store_backdate_hours BETWEEN 0 AND 8760),
  ADD COLUMN store_sells_unreceived boolean NOT NULL DEFAULT false;

-- Down Migration
ALTER TABLE brands DROP COLUMN store_backdate_hours, DROP COLUMN store_sells_unreceived;
