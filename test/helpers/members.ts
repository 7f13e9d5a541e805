/**
 * Members' flows over HTTP, as a browser without script does them: the consumer page's claim form
 * (send a code, enter it), the member page's sign-in, and the development sender's codes read back
 * from the database (member_dev_codes), as the console shows them.
 */
import type pg from "pg";

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
export async function claimBottle(url: string, db: pg.Pool, bottleUrl: string, phone: string, ip?: string): Promise<{ cookie: string; codeId: string }> {
  const sent = await requestClaimCode(url, bottleUrl, phone, ip === undefined ? {} : { ip });
  if (sent.status !== 200) throw new Error(`code request: ${sent.status} ${sent.text.slice(0, 400)}`);
  const codeId = codeIdOf(sent.text);
  const done = await confirmClaim(url, bottleUrl, codeId, await devCode(db, codeId), ip === undefined ? {} : { ip });
  if (done.status !== 303 || done.cookie === null) throw new Error(`claim: ${done.status} ${done.text.slice(0, 400)}`);
  return { cookie: done.cookie, codeId };
}
