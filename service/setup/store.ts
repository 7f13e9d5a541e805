/**
 * Brand set-up: brands, products, regions, parties, minted codes and webhook secrets.
 */
import { normaliseGtin } from "../core/gtin.ts";
import { newApiKey, newCodeSecret, newSerial, newWebhookSecret, tokenHash } from "../core/secrets.ts";
import { withTransaction, type Db } from "../db/pool.ts";
import { conflict, invalid } from "../http/errors.ts";

export interface CreatedBrand {
  slug: string;
  apiKey: string;
  webhookSecret: string;
}

export interface MintedCode {
  serial: string;
  secret: string;
  url: string;
}

export type PartyKind = "factory" | "warehouse" | "distributor" | "store";

function gtinOrThrow(input: string): string {
  const gtin = normaliseGtin(input);
  if (gtin === null) throw invalid("gtin", "not a valid GTIN (8, 12, 13 or 14 digits with a correct check digit)");
  return gtin;
}

export function createSetupStore(db: Db, publicBaseUrl: () => string) {
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

    async putParty(brandId: number, id: string, party: { kind: PartyKind; name: string; region: string; authorised?: boolean }) {
      const authorised = party.authorised ?? true;
      const { rowCount } = await db.query(
        `INSERT INTO parties (brand_id, id, kind, name, region, authorised)
         SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM regions WHERE brand_id = $1 AND code = $5)
         ON CONFLICT (brand_id, id) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, region = EXCLUDED.region,
           authorised = EXCLUDED.authorised, updated_at = now()`,
        [brandId, id, party.kind, party.name, party.region, authorised],
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
      const codes = Array.from({ length: request.count }, () => ({ serial: newSerial(), secret: newCodeSecret() }));
      await db.query(
        `INSERT INTO codes (serial, brand_id, gtin, lot, region, secret_hash)
         SELECT s, $1, $2, $3, $4, h FROM unnest($5::text[], $6::bytea[]) AS t(s, h)`,
        [brandId, gtin, request.lot ?? null, request.region ?? null, codes.map((c) => c.serial), codes.map((c) => tokenHash(c.secret))],
      );
      const base = publicBaseUrl().replace(/\/+$/, "");
      return codes.map(({ serial, secret }) => ({ serial, secret, url: `${base}/01/${gtin}/21/${serial}?s=${secret}` }));
    },
  };
}

export type SetupStore = ReturnType<typeof createSetupStore>;
