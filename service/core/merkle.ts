/**
 * Binary Merkle tree over 32-byte leaves with sorted pairs: parent = keccak256(min(a,b) ‖ max(a,b)).
 * An odd node at the end of a level is carried up unchanged. This gives exactly the roots and proofs
 * of merkletreejs with `sortPairs: true`, and every proof checks with OpenZeppelin's
 * `MerkleProof.verify`. Written by hand because merkletreejs copies buffers on every hash and is
 * about ten times slower on the million-leaf batches the sealer builds (the tests cross-check both).
 */
import { fromHex, keccak256, toHex, type Hash } from "./hash.ts";

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

const pairBuffer = new Uint8Array(64);

export function hashPair(a: Uint8Array, b: Uint8Array): Uint8Array {
  const [lo, hi] = compare(a, b) <= 0 ? [a, b] : [b, a];
  pairBuffer.set(lo, 0);
  pairBuffer.set(hi, 32);
  return keccak256(pairBuffer);
}

export class MerkleTree {
  /** levels[0] are the leaves, the last level holds the root alone. */
  private readonly levels: Uint8Array[][];

  constructor(leaves: readonly (Hash | Uint8Array)[]) {
    if (leaves.length === 0) throw new RangeError("a Merkle tree needs at least one leaf");
    let level = leaves.map((leaf) => (typeof leaf === "string" ? fromHex(leaf) : leaf));
    this.levels = [level];
    while (level.length > 1) {
      const next: Uint8Array[] = new Array<Uint8Array>(Math.ceil(level.length / 2));
      for (let i = 0; i + 1 < level.length; i += 2) next[i >> 1] = hashPair(level[i]!, level[i + 1]!);
      if (level.length % 2 === 1) next[next.length - 1] = level[level.length - 1]!;
      this.levels.push(next);
      level = next;
    }
  }

  get leafCount(): number {
    return this.levels[0]!.length;
  }

  get root(): Hash {
    return toHex(this.levels[this.levels.length - 1]![0]!);
  }

  /** Sibling hashes from leaf `index` up to the root. */
  proof(index: number): Hash[] {
    return this.siblings(index).map(toHex);
  }

  /** The same proof as `proof(index)`, as its 32-byte siblings concatenated (how it is stored). */
  proofBytes(index: number): Uint8Array {
    const siblings = this.siblings(index);
    const bytes = new Uint8Array(siblings.length * 32);
    siblings.forEach((sibling, i) => bytes.set(sibling, i * 32));
    return bytes;
  }

  private siblings(index: number): Uint8Array[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount) {
      throw new RangeError(`leaf index ${index} is outside 0..${this.leafCount - 1}`);
    }
    const siblings: Uint8Array[] = [];
    for (let depth = 0; depth < this.levels.length - 1; depth++) {
      const level = this.levels[depth]!;
      const sibling = index ^ 1;
      if (sibling < level.length) siblings.push(level[sibling]!);
      index >>= 1;
    }
    return siblings;
  }
}

/** The root that `proof` leads to from `leaf` (OpenZeppelin's `processProof`). */
export function processProof(leaf: Hash, proof: readonly Hash[]): Hash {
  let node = fromHex(leaf);
  for (const sibling of proof) node = hashPair(node, fromHex(sibling));
  return toHex(node);
}

/** Splits a stored proof (concatenated 32-byte siblings) back into hashes. */
export function proofFromBytes(bytes: Uint8Array): Hash[] {
  if (bytes.length % 32 !== 0) throw new RangeError("a stored proof must be a multiple of 32 bytes");
  const proof: Hash[] = [];
  for (let i = 0; i < bytes.length; i += 32) proof.push(toHex(bytes.subarray(i, i + 32)));
  return proof;
}

export function verifyProof(leaf: Hash, proof: readonly Hash[], root: Hash): boolean {
  return processProof(leaf, proof) === root;
}
