/**
 * Members as the brand and its stores see them in the console (docs/MEMBERS.md "Console"): counts per
 * store and region, repeat buyers, points, the claimed share of sold bottles, and the audit of the
 * brand's exports of members' phone numbers (migration 0019, member_exports). Counts only: no personal
 * data leaves here (the phones of an export come from MembersRepo.phones, after its audit row).
 */
import type { Db } from "../db/pool.ts";

/** A store's members at a glance. */
export interface StoreMembersSummary {
  /** Members attributed to the store (the store whose sale preceded their first claim), those who left included. */
  members: number;
  /** Of them, joined since `since` (the console: this week, from Monday, China time). */
  newSince: number;
  /** Members who claimed two bottles or more bought at this store. */
  repeatBuyers: number;
  /** Bottles bought at this store and claimed, and the points those claims earned. */
  claims: number;
  points: number;
}

/** One store's line in the brand's view. */
export interface StoreMembersLine {
  store: string;
  name: string;
  region: string;
  regionName: string | null;
  members: number;
  newSince: number;
  /** Distinct bottles the store sold (its retail_sale events), and how many of those its buyers claimed. */
  sold: number;
  claimed: number;
  /** claimed / sold; null when the store sold nothing. */
  claimedShare: number | null;
}

/** A member's details for the export's row (the phone comes from MembersRepo.phones). */
export interface ExportDetails {
  id: number;
  store: string | null;
  points: number;
  joinedAt: Date;
  birthMonth: number | null;
  claims: number;
  /** Whether the member's consent is in force: a member who withdrew it is not exported (the brand may no longer contact them). */
  consent: boolean;
}

export interface MemberExport {
  id: number;
  username: string;
  purpose: string;
  /** Null while being sent, or when the download broke off. */
  rowCount: number | null;
  createdAt: Date;
  completedAt: Date | null;
}

export function createMemberReports(db: Db) {
  return {
    async storeSummary(brandId: number, party: string, since: Date): Promise<StoreMembersSummary> {
      const {
        rows: [row],
      } = await db.query<StoreMembersSummary>(
        `SELECT (SELECT count(*)::int FROM members WHERE brand_id = $1 AND store_party = $2) AS members,
                (SELECT count(*)::int FROM members WHERE brand_id = $1 AND store_party = $2 AND joined_at >= $3) AS "newSince",
                (SELECT count(*)::int FROM (SELECT member_id FROM member_claims WHERE brand_id = $1 AND store_party = $2
                                             GROUP BY member_id HAVING count(*) >= 2) r) AS "repeatBuyers",
                (SELECT count(*)::int FROM member_claims WHERE brand_id = $1 AND store_party = $2) AS claims,
                (SELECT COALESCE(sum(points), 0)::int FROM member_claims WHERE brand_id = $1 AND store_party = $2) AS points`,
        [brandId, party, since],
      );
      return row!;
    },

    /** Every store of the brand with its members, new members since `since`, sold and claimed bottles. */
    async byStore(brandId: number, since: Date): Promise<StoreMembersLine[]> {
      const { rows } = await db.query<{
        store: string;
        name: string;
        region: string;
        region_name: string | null;
        members: number;
        new_since: number;
        sold: number;
        claimed: number;
      }>(
        `SELECT p.id AS store, p.name, p.region, r.name AS region_name,
                COALESCE(m.members, 0) AS members, COALESCE(m.new_since, 0) AS new_since,
                COALESCE(s.sold, 0) AS sold, COALESCE(c.claimed, 0) AS claimed
           FROM parties p
           LEFT JOIN regions r ON r.brand_id = p.brand_id AND r.code = p.region
           LEFT JOIN (SELECT store_party, count(*)::int AS members, (count(*) FILTER (WHERE joined_at >= $2))::int AS new_since
                        FROM members WHERE brand_id = $1 GROUP BY store_party) m ON m.store_party = p.id
           LEFT JOIN (SELECT e.party, count(DISTINCT x.serial)::int AS sold
                        FROM events e CROSS JOIN LATERAL unnest(e.codes) AS x(serial)
                       WHERE e.brand_id = $1 AND e.type = 'retail_sale' GROUP BY e.party) s ON s.party = p.id
           LEFT JOIN (SELECT store_party, count(*)::int AS claimed FROM member_claims WHERE brand_id = $1 GROUP BY store_party) c ON c.store_party = p.id
          WHERE p.brand_id = $1 AND p.kind = 'store'
          ORDER BY p.region, p.id`,
        [brandId, since],
      );
      return rows.map((r) => ({
        store: r.store,
        name: r.name,
        region: r.region,
        regionName: r.region_name,
        members: r.members,
        newSince: r.new_since,
        sold: r.sold,
        claimed: r.claimed,
        claimedShare: r.sold === 0 ? null : r.claimed / r.sold,
      }));
    },

    /** The brand's members in all, joined since `since`, and its claimed bottles. */
    async totals(brandId: number, since: Date): Promise<{ members: number; newSince: number; claims: number }> {
      const {
        rows: [row],
      } = await db.query<{ members: number; newSince: number; claims: number }>(
        `SELECT (SELECT count(*)::int FROM members WHERE brand_id = $1) AS members,
                (SELECT count(*)::int FROM members WHERE brand_id = $1 AND joined_at >= $2) AS "newSince",
                (SELECT count(*)::int FROM member_claims WHERE brand_id = $1) AS claims`,
        [brandId, since],
      );
      return row!;
    },

    /** The export's details of the members `ids` (the brand's only). */
    async exportDetails(brandId: number, ids: readonly number[]): Promise<Map<number, ExportDetails>> {
      if (ids.length === 0) return new Map();
      const { rows } = await db.query<{
        id: number;
        store_party: string | null;
        points: number;
        joined_at: Date;
        birth_month: number | null;
        claims: number;
        consent: boolean;
      }>(
        `SELECT m.id, m.store_party, m.points, m.joined_at, m.birth_month,
                (SELECT count(*)::int FROM member_claims c WHERE c.brand_id = m.brand_id AND c.member_id = m.id) AS claims,
                EXISTS (SELECT 1 FROM member_consents k WHERE k.brand_id = m.brand_id AND k.member_id = m.id AND k.withdrawn_at IS NULL) AS consent
           FROM members m WHERE m.brand_id = $1 AND m.id = ANY($2::bigint[]) AND m.erased_at IS NULL`,
        [brandId, ids],
      );
      return new Map(
        rows.map((r) => [
          r.id,
          { id: r.id, store: r.store_party, points: r.points, joinedAt: r.joined_at, birthMonth: r.birth_month, claims: r.claims, consent: r.consent },
        ]),
      );
    },

    /** Records an export before any phone number is sent; returns its id. */
    async startExport(brandId: number, user: { userId: number; username: string }, purpose: string): Promise<number> {
      const {
        rows: [row],
      } = await db.query<{ id: number }>("INSERT INTO member_exports (brand_id, user_id, username, purpose) VALUES ($1, $2, $3, $4) RETURNING id", [
        brandId,
        user.userId,
        user.username,
        purpose,
      ]);
      return row!.id;
    },

    /** Records that the export was sent in full, with how many members it held. */
    async completeExport(brandId: number, exportId: number, rowCount: number): Promise<void> {
      await db.query("UPDATE member_exports SET row_count = $3, completed_at = now() WHERE brand_id = $1 AND id = $2", [brandId, exportId, rowCount]);
    },

    /** The brand's exports, newest first. */
    async exports(brandId: number, limit: number): Promise<MemberExport[]> {
      const { rows } = await db.query<{
        id: number;
        username: string;
        purpose: string;
        row_count: number | null;
        created_at: Date;
        completed_at: Date | null;
      }>(
        "SELECT id, username, purpose, row_count, created_at, completed_at FROM member_exports WHERE brand_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        [brandId, limit],
      );
      return rows.map((r) => ({
        id: r.id,
        username: r.username,
        purpose: r.purpose,
        rowCount: r.row_count,
        createdAt: r.created_at,
        completedAt: r.completed_at,
      }));
    },
  };
}

export type MemberReports = ReturnType<typeof createMemberReports>;
