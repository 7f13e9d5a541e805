/**
 * Browser scripts bundled by esbuild in memory on first use, and served with a strong ETag: the
 * consumer page's in-browser verifier (service/verify/assets.ts) and the console's charts script.
 * Bundling at run time keeps one source of truth for the code the browser runs (the proof format in
 * service/core) and needs no build step, in line with the rest of the service (Node runs our .ts
 * files directly).
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { FastifyReply, FastifyRequest } from "fastify";

export interface Bundle {
  code: string;
  etag: string;
}

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
  script.catch(() => {
    bundles.delete(key);
  });
  return await script;
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
