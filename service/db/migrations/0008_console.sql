-- Up Migration

-- People who sign in to the web console (/console), created by their brand. A brand user sees the
-- brand's views (admins also manage users); a store user is bound to one store party of the brand
-- and sees only that store. Passwords are kept as scrypt hashes with their own salt and parameters
-- ("scrypt$N$r$p$salt$hash", base64url). Usernames are lowercase and unique across brands, so one
-- sign-in form serves everybody.
CREATE TABLE console_users (
  id             bigserial PRIMARY KEY,
  brand_id       bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  username       text NOT NULL UNIQUE CHECK (username = lower(username)),
  display_name   text,
  kind           text NOT NULL CHECK (kind IN ('brand', 'store')),
  party          text,
  admin          boolean NOT NULL DEFAULT false,
  password_hash  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  disabled_at    timestamptz,
  CHECK ((kind = 'store') = (party IS NOT NULL)),
  CHECK (kind = 'brand' OR NOT admin),
  FOREIGN KEY (brand_id, party) REFERENCES parties (brand_id, id) ON DELETE CASCADE
);
CREATE INDEX console_users_brand ON console_users (brand_id, id);

-- Signed-in sessions. The cookie holds a random token; only its SHA-256 is stored, so a copy of the
-- database signs nobody in. Signing out deletes the row; expired rows are ignored and swept.
CREATE TABLE console_sessions (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
  token_hash  bytea NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- What a store sets in its console: below how many bottles on hand a product is "low stock".
CREATE TABLE store_settings (
  brand_id             bigint NOT NULL,
  party                text NOT NULL,
  low_stock_threshold  integer NOT NULL CHECK (low_stock_threshold BETWEEN 0 AND 1000000),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (brand_id, party),
  FOREIGN KEY (brand_id, party) REFERENCES parties (brand_id, id) ON DELETE CASCADE
);

-- The console reads a brand's events by type and time (sales by week, events today) and a store's
-- receivings and sales by party.
CREATE INDEX events_console_time ON events (brand_id, occurred_at);
CREATE INDEX events_console_party ON events (brand_id, party, type, occurred_at);

-- Down Migration
DROP INDEX events_console_party;
DROP INDEX events_console_time;
DROP TABLE store_settings, console_sessions, console_users;
