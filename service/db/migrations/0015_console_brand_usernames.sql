-- Up Migration

-- Console usernames were unique across brands, so creating a user told a brand which names other
-- brands use. They are now unique within their brand; signing in names the brand (its slug) too.
ALTER TABLE console_users DROP CONSTRAINT console_users_username_key;
ALTER TABLE console_users ADD CONSTRAINT console_users_brand_username_key UNIQUE (brand_id, username);

-- Failed console sign-ins per (brand, username) as typed, in a 15-minute window, counted in one
-- atomic upsert BEFORE the password is hashed: parallel attempts cannot all read "under the limit"
-- (the per-process memory counter let 50 parallel guesses through), and every HTTP process shares
-- the count. A successful sign-in gives its reservation back. Rows of ended windows are swept.
CREATE TABLE console_sign_in_failures (
  brand         text NOT NULL,
  username      text NOT NULL,
  failures      integer NOT NULL CHECK (failures >= 0),
  window_start  timestamptz NOT NULL,
  PRIMARY KEY (brand, username)
);
CREATE INDEX console_sign_in_failures_window ON console_sign_in_failures (window_start);

-- Down Migration
DROP TABLE console_sign_in_failures;
ALTER TABLE console_users DROP CONSTRAINT console_users_brand_username_key;
ALTER TABLE console_users ADD CONSTRAINT console_users_username_key UNIQUE (username);
