/**
 * Members for the console, API and webhook tests (issue 20), made the real way: bottles sold at a
 * store through the brand's webhook, then a one-time code from the development sender (issueCode,
 * recordDevCode) and the claim with it (MembersRepo.claim), on the stack's own database and keys.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import type pg from "pg";
import { consentRecord, maskPhone } from "../../service/core/members.ts";
import { createMemberKeys, devMemberKeys, type MemberKeys } from "../../service/members/keys.ts";
import { createMembersRepo, type ClaimResult, type MembersRepo } from "../../service/members/repo.ts";
import type { BrandFixture, Stack } from "./stack.ts";

/**
 * The keys the stack's app uses: derived from LABEL_SECRET until the runtime passes MEMBER_KEYS
 * (service/app.ts AppDeps.memberKeys). Change it here when it does.
 */
export function stackMemberKeys(stack: Stack): MemberKeys {
  return createMemberKeys(devMemberKeys(stack.env.LABEL_SECRET!));
}

export function stackMembers(stack: Stack, db: pg.Pool): MembersRepo {
  return createMembersRepo(db, stackMemberKeys(stack));
}

export async function brandIdOf(db: pg.Pool, slug: string): Promise<number> {
  const { rows } = await db.query<{ id: number }>("SELECT id FROM brands WHERE slug = $1", [slug]);
  return Number(rows[0]!.id);
}

/** Chinese mobile numbers for tests: E.164, the national number as typed, and as the console shows it. */
export function phone(national: string): { e164: string; national: string; masked: string } {
  const e164 = `+86${national}`;
  return { e164, national, masked: maskPhone(e164) };
}

/** Adds a store party to the brand (createBrandWith makes store-pudong in CN-SH only). */
export async function addStore(stack: Stack, brand: BrandFixture, id: string, name: string, region: string): Promise<void> {
  const r = await stack.request("PUT", `/api/v1/parties/${id}`, { token: brand.apiKey, body: { kind: "store", name, region } });
  expect(r.status, JSON.stringify(r.body)).to.equal(200);
}

/** Produces, ships and sells `serials` at `store` (each bottle its own sale, an hour ago). */
export async function sellAt(stack: Stack, brand: BrandFixture, serials: string[], store: string): Promise<void> {
  const prefix = randomBytes(3).toString("hex");
  const ago = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString().replace("Z", "+00:00");
  const events = [
    { id: `${prefix}-prod`, type: "production", codes: serials, occurredAt: ago(7 * 24), party: "factory-zunyi" },
    { id: `${prefix}-whin`, type: "warehouse_in", codes: serials, occurredAt: ago(6 * 24), party: "wh-guiyang" },
    { id: `${prefix}-whout`, type: "warehouse_out", codes: serials, occurredAt: ago(5 * 24), party: "wh-guiyang", to: "dist-shanghai" },
    { id: `${prefix}-recv`, type: "store_receiving", codes: serials, occurredAt: ago(3 * 24), party: store },
    ...serials.map((serial, i) => ({
      id: `${prefix}-sale-${i}`,
      type: "retail_sale",
      codes: [serial],
      occurredAt: ago(1),
      party: store,
      price: { amount: "1499.00", currency: "CNY" },
    })),
  ];
  const r = await stack.postEvents(brand, events);
  expect(r.status, JSON.stringify(r.body)).to.equal(202);
}

let ipCounter = 0;
/** A fresh client address per code, so the per-IP send limit never gets in the way. */
const nextIp = () => `198.51.100.${(ipCounter++ % 250) + 1}`;

/** A claim code for `serial` sent to `phoneE164` by the development sender (kept for the console), not used. */
export async function devClaimCode(members: MembersRepo, brandId: number, serial: string, phoneE164: string, store: string | null = null) {
  const consent = consentRecord("zh", "测试品牌", store);
  const issued = await members.issueCode({
    brandId,
    purpose: "claim",
    phone: phoneE164,
    serial,
    ip: nextIp(),
    pending: { birthMonth: 5, lang: "zh", consent: { version: consent.version, sha256: consent.sha256, store } },
  });
  await members.recordDevCode(brandId, issued, "claim");
  return issued;
}

/** The consumer claims the sold bottle `serial` with the phone `phoneE164`: code from the development sender, then the claim. */
export async function claimBottle(members: MembersRepo, brandId: number, serial: string, phoneE164: string): Promise<ClaimResult> {
  const issued = await devClaimCode(members, brandId, serial, phoneE164);
  return await members.claim({ brandId, serial, codeId: issued.codeId, code: issued.code, verdict: "genuine" });
}

/** Every way a full phone number could be written in a page or a body (the masked form is none of them). */
export function phoneForms(p: { e164: string; national: string }): string[] {
  const n = p.national;
  return [p.e164, p.e164.slice(1), n, `${n.slice(0, 3)} ${n.slice(3, 7)} ${n.slice(7)}`, `${n.slice(0, 3)}-${n.slice(3, 7)}-${n.slice(7)}`];
}
