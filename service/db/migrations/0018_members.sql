-- Up Migration

-- Members (issue 20, docs/MEMBERS.md): a consumer who claims a bottle after a genuine scan of a sold
-- bottle joins the brand's members with one phone number (One ID). Every table is brand-owned and
-- ready for distribution by brand_id (Citus): brand_id leads every primary, unique and foreign key.
-- The phone number is never stored in plain text: phone_hash (HMAC-SHA256 under MEMBER_HASH_KEY of the
-- E.164 number) matches it, phone_cipher (AES-256-GCM under the MEMBER_KEYS key named by
-- phone_key_id: 12-byte nonce || ciphertext || 16-byte tag) lets the brand contact the member.

-- The claim table names a bottle by (brand_id, serial), codes' primary key since migration 0016.

-- The brand's member settings (PATCH /api/v1/settings): points per claimed bottle, the points at
-- which each level starts (level 1 at the first, which is 0), and the SMS gateway one-time codes are
-- sent through (a signed webhook, docs/MEMBERS.md; no URL: codes are only logged, development mode).
-- The gateway secret signs those webhooks, so it is kept as issued, like endpoints.secret.
ALTER TABLE brands
  ADD COLUMN member_points_per_bottle integer NOT NULL DEFAULT 10 CHECK (member_points_per_bottle BETWEEN 0 AND 1000000),
  ADD COLUMN member_level_points integer[] NOT NULL DEFAULT '{0,100,500}'
    CHECK (cardinality(member_level_points) BETWEEN 1 AND 10 AND member_level_points[1] = 0),
  ADD COLUMN sms_gateway_url text,
  ADD COLUMN sms_gateway_secret text;

-- One row per member of a brand. Leaving erases the personal data (phone_hash, phone_cipher,
-- phone_key_id, birth_month, ref_key) and keeps the row as an anonymous tombstone (erased_at set), so
-- the counts (claims, points, members per store) stay. ref_key salts the member reference written in
-- each claimed event (HMAC-SHA256(ref_key, serial)): erased, the references can no longer be linked to
-- anyone. store_party: the store whose retail sale preceded the member's first claim.
CREATE TABLE members (
  brand_id      bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  id            bigserial NOT NULL,
  phone_hash    bytea,
  phone_cipher  bytea,
  phone_key_id  text,
  ref_key       bytea,
  birth_month   smallint CHECK (birth_month BETWEEN 1 AND 12),
  store_party   text,
  points        integer NOT NULL DEFAULT 0 CHECK (points >= 0),
  joined_at     timestamptz NOT NULL DEFAULT now(),
  erased_at     timestamptz,
  PRIMARY KEY (brand_id, id),
  UNIQUE (brand_id, phone_hash),
  FOREIGN KEY (brand_id, store_party) REFERENCES parties (brand_id, id),
  CHECK ((erased_at IS NULL) = (phone_hash IS NOT NULL AND phone_cipher IS NOT NULL AND phone_key_id IS NOT NULL AND ref_key IS NOT NULL)),
  CHECK (erased_at IS NULL OR birth_month IS NULL)
);
CREATE INDEX members_store ON members (brand_id, store_party, joined_at);
-- The re-encryption job finds rows under an old key.
CREATE INDEX members_key ON members (brand_id, phone_key_id) WHERE phone_key_id IS NOT NULL;

-- Consents, one per giving (PIPL: separate, explicit, revocable). The text shown is versioned
-- (core/members.ts CONSENT_VERSION) and names the brand, the store and the purpose; its SHA-256 as
-- shown (in its language) is kept, so what was agreed to can be proven. Withdrawing sets
-- withdrawn_at; leaving also erases the consent's personal part (ip_hash).
CREATE TABLE member_consents (
  brand_id      bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  id            bigserial NOT NULL,
  member_id     bigint NOT NULL,
  purpose       text NOT NULL CHECK (purpose IN ('membership')),
  text_version  text NOT NULL,
  text_sha256   bytea NOT NULL CHECK (length(text_sha256) = 32),
  lang          text NOT NULL CHECK (lang IN ('zh', 'en')),
  store_party   text,
  given_at      timestamptz NOT NULL DEFAULT now(),
  withdrawn_at  timestamptz,
  ip_hash       bytea,
  PRIMARY KEY (brand_id, id),
  FOREIGN KEY (brand_id, member_id) REFERENCES members (brand_id, id) ON DELETE CASCADE,
  FOREIGN KEY (brand_id, store_party) REFERENCES parties (brand_id, id)
);
CREATE INDEX member_consents_member ON member_consents (brand_id, member_id, given_at);

-- Claimed bottles: a bottle is claimed once (the primary key). The claim is also a `claimed` event
-- in the bottle's chain (claim_event: its brand_event_id); store_party is the store whose retail
-- sale preceded the claim, sale_at that sale's time. points: what the claim earned.
CREATE TABLE member_claims (
  brand_id     bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  serial       text NOT NULL,
  member_id    bigint NOT NULL,
  store_party  text,
  sale_at      timestamptz NOT NULL,
  claim_event  text NOT NULL,
  points       integer NOT NULL CHECK (points >= 0),
  claimed_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (brand_id, serial),
  UNIQUE (brand_id, claim_event),
  FOREIGN KEY (brand_id, serial) REFERENCES codes (brand_id, serial) ON DELETE CASCADE,
  FOREIGN KEY (brand_id, member_id) REFERENCES members (brand_id, id) ON DELETE CASCADE,
  FOREIGN KEY (brand_id, store_party) REFERENCES parties (brand_id, id),
  FOREIGN KEY (brand_id, claim_event) REFERENCES event_keys (brand_id, brand_event_id) ON DELETE CASCADE
);
CREATE INDEX member_claims_member ON member_claims (brand_id, member_id, claimed_at);
CREATE INDEX member_claims_store ON member_claims (brand_id, store_party, claimed_at);

-- One-time codes sent by SMS, for a claim (bound to one bottle) or a sign-in. Only an HMAC of the
-- code is kept (code_hash, under MEMBER_HASH_KEY, bound to the phone and the row), tries are counted,
-- and the rows within the last hour are also the send limits (per phone_hash, per ip_hash, per
-- serial). For a claim, the phone (encrypted) and what the consumer gave with it wait here until the
-- code is entered; they are cleared when the code is used or swept after it expires.
CREATE TABLE member_codes (
  brand_id       bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  id             bigserial NOT NULL,
  purpose        text NOT NULL CHECK (purpose IN ('claim', 'sign_in')),
  phone_hash     bytea NOT NULL,
  serial         text,
  ip_hash        bytea NOT NULL,
  code_hash      bytea NOT NULL,
  attempts       integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  used_at        timestamptz,
  -- a claim's pending details: cleared on use and by the sweep
  phone_cipher   bytea,
  phone_key_id   text,
  birth_month    smallint CHECK (birth_month BETWEEN 1 AND 12),
  consent        jsonb,
  PRIMARY KEY (brand_id, id),
  FOREIGN KEY (brand_id, serial) REFERENCES codes (brand_id, serial) ON DELETE CASCADE,
  CHECK ((purpose = 'claim') = (serial IS NOT NULL))
);
CREATE INDEX member_codes_phone ON member_codes (brand_id, phone_hash, created_at);
CREATE INDEX member_codes_ip ON member_codes (brand_id, ip_hash, created_at);
CREATE INDEX member_codes_serial ON member_codes (brand_id, serial, created_at) WHERE serial IS NOT NULL;
CREATE INDEX member_codes_created ON member_codes (created_at);

-- Development sender only (no SMS gateway configured): the code as sent, beside the masked phone,
-- so the brand and store console can show it; kept for minutes (expires_at), then swept.
CREATE TABLE member_dev_codes (
  brand_id      bigint NOT NULL,
  code_id       bigint NOT NULL,
  phone_masked  text NOT NULL,
  code          text NOT NULL,
  purpose       text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (brand_id, code_id),
  FOREIGN KEY (brand_id, code_id) REFERENCES member_codes (brand_id, id) ON DELETE CASCADE
);

-- Members' signed-in sessions (the member page, and the consumer page knowing the claimer). Like
-- console sessions: the cookie holds a random token, only its SHA-256 is stored.
CREATE TABLE member_sessions (
  brand_id    bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  id          bigserial NOT NULL,
  member_id   bigint NOT NULL,
  token_hash  bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (brand_id, id),
  UNIQUE (brand_id, token_hash),
  FOREIGN KEY (brand_id, member_id) REFERENCES members (brand_id, id) ON DELETE CASCADE
);
CREATE INDEX member_sessions_expiry ON member_sessions (expires_at);

-- Down Migration
DROP TABLE member_sessions, member_dev_codes, member_codes, member_claims, member_consents, members;
ALTER TABLE brands
  DROP COLUMN sms_gateway_secret,
  DROP COLUMN sms_gateway_url,
  DROP COLUMN member_level_points,
  DROP COLUMN member_points_per_bottle;
