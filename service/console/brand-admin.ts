/**
 * The brand's housekeeping views: codes (mint a lot, download its label CSV), webhook endpoints
 * and their deliveries, anchored batches (linked to the chain explorer when EXPLORER_URL is set),
 * the list of stores, and console users (brand admins).
 */
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { Db } from "../db/pool.ts";
import { attachment } from "../http/download.ts";
import { AppError, invalid, notFound } from "../http/errors.ts";
import { createOutboxRepo } from "../outbox/repo.ts";
import type { SetupRepo } from "../setup/repo.ts";
import { html, shortHash, type SafeHtml } from "../web/html.ts";
import { MIN_PASSWORD, type Users } from "./users.ts";
import { card, consolePage, csrfField, notice, table, time, type Ctx } from "./view.ts";
import type { Web } from "./web.ts";

const MAX_MINT = 10_000;
const LOT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$/;
const DELIVERIES_SHOWN = 20;
const BATCHES_SHOWN = 50;

export interface BrandAdminDeps {
  db: Db;
  setup: SetupRepo;
  users: Users;
  explorerUrl: string | null;
}

export function brandAdminRoutes(scope: FastifyInstance, web: Web, deps: BrandAdminDeps): void {
  const { data } = web;
  const outbox = createOutboxRepo(deps.db);

  async function codesPage(ctx: Ctx, brandId: number, status: SafeHtml | "" = "", values: Record<string, string> = {}): Promise<string> {
    const { m } = ctx;
    const [products, regions, lots] = await Promise.all([data.products(brandId), data.regions(brandId), data.lots(brandId)]);
    const body = html`${card(
      "mint",
      m.mintTitle,
      html`<form method="post" action="/console/codes" class="stacked-form">
${csrfField(ctx)}
<p><label for="mint-gtin">${m.product}</label>
<select id="mint-gtin" name="gtin" required>${products.map((p) => html`<option value="${p.gtin}"${values.gtin === p.gtin ? html` selected` : ""}>${p.name} (${p.gtin})</option>`)}</select></p>
<p><label for="mint-count">${m.mintCount}</label>
<input id="mint-count" name="count" type="number" min="1" max="${MAX_MINT}" step="1" required value="${values.count ?? ""}"></p>
<p><label for="mint-lot">${m.lot}</label>
<input id="mint-lot" name="lot" type="text" maxlength="20" pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,19}" required value="${values.lot ?? ""}"></p>
<p><label for="mint-region">${m.regionOptional}</label>
<select id="mint-region" name="region"><option value="">${m.noRegion}</option>${regions.map((r) => html`<option value="${r.code}"${values.region === r.code ? html` selected` : ""}>${r.name} (${r.code})</option>`)}</select></p>
<p><button type="submit">${m.mint}</button></p>
</form>`,
    )}
${card(
  "lots",
  m.lots,
  html`<p class="muted">${m.labelsWarning}</p>
${
  lots.length === 0
    ? html`<p class="muted">${m.noData}</p>`
    : table(
        m.lots,
        [m.lot, m.product, m.region, m.codes, m.mintedAt, m.downloadLabels],
        lots.map((l) => [
          l.lot ?? m.noLot,
          l.product ?? l.gtin,
          l.region,
          l.codes,
          time(ctx, l.mintedAt),
          l.lot === null || !ctx.user?.admin
            ? null
            : html`<a href="/console/codes/export?${new URLSearchParams({ lot: l.lot })}" download>${m.downloadLabels}<span class="visually-hidden"> ${l.lot}</span></a>`,
        ]),
        { numeric: [3], id: "lots-table" },
      )
}`,
)}`;
    return consolePage(ctx, m.nav.codes, body, status);
  }

  scope.get<{ Querystring: { minted?: string; lot?: string } }>("/codes", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { minted, lot } = request.query;
    const status = minted !== undefined && lot !== undefined && /^\d{1,5}$/.test(minted) ? notice("ok", ctx.m.minted(Number(minted), lot)) : "";
    return web.send(reply, await codesPage(ctx, user.brand.id, status));
  });

  scope.post("/codes", { preHandler: scope.csrfProtection }, async (request, reply) => {
    const user = web.brandUser(request);
    const form = web.form(request);
    const count = Number(form.count);
    try {
      if (!form.gtin) throw invalid("gtin", "choose a product");
      if (!/^\d{1,5}$/.test(form.count ?? "") || count < 1 || count > MAX_MINT) throw invalid("count", `a whole number from 1 to ${MAX_MINT}`);
      if (!LOT.test(form.lot ?? "")) throw invalid("lot", "1 to 20 letters, digits and . _ -, starting with a letter or digit");
      const codes = await deps.setup.mintCodes(user.brand.id, { gtin: form.gtin, count, lot: form.lot!, ...(form.region ? { region: form.region } : {}) });
      return reply.redirect(`/console/codes?${new URLSearchParams({ minted: String(codes.length), lot: form.lot! })}`, 303);
    } catch (error) {
      if (!(error instanceof AppError) || error.status !== 422) throw error;
      const ctx = web.ctx(request, reply);
      const field = { gtin: ctx.m.product, count: ctx.m.mintCount, lot: ctx.m.lot, region: ctx.m.regionOptional }[error.field ?? ""] ?? error.field ?? "";
      return web.send(reply, await codesPage(ctx, user.brand.id, notice("error", ctx.m.checkInput(field, error.message)), form), 422);
    }
  });

  // The label file holds every bottle's QR secret and cap code: brand admins only.
  scope.get<{ Querystring: { lot?: string } }>("/codes/export", async (request, reply) => {
    const user = web.adminUser(request);
    const lot = request.query.lot ?? "";
    if (lot.length < 1 || lot.length > 20) throw notFound("no such lot");
    const csv = await deps.setup.exportLot(user.brand.id, lot);
    return reply
      .type("text/csv; charset=utf-8")
      .header("content-disposition", attachment(`codes-${lot}.csv`))
      .header("cache-control", "private, no-store")
      .send(Readable.from(csv));
  });

  scope.get("/webhooks", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    const endpoints = await outbox.listEndpoints(user.brand.id);
    const body =
      endpoints.length === 0
        ? html`<p class="muted">${m.noData}</p>`
        : table(
            m.endpoints,
            [m.url, m.types, m.enabled, m.createdAt, m.deliveries],
            endpoints.map((e) => [
              html`<code>${e.url}</code>`,
              e.types.map((t) => m.alertKinds[t] ?? t).join(", "),
              e.enabled ? m.enabled : `${m.disabled}${e.disabledReason ? ` (${e.disabledReason})` : ""}`,
              time(ctx, new Date(e.createdAt)),
              html`<a href="/console/webhooks/${e.id}">${m.deliveries}<span class="visually-hidden"> ${e.url}</span></a>`,
            ]),
            { id: "endpoints-table" },
          );
    return web.send(reply, consolePage(ctx, m.endpoints, body));
  });

  scope.get<{ Params: { id: string }; Querystring: { before?: string } }>("/webhooks/:id", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    if (!/^[1-9]\d{0,14}$/.test(request.params.id)) throw notFound("no such endpoint");
    const endpoint = await outbox.endpoint(user.brand.id, Number(request.params.id));
    if (endpoint === null) throw notFound("no such endpoint");
    const before = request.query.before !== undefined && /^[1-9]\d{0,14}$/.test(request.query.before) ? Number(request.query.before) : null;
    const page = await outbox.listDeliveries(user.brand.id, Number(endpoint.id), before, DELIVERIES_SHOWN);
    const body = html`<p><code>${endpoint.url}</code></p>
${
  page.deliveries.length === 0
    ? html`<p class="muted">${m.noData}</p>`
    : table(
        m.deliveries,
        [m.time, m.kind, m.state, m.attempts, m.lastStatus, "webhook-id"],
        page.deliveries.map((d) => [
          time(ctx, new Date(d.createdAt)),
          m.alertKinds[d.type] ?? d.type,
          m.deliveryStates[d.state] ?? d.state,
          d.attempts.length,
          d.lastStatus ?? (d.lastError === null ? null : (m.deliveryErrors[d.lastError] ?? d.lastError)),
          html`<code>${d.webhookId}</code>`,
        ]),
        { numeric: [3], id: "deliveries-table" },
      )
}
${page.more && page.lastId !== null ? html`<p><a href="/console/webhooks/${endpoint.id}?before=${page.lastId}">${m.older}</a></p>` : ""}
<p><a href="/console/webhooks">${m.back}</a></p>`;
    return web.send(reply, consolePage(ctx, m.deliveries, body));
  });

  scope.get<{ Querystring: { before?: string } }>("/batches", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    const before = request.query.before !== undefined && /^[1-9]\d{0,14}$/.test(request.query.before) ? Number(request.query.before) : null;
    const batches = await data.batches(user.brand.id, before, BATCHES_SHOWN);
    const explorer = deps.explorerUrl;
    const body = html`${
      batches.length === 0
        ? html`<p class="muted">${m.noData}</p>`
        : table(
            m.batchesTitle,
            [m.seq, m.state, m.yourLinks, m.leaves, m.sealedAt, m.anchoredAt, m.tx, m.block, m.root],
            batches.map((b) => [
              b.seq,
              m.batchStates[b.state] ?? b.state,
              b.links,
              b.leafCount,
              time(ctx, b.sealedAt),
              time(ctx, b.anchoredAt),
              b.txHash === null
                ? null
                : explorer === null
                  ? html`<code title="${b.txHash}">${shortHash(b.txHash)}</code>`
                  : html`<a href="${explorer}/tx/${b.txHash}" rel="noopener noreferrer" title="${m.onExplorer(b.txHash)}"><code>${shortHash(b.txHash)}</code></a>`,
              b.blockNumber === null
                ? null
                : explorer === null
                  ? b.blockNumber
                  : html`<a href="${explorer}/block/${b.blockNumber}" rel="noopener noreferrer">${b.blockNumber}</a>`,
              html`<code title="${b.root}">${shortHash(b.root)}</code>`,
            ]),
            { numeric: [0, 2, 3], id: "batches-table" },
          )
    }
${batches.length === BATCHES_SHOWN ? html`<p><a href="/console/batches?before=${batches.at(-1)!.seq}">${m.older}</a></p>` : ""}`;
    return web.send(reply, consolePage(ctx, m.batchesTitle, body));
  });

  scope.get("/stores", async (request, reply) => {
    const user = web.brandUser(request);
    const ctx = web.ctx(request, reply);
    const { m } = ctx;
    const stores = await data.stores(user.brand.id);
    const body =
      stores.length === 0
        ? html`<p class="muted">${m.noData}</p>`
        : table(
            m.storesTitle,
            [m.store, m.region, m.open],
            stores.map((s) => [
              s.name,
              s.regionName ?? s.region,
              html`<a href="/console/stores/${encodeURIComponent(s.id)}">${m.open}<span class="visually-hidden"> ${s.name}</span></a>`,
            ]),
            { id: "stores-table" },
          );
    return web.send(reply, consolePage(ctx, m.storesTitle, body));
  });

  async function usersPage(ctx: Ctx, brandId: number, status: SafeHtml | "" = "", values: Record<string, string> = {}): Promise<string> {
    const { m } = ctx;
    const [users, stores] = await Promise.all([deps.users.list(brandId), data.stores(brandId)]);
    const storeNames = new Map(stores.map((s) => [s.id, s.name]));
    const body = html`${table(
      m.usersTitle,
      [m.username, m.name, m.kind, m.store, m.admin, m.state, m.actions],
      users.map((u) => [
        u.username,
        u.displayName,
        m.userKinds[u.kind] ?? u.kind,
        u.party === null ? null : (storeNames.get(u.party) ?? u.party),
        u.admin ? m.yes : m.no,
        u.disabledAt === null ? m.active : `${m.disabledAt} ${time(ctx, new Date(u.disabledAt))}`,
        u.disabledAt !== null || u.id === String(ctx.user!.userId)
          ? null
          : html`<form method="post" action="/console/users/${u.id}/disable">${csrfField(ctx)}<button type="submit" class="button-secondary">${m.disable}<span class="visually-hidden"> ${u.username}</span></button></form>`,
      ]),
      { id: "users-table" },
    )}
${card(
  "new-user",
  m.createUser,
  html`<form method="post" action="/console/users" class="stacked-form">
${csrfField(ctx)}
<p><label for="user-username">${m.username}</label>
<input id="user-username" name="username" type="text" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="64" required value="${values.username ?? ""}"></p>
<p><label for="user-name">${m.displayName}</label>
<input id="user-name" name="displayName" type="text" maxlength="100" value="${values.displayName ?? ""}"></p>
<p><label for="user-password">${m.password}</label>
<input id="user-password" name="password" type="password" autocomplete="new-password" minlength="${MIN_PASSWORD}" maxlength="200" required aria-describedby="user-password-hint">
<span id="user-password-hint" class="muted">${m.passwordHint}</span></p>
<fieldset><legend>${m.kind}</legend>
<label><input type="radio" name="kind" value="brand"${values.kind === "store" ? "" : html` checked`}> ${m.userKinds.brand}</label>
<label><input type="radio" name="kind" value="store"${values.kind === "store" ? html` checked` : ""}> ${m.userKinds.store}</label>
</fieldset>
<p><label for="user-store">${m.storeForUser}</label>
<select id="user-store" name="party"><option value="">—</option>${stores.map((s) => html`<option value="${s.id}"${values.party === s.id ? html` selected` : ""}>${s.name}</option>`)}</select></p>
<p><label><input type="checkbox" name="admin" value="1"${values.admin ? html` checked` : ""}> ${m.admin}</label></p>
<p><button type="submit">${m.create}</button></p>
</form>`,
)}`;
    return consolePage(ctx, m.usersTitle, body, status);
  }

  scope.get<{ Querystring: { created?: string } }>("/users", async (request, reply) => {
    const user = web.adminUser(request);
    const ctx = web.ctx(request, reply);
    const created = request.query.created;
    return web.send(reply, await usersPage(ctx, user.brand.id, created ? notice("ok", ctx.m.created(created)) : ""));
  });

  scope.post("/users", { preHandler: scope.csrfProtection }, async (request, reply) => {
    const user = web.adminUser(request);
    const form = web.form(request);
    try {
      const kind = form.kind === "store" ? "store" : "brand";
      const created = await deps.users.create(user.brand.id, {
        username: form.username ?? "",
        password: form.password ?? "",
        kind,
        displayName: form.displayName,
        party: kind === "store" ? form.party : undefined,
        admin: kind === "brand" && form.admin === "1",
      });
      return reply.redirect(`/console/users?${new URLSearchParams({ created: created.username })}`, 303);
    } catch (error) {
      if (!(error instanceof AppError) || (error.status !== 422 && error.status !== 409)) throw error;
      const ctx = web.ctx(request, reply);
      const { m } = ctx;
      const field = { username: m.username, password: m.password, party: m.storeForUser, admin: m.admin }[error.field ?? ""] ?? error.field ?? "";
      return web.send(reply, await usersPage(ctx, user.brand.id, notice("error", m.checkInput(field, error.message)), { ...form, password: "" }), error.status);
    }
  });

  scope.post<{ Params: { id: string } }>("/users/:id/disable", { preHandler: scope.csrfProtection }, async (request, reply) => {
    const user = web.adminUser(request);
    if (request.params.id === String(user.userId)) throw new AppError(422, "invalid", "you cannot disable yourself", { field: "id" });
    await deps.users.disable(user.brand.id, request.params.id);
    return reply.redirect("/console/users", 303);
  });
}
