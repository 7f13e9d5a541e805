/**
 * Members in the console (issue 20, docs/MEMBERS.md "Console"). A store's view: its members (phones
 * masked), new this week, repeat buyers, points. The brand's view: members by store and region, the
 * claimed share of sold bottles per store, the resold_after_claim alerts, and the export. Both show,
 * while the brand has no SMS gateway (the development sender), the brand's recent one-time codes,
 * marked DEVELOPMENT. Full phone numbers appear in one place only: the export, a brand admin's
 * explicit POST (CSRF, a stated purpose), recorded in member_exports before the first number is sent.
 */
import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { levelOf } from "../core/members.ts";
import { csvRow } from "../core/labels.ts";
import type { Db } from "../db/pool.ts";
import { attachment } from "../http/download.ts";
import { AppError, invalid } from "../http/errors.ts";
import type { MembersRepo } from "../members/repo.ts";
import { createMemberReports } from "../members/reports.ts";
import { html, type SafeHtml } from "../web/html.ts";
import { MEMBER_MESSAGES, type MemberMessages } from "./members-i18n.ts";
import { localDate, periodStart } from "./periods.ts";
import { storeNav } from "./store.ts";
import { card, chart, consolePage, csrfField, notice, percent, table, time, type Ctx } from "./view.ts";
import type { Web } from "./web.ts";

/** Members per console page. */
export const MEMBERS_SHOWN = 100;
const ALERTS_SHOWN = 50;
const EXPORTS_SHOWN = 20;
/** Members read per query while the export streams. */
const EXPORT_PAGE = 500;
export const EXPORT_COLUMNS = ["member_id", "phone", "store", "points", "level", "joined_at", "claims", "birth_month"] as const;

const stat = (id: string, label: string, value: number): SafeHtml =>
  html`<div class="stat"><dt>${label}</dt><dd id="${id}" data-value="${value}">${value}</dd></div>`;

/** The export's stated purpose: 5 to 200 characters once trimmed, no control characters. */
export function exportPurpose(text: string | undefined): string {
  const purpose = (text ?? "").trim();
  if ([...purpose].length < 5 || [...purpose].length > 200) throw invalid("purpose", "state the purpose of the export in 5 to 200 characters");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(purpose)) throw invalid("purpose", "one line of text, without control characters");
  return purpose;
}

export function memberRoutes(scope: FastifyInstance, web: Web, deps: { db: Db; members: MembersRepo }): void {
  const { data } = web;
  const { members } = deps;
  const reports = createMemberReports(deps.db);
  const mm = (ctx: Ctx): MemberMessages => MEMBER_MESSAGES[ctx.lang];

  /** The brand's development codes while it has no SMS gateway; nothing once it has one. */
  async function devCodesCard(ctx: Ctx, brandId: number): Promise<SafeHtml | ""> {
    const settings = await members.settings(brandId);
    if (settings.smsGatewayUrl !== null) return "";
    const m = mm(ctx);
    const codes = await members.devCodes(brandId);
    return html`<section class="card dev-codes" id="dev-codes" data-development="true" aria-labelledby="dev-codes-h">
<h2 id="dev-codes-h"><span class="badge badge-delayed">${m.devBadge}</span> ${m.devCodes}</h2>
<p class="notice notice-error" role="note">${m.devCodesNote}</p>
${
  codes.length === 0
    ? html`<p class="muted">${m.none}</p>`
    : table(
        `${m.devBadge} · ${m.devCodes}`,
        [m.phone, m.code, m.purpose, m.time, m.expiresAt],
        codes.map((c) => [
          c.phoneMasked,
          html`<code data-dev-code="${c.code}">${c.code}</code>`,
          m.purposes[c.purpose] ?? c.purpose,
          time(ctx, c.createdAt),
          time(ctx, c.expiresAt),
        ]),
        { id: "dev-codes-table" },
      )
}
</section>`;
  }

  scope.get<{ Params: { party: string }; Querystring: { after?: string } }>("/stores/:party/members", async (request, reply) => {
    const { user, store } = await web.storeAccess(request, request.params.party);
    const ctx = web.ctx(request, reply);
    const m = mm(ctx);
    const brandId = user.brand.id;
    const after = request.query.after !== undefined && /^[1-9]\d{0,14}$/.test(request.query.after) ? Number(request.query.after) : 0;
    const [summary, list, dev] = await Promise.all([
      reports.storeSummary(brandId, store.id, periodStart("week", new Date())),
      members.list(brandId, { store: store.id, after, limit: MEMBERS_SHOWN }),
      devCodesCard(ctx, brandId),
    ]);
    const base = `/console/stores/${encodeURIComponent(store.id)}/members`;
    const body = html`${storeNav(ctx, store)}
<dl class="stats">
${stat("store-members", m.members, summary.members)}
${stat("store-new-week", m.newThisWeek, summary.newSince)}
${stat("store-repeat", m.repeatBuyers, summary.repeatBuyers)}
${stat("store-claims", m.claims, summary.claims)}
${stat("store-points", m.pointsHere, summary.points)}
</dl>
<p class="muted">${m.repeatBuyersNote}</p>
${dev}
${card(
  "members",
  m.list,
  list.length === 0
    ? html`<p class="muted">${ctx.m.noData}</p>`
    : html`${table(
        m.list,
        [m.phone, m.level, m.points, m.claims, m.joinedAt, m.lastClaim, m.consent],
        list.map((x) => [
          x.phoneMasked ?? html`<span class="muted">${m.left}</span>`,
          x.level,
          x.points,
          x.claims,
          time(ctx, x.joinedAt),
          time(ctx, x.lastClaimAt),
          x.erasedAt !== null ? m.left : x.consent ? m.consentGiven : m.consentWithdrawn,
        ]),
        { numeric: [1, 2, 3], id: "members-table" },
      )}
${list.length === MEMBERS_SHOWN ? html`<p><a href="${base}?after=${list.at(-1)!.id}">${m.more}</a></p>` : ""}`,
)}`;
    return web.send(reply, consolePage(ctx, `${m.storeTitle} · ${store.name}`, body));
  });

  async function brandPage(ctx: Ctx, brandId: number, status: SafeHtml | "" = "", purpose = ""): Promise<string> {
    const m = mm(ctx);
    const since = periodStart("week", new Date());
    const [totals, stores, alerts, dev, exports] = await Promise.all([
      reports.totals(brandId, since),
      reports.byStore(brandId, since),
      data.alerts(brandId, "resold_after_claim", ALERTS_SHOWN),
      devCodesCard(ctx, brandId),
      ctx.user?.admin ? reports.exports(brandId, EXPORTS_SHOWN) : Promise.resolve([]),
    ]);
    const regions = new Map<string, { name: string; members: number }>();
    for (const s of stores) {
      const entry = regions.get(s.region) ?? { name: s.regionName ?? s.region, members: 0 };
      entry.members += s.members;
      regions.set(s.region, entry);
    }
    const storeNames = new Map(stores.map((s) => [s.store, s.name]));
    const storeName = (party: unknown) => (typeof party === "string" ? (storeNames.get(party) ?? party) : "—");
    const exportCard = ctx.user?.admin
      ? card(
          "export",
          m.export,
          html`<p>${m.exportNote}</p>
<form method="post" action="/console/members/export" class="stacked-form" id="export-form">
${csrfField(ctx)}
<p><label for="export-purpose">${m.exportPurpose}</label>
<input id="export-purpose" name="purpose" type="text" minlength="5" maxlength="200" required value="${purpose}"></p>
<p><button type="submit">${m.exportButton}</button></p>
</form>
${
  exports.length === 0
    ? ""
    : table(
        m.exports,
        [m.time, m.exportedBy, m.purpose, m.rows],
        exports.map((e) => [time(ctx, e.createdAt), e.username, e.purpose, e.rowCount ?? m.incomplete]),
        { numeric: [3], id: "exports-table" },
      )
}`,
        )
      : card("export", m.export, html`<p class="muted">${m.exportAdminsOnly}</p>`);
    const body = html`<dl class="stats">
${stat("brand-members", m.members, totals.members)}
${stat("brand-new-week", m.newThisWeek, totals.newSince)}
${stat("brand-claims", m.claims, totals.claims)}
</dl>
${dev}
${chart(ctx, "chart-member-stores", m.byStore, { type: "bar", horizontal: true, labels: stores.map((s) => s.name), series: [{ label: m.members, data: stores.map((s) => s.members) }] }, m.store)}
${chart(ctx, "chart-member-regions", m.byRegion, { type: "bar", labels: [...regions.values()].map((r) => r.name), series: [{ label: m.members, data: [...regions.values()].map((r) => r.members) }] }, m.region)}
${card(
  "claimed-share",
  m.claimedShareTitle,
  html`<p class="muted">${m.claimedShareNote}</p>
${
  stores.length === 0
    ? html`<p class="muted">${ctx.m.noData}</p>`
    : table(
        m.claimedShareTitle,
        [m.store, m.members, m.newThisWeek, m.sold, m.claimed, m.claimedShare, m.region],
        stores.map((s) => [
          html`<a href="/console/stores/${encodeURIComponent(s.store)}/members">${s.name}</a>`,
          s.members,
          s.newSince,
          s.sold,
          s.claimed,
          html`<span data-store="${s.store}" data-share="${s.claimedShare ?? ""}">${percent(s.claimedShare)}</span>`,
          s.regionName ?? s.region,
        ]),
        { numeric: [1, 2, 3, 4, 5], id: "member-stores-table" },
      )
}`,
)}
${card(
  "resold",
  m.resold,
  html`<p class="muted">${m.resoldNote}</p>
${
  alerts.length === 0
    ? html`<p class="muted">${ctx.m.noData}</p>`
    : table(
        m.resold,
        [m.time, m.bottle, m.store, m.claimedAt, m.eventType],
        alerts.map((a) => [
          time(ctx, a.createdAt),
          a.serial,
          a.partyName ?? storeName(a.details.store ?? a.party),
          typeof a.details.claimedAt === "string" ? time(ctx, new Date(a.details.claimedAt)) : null,
          typeof a.details.eventType === "string" ? (ctx.m.states[a.details.eventType] ?? a.details.eventType) : null,
        ]),
        { id: "resold-table" },
      )
}`,
)}
${exportCard}`;
    return consolePage(ctx, m.title, body, status);
  }

  scope.get("/members", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    return web.send(reply, await brandPage(ctx, user.brand.id));
  });

  scope.post("/members/export", { preHandler: scope.csrfProtection }, async (request: FastifyRequest, reply: FastifyReply) => {
    const user = web.adminUser(request);
    const brandId = user.brand.id;
    let purpose: string;
    try {
      purpose = exportPurpose(web.form(request).purpose);
    } catch (error) {
      if (!(error instanceof AppError) || error.status !== 422) throw error;
      const ctx = web.ctx(request, reply);
      const m = mm(ctx);
      const page = await brandPage(ctx, brandId, notice("error", ctx.m.checkInput(m.purpose, error.message)), (web.form(request).purpose ?? "").slice(0, 200));
      return web.send(reply, page, 422);
    }
    const { memberLevelPoints } = await members.settings(brandId);
    // On record before any number leaves: an export that breaks off stays listed, its row count empty.
    const exportId = await reports.startExport(brandId, { userId: user.userId, username: user.username }, purpose);
    request.log.info({ brandId, exportId, userId: user.userId }, "members export started");
    const rows = (async function* () {
      yield csvRow([...EXPORT_COLUMNS]);
      let after = 0;
      let count = 0;
      for (;;) {
        const phones = await members.phones(brandId, after, EXPORT_PAGE);
        if (phones.length === 0) break;
        after = phones.at(-1)!.id;
        const details = await reports.exportDetails(
          brandId,
          phones.map((p) => p.id),
        );
        let chunk = "";
        for (const { id, phone } of phones) {
          const d = details.get(id);
          // Withdrawn consent: the brand may no longer contact the member, so the number is not handed out.
          if (d === undefined || !d.consent) continue;
          chunk += csvRow([
            String(id),
            phone,
            d.store,
            String(d.points),
            String(levelOf(d.points, memberLevelPoints)),
            d.joinedAt.toISOString(),
            String(d.claims),
            d.birthMonth === null ? "" : String(d.birthMonth),
          ]);
          count++;
        }
        if (chunk !== "") yield chunk;
        if (phones.length < EXPORT_PAGE) break;
      }
      await reports.completeExport(brandId, exportId, count);
      request.log.info({ brandId, exportId, rows: count }, "members export sent");
    })();
    return reply
      .type("text/csv; charset=utf-8")
      .header("content-disposition", attachment(`members-${user.brand.slug}-${localDate(new Date())}.csv`))
      .header("cache-control", "private, no-store")
      .send(Readable.from(rows));
  });
}
