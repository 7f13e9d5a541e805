import { expect } from "chai";
import { MerkleTree as ReferenceTree } from "merkletreejs";
import { fromHex, keccak256, toHex, type Hash } from "../../service/core/hash.ts";
import { wasmKeccak256 } from "../../service/anchoring/keccak.ts";
import {
  hashPair,
  linkTileGroups,
  linkTilesForProof,
  MerkleTree,
  processProof,
  proofFromLinkTiles,
  treeDepth,
  verifyProof,
} from "../../service/core/merkle.ts";
import { tileId } from "../../service/core/tiles.ts";

function leaves(count: number, seed = 0): Hash[] {
  return Array.from({ length: count }, (_, i) => toHex(keccak256(new TextEncoder().encode(`leaf ${seed}/${i}`))));
}

function reference(hashes: Hash[]): ReferenceTree {
  const keccak = (data: Buffer): Buffer => Buffer.from(keccak256(data));
  return new ReferenceTree(
    hashes.map((h) => Buffer.from(fromHex(h))),
    keccak,
    { sortPairs: true },
  );
}

/** Sizes the issue asks for: 1, 2, 3, 2^k and 2^k + 1, plus a few awkward ones. */
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 33, 100, 255, 256, 257, 1000, 1024, 1025];

describe("core/merkle", () => {
  it("a single leaf is its own root with an empty proof", () => {
    const [leaf] = leaves(1);
    const tree = new MerkleTree([leaf!]);
    expect(tree.root).to.equal(leaf);
    expect(tree.proof(0)).to.deep.equal([]);
  });

  it("two leaves hash as the sorted pair, whichever order they come in", () => {
    const [a, b] = leaves(2);
    const [lo, hi] = a! < b! ? [a!, b!] : [b!, a!];
    const expected = toHex(keccak256(new Uint8Array([...fromHex(lo), ...fromHex(hi)])));
    expect(new MerkleTree([a!, b!]).root).to.equal(expected);
    expect(new MerkleTree([b!, a!]).root).to.equal(expected);
    expect(toHex(hashPair(fromHex(a!), fromHex(b!)))).to.equal(expected);
  });

  for (const size of SIZES) {
    it(`${size} leaves: same root and proofs as merkletreejs (sortPairs), every proof verifies`, () => {
      const hashes = leaves(size, size);
      const ours = new MerkleTree(hashes);
      const theirs = reference(hashes);
      expect(ours.root).to.equal(theirs.getHexRoot());
      expect(ours.leafCount).to.equal(size);
      for (let i = 0; i < size; i++) {
        const proof = ours.proof(i);
        expect(proof, `proof of leaf ${i}`).to.deep.equal(theirs.getHexProof(Buffer.from(fromHex(hashes[i]!)), i));
        expect(verifyProof(hashes[i]!, proof, ours.root), `leaf ${i}`).to.equal(true);
      }
    });
  }

  it("refuses an empty tree and an out-of-range leaf index", () => {
    expect(() => new MerkleTree([])).to.throw(RangeError);
    const tree = new MerkleTree(leaves(3));
    expect(() => tree.proof(3)).to.throw(RangeError);
    expect(() => tree.proof(-1)).to.throw(RangeError);
    expect(() => tree.proof(0.5)).to.throw(RangeError);
  });

  it("a proof fails for another leaf, an edited sibling, or another root", () => {
    const hashes = leaves(9);
    const tree = new MerkleTree(hashes);
    const proof = tree.proof(4);
    expect(verifyProof(hashes[5]!, proof, tree.root)).to.equal(false);
    const edited = [...proof];
    edited[1] = toHex(keccak256(fromHex(edited[1]!)));
    expect(verifyProof(hashes[4]!, edited, tree.root)).to.equal(false);
    expect(processProof(hashes[4]!, proof)).to.equal(tree.root);
    expect(verifyProof(hashes[4]!, proof, new MerkleTree(leaves(9, 1)).root)).to.equal(false);
  });
});

describe("core/merkle with another keccak256 and by ranges", () => {
  it("the WebAssembly keccak256 the sealer uses builds the same roots and proofs", async () => {
    const { wasmKeccak256 } = await import("../../service/anchoring/keccak.ts");
    const keccak = await wasmKeccak256();
    for (const size of [1, 2, 3, 5, 17, 1000, 1025]) {
      const hashes = leaves(size, size);
      const js = new MerkleTree(hashes);
      const wasm = new MerkleTree(hashes, keccak);
      expect(wasm.root, `${size} leaves`).to.equal(js.root);
      for (const i of [0, size >> 1, size - 1]) expect(wasm.proof(i)).to.deep.equal(js.proof(i));
    }
  });

  it("proofRange gives every leaf's stored proof, from concatenated leaves too", () => {
    for (const size of [1, 2, 3, 9, 33, 257]) {
      const hashes = leaves(size, size + 7);
      const tree = new MerkleTree(hashes);
      const concatenated = new Uint8Array(size * 32);
      hashes.forEach((h, i) => concatenated.set(fromHex(h), i * 32));
      expect(new MerkleTree(concatenated).root).to.equal(tree.root);
      for (const [from, to] of [
        [0, size],
        [size >> 1, size],
        [size - 1, size],
      ] as const) {
        const { bytes, offsets } = tree.proofRange(from, to);
        expect(offsets.length).to.equal(to - from + 1);
        for (let k = 0; k < to - from; k++) {
          expect(bytes.subarray(offsets[k]!, offsets[k + 1]!), `${size} leaves, leaf ${from + k}`).to.deep.equal(tree.proofBytes(from + k));
        }
      }
    }
    expect(() => new MerkleTree(leaves(4)).proofRange(2, 2)).to.throw(RangeError);
    expect(() => new MerkleTree(new Uint8Array(33))).to.throw(RangeError);
  });
});

describe("core/merkle as tiles", () => {
  /** The tiles of `tree` a proof of `index` reads, as the database hands them back. */
  function tilesOf(tree: MerkleTree, index: number): Map<string, Uint8Array> {
    return new Map(linkTilesForProof(index, tree.leafCount).map((key) => [tileId(key), tree.tile(key.group, key.index).slice()]));
  }

  // 1 to 3 tile groups, full and partial last tiles at every group, odd nodes carried across tile edges.
  for (const size of [1, 2, 3, 255, 256, 257, 511, 513, 65_536, 65_537, 70_001]) {
    it(`${size} leaves: every proof cut from tiles is the tree's own proof`, async () => {
      const keccak = await wasmKeccak256();
      const hashes = leaves(size, size + 7);
      const tree = new MerkleTree(hashes, keccak);
      expect(linkTileGroups(size)).to.equal(Math.max(1, Math.ceil(treeDepth(size) / 8)));
      const picks = size <= 600 ? [...Array(size).keys()] : [0, 1, 255, 256, 257, 65_535, 65_536, size - 2, size - 1].filter((i) => i < size);
      for (const index of picks) expect(proofFromLinkTiles(index, size, tilesOf(tree, index), keccak), `leaf ${index}`).to.deep.equal(tree.proof(index));
      // The tiles together hold every node of their levels once: the leaves are tile group 0, in order.
      const bottom = Buffer.concat(Array.from({ length: tree.tileCount(0) }, (_, t) => tree.tile(0, t)));
      expect(bottom.length).to.equal(size * 32);
      expect(toHex(bottom.subarray((size - 1) * 32))).to.equal(hashes[size - 1]);
    });
  }

  it("refuses a missing tile, a tile of another size, and a leaf outside the tree", () => {
    const hashes = leaves(300, 3);
    const tree = new MerkleTree(hashes);
    const tiles = tilesOf(tree, 299);
    expect(() => proofFromLinkTiles(299, 300, new Map(), keccak256)).to.throw(RangeError, /tile 0\/1 .* must hold 44 nodes; found none/);
    // The last tile of a 300-leaf tree read as if the tree had 301 leaves (a tile of another batch).
    expect(() => proofFromLinkTiles(299, 301, tiles, keccak256)).to.throw(RangeError, /must hold 45 nodes; found 44/);
    expect(() => proofFromLinkTiles(300, 300, tiles, keccak256)).to.throw(RangeError, /outside/);
  });
});
