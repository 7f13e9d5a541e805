/**
 * Members' flows over HTTP, as a browser without script does them: the consumer page's claim form
 * (send a code, enter it), the member page's sign-in, and the development sender's codes read back
 * from the database (member_dev_codes), as the console shows them. And members for the console, API
 * and webhook tests, made the real way: bottles sold at a store through the brand's webhook, then a
 * one-time code from the development sender (issueCode, recordDevCode) and the claim with it
 * (MembersRepo.claim), on the stack's own database and keys.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import type pg from "pg";
import { consentRecord, maskPhone } from "../../service/core/members.ts";
import { createMemberKeys, parseMemberHashKey, parseMemberKeys, type MemberKeys } from "../../service/members/keys.ts";
import { createMembersRepo, type ClaimResult, type MembersRepo } from "../../service/members/repo.ts";
import type { BrandFixture, Stack } from "./stack.ts";

export interface FormAnswer {
  status: number;
  text: string;
  location: string | null;
  /** The member session cookie set by the answer ("name=value"), if any. */
  cookie: string | null;
}

export async function postForm(
  url: string,
  path: string,
  fields: Record<string, string>,
  options: { cookie?: string | null; ip?: string; origin?: string } = {},
): Promise<FormAnswer> {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (options.cookie) headers.cookie = options.cookie;
  if (options.ip) headers["x-forwarded-for"] = options.ip;
  if (options.origin) headers.origin = options.origin;
  const response = await fetch(`${url}${path}`, { method: "POST", headers, body: new URLSearchParams(fields).toString(), redirect: "manual" });
  const set = response.headers.getSetCookie().find((c) => c.startsWith("sealtrace_member_"));
  return {
    status: response.status,
    text: await response.text(),
    location: response.headers.get("location"),
    cookie: set === undefined ? null : set.split(";")[0]!,
  };
}

export async function getPage(
  url: string,
  path: string,
  options: { cookie?: string | null; ip?: string } = {},
): Promise<{ status: number; text: string; location: string | null }> {
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  if (options.ip) headers["x-forwarded-for"] = options.ip;
  const response = await fetch(`${url}${path}`, { headers, redirect: "manual" });
  return { status: response.status, text: await response.text(), location: response.headers.get("location") };
}

/** The path and query of a bottle URL (its host is the stack's). */
export const pathOf = (bottleUrl: string): string => {
  const u = new URL(bottleUrl);
  return `${u.pathname}${u.search}`;
};

/** The bottle's claim form action base: /01/<gtin>/21/<serial>/member. */
export const memberBase = (bottleUrl: string): string => `${new URL(bottleUrl).pathname}/member`;

export const secretOf = (bottleUrl: string): string => new URL(bottleUrl).searchParams.get("s")!;

/** The code id of an enter-code page (its hidden field). */
export function codeIdOf(page: string): string {
  const match = /name="codeId" value="(\d+)"/.exec(page);
  if (match === null) throw new Error(`no code id in the page: ${page.slice(0, 400)}`);
  return match[1]!;
}

/** The development sender's code for `codeId`. */
export async function devCode(db: pg.Pool, codeId: string): Promise<string> {
  const { rows } = await db.query<{ code: string }>("SELECT code FROM member_dev_codes WHERE code_id = $1", [codeId]);
  if (rows[0] === undefined) throw new Error(`no development code for ${codeId}`);
  return rows[0].code;
}

/** Requests a claim code for the bottle (consent given unless `consent: false`). */
export function requestClaimCode(
  url: string,
  bottleUrl: string,
  phone: string,
  options: { consent?: boolean; ip?: string; birthMonth?: string; lang?: string; secret?: string } = {},
): Promise<FormAnswer> {
  const fields: Record<string, string> = { s: options.secret ?? secretOf(bottleUrl), phone, lang: options.lang ?? "zh", birthMonth: options.birthMonth ?? "" };
  if (options.consent !== false) fields.consent = "yes";
  return postForm(url, `${memberBase(bottleUrl)}/code`, fields, options.ip === undefined ? {} : { ip: options.ip });
}

export function confirmClaim(
  url: string,
  bottleUrl: string,
  codeId: string,
  code: string,
  options: { ip?: string; secret?: string } = {},
): Promise<FormAnswer> {
  return postForm(
    url,
    `${memberBase(bottleUrl)}/claim`,
    { s: options.secret ?? secretOf(bottleUrl), codeId, code, lang: "zh" },
    options.ip === undefined ? {} : { ip: options.ip },
  );
}

/** The whole claim: code requested, read from the development sender, entered. Returns the member cookie. */
export async function claimOverHttp(url: string, db: pg.Pool, bottleUrl: string, phone: string, ip?: string): Promise<{ cookie: string; codeId: string }> {
  const sent = await requestClaimCode(url, bottleUrl, phone, ip === undefined ? {} : { ip });
  if (sent.status !== 200) throw new Error(`code request: ${sent.status} ${sent.text.slice(0, 400)}`);
  const codeId = codeIdOf(sent.text);
  const done = await confirmClaim(url, bottleUrl, codeId, await devCode(db, codeId), ip === undefined ? {} : { ip });
  if (done.status !== 303 || done.cookie === null) throw new Error(`claim: ${done.status} ${done.text.slice(0, 400)}`);
  return { cookie: done.cookie, codeId };
}

/** The keys the stack's app uses: the MEMBER_KEYS and MEMBER_HASH_KEY its environment sets (test/helpers/stack.ts). */
export function stackMemberKeys(stack: Stack): MemberKeys {
  const keys = parseMemberKeys(stack.env.MEMBER_KEYS!);
  const hashKey = parseMemberHashKey(stack.env.MEMBER_HASH_KEY!);
  if (typeof keys === "string" || typeof hashKey === "string") throw new Error(`the stack's member keys: ${String(keys)} ${String(hashKey)}`);
  return createMemberKeys({ keys, hashKey });
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
