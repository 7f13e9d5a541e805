/**
 * The consumer page's in-browser verifier, /assets/self-check.js: client/self-check.ts and the
 * service/core modules it reuses (with `canonicalize` and `@noble/hashes`), bundled by esbuild in
 * memory on first use. Bundling at run time keeps one source of truth for the proof format and
 * needs no build step, in line with the rest of the service (Node runs our .ts files directly).
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { FastifyInstance } from "fastify";

const ENTRY = fileURLToPath(new URL("./client/self-check.ts", import.meta.url));

let script: Promise<{ code: string; etag: string }> | null = null;

/** The bundled, minified script and its strong ETag; built once per process. */
export async function selfCheckScript(): Promise<{ code: string; etag: string }> {
  script ??= (async () => {
    const result = await build({
      entryPoints: [ENTRY],
      bundle: true,
      write: false,
      format: "esm",
      target: "es2022",
      minify: true,
      platform: "browser",
      sourcemap: false,
      charset: "utf8", // the Chinese texts as UTF-8 rather than \u escapes (served as charset=utf-8)
      legalComments: "none",
      logLevel: "silent",
    });
    const code = result.outputFiles[0]?.text;
    if (code === undefined) throw new Error("esbuild produced no output for self-check.js");
    const etag = `"${createHash("sha256").update(code).digest("base64url").slice(0, 27)}"`;
    return { code, etag };
  })();
  // A failed build is not cached: the next request tries again (and reports its own error).
  script.catch(() => { script = null; });
  return await script;
}

/** Whether an If-None-Match header names `etag` (weak comparison, as RFC 9110 asks for GET). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

export function assetRoutes(app: FastifyInstance): void {
  app.get("/assets/self-check.js", {
    schema: {
      tags: ["verify"],
      summary: "The consumer page's in-browser verifier: recomputes a proof bundle's hashes and Merkle proofs and asks the chain for its roots",
    },
  }, async (request, reply) => {
    const { code, etag } = await selfCheckScript();
    void reply.header("etag", etag).header("cache-control", "public, max-age=3600");
    if (matches(request.headers["if-none-match"], etag)) return reply.code(304).send();
    return reply.type("text/javascript; charset=utf-8").send(code);
  });
}
