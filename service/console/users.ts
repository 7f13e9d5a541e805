/**
 * Console users and their sessions. The brand creates its users (kind brand, or kind store bound to
 * one of its store parties); usernames are unique within the brand, so a user signs in with the
 * brand's slug, username and password, and gets a session whose random token lives only in an
 * HTTP-only cookie: the database keeps its SHA-256. Failed sign-ins per (brand, username) are counted
 * in the database, atomically and before any password is hashed (see `authenticate`).
 */
import { randomBytes } from "node:crypto";
import { tokenHash } from "../core/secrets.ts";
import { withTransaction, type Db } from "../db/pool.ts";
import { conflict, invalid, notFound } from "../http/errors.ts";
import { decoyHash, hashPassword, verifyPassword } from "./passwords.ts";

export type UserKind = "brand" | "store";

export interface NewUser {
  username: string;
  password: string;
  kind: UserKind;
  /** The store party, for a store user. */
  party?: string | undefined;
  admin?: boolean | undefined;
  displayName?: string | undefined;
}

export interface UserInfo {
  id: string;
  username: string;
  displayName: string | null;
  kind: UserKind;
  party: string | null;
  admin: boolean;
  createdAt: string;
  disabledAt: string | null;
}

/** Who a signed-in request speaks for. */
export interface ConsoleUser {
  sessionId: number;
  userId: number;
  username: string;
  displayName: string | null;
  kind: UserKind;
  admin: boolean;
  brand: { id: number; slug: string; name: string };
  /** A store user's store. */
  store: { id: string; name: string; region: string } | null;
}

export const USERNAME = /^[a-z0-9][a-z0-9._@-]{2,63}$/;
/** A brand's slug as typed on the sign-in form (service/setup/routes.ts's pattern). */
export const BRAND_SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;
/** Failed sign-ins allowed per (brand, username) in a window of SIGN_IN_WINDOW_MINUTES. */
export const SIGN_IN_PER_USER = 10;
export const SIGN_IN_WINDOW_MINUTES = 15;

/** A sign-in's outcome: the user, wrong credentials (indistinguishable from an unknown user), or locked out. */
export type SignIn = { kind: "ok"; brandId: number; userId: number } | { kind: "refused" } | { kind: "locked"; retryAfterSeconds: number };
export const MIN_PASSWORD = 10;
export const MAX_PASSWORD = 200;

interface UserRow {
  id: number;
  username: string;
  display_name: string | null;
  kind: UserKind;
  party: string | null;
  admin: boolean;
  created_at: Date;
  disabled_at: Date | null;
}

const USER_COLUMNS = "id, username, display_name, kind, party, admin, created_at, disabled_at";

const info = (row: UserRow): UserInfo => ({
  id: String(row.id),
  username: row.username,
  displayName: row.display_name,
  kind: row.kind,
  party: row.party,
  admin: row.admin,
  createdAt: row.created_at.toISOString(),
  disabledAt: row.disabled_at?.toISOString() ?? null,
});

/** Usernames are compared without case and surrounding spaces. */
export const normaliseUsername = (username: string): string => username.trim().toLowerCase();
/** Brand slugs too. */
export const normaliseBrand = (slug: string): string => slug.trim().toLowerCase();
/** The lockout's key is the input as typed (normalised and bounded): unknown names are counted too. */
const lockoutKey = (input: string): string => input.slice(0, 100);

export function createUsers(db: Db) {
  // Ready before the first sign-in, so an unknown user's first attempt takes no longer than a wrong password.
  void decoyHash();
  return {
    async create(brandId: number, user: NewUser): Promise<UserInfo> {
      const username = normaliseUsername(user.username);
      if (!USERNAME.test(username)) throw invalid("username", "3 to 64 lowercase letters, digits and . _ @ -, starting with a letter or digit");
      if (user.password.length < MIN_PASSWORD || user.password.length > MAX_PASSWORD) {
        throw invalid("password", `must be ${MIN_PASSWORD} to ${MAX_PASSWORD} characters`);
      }
      let party: string | null = null;
      if (user.kind === "store") {
        if (user.party === undefined || user.party === "") throw invalid("party", "a store user must name its store party");
        if (user.admin) throw invalid("admin", "only brand users can be admins");
        const {
          rows: [row],
        } = await db.query<{ kind: string }>("SELECT kind FROM parties WHERE brand_id = $1 AND id = $2", [brandId, user.party]);
        if (row === undefined) throw invalid("party", `unknown party "${user.party}"`);
        if (row.kind !== "store") throw invalid("party", `party "${user.party}" is a ${row.kind}: store users belong to stores`);
        party = user.party;
      } else if (user.party !== undefined && user.party !== "") {
        throw invalid("party", "only store users are bound to a party");
      }
      const hash = await hashPassword(user.password);
      const {
        rows: [row],
      } = await db.query<UserRow>(
        `INSERT INTO console_users (brand_id, username, display_name, kind, party, admin, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (brand_id, username) DO NOTHING RETURNING ${USER_COLUMNS}`,
        [brandId, username, user.displayName?.trim() || null, user.kind, party, user.admin ?? false, hash],
      );
      // Unique within the brand only: the answer says nothing about other brands' usernames.
      if (row === undefined) throw conflict(`the brand already has a user "${username}"`, "username");
      return info(row);
    },

    async list(brandId: number): Promise<UserInfo[]> {
      const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM console_users WHERE brand_id = $1 ORDER BY id`, [brandId]);
      return rows.map(info);
    },

    /** Disables one of the brand's users and ends its sessions at once (again: keeps the first time). */
    async disable(brandId: number, id: string): Promise<UserInfo> {
      if (!/^[1-9][0-9]{0,15}$/.test(id)) throw notFound("no such user");
      return await withTransaction(db, async (tx) => {
        const {
          rows: [row],
        } = await tx.query<UserRow>(
          `UPDATE console_users SET disabled_at = COALESCE(disabled_at, now()) WHERE id = $1 AND brand_id = $2 RETURNING ${USER_COLUMNS}`,
          [id, brandId],
        );
        if (row === undefined) throw notFound("no such user");
        await tx.query("DELETE FROM console_sessions WHERE brand_id = $1 AND user_id = $2", [brandId, row.id]);
        return info(row);
      });
    },

    /**
     * Checks a sign-in. The attempt is first counted as a failure against (brand, username) in one
     * atomic upsert, so parallel attempts each see their own count and no more than SIGN_IN_PER_USER
     * in a window ever reach the password hash; a successful one then gives its count back (its owner
     * signing in often is never locked out). An unknown brand, unknown or disabled user is checked
     * against a decoy hash, so it takes as long as a wrong password and answers the same.
     */
    async authenticate(brandInput: string, usernameInput: string, password: string): Promise<SignIn> {
      const brand = lockoutKey(normaliseBrand(brandInput));
      const username = lockoutKey(normaliseUsername(usernameInput));
      const {
        rows: [count],
      } = await db.query<{ failures: number; retry_after: number }>(
        `INSERT INTO console_sign_in_failures AS f (brand, username, failures, window_start) VALUES ($1, $2, 1, now())
         ON CONFLICT (brand, username) DO UPDATE SET
           failures = CASE WHEN f.window_start <= now() - make_interval(mins => $3) THEN 1 ELSE f.failures + 1 END,
           window_start = CASE WHEN f.window_start <= now() - make_interval(mins => $3) THEN now() ELSE f.window_start END
         RETURNING failures, ceil(extract(epoch FROM window_start + make_interval(mins => $3) - now()))::int AS retry_after`,
        [brand, username, SIGN_IN_WINDOW_MINUTES],
      );
      if (count!.failures > SIGN_IN_PER_USER) return { kind: "locked", retryAfterSeconds: Math.max(count!.retry_after, 1) };
      // Now and then, forget the windows that have ended.
      if (Math.random() < 0.01)
        await db.query("DELETE FROM console_sign_in_failures WHERE window_start < now() - make_interval(mins => $1)", [SIGN_IN_WINDOW_MINUTES]);
      const {
        rows: [row],
      } =
        USERNAME.test(username) && BRAND_SLUG.test(brand)
          ? await db.query<{ brand_id: number; id: number; password_hash: string; disabled_at: Date | null }>(
              `SELECT u.brand_id, u.id, u.password_hash, u.disabled_at FROM console_users u JOIN brands b ON b.id = u.brand_id
            WHERE b.slug = $1 AND u.username = $2`,
              [brand, username],
            )
          : { rows: [] };
      const ok = await verifyPassword(password.slice(0, MAX_PASSWORD), row?.password_hash ?? (await decoyHash()));
      if (!ok || row === undefined || row.disabled_at !== null) return { kind: "refused" };
      await db.query("UPDATE console_sign_in_failures SET failures = failures - 1 WHERE brand = $1 AND username = $2 AND failures > 0", [brand, username]);
      return { kind: "ok", brandId: row.brand_id, userId: row.id };
    },
  };
}

export type Users = ReturnType<typeof createUsers>;

export function createSessions(db: Db, ttlMs: number) {
  return {
    ttlMs,

    /** A new session for the brand's user; the token (for the cookie) is returned only here. */
    async open(brandId: number, userId: number): Promise<string> {
      const token = randomBytes(32).toString("base64url");
      // Sweep expired sessions now and then, so the table never grows with abandoned ones.
      await db.query("DELETE FROM console_sessions WHERE expires_at < now()");
      await db.query("INSERT INTO console_sessions (brand_id, user_id, token_hash, expires_at) VALUES ($4, $1, $2, now() + make_interval(secs => $3))", [
        userId,
        tokenHash(token),
        ttlMs / 1000,
        brandId,
      ]);
      return token;
    },

    /** The live session's user: not expired, the user not disabled, a store user's party still a store. */
    async lookup(token: string): Promise<ConsoleUser | null> {
      const {
        rows: [row],
      } = await db.query<{
        session_id: number;
        user_id: number;
        username: string;
        display_name: string | null;
        kind: UserKind;
        admin: boolean;
        brand_id: number;
        slug: string;
        brand_name: string;
        party: string | null;
        party_name: string | null;
        party_region: string | null;
        party_kind: string | null;
      }>(
        `SELECT s.id AS session_id, u.id AS user_id, u.username, u.display_name, u.kind, u.admin,
                b.id AS brand_id, b.slug, b.name AS brand_name, u.party, p.name AS party_name, p.region AS party_region, p.kind AS party_kind
           FROM console_sessions s JOIN console_users u ON u.brand_id = s.brand_id AND u.id = s.user_id JOIN brands b ON b.id = u.brand_id
           LEFT JOIN parties p ON p.brand_id = u.brand_id AND p.id = u.party
          WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL`,
        [tokenHash(token)],
      );
      if (row === undefined) return null;
      if (row.kind === "store" && row.party_kind !== "store") return null;
      return {
        sessionId: row.session_id,
        userId: row.user_id,
        username: row.username,
        displayName: row.display_name,
        kind: row.kind,
        admin: row.admin,
        brand: { id: row.brand_id, slug: row.slug, name: row.brand_name },
        store: row.kind === "store" ? { id: row.party!, name: row.party_name!, region: row.party_region! } : null,
      };
    },

    async close(token: string): Promise<void> {
      await db.query("DELETE FROM console_sessions WHERE token_hash = $1", [tokenHash(token)]);
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
