/**
 * A small, realistic bottle history for tests of bundles and the verifier: one bottle with several
 * events, sealed into two batches alongside other bottles' links.
 */
import { buildBundle, type Anchor, type ChainRef, type ProofBundle } from "../../service/core/bundle.ts";
import type { Hash } from "../../service/core/hash.ts";
import { eventHash, leafOf, linkHash, nextLink, randomSalt, type CanonicalEvent, type Link } from "../../service/core/links.ts";
import { MerkleTree } from "../../service/core/merkle.ts";

export const SERIAL = "MT2026A0000001";
export const GTIN = "06901234567892";

function event(type: string, codes: string[], extra: Record<string, string>): CanonicalEvent {
  return { type, codes, salt: randomSalt(), brand: "moutai-demo", occurredAt: "2026-11-20T08:00:00+08:00", ...extra };
}

export interface SealedHistory {
  events: CanonicalEvent[];
  links: Link[];
  batches: { seq: number; tree: MerkleTree; leafCount: number }[];
  bundle: ProofBundle;
}

/**
 * Builds the history and seals it: links 1–3 in batch `firstSeq`, the rest in `firstSeq + 1`, each
 * batch padded with other bottles' leaves. With `pendingFrom`, links from that n on are left unanchored.
 */
export function sealedHistory(
  chain: ChainRef,
  options: { firstSeq?: number; pendingFrom?: number; editEvents?: (events: CanonicalEvent[]) => void } = {},
): SealedHistory {
  const firstSeq = options.firstSeq ?? 1;
  const events = [
    event("production", [SERIAL, "MT2026A0000002"], { party: "factory-zunyi", lot: "2026-11-A" }),
    event("warehouse_in", [SERIAL], { party: "wh-guiyang" }),
    event("warehouse_out", [SERIAL], { party: "wh-guiyang", to: "dist-shanghai" }),
    event("store_receiving", [SERIAL], { party: "store-pudong-01" }),
    event("retail_sale", [SERIAL], { party: "store-pudong-01", price: "1499.00 CNY" }),
  ];
  options.editEvents?.(events);
  const links: Link[] = [];
  for (const e of events) {
    const previous = links.at(-1);
    links.push(nextLink(SERIAL, eventHash(e), previous ? { n: previous.n, linkHash: linkHash(previous) } : null));
  }
  const filler = (count: number, tag: string): Hash[] =>
    Array.from({ length: count }, (_, i) => leafOf(linkHash({ serial: `other-${tag}-${i}`, n: 1, event: eventHash(event("production", [`x${i}`], {})), prev: `0x${"00".repeat(32)}` })));

  const groups = [links.slice(0, 3), links.slice(3)];
  const batches: SealedHistory["batches"] = [];
  const anchors: (Anchor | null)[] = [];
  groups.forEach((group, g) => {
    const seq = firstSeq + g;
    const own = group.map((l) => leafOf(linkHash(l)));
    const all = [...filler(2 + g * 3, String(seq)), ...own, ...filler(4, `${seq}b`)];
    const tree = new MerkleTree(all);
    batches.push({ seq, tree, leafCount: all.length });
    group.forEach((link, i) => {
      const pending = options.pendingFrom !== undefined && link.n >= options.pendingFrom;
      anchors.push(pending ? null : {
        seq,
        root: tree.root,
        proof: tree.proof(2 + g * 3 + i),
        txHash: `0x${"ab".repeat(32)}`,
        blockNumber: 10 + g,
        blockTime: "2026-11-20T08:00:05Z",
      });
    });
  });
  const bundle = buildBundle({
    serial: SERIAL,
    gtin: GTIN,
    chain,
    events,
    links: links.map((link, i) => ({ link, anchor: anchors[i] ?? null })),
  });
  return { events, links, batches, bundle };
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}
