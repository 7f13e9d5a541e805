/**
 * Brand set-up: brands, products, regions, parties, minted codes (and their label files and QR
 * codes) and webhook secrets.
 */
import QRCode from "qrcode";
import { parseLocation } from "../core/gs1-ids.ts";
import { normaliseGtin } from "../core/gtin.ts";
import { DEFAULT_STORE_POLICY, type StorePolicy } from "../core/custody.ts";
import { brandLabelKey, csvRow, labelFor, type Label } from "../core/labels.ts";
import { newApiKey, newSerial, newWebhookSecret, tokenHash } from "../core/secrets.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import { conflict, invalid, notFound, type AppError } from "../http/errors.ts";
import { levelPointsProblem } from "../core/members.ts";
import { DEFAULT_MEMBER_SETTINGS, type MemberSettings } from "../members/repo.ts";

export interface CreatedBrand {
  slug: string;
  apiKey: string;
  webhookSecret: string;
}

/** A minted code as returned once by POST /api/v1/codes (and again, for a lot, by the label export). */
export type MintedCode = Label;

/** The label export's columns, in order. */
export const EXPORT_COLUMNS = ["serial", "gtin", "lot", "region", "url", "cap_code", "cap_url"] as const;

/** Rows fetched per page of a label export: bounded memory however large the lot. */
const EXPORT_PAGE = 1_000;

/**
 * Mints codes: ($1 brand, $2 gtin, $3 lot, $4 region, $5 serials, $6 secret hashes, $7 cap hashes).
 * One statement: the codes (keyed by brand) and the serials' lookup (unique across brands, migration
 * 0016) commit together, and a serial another brand already holds fails the whole call.
 */
export const MINT_CODES_SQL = `WITH lookup AS (INSERT INTO serials (serial, brand_id) SELECT s, $1 FROM unnest($5::text[]) AS t(s))
INSERT INTO codes (serial, brand_id, gtin, lot, region, region_source, secret_hash, cap_hash)
SELECT s, $1, $2, $3, $4, CASE WHEN $4::text IS NULL THEN NULL ELSE 'minted' END, h, c
  FROM unnest($5::text[], $6::bytea[], $7::bytea[]) AS t(s, h, c)`;

interface CodeRow {
  serial: string;
  gtin: string;
  lot: string | null;
  region: string | null;
  secret_hash: Buffer;
  cap_hash: Buffer | null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * The code's label, re-derived; null when it cannot be regenerated because the stored hashes are not
 * those of the derived values: a code minted before labels were derived (random secret, no cap
 * hash), or under another LABEL_SECRET. Printing such a label would put a code on the bottle that
 * verifies as unknown.
 */
function regenerated(labelKey: Uint8Array, base: string, row: CodeRow): Label | null {
  const label = labelFor(labelKey, base, row.gtin, row.serial);
  if (!sameBytes(tokenHash(label.secret), row.secret_hash)) return null;
  if (row.cap_hash === null || !sameBytes(tokenHash(label.capCode), row.cap_hash)) return null;
  return label;
}

const notRegenerable = (what: string, field: string): AppError =>
  conflict(`${what} cannot be regenerated: minted before label codes were derived, or under a different LABEL_SECRET`, field);

/**
 * The brand's settings (columns of brands): its policy for its stores' own events (migration 0013),
 * and its members' points, levels and SMS gateway (migration 0018, docs/MEMBERS.md).
 */
export type BrandSettings = StorePolicy & MemberSettings;

/** The brand's settings, read in the caller's transaction (the ingest reads them beside the bottles it locks). */
export async function brandSettings(q: Db | Tx, brandId: number): Promise<BrandSettings> {
  // One statement: the ingest reads the settings in every delivery's transaction.
  const {
    rows: [row],
  } = await q.query<{
    store_backdate_hours: number;
    store_sells_unreceived: boolean;
    member_points_per_bottle: number;
    member_level_points: number[];
    sms_gateway_url: string | null;
    sms_gateway_secret: string | null;
  }>(
    `SELECT store_backdate_hours, store_sells_unreceived, member_points_per_bottle, member_level_points, sms_gateway_url, sms_gateway_secret
       FROM brands WHERE id = $1`,
    [brandId],
  );
  if (row === undefined) return { ...DEFAULT_STORE_POLICY, ...DEFAULT_MEMBER_SETTINGS };
  return {
    storeBackdateHours: row.store_backdate_hours,
    storeSellsUnreceived: row.store_sells_unreceived,
    memberPointsPerBottle: row.member_points_per_bottle,
    memberLevelPoints: row.member_level_points,
    smsGatewayUrl: row.sms_gateway_url,
    smsGatewaySecret: row.sms_gateway_secret,
  };
}

export type PartyKind = "factory" | "warehouse" | "distributor" | "store";

function gtinOrThrow(input: string): string {
  const gtin = normaliseGtin(input);
  if (gtin === null) throw invalid("gtin", "not a valid GTIN (8, 12, 13 or 14 digits with a correct check digit)");
  return gtin;
}

export function createSetupRepo(db: Db, publicBaseUrl: () => string, labelSecret: string) {
  if (labelSecret.length < 32) throw new RangeError("createSetupRepo: the label secret must be at least 32 characters");
  const labelKeyOf = (brandId: number) => brandLabelKey(labelSecret, brandId);

  async function codeRows(brandId: number, lot: string, after: string, limit: number): Promise<CodeRow[]> {
    const { rows } = await db.query<CodeRow>(
      `SELECT serial, gtin, lot, region, secret_hash, cap_hash FROM codes
        WHERE brand_id = $1 AND lot = $2 AND serial > $3 ORDER BY serial LIMIT $4`,
      [brandId, lot, after, limit],
    );
    return rows;
  }

  return {
    async createBrand(slug: string, name: string): Promise<CreatedBrand> {
      const apiKey = newApiKey();
      const webhookSecret = newWebhookSecret();
      return await withTransaction(db, async (tx) => {
        const { rows } = await tx.query<{ id: number }>(
          "INSERT INTO brands (slug, name, api_key_hash) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING RETURNING id",
          [slug, name, tokenHash(apiKey)],
        );
        if (rows.length === 0) throw conflict(`a brand with slug "${slug}" already exists`, "slug");
        await tx.query("INSERT INTO webhook_secrets (brand_id, secret) VALUES ($1, $2)", [rows[0]!.id, webhookSecret]);
        return { slug, apiKey, webhookSecret };
      });
    },

    /** A new current webhook secret; the previous ones stay valid for `graceSeconds`. */
    async rotateWebhookSecret(brandId: number, graceSeconds: number): Promise<{ webhookSecret: string; previousValidUntil: string }> {
      const webhookSecret = newWebhookSecret();
      return await withTransaction(db, async (tx) => {
        await tx.query("SELECT id FROM brands WHERE id = $1 FOR UPDATE", [brandId]);
        const { rows } = await tx.query<{ until: Date }>("SELECT now() + make_interval(secs => $1) AS until", [graceSeconds]);
        const until = rows[0]!.until;
        await tx.query("DELETE FROM webhook_secrets WHERE brand_id = $1 AND expires_at IS NOT NULL", [brandId]);
        await tx.query("UPDATE webhook_secrets SET expires_at = $2 WHERE brand_id = $1 AND expires_at IS NULL", [brandId, until]);
        await tx.query("INSERT INTO webhook_secrets (brand_id, secret) VALUES ($1, $2)", [brandId, webhookSecret]);
        return { webhookSecret, previousValidUntil: until.toISOString() };
      });
    },

    settings: (brandId: number): Promise<BrandSettings> => brandSettings(db, brandId),

    /**
     * Changes the settings given, keeps the others; returns them all. The SMS gateway's secret is made
     * when a gateway URL is first set (and kept while one is); clearing the URL clears it.
     */
    async updateSettings(brandId: number, change: Partial<Omit<BrandSettings, "smsGatewaySecret">>): Promise<BrandSettings> {
      if (change.memberLevelPoints !== undefined) {
        const problem = levelPointsProblem(change.memberLevelPoints);
        if (problem !== null) throw invalid("memberLevelPoints", problem);
      }
      const gateway = change.smsGatewayUrl;
      await db.query(
        `UPDATE brands SET store_backdate_hours = COALESCE($2, store_backdate_hours),
                           store_sells_unreceived = COALESCE($3, store_sells_unreceived),
                           member_points_per_bottle = COALESCE($4, member_points_per_bottle),
                           member_level_points = COALESCE($5, member_level_points),
                           sms_gateway_url = CASE WHEN $6 THEN $7 ELSE sms_gateway_url END,
                           sms_gateway_secret = CASE WHEN NOT $6 THEN sms_gateway_secret WHEN $7::text IS NULL THEN NULL
                                                     ELSE COALESCE(sms_gateway_secret, $8) END
          WHERE id = $1`,
        [
          brandId,
          change.storeBackdateHours ?? null,
          change.storeSellsUnreceived ?? null,
          change.memberPointsPerBottle ?? null,
          change.memberLevelPoints ?? null,
          gateway !== undefined,
          gateway ?? null,
          newWebhookSecret(),
        ],
      );
      return await brandSettings(db, brandId);
    },

    async putProduct(brandId: number, gtinInput: string, name: string, attributes: Record<string, unknown>) {
      const gtin = gtinOrThrow(gtinInput);
      await db.query(
        `INSERT INTO products (brand_id, gtin, name, attributes) VALUES ($1, $2, $3, $4)
         ON CONFLICT (brand_id, gtin) DO UPDATE SET name = EXCLUDED.name, attributes = EXCLUDED.attributes, updated_at = now()`,
        [brandId, gtin, name, attributes],
      );
      return { gtin, name, ...attributes };
    },

    async putRegion(brandId: number, code: string, name: string) {
      await db.query(
        `INSERT INTO regions (brand_id, code, name) VALUES ($1, $2, $3)
         ON CONFLICT (brand_id, code) DO UPDATE SET name = EXCLUDED.name, updated_at = now()`,
        [brandId, code, name],
      );
      return { code, name };
    },

    async putParty(brandId: number, id: string, party: { kind: PartyKind; name: string; region: string; authorised?: boolean; gln?: string }) {
      const authorised = party.authorised ?? true;
      const location = party.gln === undefined ? null : parseLocation(party.gln);
      if (party.gln !== undefined && location === null) {
        throw invalid("gln", "must be a GLN (13 digits with a valid check digit), an SGLN (urn:epc:id:sgln:…) or a GS1 Digital Link with /414/{gln}");
      }
      const taken =
        location === null
          ? []
          : (
              await db.query<{ id: string }>("SELECT id FROM parties WHERE brand_id = $1 AND gln = $2 AND gln_ext IS NOT DISTINCT FROM $3 AND id <> $4", [
                brandId,
                location.gln,
                location.ext,
                id,
              ])
            ).rows;
      if (taken[0] !== undefined) throw conflict(`party "${taken[0].id}" is already registered at ${party.gln}`, "gln");
      const { rowCount } = await db.query(
        `INSERT INTO parties (brand_id, id, kind, name, region, authorised, gln, gln_ext)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM regions WHERE brand_id = $1 AND code = $5)
         ON CONFLICT (brand_id, id) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, region = EXCLUDED.region,
           authorised = EXCLUDED.authorised, gln = EXCLUDED.gln, gln_ext = EXCLUDED.gln_ext, updated_at = now()`,
        [brandId, id, party.kind, party.name, party.region, authorised, location?.gln ?? null, location?.ext ?? null],
      );
      if (rowCount === 0) throw invalid("region", `unknown region "${party.region}": create it with PUT /api/v1/regions/{code} first`);
      return { id, ...party, authorised };
    },

    async mintCodes(brandId: number, request: { gtin: string; count: number; lot?: string; region?: string }): Promise<MintedCode[]> {
      const gtin = gtinOrThrow(request.gtin);
      const product = await db.query("SELECT 1 FROM products WHERE brand_id = $1 AND gtin = $2", [brandId, gtin]);
      if (product.rowCount === 0) throw invalid("gtin", `unknown product ${gtin}: create it with PUT /api/v1/products/{gtin} first`);
      if (request.region !== undefined) {
        const region = await db.query("SELECT 1 FROM regions WHERE brand_id = $1 AND code = $2", [brandId, request.region]);
        if (region.rowCount === 0) throw invalid("region", `unknown region "${request.region}"`);
      }
      // Secrets and cap codes are derived from the serial (core/labels.ts), so the lot's label file
      // can be exported again later; the database keeps only their hashes.
      const labelKey = labelKeyOf(brandId);
      const base = publicBaseUrl();
      const codes = Array.from({ length: request.count }, () => labelFor(labelKey, base, gtin, newSerial()));
      await db.query(MINT_CODES_SQL, [
        brandId,
        gtin,
        request.lot ?? null,
        request.region ?? null,
        codes.map((c) => c.serial),
        codes.map((c) => tokenHash(c.secret)),
        codes.map((c) => tokenHash(c.capCode)),
      ]);
      return codes;
    },

    /**
     * The label file of one lot, as CSV chunks (RFC 4180, CRLF), in serial order, read page by page
     * so a large lot is never held in memory. The first page is read before this resolves, so an
     * unknown lot is a 404 and a lot whose labels cannot be regenerated a 409, before any byte is
     * sent; if a later code cannot be regenerated (a lot name reused across a LABEL_SECRET change)
     * the stream fails rather than deliver a label that would not verify.
     */
    async exportLot(brandId: number, lot: string): Promise<AsyncIterable<string>> {
      const labelKey = labelKeyOf(brandId);
      const base = publicBaseUrl();
      const first = await codeRows(brandId, lot, "", EXPORT_PAGE);
      if (first.length === 0) throw notFound(`no codes in lot "${lot}"`);
      const render = (rows: CodeRow[]): string =>
        rows
          .map((row) => {
            const label = regenerated(labelKey, base, row);
            if (label === null) throw notRegenerable(`the label of code ${row.serial} in lot "${lot}"`, "lot");
            return csvRow([row.serial, row.gtin, row.lot, row.region, label.url, label.capCode, label.capUrl]);
          })
          .join("");
      const head = csvRow([...EXPORT_COLUMNS]) + render(first);
      return (async function* () {
        yield head;
        let page = first;
        while (page.length === EXPORT_PAGE) {
          page = await codeRows(brandId, lot, page[page.length - 1]!.serial, EXPORT_PAGE);
          if (page.length > 0) yield render(page);
        }
      })();
    },

    /** An SVG QR code of one of the brand's bottles: its Digital Link URL (`?s=`), or its cap URL (`?o=`). */
    /** The bottle page's URL (with its QR secret) of one of the brand's codes, re-derived; null when it cannot be (the member page's links). */
    async bottlePageUrl(brandId: number, serial: string): Promise<string | null> {
      const {
        rows: [row],
      } = await db.query<CodeRow>("SELECT serial, gtin, lot, region, secret_hash, cap_hash FROM codes WHERE serial = $1 AND brand_id = $2", [serial, brandId]);
      return row === undefined ? null : (regenerated(labelKeyOf(brandId), publicBaseUrl(), row)?.url ?? null);
    },

    async qrSvg(brandId: number, serial: string, which: "url" | "cap"): Promise<string> {
      const {
        rows: [row],
      } = await db.query<CodeRow>("SELECT serial, gtin, lot, region, secret_hash, cap_hash FROM codes WHERE serial = $1 AND brand_id = $2", [serial, brandId]);
      if (row === undefined) throw notFound("no such code");
      const label = regenerated(labelKeyOf(brandId), publicBaseUrl(), row);
      if (label === null) throw notRegenerable(`the label of code ${serial}`, "serial");
      return await QRCode.toString(which === "cap" ? label.capUrl : label.url, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
    },
  };
}

export type SetupRepo = ReturnType<typeof createSetupRepo>;
