/**
 * The consumer page's in-browser verifier, /assets/self-check.js: client/self-check.ts, the
 * client/verifier.ts it shares with the standalone verifier (scripts/build-verifier.ts) and the
 * service/core modules they reuse (`verifyBundle`, `checkOnChain`, with `canonicalize` and
 * `@noble/hashes`), bundled in memory on first use (service/web/assets.ts).
 */
import type { FastifyInstance } from "fastify";
import { bundledScript, sendScript, type Bundle } from "../web/assets.ts";

const ENTRY = new URL("./client/self-check.ts", import.meta.url);

export async function selfCheckScript(): Promise<Bundle> {
  return await bundledScript(ENTRY);
}

export function assetRoutes(app: FastifyInstance): void {
  app.get(
    "/assets/self-check.js",
    {
      schema: {
        tags: ["verify"],
        summary:
          "The consumer page's in-browser verifier: recomputes a proof bundle's hashes and proofs (membership, Merkle, completeness) and asks the chain for its roots and their age",
      },
    },
    async (request, reply) => await sendScript(request, reply, await selfCheckScript()),
  );
}
