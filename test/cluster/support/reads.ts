/** What the cluster tests read of a process's read routing (/readyz's `reads`, /metrics' reads counter) and of its public reads. */
import { expect } from "chai";
import type { ProofBundle } from "../../../service/core/bundle.ts";
import type { Stack } from "../../helpers/stack.ts";

/** /readyz's `reads` (service/db/replica.ts ReadStatus). */
export interface ReadsState {
  source: "replica" | "primary";
  replica: string;
  lagMs: number | null;
}

/** `sealtrace_reads_total` of one source, per purpose, from a /metrics answer. */
export function readsCounted(metrics: string, source: "replica" | "primary"): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics.matchAll(/^sealtrace_reads_total\{purpose="([^"]+)",source="([^"]+)"\} (\d+)$/gm)) {
    if (m[2] === source) out[m[1]!] = Number(m[3]);
  }
  return out;
}

/** A bottle's proof bundle by its secret, fresh (never a cached one): what a consumer's verifier downloads. */
export async function freshBundle(request: Stack["request"], code: { serial: string; secret: string }, proofs: "head" | "all" = "head"): Promise<ProofBundle> {
  const r = await request("GET", `/api/v1/items/${code.serial}/proof?s=${encodeURIComponent(code.secret)}&proofs=${proofs}`, {
    headers: { "cache-control": "no-cache" },
  });
  expect(r.status, `bundle of ${code.serial}: ${JSON.stringify(r.body).slice(0, 300)}`).to.equal(200);
  return r.body as ProofBundle;
}
