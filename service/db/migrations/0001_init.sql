-- Up Migration

-- Tenants. API keys are stored as SHA-256 hashes only (they carry 192 random bits, so a plain hash
-- is enough). Webhook secrets must stay usable for HMAC, so they are kept as issued.
CREATE TABLE brands (
  id            bigserial PRIMARY KEY,
  slug          text NOT NULL UNIQUE,
  name          text NOT NULL,
  api_key_hash  bytea NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_secrets (
  id          bigserial PRIMARY KEY,
  brand_id    bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  secret      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- null while current; set on rotation so the previous secret keeps working for a grace period
  expires_at  timestamptz
);
CREATE INDEX webhook_secrets_brand ON webhook_secrets (brand_id);

CREATE TABLE products (
  brand_id    bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  gtin        text NOT NULL,
  name        text NOT NULL,
  attributes  jsonb NOT NULL DEFAULT '{}',
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (brand_id, gtin)
);

CREATE TABLE regions (
  brand_id    bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  code        text NOT NULL,
  name        text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (brand_id, code)
);

CREATE TABLE parties (
  brand_id    bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  id          text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('factory', 'warehouse', 'distributor', 'store')),
  name        text NOT NULL,
  region      text NOT NULL,
  authorised  boolean NOT NULL DEFAULT true,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (brand_id, id),
  FOREIGN KEY (brand_id, region) REFERENCES regions (brand_id, code)
);

-- One row per minted bottle code. Serials are unique across brands: the public proof API names a
-- bottle by serial alone. last_n / last_link_hash are the head of the bottle's hash chain.
CREATE TABLE codes (
  serial          text PRIMARY KEY,
  brand_id        bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  gtin            text NOT NULL,
  lot             text,
  region          text,
  secret_hash     bytea NOT NULL,
  state           text NOT NULL DEFAULT 'minted',
  last_n          integer NOT NULL DEFAULT 0,
  last_link_hash  bytea,
  created_at      timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (brand_id, gtin) REFERENCES products (brand_id, gtin),
  FOREIGN KEY (brand_id, region) REFERENCES regions (brand_id, code)
);
CREATE INDEX codes_brand_lot ON codes (brand_id, lot);

-- Webhook deliveries seen, by the sender's webhook-id: a replay gets the first answer back.
CREATE TABLE webhook_messages (
  brand_id     bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  webhook_id   text NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  response     jsonb NOT NULL,
  PRIMARY KEY (brand_id, webhook_id)
);

-- Events as posted, normalised. `canonical` is exactly the object whose JCS bytes hash to event_hash.
CREATE TABLE events (
  id              bigserial PRIMARY KEY,
  brand_id        bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  brand_event_id  text NOT NULL,
  type            text NOT NULL,
  codes           text[] NOT NULL,
  occurred_at     timestamptz NOT NULL,
  received_at     timestamptz NOT NULL,
  party           text NOT NULL,
  to_party        text,
  price_amount    numeric(14, 2),
  price_currency  text,
  data            jsonb,
  salt            text NOT NULL,
  canonical       jsonb NOT NULL,
  event_hash      bytea NOT NULL,
  webhook_id      text,
  UNIQUE (brand_id, brand_event_id)
);

-- One link per (event, bottle): the bottle's own hash chain, and where its leaf sits once sealed.
CREATE TABLE links (
  id          bigserial PRIMARY KEY,
  serial      text NOT NULL REFERENCES codes(serial) ON DELETE CASCADE,
  n           integer NOT NULL CHECK (n >= 1),
  event_id    bigint NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  prev        bytea NOT NULL,
  link_hash   bytea NOT NULL,
  leaf        bytea NOT NULL,
  batch_seq   bigint,
  leaf_index  integer,
  -- the Merkle proof: sibling hashes, 32 bytes each, concatenated from the leaf up
  proof       bytea,
  UNIQUE (serial, n)
);
CREATE INDEX links_pending ON links (id) WHERE batch_seq IS NULL;
CREATE INDEX links_batch ON links (batch_seq, leaf_index);

-- Sealed batches, numbered without gaps. state: sealed → sent (signed transaction stored) → anchored.
CREATE TABLE batches (
  seq           bigint PRIMARY KEY CHECK (seq >= 1),
  root          bytea NOT NULL,
  leaf_count    integer NOT NULL CHECK (leaf_count >= 1),
  state         text NOT NULL DEFAULT 'sealed' CHECK (state IN ('sealed', 'sent', 'anchored')),
  sealed_at     timestamptz NOT NULL DEFAULT now(),
  chain_id      bigint,
  registry      text,
  raw_tx        text,
  tx_hash       text,
  sent_at       timestamptz,
  block_number  bigint,
  block_time    timestamptz,
  anchored_at   timestamptz
);
CREATE INDEX batches_unanchored ON batches (seq) WHERE state <> 'anchored';

-- Down Migration
DROP TABLE batches, links, events, webhook_messages, codes, parties, regions, products, webhook_secrets, brands;
