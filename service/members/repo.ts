/**
 * Members' data (migration 0018, docs/MEMBERS.md): members, their consents and claimed bottles, the
 * one-time codes and their send limits, the development sender's codes, and members' sessions. The
 * phone number is handled here only as E.164 text in memory: stored as a keyed hash (matching) and
 * AES-256-GCM ciphertext (contact), shown masked. The claim appends a `claimed` event to the bottle's
 * chain in the same transaction as the claim row (ledger/append.ts), with a salted member reference
 * only: HMAC-SHA256(member's ref_key, serial), unlinkable once the member leaves (ref_key erased).
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import {
  claimRefusal,
  CODE_TTL_MS,
  codeState,
  DEFAULT_LEVEL_POINTS,
  DEFAULT_POINTS_PER_BOTTLE,
  levelOf,
  maskPhone,
  oneTimeCode,
  sendLimitReached,
  type ClaimRefusal,
  type ConsentLang,
  type SendLimit,
} from "../core/members.ts";
import { randomSalt, type CanonicalEvent } from "../core/links.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import { AppError, conflict, invalid, notFound } from "../http/errors.ts";
import { appendEvents, lockHeadsAt } from "../ledger/append.ts";
import type { MemberKeys } from "./keys.ts";

/** A member session lasts this long. */
export const MEMBER_SESSION_DAYS = 30;
/** Development codes are shown this long (no longer than the code is valid). */
const DEV_CODE_TTL_MS = CODE_TTL_MS;

/** The brand's member settings (columns of brands, migration 0018; PATCH /api/v1/settings). */
export interface MemberSettings {
  /** Points a claimed bottle earns its member. */
  memberPointsPerBottle: number;
  /** The points at which each level starts, ascending, the first 0 (level 1). */
  memberLevelPoints: number[];
  /** The brand's SMS gateway (a signed webhook, service/members/sms.ts); null: development sender (codes logged). */
  smsGatewayUrl: string | null;
  /** The gateway webhooks' Standard Webhooks secret (whsec_…); set when the URL is first set. */
  smsGatewaySecret: string | null;
}

export const DEFAULT_MEMBER_SETTINGS: MemberSettings = {
  memberPointsPerBottle: DEFAULT_POINTS_PER_BOTTLE,
  memberLevelPoints: [...DEFAULT_LEVEL_POINTS],
  smsGatewayUrl: null,
  smsGatewaySecret: null,
};

export async function memberSettings(q: Db | Tx, brandId: number): Promise<MemberSettings> {
  const {
    rows: [row],
  } = await q.query<{ member_points_per_bottle: number; member_level_points: number[]; sms_gateway_url: string | null; sms_gateway_secret: string | null }>(
    "SELECT member_points_per_bottle, member_level_points, sms_gateway_url, sms_gateway_secret FROM brands WHERE id = $1",
    [brandId],
  );
  return row === undefined
    ? { ...DEFAULT_MEMBER_SETTINGS }
    : {
        memberPointsPerBottle: row.member_points_per_bottle,
        memberLevelPoints: row.member_level_points,
        smsGatewayUrl: row.sms_gateway_url,
        smsGatewaySecret: row.sms_gateway_secret,
      };
}

/** A member as shown (to the member, the brand, the store): the phone masked, never in full. */
export interface Member {
  id: number;
  /** 138****5678; null once the member left (erased). */
  phoneMasked: string | null;
  points: number;
  level: number;
  birthMonth: number | null;
  /** The store whose sale preceded the member's first claim. */
  store: string | null;
  joinedAt: Date;
  claims: number;
  lastClaimAt: Date | null;
  /** Whether the member's membership consent is in force (given and not withdrawn). */
  consent: boolean;
  erasedAt: Date | null;
}

/** One claimed bottle of a member. */
export interface MemberClaim {
  serial: string;
  gtin: string;
  productName: string | null;
  store: string | null;
  points: number;
  claimedAt: Date;
}

/** A bottle's claim as the page, the checks and the store need it: no personal data. */
export interface BottleClaim {
  serial: string;
  memberId: number;
  store: string | null;
  claimedAt: Date;
}

/** A development sender's code, for the console (development mode only). */
export interface DevCode {
  codeId: number;
  phoneMasked: string;
  code: string;
  purpose: "claim" | "sign_in";
  createdAt: Date;
  expiresAt: Date;
}

/** What the consumer gave with a claim's code request; kept (phone encrypted) until the code is entered. */
export interface PendingClaim {
  birthMonth: number | null;
  lang: ConsentLang;
  /** The consent text's version and SHA-256 (hex) as shown, and the store it named. */
  consent: { version: string; sha256: string; store: string | null };
}

export interface CodeRequest {
  brandId: number;
  purpose: "claim" | "sign_in";
  /** E.164, normalised by the caller (core/members.ts normalisePhone). */
  phone: string;
  /** The bottle, for a claim. */
  serial: string | null;
  /** The requester's IP address: only its keyed hash is stored. */
  ip: string;
  pending: PendingClaim | null;
}

export interface IssuedCode {
  codeId: number;
  /** The code in clear: for the SMS sender only, never stored or logged. */
  code: string;
  phoneMasked: string;
  expiresAt: Date;
}

export interface ClaimRequest {
  brandId: number;
  serial: string;
  codeId: number;
  code: string;
  /** The page's verdict for the bottle, read by the caller just before (core/warnings.ts). */
  verdict: "genuine" | "warning" | "not_produced";
}

export interface ClaimResult {
  memberId: number;
  /** Whether this claim made the member (member.joined). */
  joined: boolean;
  points: number;
  level: number;
  claimedAt: Date;
  /** The claimed event's server id and brand event id. */
  eventId: number;
  claimEvent: string;
  store: string | null;
  /** A new session for the member (cookie value): the claimer is signed in. */
  sessionToken: string;
}

export const tooMany = (limit: SendLimit): AppError =>
  new AppError(
    429,
    "too_many_requests",
    limit === "phone"
      ? "too many codes were sent to this phone number in the last hour: try again later"
      : limit === "ip"
        ? "too many codes were requested from this network in the last hour: try again later"
        : "too many codes were requested for this bottle in the last hour: try again later",
    { field: limit === "phone" ? "phone" : limit === "bottle" ? "serial" : "ip" },
  );

/** The one answer for a code that is wrong, unknown, another bottle's or another brand's: which it was is not told. */
export const wrongCode = (): AppError => invalid("code", "this code is wrong: check the SMS and type its 6 digits again");
const expiredCode = (): AppError => new AppError(410, "code_expired", "this code has expired or was used: ask for a new one", { field: "code" });
const usedUpCode = (): AppError => new AppError(429, "too_many_attempts", "too many wrong tries for this code: ask for a new one", { field: "code" });

export const claimRefused = (why: ClaimRefusal): AppError =>
  why === "already_claimed"
    ? conflict("this bottle is already registered to its buyer", "serial")
    : why === "not_sold"
      ? conflict("only a sold bottle can be registered: no retail sale is recorded for it", "serial")
      : conflict("only a bottle whose check found nothing wrong can be registered", "serial");

const sessionHash = (token: string): Buffer => createHash("sha256").update(token).digest();

/** The member's `claimed` events' reference for a bottle: hex HMAC-SHA256(ref_key, serial). */
function memberRef(refKey: Buffer, serial: string): string {
  return createHmac("sha256", refKey).update(serial).digest("hex");
}

interface CodeRow {
  id: number;
  purpose: "claim" | "sign_in";
  phone_hash: Buffer;
  serial: string | null;
  code_hash: Buffer;
  attempts: number;
  expires_at: Date;
  used_at: Date | null;
  phone_cipher: Buffer | null;
  phone_key_id: string | null;
  birth_month: number | null;
  consent: (PendingClaim["consent"] & { lang: ConsentLang }) | null;
  ip_hash: Buffer;
  now: Date;
}

/**
 * The claims of the bottles `serials`, read in the caller's transaction (the ingest checks: a later
 * sale or receiving of a claimed bottle is `resold_after_claim`).
 */
export async function claimsOfBottles(q: Db | Tx, brandId: number, serials: readonly string[]): Promise<Map<string, BottleClaim>> {
  if (serials.length === 0) return new Map();
  const { rows } = await q.query<{ serial: string; member_id: number; store_party: string | null; claimed_at: Date }>(
    "SELECT serial, member_id, store_party, claimed_at FROM member_claims WHERE brand_id = $1 AND serial = ANY($2::text[])",
    [brandId, serials],
  );
  return new Map(rows.map((r) => [r.serial, { serial: r.serial, memberId: r.member_id, store: r.store_party, claimedAt: r.claimed_at }]));
}

export function createMembersRepo(db: Db, keys: MemberKeys) {
  const memberSelect = `
    SELECT m.id, m.phone_cipher, m.phone_key_id, m.points, m.birth_month, m.store_party, m.joined_at, m.erased_at, b.member_level_points,
           (SELECT count(*)::int FROM member_claims c WHERE c.brand_id = m.brand_id AND c.member_id = m.id) AS claims,
           (SELECT max(c.claimed_at) FROM member_claims c WHERE c.brand_id = m.brand_id AND c.member_id = m.id) AS last_claim_at,
           EXISTS (SELECT 1 FROM member_consents k WHERE k.brand_id = m.brand_id AND k.member_id = m.id AND k.withdrawn_at IS NULL) AS consent
      FROM members m JOIN brands b ON b.id = m.brand_id`;
  type MemberRow = {
    id: number;
    phone_cipher: Buffer | null;
    phone_key_id: string | null;
    points: number;
    birth_month: number | null;
    store_party: string | null;
    joined_at: Date;
    erased_at: Date | null;
    member_level_points: number[];
    claims: number;
    last_claim_at: Date | null;
    consent: boolean;
  };
  const toMember = (brandId: number, r: MemberRow): Member => ({
    id: r.id,
    phoneMasked: r.phone_cipher && r.phone_key_id ? maskPhone(keys.decrypt(brandId, r.phone_cipher, r.phone_key_id)) : null,
    points: r.points,
    level: levelOf(r.points, r.member_level_points),
    birthMonth: r.birth_month,
    store: r.store_party,
    joinedAt: r.joined_at,
    claims: r.claims,
    lastClaimAt: r.last_claim_at,
    consent: r.consent,
    erasedAt: r.erased_at,
  });

  async function newSession(tx: Tx | Db, brandId: number, memberId: number): Promise<string> {
    // The brand id leads the token, so its row is found by (brand_id, token_hash) (one shard).
    const token = `${brandId}.${randomBytes(24).toString("base64url")}`;
    await tx.query(`INSERT INTO member_sessions (brand_id, member_id, token_hash, expires_at) VALUES ($1, $2, $3, now() + make_interval(days => $4))`, [
      brandId,
      memberId,
      sessionHash(token),
      MEMBER_SESSION_DAYS,
    ]);
    return token;
  }

  /**
   * The code row `codeId` locked, checked against `code`: a wrong code counts a try (committed even
   * though the caller's work is refused); throws the refusal. Returns the row when the code is right.
   */
  async function takeCode(
    brandId: number,
    codeId: number,
    code: string,
    purpose: "claim" | "sign_in",
    work: (tx: Tx, row: CodeRow) => Promise<void>,
  ): Promise<void> {
    const wrong = await withTransaction(db, async (tx) => {
      const {
        rows: [row],
      } = await tx.query<CodeRow>(
        `SELECT id, purpose, phone_hash, serial, code_hash, attempts, expires_at, used_at, phone_cipher, phone_key_id, birth_month, consent, ip_hash, now() AS now
           FROM member_codes WHERE brand_id = $1 AND id = $2 FOR UPDATE`,
        [brandId, codeId],
      );
      if (row === undefined || row.purpose !== purpose) throw wrongCode();
      const state = codeState({ expiresAt: row.expires_at, usedAt: row.used_at, attempts: row.attempts }, row.now);
      if (state === "exhausted") throw usedUpCode();
      if (state !== "usable") throw expiredCode();
      const expected = keys.codeHash(brandId, row.id, row.phone_hash, code);
      if (!timingSafeEqual(expected, row.code_hash)) {
        await tx.query("UPDATE member_codes SET attempts = attempts + 1 WHERE brand_id = $1 AND id = $2", [brandId, codeId]);
        return true;
      }
      await work(tx, row);
      await tx.query(
        `UPDATE member_codes SET used_at = now(), phone_cipher = NULL, phone_key_id = NULL, birth_month = NULL, consent = NULL
          WHERE brand_id = $1 AND id = $2`,
        [brandId, codeId],
      );
      await tx.query("DELETE FROM member_dev_codes WHERE brand_id = $1 AND code_id = $2", [brandId, codeId]);
      return false;
    });
    if (wrong) throw wrongCode();
  }

  return {
    settings: (brandId: number): Promise<MemberSettings> => memberSettings(db, brandId),

    /** The brand a member page names (/m/<slug>), or null. */
    async brand(slug: string): Promise<{ id: number; slug: string; name: string } | null> {
      const { rows } = await db.query<{ id: number; slug: string; name: string }>("SELECT id, slug, name FROM brands WHERE slug = $1", [slug]);
      return rows[0] ?? null;
    },

    /** A store party's name. */
    async storeName(brandId: number, party: string): Promise<string | null> {
      const { rows } = await db.query<{ name: string }>("SELECT name FROM parties WHERE brand_id = $1 AND id = $2", [brandId, party]);
      return rows[0]?.name ?? null;
    },

    /**
     * A new one-time code for `phone`, within the send limits (codes sent within the last hour to
     * the phone, from the IP, for the bottle: 429 past one). The row is counted against the limits
     * whether or not the SMS then goes out. For a claim, the phone (encrypted) and what the consumer
     * gave wait in the row until the code is entered.
     */
    async issueCode(request: CodeRequest): Promise<IssuedCode> {
      const { brandId, purpose, phone, serial, ip, pending } = request;
      if ((purpose === "claim") !== (serial !== null && pending !== null)) throw new RangeError("issueCode: a claim names its bottle and pending details");
      const phoneHash = keys.phoneHash(brandId, phone);
      const ipHash = keys.ipHash(brandId, ip);
      const code = oneTimeCode((n) => randomBytes(n));
      return await withTransaction(db, async (tx) => {
        // One sender at a time per phone and brand, so concurrent requests cannot all pass the count.
        await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", [phoneHash.toString("hex"), brandId]);
        const {
          rows: [counts],
        } = await tx.query<{ phone: number; ip: number; bottle: number | null }>(
          `SELECT (SELECT count(*)::int FROM member_codes WHERE brand_id = $1 AND phone_hash = $2 AND created_at > now() - interval '1 hour') AS phone,
                  (SELECT count(*)::int FROM member_codes WHERE brand_id = $1 AND ip_hash = $3 AND created_at > now() - interval '1 hour') AS ip,
                  CASE WHEN $4::text IS NULL THEN NULL ELSE
                  (SELECT count(*)::int FROM member_codes WHERE brand_id = $1 AND serial = $4 AND created_at > now() - interval '1 hour') END AS bottle`,
          [brandId, phoneHash, ipHash, serial],
        );
        const limit = sendLimitReached(counts!);
        if (limit !== null) throw tooMany(limit);
        const encrypted = purpose === "claim" ? keys.encrypt(brandId, phone) : null;
        const {
          rows: [row],
        } = await tx.query<{ id: number; expires_at: Date }>(
          `INSERT INTO member_codes (brand_id, purpose, phone_hash, serial, ip_hash, code_hash, expires_at, phone_cipher, phone_key_id, birth_month, consent)
           VALUES ($1, $2, $3, $4, $5, '\\x00', now() + make_interval(secs => $6), $7, $8, $9, $10) RETURNING id, expires_at`,
          [
            brandId,
            purpose,
            phoneHash,
            serial,
            ipHash,
            CODE_TTL_MS / 1000,
            encrypted?.cipher ?? null,
            encrypted?.keyId ?? null,
            pending?.birthMonth ?? null,
            pending === null ? null : JSON.stringify({ ...pending.consent, lang: pending.lang }),
          ],
        );
        // The code's hash is bound to its row id, known only now.
        await tx.query("UPDATE member_codes SET code_hash = $3 WHERE brand_id = $1 AND id = $2", [
          brandId,
          row!.id,
          keys.codeHash(brandId, row!.id, phoneHash, code),
        ]);
        return { codeId: row!.id, code, phoneMasked: maskPhone(phone), expiresAt: row!.expires_at };
      });
    },

    /** Keeps a development sender's code for the console (development mode only; swept when expired). */
    async recordDevCode(brandId: number, issued: IssuedCode, purpose: "claim" | "sign_in"): Promise<void> {
      await db.query(
        `INSERT INTO member_dev_codes (brand_id, code_id, phone_masked, code, purpose, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) ON CONFLICT DO NOTHING`,
        [brandId, issued.codeId, issued.phoneMasked, issued.code, purpose, DEV_CODE_TTL_MS / 1000],
      );
    },

    /** The development sender's unexpired, unused codes of the brand, newest first (the console shows them, marked DEVELOPMENT). */
    async devCodes(brandId: number): Promise<DevCode[]> {
      const { rows } = await db.query<{
        code_id: number;
        phone_masked: string;
        code: string;
        purpose: "claim" | "sign_in";
        created_at: Date;
        expires_at: Date;
      }>(
        `SELECT code_id, phone_masked, code, purpose, created_at, expires_at FROM member_dev_codes
          WHERE brand_id = $1 AND expires_at > now() ORDER BY created_at DESC, code_id DESC LIMIT 50`,
        [brandId],
      );
      return rows.map((r) => ({
        codeId: r.code_id,
        phoneMasked: r.phone_masked,
        code: r.code,
        purpose: r.purpose,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
      }));
    },

    /**
     * Claims the bottle with a claim code: checks the code (bound to this bottle and phone), the claim
     * rule under the bottle's lock (core/members.ts claimRefusal), makes or finds the member, records
     * the consent, appends the `claimed` event, the claim row (a bottle is claimed once: its primary
     * key) and the points, all in one transaction; returns a new session for the member.
     */
    async claim(request: ClaimRequest): Promise<ClaimResult> {
      const { brandId, serial, codeId, code, verdict } = request;
      let result: ClaimResult | null = null;
      await takeCode(brandId, codeId, code, "claim", async (tx, row) => {
        if (row.serial !== serial || row.phone_cipher === null || row.phone_key_id === null || row.consent === null) throw wrongCode();
        const { heads, now } = await lockHeadsAt(tx, [{ brandId, serial }]);
        const head = heads.get(serial);
        if (head === undefined || head.brandId !== brandId) throw notFound("no such bottle");
        const {
          rows: [facts],
        } = await tx.query<{ sale_at: Date | null; sale_party: string | null; claimed: boolean; points: number; level_points: number[] }>(
          `SELECT s.occurred_at AS sale_at, s.party AS sale_party,
                  EXISTS (SELECT 1 FROM member_claims c WHERE c.brand_id = $1 AND c.serial = $2) AS claimed,
                  b.member_points_per_bottle AS points, b.member_level_points AS level_points
             FROM brands b
             LEFT JOIN LATERAL (SELECT e.occurred_at, e.party FROM links l JOIN events e ON e.id = l.event_id
                                 WHERE l.serial = $2 AND e.type = 'retail_sale' ORDER BY l.n DESC LIMIT 1) s ON true
            WHERE b.id = $1`,
          [brandId, serial],
        );
        const sale = facts!.sale_at === null ? null : { at: facts!.sale_at, store: facts!.sale_party };
        const refusal = claimRefusal({
          verdict,
          sale,
          claimed: facts!.claimed,
          openedBeforeSale: head.openedAt !== null && sale !== null && head.openedAt < sale.at,
        });
        if (refusal !== null) throw claimRefused(refusal);

        // The member: found by the phone's hash, or made, attributed to the store of this sale.
        const {
          rows: [found],
        } = await tx.query<{ id: number; ref_key: Buffer }>("SELECT id, ref_key FROM members WHERE brand_id = $1 AND phone_hash = $2 FOR UPDATE", [
          brandId,
          row.phone_hash,
        ]);
        let member = found;
        if (member === undefined) {
          const inserted = await tx.query<{ id: number; ref_key: Buffer }>(
            `INSERT INTO members (brand_id, phone_hash, phone_cipher, phone_key_id, ref_key, birth_month, store_party)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (brand_id, phone_hash) DO NOTHING RETURNING id, ref_key`,
            [brandId, row.phone_hash, row.phone_cipher, row.phone_key_id, randomBytes(32), row.birth_month, sale!.store],
          );
          member = inserted.rows[0];
          // A concurrent first claim by the same phone made the member first.
          if (member === undefined) throw conflict("this phone number is joining at this moment: try again", "phone");
        } else if (row.birth_month !== null) {
          await tx.query("UPDATE members SET birth_month = $3 WHERE brand_id = $1 AND id = $2", [brandId, member.id, row.birth_month]);
        }
        const joined = found === undefined;
        await tx.query(
          `INSERT INTO member_consents (brand_id, member_id, purpose, text_version, text_sha256, lang, store_party, ip_hash)
           VALUES ($1, $2, 'membership', $3, $4, $5, $6, $7)`,
          [brandId, member.id, row.consent.version, Buffer.from(row.consent.sha256, "hex"), row.consent.lang, row.consent.store, row.ip_hash],
        );

        const iso = now.toISOString();
        const claimEvent = `claimed-${randomUUID()}`;
        const canonical: CanonicalEvent = {
          brand: head.brandSlug,
          id: claimEvent,
          type: "claimed",
          codes: [serial],
          occurredAt: iso,
          receivedAt: iso,
          salt: randomSalt(),
          member: memberRef(member.ref_key, serial),
        };
        const appended = await appendEvents(
          tx,
          brandId,
          null,
          iso,
          [{ canonical, brandEventId: claimEvent, occurredAt: iso, party: null, to: null, price: null, data: null }],
          heads,
        );
        const points = facts!.points;
        await tx.query(
          `INSERT INTO member_claims (brand_id, serial, member_id, store_party, sale_at, claim_event, points, claimed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [brandId, serial, member.id, sale!.store, sale!.at, claimEvent, points, now],
        );
        const {
          rows: [updated],
        } = await tx.query<{ points: number }>("UPDATE members SET points = points + $3 WHERE brand_id = $1 AND id = $2 RETURNING points", [
          brandId,
          member.id,
          points,
        ]);
        result = {
          memberId: member.id,
          joined,
          points: updated!.points,
          level: levelOf(updated!.points, facts!.level_points),
          claimedAt: now,
          eventId: appended.events[0]!.id,
          claimEvent,
          store: sale!.store,
          sessionToken: await newSession(tx, brandId, member.id),
        };
      });
      return result!;
    },

    /**
     * Signs a member in with a sign-in code; returns the session token. A code for a phone that is no
     * member is as wrong as a wrong code (which phones are members is not told).
     */
    async signIn(brandId: number, codeId: number, code: string): Promise<{ memberId: number; sessionToken: string }> {
      let result: { memberId: number; sessionToken: string } | null = null;
      await takeCode(brandId, codeId, code, "sign_in", async (tx, row) => {
        const {
          rows: [member],
        } = await tx.query<{ id: number; phone_cipher: Buffer; phone_key_id: string }>(
          "SELECT id, phone_cipher, phone_key_id FROM members WHERE brand_id = $1 AND phone_hash = $2 AND erased_at IS NULL",
          [brandId, row.phone_hash],
        );
        if (member === undefined) throw wrongCode();
        // Lazy re-encryption: a member signing in moves to the current key.
        if (member.phone_key_id !== keys.currentKeyId) {
          const again = keys.encrypt(brandId, keys.decrypt(brandId, member.phone_cipher, member.phone_key_id));
          await tx.query("UPDATE members SET phone_cipher = $3, phone_key_id = $4 WHERE brand_id = $1 AND id = $2", [
            brandId,
            member.id,
            again.cipher,
            again.keyId,
          ]);
        }
        result = { memberId: member.id, sessionToken: await newSession(tx, brandId, member.id) };
      });
      return result!;
    },

    /** Whether `phone` (E.164) is a member of the brand: the sign-in form sends a code only then (and says the same either way). */
    async isMember(brandId: number, phone: string): Promise<boolean> {
      const { rowCount } = await db.query("SELECT 1 FROM members WHERE brand_id = $1 AND phone_hash = $2 AND erased_at IS NULL", [
        brandId,
        keys.phoneHash(brandId, phone),
      ]);
      return rowCount === 1;
    },

    /** The member signed in with `token` (a member_sessions cookie) for the brand, or null. */
    async sessionMember(brandId: number, token: string): Promise<number | null> {
      const [prefix] = token.split(".", 1);
      if (prefix !== String(brandId)) return null;
      const {
        rows: [row],
      } = await db.query<{ member_id: number }>(
        `SELECT s.member_id FROM member_sessions s JOIN members m ON m.brand_id = s.brand_id AND m.id = s.member_id
          WHERE s.brand_id = $1 AND s.token_hash = $2 AND s.expires_at > now() AND m.erased_at IS NULL`,
        [brandId, sessionHash(token)],
      );
      return row?.member_id ?? null;
    },

    async signOut(brandId: number, token: string): Promise<void> {
      await db.query("DELETE FROM member_sessions WHERE brand_id = $1 AND token_hash = $2", [brandId, sessionHash(token)]);
    },

    async member(brandId: number, memberId: number): Promise<Member | null> {
      const { rows } = await db.query<MemberRow>(`${memberSelect} WHERE m.brand_id = $1 AND m.id = $2`, [brandId, memberId]);
      return rows[0] === undefined ? null : toMember(brandId, rows[0]);
    },

    /** The brand's members (optionally one store's), by id after `after`, at most `limit`: the CRM API's and the console's pages. */
    async list(brandId: number, options: { store?: string | null; after?: number; limit: number }): Promise<Member[]> {
      const { rows } = await db.query<MemberRow>(
        `${memberSelect} WHERE m.brand_id = $1 AND ($2::text IS NULL OR m.store_party = $2) AND m.id > $3 ORDER BY m.id LIMIT $4`,
        [brandId, options.store ?? null, options.after ?? 0, options.limit],
      );
      return rows.map((r) => toMember(brandId, r));
    },

    /**
     * The members' phone numbers in full, by id after `after` (the audited brand export only: its
     * caller records who exported what). Erased members are skipped.
     */
    async phones(brandId: number, after: number, limit: number): Promise<{ id: number; phone: string }[]> {
      const { rows } = await db.query<{ id: number; phone_cipher: Buffer; phone_key_id: string }>(
        `SELECT id, phone_cipher, phone_key_id FROM members WHERE brand_id = $1 AND id > $2 AND erased_at IS NULL ORDER BY id LIMIT $3`,
        [brandId, after, limit],
      );
      return rows.map((r) => ({ id: r.id, phone: keys.decrypt(brandId, r.phone_cipher, r.phone_key_id) }));
    },

    /** The member's claimed bottles, newest first. */
    async claimsOf(brandId: number, memberId: number): Promise<MemberClaim[]> {
      const { rows } = await db.query<{ serial: string; gtin: string; name: string | null; store_party: string | null; points: number; claimed_at: Date }>(
        `SELECT c.serial, k.gtin, p.name, c.store_party, c.points, c.claimed_at
           FROM member_claims c JOIN codes k ON k.brand_id = c.brand_id AND k.serial = c.serial
           LEFT JOIN products p ON p.brand_id = k.brand_id AND p.gtin = k.gtin
          WHERE c.brand_id = $1 AND c.member_id = $2 ORDER BY c.claimed_at DESC, c.serial`,
        [brandId, memberId],
      );
      return rows.map((r) => ({ serial: r.serial, gtin: r.gtin, productName: r.name, store: r.store_party, points: r.points, claimedAt: r.claimed_at }));
    },

    /** The bottle's claim, if it is claimed. */
    async claimOf(brandId: number, serial: string): Promise<BottleClaim | null> {
      return (await claimsOfBottles(db, brandId, [serial])).get(serial) ?? null;
    },

    /** Withdraws the member's consents in force (the member stays, keeps points; the brand may no longer contact them). */
    async withdrawConsent(brandId: number, memberId: number): Promise<number> {
      const { rowCount } = await db.query("UPDATE member_consents SET withdrawn_at = now() WHERE brand_id = $1 AND member_id = $2 AND withdrawn_at IS NULL", [
        brandId,
        memberId,
      ]);
      return rowCount ?? 0;
    },

    /**
     * The member leaves: the personal data is erased (phone hash and ciphertext, birthday month, the
     * reference key, the consents' personal part) and the row stays as an anonymous tombstone, so
     * counts (claims, points, members per store) stay. Sessions end; pending codes for the phone go.
     */
    async erase(brandId: number, memberId: number): Promise<void> {
      await withTransaction(db, async (tx) => {
        const {
          rows: [row],
        } = await tx.query<{ phone_hash: Buffer | null }>("SELECT phone_hash FROM members WHERE brand_id = $1 AND id = $2 FOR UPDATE", [brandId, memberId]);
        if (row === undefined) throw notFound("no such member");
        if (row.phone_hash === null) return;
        await tx.query("DELETE FROM member_codes WHERE brand_id = $1 AND phone_hash = $2", [brandId, row.phone_hash]);
        await tx.query(
          `UPDATE members SET phone_hash = NULL, phone_cipher = NULL, phone_key_id = NULL, ref_key = NULL, birth_month = NULL, erased_at = now()
            WHERE brand_id = $1 AND id = $2`,
          [brandId, memberId],
        );
        await tx.query("UPDATE member_consents SET ip_hash = NULL, withdrawn_at = COALESCE(withdrawn_at, now()) WHERE brand_id = $1 AND member_id = $2", [
          brandId,
          memberId,
        ]);
        await tx.query("DELETE FROM member_sessions WHERE brand_id = $1 AND member_id = $2", [brandId, memberId]);
      });
    },

    /** Moves up to `limit` members' ciphertexts from older keys to the current one; returns how many moved. */
    async reencrypt(limit = 500): Promise<number> {
      const { rows } = await db.query<{ brand_id: number; id: number; phone_cipher: Buffer; phone_key_id: string }>(
        "SELECT brand_id, id, phone_cipher, phone_key_id FROM members WHERE phone_key_id IS NOT NULL AND phone_key_id <> $1 LIMIT $2",
        [keys.currentKeyId, limit],
      );
      for (const r of rows) {
        const again = keys.encrypt(r.brand_id, keys.decrypt(r.brand_id, r.phone_cipher, r.phone_key_id));
        await db.query("UPDATE members SET phone_cipher = $3, phone_key_id = $4 WHERE brand_id = $1 AND id = $2 AND phone_key_id = $5", [
          r.brand_id,
          r.id,
          again.cipher,
          again.keyId,
          r.phone_key_id,
        ]);
      }
      return rows.length;
    },

    /**
     * Forgets what is no longer needed: development codes past their time, pending claim details of
     * expired codes, codes older than the send limits' hour, expired sessions.
     */
    async sweep(): Promise<void> {
      await db.query("DELETE FROM member_dev_codes WHERE expires_at <= now()");
      await db.query(
        `UPDATE member_codes SET phone_cipher = NULL, phone_key_id = NULL, birth_month = NULL, consent = NULL
          WHERE expires_at <= now() AND phone_cipher IS NOT NULL`,
      );
      await db.query("DELETE FROM member_codes WHERE created_at < now() - interval '2 hours'");
      await db.query("DELETE FROM member_sessions WHERE expires_at <= now()");
    },
  };
}

export type MembersRepo = ReturnType<typeof createMembersRepo>;
