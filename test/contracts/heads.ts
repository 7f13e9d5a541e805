/**
 * Test helpers for format-2 batches: the proofs of a heads map (service/core/commitments.ts only
 * computes roots and checks proofs; the sealer's own proof code is not what these tests pin), and the
 * links leaf. Everything here is computed from the spec's functions, so the contract is checked
 * against service/core, not against itself.
 */
import { headNode } from "../../service/core/commitments.ts";
import { fromHex, keccak256, toHex, ZERO_HASH, type Hash } from "../../service/core/hash.ts";

/** A links-tree leaf: keccak256(linkHash bytes). */
export const linkLeaf = (linkHash: Hash): Hash => toHex(keccak256(fromHex(linkHash)));

/** The sibling of position `i` (arithmetic, not `^ 1`: positions reach 2^40, beyond 32-bit bitwise operators). */
const siblingOf = (i: number): number => (i % 2 === 0 ? i + 1 : i - 1);

/** A heads tree of depth `depth` over `leaves` (index → leaf hash), built level by level; empty subtrees are ZERO. */
export class HeadsTree {
  /** levels[0] are the leaves, levels[depth] holds the root alone (or nothing for an empty map). */
  private readonly levels: Map<number, Hash>[];
  readonly depth: number;

  constructor(leaves: ReadonlyMap<number, Hash>, depth: number) {
    this.depth = depth;
    for (const index of leaves.keys()) {
      if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** depth) throw new RangeError(`index ${index} does not fit depth ${depth}`);
    }
    this.levels = [new Map(leaves)];
    for (let d = 0; d < depth; d++) {
      const level = this.levels[d]!;
      const next = new Map<number, Hash>();
      for (const index of level.keys()) {
        const parent = Math.floor(index / 2);
        if (!next.has(parent)) next.set(parent, headNode(level.get(parent * 2) ?? ZERO_HASH, level.get(parent * 2 + 1) ?? ZERO_HASH));
      }
      this.levels.push(next);
    }
  }

  get root(): Hash {
    return this.levels[this.depth]!.get(0) ?? ZERO_HASH;
  }

  /** The `depth` sibling hashes from leaf `index` up to the root (ZERO for empty subtrees). */
  proof(index: number): Hash[] {
    const proof: Hash[] = [];
    let position = index;
    for (let d = 0; d < this.depth; d++) {
      proof.push(this.levels[d]!.get(siblingOf(position)) ?? ZERO_HASH);
      position = Math.floor(position / 2);
    }
    return proof;
  }
}

/** `hash` with one bit of byte `byte` flipped. */
export function flipBit(hash: Hash, byte = 31): Hash {
  const bytes = fromHex(hash);
  bytes[byte]! ^= 1;
  return toHex(bytes);
}
