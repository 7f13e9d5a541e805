/**
 * The console's routes: the brand-key API for console users (POST/GET /api/v1/users, DELETE
 * /api/v1/users/{id}), and the web console under /console with its own stylesheet and chart script.
 */
import { readFile } from "node:fs/promises";
import { Type } from "@sinclair/typebox";
import type { Db } from "../db/pool.ts";
import type { ReadDb } from "../db/replica.ts";
import type { Api } from "../http/api.ts";
import type { MembersRepo } from "../members/repo.ts";
import type { SetupRepo } from "../setup/repo.ts";
import { bundledScript, sendScript } from "../web/assets.ts";
import { brandAdminRoutes } from "./brand-admin.ts";
import { brandRoutes } from "./brand.ts";
import { memberRoutes } from "./members.ts";
import { storeRoutes } from "./store.ts";
import { createSessions, createUsers, MAX_PASSWORD, MIN_PASSWORD } from "./users.ts";
import { consoleWeb } from "./web.ts";

const CHARTS = new URL("./client/charts.ts", import.meta.url);
const CSS = new URL("./assets/console.css", import.meta.url);

export interface ConsoleDeps {
  db: Db;
  /** Where the console's reports read (service/db/replica.ts). */
  reads?: ReadDb;
  setup: SetupRepo;
  /** Members (issue 20): the store's and brand's member views and the audited export. */
  members: MembersRepo;
  /** Etherscan-like explorer the batches link to (EXPLORER_URL), or null. */
  explorerUrl: string | null;
  secureCookies: boolean;
  sessionHours: number;
  /** A stable server-side secret (LABEL_SECRET): the CSRF token key is derived from it. */
  serverSecret: string;
}

const UserBody = Type.Object(
  {
    username: Type.String({
      minLength: 3,
      maxLength: 64,
      description: "3 to 64 of a-z 0-9 . _ @ - (stored lowercase), unique within the brand (users sign in with the brand's slug, username and password)",
    }),
    password: Type.String({ minLength: MIN_PASSWORD, maxLength: MAX_PASSWORD, description: "kept only as a scrypt hash" }),
    kind: Type.Union([Type.Literal("brand"), Type.Literal("store")], { description: "brand: the brand's views; store: one store's views" }),
    party: Type.Optional(Type.String({ maxLength: 64, description: "the store party, for a store user" })),
    admin: Type.Optional(Type.Boolean({ description: "a brand user who manages console users (default false)" })),
    displayName: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false },
);
const User = Type.Object({
  id: Type.String(),
  username: Type.String(),
  displayName: Type.Union([Type.String(), Type.Null()]),
  kind: Type.Union([Type.Literal("brand"), Type.Literal("store")]),
  party: Type.Union([Type.String(), Type.Null()]),
  admin: Type.Boolean(),
  createdAt: Type.String(),
  disabledAt: Type.Union([Type.String(), Type.Null()]),
});
const brandSecurity = [{ brandApiKey: [] }];

export function consoleRoutes(app: Api, deps: ConsoleDeps): void {
  const users = createUsers(deps.db);
  const sessions = createSessions(deps.db, deps.sessionHours * 3_600_000);

  app.post(
    "/api/v1/users",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["console"],
        summary: "Create a console user: a brand user, or a store user bound to one of the brand's stores",
        security: brandSecurity,
        body: UserBody,
        response: { 201: User },
      },
    },
    async (request, reply) => {
      return reply.code(201).send(await users.create(request.brand.id, request.body));
    },
  );

  app.get(
    "/api/v1/users",
    {
      config: { auth: "brand" },
      schema: { tags: ["console"], summary: "The brand's console users", security: brandSecurity, response: { 200: Type.Object({ users: Type.Array(User) }) } },
    },
    async (request) => {
      return { users: await users.list(request.brand.id) };
    },
  );

  app.delete(
    "/api/v1/users/:id",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["console"],
        summary: "Disable a console user and end its sessions at once",
        security: brandSecurity,
        params: Type.Object({ id: Type.String({ maxLength: 20 }) }),
        response: { 200: User },
      },
    },
    async (request) => {
      return await users.disable(request.brand.id, request.params.id);
    },
  );

  void app.register(
    async (scope) => {
      let css: Promise<string> | null = null;
      scope.get("/assets/console.css", { schema: { hide: true } }, async (_request, reply) => {
        css ??= readFile(CSS, "utf8");
        return reply
          .type("text/css; charset=utf-8")
          .header("cache-control", "public, max-age=3600")
          .send(await css);
      });
      scope.get("/assets/console.js", { schema: { hide: true } }, async (request, reply) => await sendScript(request, reply, await bundledScript(CHARTS)));

      await consoleWeb(
        scope,
        { db: deps.db, reads: deps.reads, users, sessions, secureCookies: deps.secureCookies, serverSecret: deps.serverSecret },
        (web) => {
          brandRoutes(scope, web, { db: deps.db });
          brandAdminRoutes(scope, web, { db: deps.db, setup: deps.setup, users, explorerUrl: deps.explorerUrl });
          storeRoutes(scope, web, { db: deps.db });
          memberRoutes(scope, web, { db: deps.db, members: deps.members });
        },
      );
    },
    { prefix: "/console" },
  );
}
