/**
 * core/heads.ts: the heads map as tiles. Every root `updateHeads` computes from tiles is checked
 * against `headsRootOf` (the whole map hashed directly), and every proof `proofFromTiles` cuts
 * against `processHeadProof`, on random maps, across batches, as the map deepens through tile groups;
 * then the tiles a batch writes, and the cost tables of docs/PROOF-FORMAT.md.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import fc from "fast-check";
import { wasmKeccak256 } from "../../service/anchoring/keccak.ts";
import { depthFor, headLeaf, headsRootOf, MAX_HEADS_DEPTH, processHeadProof } from "../../service/core/commitments.ts";
import { fromHex, keccak256, toHex, ZERO_HASH, type Hash } from "../../service/core/hash.ts";
import { groupsFor, proofFromTiles, tileRoot, tilesForProof, tilesUnder, updateHeads } from "../../service/core/heads.ts";
import { TILE_BYTES, TILE_HEIGHT, TILE_WIDTH, tileId, type TileKey } from "../../service/core/tiles.ts";

const hashOf = (label: string): Hash => toHex(keccak256(new TextEncoder().encode(`heads.test:${label}`)));
const leafOf = (index: number, n: number): Hash => headLeaf(index, n, hashOf(`${index}/${n}`));

/** A heads map kept the way the sealer keeps it: the latest version of every tile, batch after batch. */
class Map2 {
  tiles = new Map<string, Uint8Array>();
  leaves = new Map<number, Hash>();
  depth = 1;
  written: string[] = [];

  seal(changes: ReadonlyMap<number, Hash>, depth = Math.max(this.depth, depthFor(Math.max(0, ...this.leaves.keys(), ...changes.keys())))): Hash {
    const stored = this.tiles;
    const update = updateHeads((key) => stored.get(tileId(key)), changes, depth);
    this.tiles = new Map(stored);
    for (const [id, { key, bytes }] of update.tiles) {
      expect(id).to.equal(tileId(key));
      expect(bytes.length).to.equal(TILE_BYTES);
      this.tiles.set(id, bytes);
    }
    this.written = [...update.tiles.keys()].sort();
    for (const [index, leaf] of changes) this.leaves.set(index, leaf);
    this.depth = depth;
    return update.root;
  }

  /** Checks the root against the whole map, and proofs of `indexes` (set or empty) cut from the tiles. */
  check(root: Hash, indexes: Iterable<number>): void {
    expect(root, `root at depth ${this.depth}`).to.equal(headsRootOf(this.leaves, this.depth));
    for (const index of indexes) {
      const proof = proofFromTiles(index, this.depth, this.tiles);
      expect(proof, `proof of ${index}`).to.have.length(this.depth);
      expect(processHeadProof(index, this.leaves.get(index) ?? ZERO_HASH, proof), `proof of ${index} at depth ${this.depth}`).to.equal(root);
    }
  }
}

/** The tiles a batch must write: for each group, the tile above each changed leaf, and tile 0. */
function expectedTiles(indexes: Iterable<number>, depth: number): string[] {
  const ids = new Set<string>();
  for (let g = 0; g < groupsFor(depth); g++) {
    ids.add(tileId({ group: g, index: 0 }));
    for (const i of indexes) ids.add(tileId({ group: g, index: Math.floor(i / TILE_WIDTH ** (g + 1)) }));
  }
  return [...ids].sort();
}

describe("core/heads", () => {
  it("depthFor: the least depth ≥ 1 whose 2^depth leaves include the index", () => {
    expect([0, 1, 2, 3, 4, 127, 128, 255, 256, 511, 512, 65_535, 65_536, 2 ** 40 - 1].map(depthFor)).to.deep.equal([
      1, 1, 2, 2, 3, 7, 8, 8, 9, 9, 10, 16, 17, 40,
    ]);
    expect(groupsFor(7)).to.equal(1);
    expect(groupsFor(8)).to.equal(1);
    expect(groupsFor(9)).to.equal(2);
    expect(groupsFor(17)).to.equal(3);
    expect(groupsFor(MAX_HEADS_DEPTH)).to.equal(5);
  });

  it("an empty map is ZERO at every depth, and a missing tile reads as an empty one", () => {
    for (const depth of [1, 7, 8, 9, 16, 17, 40]) {
      expect(updateHeads(() => undefined, new Map(), depth).root).to.equal(ZERO_HASH);
      expect(headsRootOf(new Map(), depth)).to.equal(ZERO_HASH);
      expect(proofFromTiles(0, depth, new Map())).to.deep.equal(Array.from({ length: depth }, () => ZERO_HASH));
    }
    expect(toHex(tileRoot(new Uint8Array(TILE_BYTES), TILE_HEIGHT))).to.equal(ZERO_HASH);
  });

  it("for any map of up to 300 chains at depths 1-20: the tiles' root is headsRootOf's, and every proof cut from them holds", () => {
    const map = fc.integer({ min: 1, max: 20 }).chain((depth) =>
      fc.record({
        depth: fc.constant(depth),
        indexes: fc.uniqueArray(fc.integer({ min: 0, max: 2 ** depth - 1 }), { minLength: 0, maxLength: 300 }),
        probes: fc.array(fc.integer({ min: 0, max: 2 ** depth - 1 }), { maxLength: 5 }),
      }),
    );
    fc.assert(
      fc.property(map, ({ depth, indexes, probes }) => {
        const heads = new Map2();
        const root = heads.seal(new Map(indexes.map((i) => [i, leafOf(i, 1)])), depth);
        heads.check(root, [...indexes.slice(0, 20), ...probes]);
        expect(heads.written).to.deep.equal(expectedTiles(indexes, depth));
      }),
      { numRuns: 60 },
    );
  });

  it("many batches in a row, new chains and moved ones, as the sealer applies them", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 1, max: 50 })), { minLength: 1, maxLength: 40 }), {
          minLength: 2,
          maxLength: 8,
        }),
        (batches) => {
          const heads = new Map2();
          for (const batch of batches) {
            const changes = new Map(batch.map(([i, n]) => [i, leafOf(i, n)]));
            const root = heads.seal(changes);
            expect(heads.written).to.deep.equal(expectedTiles(changes.keys(), heads.depth));
            // …which are the tiles the sealer reads before the update, each once.
            const under = tilesUnder(
              [...changes.keys()].sort((a, b) => a - b),
              heads.depth,
            ).map(tileId);
            expect(under.toSorted()).to.deep.equal(expectedTiles(changes.keys(), heads.depth));
            heads.check(root, [...heads.leaves.keys()].slice(-10));
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it("updating existing leaves moves the root; the old proof no longer holds; setting a leaf back restores the root", () => {
    const heads = new Map2();
    const first = heads.seal(
      new Map([
        [5, leafOf(5, 1)],
        [300, leafOf(300, 1)],
        [70_000, leafOf(70_000, 1)],
      ]),
    );
    const oldProof = proofFromTiles(300, heads.depth, heads.tiles);
    const second = heads.seal(new Map([[300, leafOf(300, 2)]]));
    expect(second).to.not.equal(first);
    heads.check(second, [5, 300, 70_000, 299, 301]);
    expect(processHeadProof(300, leafOf(300, 1), oldProof)).to.equal(first);
    expect(processHeadProof(300, leafOf(300, 1), proofFromTiles(300, heads.depth, heads.tiles))).to.not.equal(second);
    expect(heads.seal(new Map([[300, leafOf(300, 1)]]))).to.equal(first);
  });

  it("deepens across tile groups, 7 → 9 → 17 → 25 levels, with partial top groups, keeping every older leaf provable", () => {
    const heads = new Map2();
    const steps: [number, number[]][] = [
      [7, [0, 1, 64, 127]], // one group of 7 levels
      [9, [128, 255, 256, 511]], // a full group and a top group of 1 level
      [17, [512, 65_535, 65_536, 131_071]], // two full groups and a top group of 1
      [25, [131_072, 16_777_215, 16_777_216, 33_554_431]], // three full groups and a top group of 1
    ];
    for (const [depth, added] of steps) {
      const root = heads.seal(new Map(added.map((i) => [i, leafOf(i, 1)])));
      expect(heads.depth).to.equal(depth);
      expect(heads.written).to.deep.equal(expectedTiles(added, depth));
      heads.check(
        root,
        [...heads.leaves.keys(), 2, 200, 70_000, 2 ** depth - 1].filter((i) => i < 2 ** depth),
      );
      for (const index of heads.leaves.keys()) expect(tilesForProof(index, depth)).to.have.length(groupsFor(depth));
    }
    // A deeper map of the same leaves has another root: the depth is in the batch root.
    const same = new Map2();
    const at9 = same.seal(new Map([[3, leafOf(3, 1)]]), 9);
    expect(same.seal(new Map(), 10)).to.not.equal(at9);
  });

  it("a map that stays shallow for many batches, then jumps to depth 40", () => {
    const heads = new Map2();
    for (let b = 0; b < 12; b++)
      heads.check(
        heads.seal(
          new Map([
            [b * 3, leafOf(b * 3, b + 1)],
            [b, leafOf(b, 2 * b + 1)],
          ]),
        ),
        [0, b, b * 3],
      );
    expect(heads.depth).to.equal(6);
    const far = 2 ** 40 - 1;
    const root = heads.seal(new Map([[far, leafOf(far, 1)]]));
    expect(heads.depth).to.equal(40);
    // headsRootOf walks every level of every leaf: fine for these few leaves.
    heads.check(root, [0, 5, far, 2 ** 39]);
  });

  it("refuses an index the depth cannot hold, and a top group of more than one tile", () => {
    expect(() => updateHeads(() => undefined, new Map([[8, leafOf(8, 1)]]), 3)).to.throw(RangeError, /does not fit depth 3/);
    expect(() => updateHeads(() => undefined, new Map([[-1, leafOf(0, 1)]]), 3)).to.throw(RangeError);
    expect(() => proofFromTiles(8, 3, new Map())).to.throw(RangeError);
    expect(() => proofFromTiles(1.5, 3, new Map())).to.throw(RangeError);
    expect(() => processHeadProof(8, leafOf(8, 1), [ZERO_HASH, ZERO_HASH, ZERO_HASH])).to.throw(RangeError);
  });

  it("hashes the same with the WebAssembly keccak256 the sealer passes in", async () => {
    const wasm = await wasmKeccak256();
    const changes = new Map([0, 255, 256, 9_999].map((i) => [i, fromHex(leafOf(i, 3))]));
    const plain = updateHeads(() => undefined, changes, 14);
    const fast = updateHeads(() => undefined, changes, 14, wasm);
    expect(fast.root).to.equal(plain.root);
    const tiles = new Map([...fast.tiles].map(([id, t]) => [id, t.bytes]));
    expect(proofFromTiles(9_999, 14, tiles, wasm)).to.deep.equal(proofFromTiles(9_999, 14, tiles));
  });

  describe("what it costs (docs/PROOF-FORMAT.md, 'What it costs at 100 million chains')", () => {
    /** Tiles per group for `chains` chains at indexes 0 … chains − 1 (the top group has one). */
    function tilesPerGroup(chains: number): number[] {
      const depth = depthFor(chains - 1);
      const counts: number[] = [];
      let nodes = chains;
      for (let g = 0; g < groupsFor(depth); g++) {
        nodes = Math.ceil(nodes / TILE_WIDTH);
        counts.push(g === groupsFor(depth) - 1 ? 1 : nodes);
      }
      return counts;
    }
    /** At most, for `k` consecutive chains anywhere: ⌈(k − 1)/256^(g+1)⌉ + 1 tiles they span, and tile 0. */
    const lotLocal = (chains: number, k: number): number =>
      tilesPerGroup(chains).reduce((sum, t, g) => sum + Math.min(t, Math.ceil((k - 1) / TILE_WIDTH ** (g + 1)) + 2), 0);
    /** Expected, for `k` chains drawn uniformly: each tile touched with probability 1 − (1 − 1/T)^k, and tile 0. */
    const scattered = (chains: number, k: number): number =>
      tilesPerGroup(chains).reduce((sum, t) => sum + (t === 1 ? 1 : 1 + (t - 1) * (1 - (1 - 1 / t) ** k)), 0);
    const proofJson = (depth: number): number => JSON.stringify(Array.from({ length: depth }, () => ZERO_HASH)).length;

    const count = (n: number): string => Math.round(n).toLocaleString("en-US");
    const megabytes = (bytes: number): string => `${(bytes / 1e6).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 })} MB`;
    const size = (bytes: number): string => (bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} KB` : megabytes(bytes));

    function rowsOf(doc: string, header: string): string[][] {
      const at = doc.indexOf(header);
      expect(at, `a table headed "${header}"`).to.be.greaterThan(0);
      return doc
        .slice(at)
        .split("\n")
        .slice(2)
        .filter((line, i, all) => line.startsWith("|") && all.slice(0, i).every((l) => l.startsWith("|")))
        .map((line) =>
          line
            .split("|")
            .slice(1, -1)
            .map((cell) => cell.trim()),
        );
    }

    it("the doc's tables are the model's numbers", () => {
      const doc = readFileSync(new URL("../../docs/PROOF-FORMAT.md", import.meta.url), "utf8");
      const sizes = rowsOf(doc, "| chains | depth | proof (hashes) |");
      expect(sizes).to.deep.equal(
        [1e6, 1e7, 1e8].map((chains) => {
          const depth = depthFor(chains - 1);
          const tiles = tilesPerGroup(chains).reduce((a, b) => a + b, 0);
          return [count(chains), String(depth), String(depth), count(proofJson(depth)), count(tiles), megabytes(tiles * TILE_BYTES)];
        }),
      );
      const writes = rowsOf(doc, "| chains moved in one batch |");
      expect(writes).to.deep.equal(
        [1e3, 1e4, 1e5, 1e6].map((k) => {
          const lot = lotLocal(1e8, k),
            spread = scattered(1e8, k);
          return [
            count(k),
            count(lot),
            size(lot * TILE_BYTES),
            `${count((lot * TILE_BYTES) / k)} B`,
            count(spread),
            size(spread * TILE_BYTES),
            `${count((spread * TILE_BYTES) / k)} B`,
          ];
        }),
      );
    });

    it("updateHeads writes what the model counts: a lot at its worst alignment exactly, scattered chains about the expectation", async () => {
      const wasm = await wasmKeccak256();
      const chains = 2 ** 20;
      const depth = depthFor(chains - 1);
      for (const k of [1, 256, 1_000, 5_000]) {
        // From the last leaf of a group-1 tile: every group's span crosses a boundary, and misses tile 0.
        const start = 3 * TILE_WIDTH ** 2 - 1;
        const lot = new Map(Array.from({ length: k }, (_, i) => [start + i, fromHex(leafOf(start + i, 1))]));
        expect(updateHeads(() => undefined, lot, depth, wasm).tiles.size, `lot of ${k}`).to.equal(lotLocal(chains, k));
      }
      let state = 12_345;
      const random = (): number => {
        state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
        return state / 2 ** 31;
      };
      const k = 2_000;
      const picked = new Map<number, Uint8Array>();
      while (picked.size < k) {
        const i = Math.floor(random() * chains);
        picked.set(i, fromHex(leafOf(i, 1)));
      }
      const written = updateHeads(() => undefined, picked, depth, wasm).tiles.size;
      // Distinct draws (the model draws with repeats: at most a few fewer tiles); 1,600 ± 40 is about 3 standard deviations.
      expect(Math.abs(written - scattered(chains, k)), `${written} tiles written`).to.be.lessThan(40);
    });

    it("the tile groups and proof sizes hold at 100 million chains (depth 27: four groups, a top group of 3 levels)", () => {
      expect(depthFor(1e8 - 1)).to.equal(27);
      expect(tilesPerGroup(1e8)).to.deep.equal([390_625, 1_526, 6, 1]);
      expect(tilesForProof(1e8 - 1, 27)).to.deep.equal([
        { group: 0, index: 390_624 },
        { group: 1, index: 1_525 },
        { group: 2, index: 5 },
        { group: 3, index: 0 },
      ] satisfies TileKey[]);
    });
  });
});
