import { createHash } from "node:crypto";
import { canonicalJson, type Json } from "../core/hash.ts";
export function epcisEventHash(event: Record<string, unknown>, _context?: unknown): string {
  return `ni:///sha-256;${createHash("sha256").update(canonicalJson(event as Json)).digest("hex")}?ver=CBV2.0`;
}
