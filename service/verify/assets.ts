/**
 * The consumer page's in-browser verifier, /assets/self-check.js: client/self-check.ts, the
 * client/verifier.ts it shares with the standalone verifier (scripts/build-verifier.ts) and the
 * service/core modules they reuse (`verifyBundle`, `checkOnChain`, with `canonicalize` and
 * `@noble/hashes`), bundled by esbuild in memory on first use. Bundling at run time keeps one source of truth for the proof format and
 * needs no build step, in line with the rest of the service (Node runs our .ts files directly).
 * The console's charts script is bundled the same way (bundledScript, sendScript).
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

const ENTRY = new URL("./client/self-check.ts", import.meta.url);

export interface Bundle { code: string; etag: string }

const bundles = new Map<string, Promise<Bundle>>();

/** A browser script bundled (with what it imports), minified, and its strong ETag; built once per process. */
export async function bundledScript(entry: URL): Promise<Bundle> {
  const key = entry.href;
  let script = bundles.get(key);
  script ??= (async () => {
    const result = await build({
      entryPoints: [fileURLToPath(entry)],
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
    if (code === undefined) throw new Error(`esbuild produced no output for ${key}`);
    const etag = `"${createHash("sha256").update(code).digest("base64url").slice(0, 27)}"`;
    return { code, etag };
  })();
  bundles.set(key, script);
  // A failed build is not cached: the next request tries again (and reports its own error).
  script.catch(() => { bundles.delete(key); });
  return await script;
}

export async function selfCheckScript(): Promise<Bundle> {
  return await bundledScript(ENTRY);
}

/** Sends a bundled script with its ETag (304 when the client has it already). */
export async function sendScript(request: FastifyRequest, reply: FastifyReply, bundle: Bundle): Promise<FastifyReply> {
  void reply.header("etag", bundle.etag).header("cache-control", "public, max-age=3600");
  if (matches(request.headers["if-none-match"], bundle.etag)) return reply.code(304).send();
  return reply.type("text/javascript; charset=utf-8").send(bundle.code);
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
      summary: "The consumer page's in-browser verifier: recomputes a proof bundle's hashes and proofs (membership, Merkle, completeness) and asks the chain for its roots and their age",
    },
  }, async (request, reply) => await sendScript(request, reply, await selfCheckScript()));
}
