/**
 * What the hostile-input and tenancy tests need to know about a running app, found out from the app
 * itself so that routes added later are covered without anyone listing them: every route (from
 * Fastify's route tree), which ones the OpenAPI document says need a key, the body schema each
 * declares; plus a fingerprint of everything in the database, and logs captured in memory.
 */
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import type { Logger } from "pino";
import { createLogger } from "../../../service/log.ts";

export interface Route {
  method: string;
  /** Fastify's pattern: `/api/v1/items/:serial/proof`. */
  path: string;
  /** The OpenAPI security schemes the route declares (empty: public, or undocumented). */
  security: string[];
  /** The JSON schema of its body, when it declares one. */
  body: Record<string, unknown> | null;
  /** The query parameters it declares. */
  query: string[];
}

/** Every method + path of the app, read from `printRoutes({ commonPrefix: false })`'s tree. */
export function appRoutes(app: FastifyInstance): Route[] {
  const lines = app.printRoutes({ commonPrefix: false }).split("\n");
  const stack: string[] = [];
  const found: { method: string; path: string }[] = [];
  for (const line of lines) {
    const match = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (match === null) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    const path = stack.join("");
    for (const method of (match[3] ?? "")
      .split(",")
      .map((m) => m.trim())
      .filter(Boolean)) {
      if (method !== "HEAD" && method !== "OPTIONS") found.push({ method, path });
    }
  }
  const spec = app.swagger() as {
    paths?: Record<
      string,
      Record<
        string,
        {
          security?: Record<string, unknown>[];
          parameters?: { in: string; name: string }[];
          requestBody?: { content?: Record<string, { schema?: Record<string, unknown> }> };
        }
      >
    >;
  };
  return found.map(({ method, path }) => {
    const operation = spec.paths?.[path.replace(/:([A-Za-z_]+)/g, "{$1}")]?.[method.toLowerCase()];
    const content = operation?.requestBody?.content;
    return {
      method,
      path,
      security: (operation?.security ?? []).flatMap((s) => Object.keys(s)),
      body: content?.["application/json"]?.schema ?? null,
      query: (operation?.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
    };
  });
}

/** A digest of every row of every table: equal digests, no write. */
export async function databaseFingerprint(db: pg.Pool): Promise<Record<string, string>> {
  const { rows: tables } = await db.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'pgmigrations' ORDER BY 1",
  );
  const digest: Record<string, string> = {};
  for (const { name } of tables) {
    const {
      rows: [row],
    } = await db.query<{ n: number; md5: string | null }>(`SELECT count(*)::int AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS md5 FROM "${name}" t`);
    digest[name] = `${row!.n}:${row!.md5 ?? ""}`;
  }
  return digest;
}

/** The tables whose digests differ. */
export function changedTables(before: Record<string, string>, after: Record<string, string>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((name) => before[name] !== after[name]);
}

/** A logger at `level` writing into memory, and the lines it wrote. */
export function capturedLogger(level: "trace" | "debug" | "info" = "trace"): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    log: createLogger(level, {
      write: (line: string) => {
        lines.push(line);
      },
    }),
    lines,
  };
}
