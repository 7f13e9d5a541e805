/**
 * `npm run verify-proof` against a real stack and a local chain: the findings 1–5 each become
 * a failing check through the CLI (exit code and the reason), plus the registry the verifier chooses,
 * formats 1 and "begun before format 2", staleness of the completeness proof, and usage errors.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { deployRegistry, registryAt } from "../../service/anchoring/registry.ts";
import type { LocalChain } from "../../service/anchoring/local-chain.ts";
import type { ProofBundle } from "../../service/core/bundle.ts";
import { sealedHistory, sealedHistoryV2 } from "../helpers/bottle.ts";
import { anchorElsewhere, forgeBundle } from "../helpers/forge.ts";
import { runScript } from "../helpers/run.ts";
import { devKey, lifecycle, startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

const SCRIPT = "scripts/verify-proof.ts";
const KEY_INDEX = 15;
const CHAIN_ID = 31337;

describe("npm run verify-proof", function () {
  this.timeout(240_000);
  let services: ChainStack;
  let stack: Stack;
  let chain: LocalChain;
  let brand: BrandFixture;
  let registry: string;
  let dir: string;
  let files = 0;
  /** A bottle produced in a 50-bottle event, then moved, sold and opened: six links. */
  let bottle: string;
  let lot: string[];
  let honest: ProofBundle;
  /** The same bundle with each link's own Merkle proof (`?proofs=all`). */
  let withProofs: ProofBundle;

  async function write(content: unknown): Promise<string> {
    const file = join(dir, `file-${++files}.json`);
    await writeFile(file, typeof content === "string" ? content : JSON.stringify(content, null, 2));
    return file;
  }
  async function verify(bundle: unknown, ...args: string[]) {
    return await runScript(SCRIPT, [await write(bundle), ...args]);
  }
  const pinned = () => ["--chain-id", String(CHAIN_ID), "--registry", registry];
  const clone = (): ProofBundle => structuredClone(honest);

  /** Anchors `roots` as batches 1, 2, … of a fresh registry of our own on the stack's chain. */
  async function registryWith(roots: { root: string; leafCount: number }[]): Promise<string> {
    const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
    try {
      const signer = new NonceManager(new Wallet(devKey(KEY_INDEX + 1), provider));
      const { address } = await deployRegistry(signer);
      const contract = registryAt(address, signer);
      for (const [i, { root, leafCount }] of roots.entries()) await (await contract.getFunction("anchor")(i + 1, root, leafCount)).wait();
      return address;
    } finally {
      provider.destroy();
    }
  }

  before(async () => {
    services = await startChainStack({ keyIndex: KEY_INDEX, env: { RATE_LIMIT_PER_IP: "100000" } });
    ({ stack, chain } = services);
    registry = stack.runtime.chain.registry;
    brand = await stack.createBrand({ codes: 51 });
    lot = brand.codes.slice(0, 50).map((c) => c.serial);
    bottle = lot[0]!;
    expect((await stack.postEvents(brand, lifecycle(lot))).status).to.equal(202);
    const opened = { id: "opened-1", type: "opened", codes: [bottle], occurredAt: new Date().toISOString(), party: "store-pudong" };
    expect((await stack.postEvents(brand, [opened])).status).to.equal(202);
    const deadline = Date.now() + 60_000;
    for (;;) {
      honest = await stack.waitAnchored(bottle, brand.codes[0]!.secret);
      if (honest.links.length === 6 && honest.head?.n === 6) break;
      if (Date.now() > deadline) throw new Error(`bottle ${bottle}'s bundle never showed six links and its head: ${JSON.stringify(honest).slice(0, 300)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const full = await stack.request("GET", `/api/v1/items/${bottle}/proof?s=${encodeURIComponent(brand.codes[0]!.secret)}&proofs=all`);
    expect(full.status).to.equal(200);
    withProofs = full.body;
    expect(withProofs.links.every((l) => l.anchor?.proof !== undefined)).to.equal(true);
    dir = await mkdtemp(join(tmpdir(), "sealtrace-verify-"));
  });

  after(async () => {
    await services?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe("a valid bundle", () => {
    it("offline: says first that it trusted the bundle's own chain and registry, then VALID, complete as of the head's batch", async () => {
      const { code, stdout } = await verify(honest);
      expect(code, stdout).to.equal(0);
      const [first, verdict, ...rest] = stdout.trim().split("\n");
      expect(first).to.equal(
        `trusted: chain ${CHAIN_ID}, registry ${registry}, as named by the bundle itself: pin them with --chain-id and --registry, or --pin FILE`,
      );
      const head = honest.batches.find((b) => b.seq === honest.head!.seq)!;
      const linkBatches = [...new Set(honest.links.map((l) => l.anchor!.seq))];
      // A compact bundle: the links' batches are its claim, the head proof proves the links.
      expect(verdict).to.equal(
        `VALID: bottle ${bottle}, 6 links, 6 anchored; in batch${linkBatches.length > 1 ? "es" : ""} ${linkBatches.join(", ")} (as the bundle says); ` +
          `complete as of batch ${head.seq}, anchored at ${head.blockTime} (as the bundle says; not checked without --rpc); roots not checked on chain (no --rpc)`,
      );
      expect(rest).to.deep.equal([
        "  note: the batch of links 1, 2, 3, 4, 5, 6 is the bundle's claim: the head proof authenticates the links, not when each was anchored (a bundle fetched with ?proofs=all proves that too)",
      ]);
      const full = await verify(withProofs);
      expect(full.code, full.stdout).to.equal(0);
      expect(full.stdout.trim().split("\n")).to.have.length(2);
    });

    it("with --rpc and the registry pinned: every root compared, the anchoring time from the chain", async () => {
      const { code, stdout } = await verify(honest, "--rpc", chain.url, ...pinned());
      expect(code, stdout).to.equal(0);
      expect(stdout.split("\n")[0]).to.equal(`trusted: chain ${CHAIN_ID}, registry ${registry} (pinned by --chain-id and --registry)`);
      expect(stdout).to.match(
        new RegExp(
          `^VALID: bottle ${bottle}, 6 links, 6 anchored; .*; complete as of batch ${honest.head!.seq}, anchored at \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z \\(from the chain, block \\d+\\); roots match the chain \\(${honest.batches.length} roots? compared\\)$`,
          "m",
        ),
      );
      const pin = await write({ chainId: CHAIN_ID, registry });
      const viaPin = await verify(honest, "--rpc", chain.url, "--pin", pin);
      expect(viaPin.code, viaPin.stdout).to.equal(0);
      expect(viaPin.stdout.split("\n")[0]).to.equal(`trusted: chain ${CHAIN_ID}, registry ${registry} (pinned by ${pin})`);
    });

    it("--json prints one object: status, verdict, chain check and what was trusted", async () => {
      const { code, stdout } = await verify(honest, "--json", "--rpc", chain.url);
      expect(code).to.equal(0);
      const out = JSON.parse(stdout);
      expect(out).to.include({ status: "valid", valid: true });
      expect(out.trusted).to.deep.equal({ chainId: CHAIN_ID, registry, source: "bundle" });
      expect(out.verdict).to.include({ format: 2, linkCount: 6, identityBound: true });
      expect(out.chain.rootsChecked).to.equal(honest.batches.length);
      expect(out.completeAsOf).to.include({ seq: honest.head!.seq, from: "chain" });
    });
  });

  describe("finding 1: links left out", () => {
    it("the last two links and their events removed: INVALID (exit 1), naming the links the heads map records", async () => {
      const bundle = clone();
      bundle.links.splice(4);
      bundle.events.splice(4);
      for (const args of [[], ["--rpc", chain.url, ...pinned()]]) {
        const { code, stdout } = await verify(bundle, ...args);
        expect(code, stdout).to.equal(1);
        expect(stdout).to.match(new RegExp(`^INVALID: bottle ${bottle}, 4 links, 4 anchored; in batch`, "m"));
        expect(stdout).to.include(
          `  links: batch ${honest.head!.seq}'s heads map records link 6 as this bottle's last, but the bundle stops at link 4: links were left out (expected 6, found 4)`,
        );
      }
    });

    it("…and the head proof moved to link 4: the proof no longer leads to the heads root", async () => {
      const bundle = clone();
      bundle.links.splice(4);
      bundle.events.splice(4);
      bundle.head = { ...bundle.head!, n: 4, linkHash: bundle.links[3]!.linkHash };
      const { code, stdout } = await verify(bundle);
      expect(code).to.equal(1);
      expect(stdout).to.match(/^ {2}head\.proof: the head proof does not lead to batch \d+'s heads root/m);
    });

    it("…and the head proof dropped: INVALID without links' own proofs; with them INCOMPLETE (exit 3), completeness not proven — never VALID", async () => {
      const drop = (from: ProofBundle): ProofBundle => {
        const bundle = structuredClone(from);
        bundle.links.splice(4);
        bundle.events.splice(4);
        bundle.head = null;
        const used = new Set(bundle.links.map((l) => l.anchor!.seq));
        bundle.batches = bundle.batches.filter((b) => used.has(b.seq));
        return bundle;
      };
      const compact = await verify(drop(honest), "--rpc", chain.url);
      expect(compact.code, compact.stdout).to.equal(1);
      expect(compact.stdout).to.include("  links[0].anchor: a link without a Merkle proof of its own needs the head proof, and the bundle has none");
      const { code, stdout } = await verify(drop(withProofs), "--rpc", chain.url);
      expect(code, stdout).to.equal(3);
      expect(stdout).to.match(new RegExp(`^INCOMPLETE: completeness not proven: [^;]*no head proof[^;]*; bottle ${bottle}, 4 links, 4 anchored`, "m"));
    });

    it("a forged history (every hash recomputed) with the registry's address: the chain holds another root", async () => {
      const forged = forgeBundle(honest, (b) => {
        b.links.splice(4);
        b.events.splice(4);
      });
      expect((await verify(forged)).code, "offline, a forgery is consistent").to.equal(0);
      const { code, stdout } = await verify(forged, "--rpc", chain.url);
      expect(code).to.equal(1);
      expect(stdout).to.match(new RegExp(`the registry holds a different root for batch ${honest.head!.seq}`));
    });
  });

  describe("finding 2: pending is not valid", () => {
    it("every anchor set to null: INVALID while the head proof says they were anchored; without it INCOMPLETE (exit 3), k links pending; never VALID", async () => {
      const covered = clone();
      for (const link of covered.links) link.anchor = null;
      const refuted = await verify(covered, "--rpc", chain.url);
      expect(refuted.code, refuted.stdout).to.equal(1);
      expect(refuted.stdout).to.match(/links\[0\]\.anchor: link 1 is shown as pending, but batch \d+'s heads map records link 6: it was anchored by then/);
      const bundle = clone();
      for (const link of bundle.links) link.anchor = null;
      bundle.head = null;
      bundle.batches = [];
      for (const args of [[], ["--rpc", chain.url], ["--rpc", chain.url, ...pinned()]]) {
        const { code, stdout } = await verify(bundle, ...args);
        expect(code, `${args.join(" ")}: ${stdout}`).to.equal(3);
        expect(stdout).to.match(new RegExp(`^INCOMPLETE: 6 links pending \\(n = 1, 2, 3, 4, 5, 6\\); bottle ${bottle}, 6 links, 0 anchored$`, "m"));
        expect(stdout).not.to.match(/^VALID|roots match/m);
      }
      // Leaving the batches the links were in makes it inconsistent: INVALID, still not VALID.
      const untrimmed = clone();
      for (const link of untrimmed.links) link.anchor = null;
      const r = await verify(untrimmed, "--rpc", chain.url);
      expect(r.code === 1 || r.code === 3, r.stdout).to.equal(true);
      expect(r.stdout).not.to.match(/^VALID|roots match/m);
    });

    it("one link pending: INCOMPLETE, naming it", async () => {
      // As the service serves a bottle whose last link waits for its batch.
      const bundle = sealedHistoryV2({ chainId: CHAIN_ID, registry }, { pendingFrom: 5 }).bundle;
      expect(bundle.links).to.have.length(5);
      const { code, stdout } = await verify(bundle);
      expect(code).to.equal(3);
      expect(stdout).to.match(/^INCOMPLETE: 1 link pending \(n = 5\)/m);
    });
  });

  describe("finding 3: the verifier chooses the registry", () => {
    let elsewhere: ProofBundle;
    before(async () => {
      // An operator's rewritten history (the sale and the opening gone), anchored on a registry of its own.
      elsewhere = await anchorElsewhere(
        chain.url,
        devKey(KEY_INDEX + 2),
        forgeBundle(honest, (b) => {
          b.links.splice(4);
          b.events.splice(4);
        }),
      );
    });

    it("without a pin it passes on the forger's registry, but says first which registry it trusted, and that the bundle chose it", async () => {
      const { code, stdout } = await verify(elsewhere, "--rpc", chain.url);
      expect(code, stdout).to.equal(0);
      expect(stdout.split("\n")[0]).to.equal(
        `trusted: chain ${CHAIN_ID}, registry ${elsewhere.chain.registry}, as named by the bundle itself: pin them with --chain-id and --registry, or --pin FILE`,
      );
      expect(elsewhere.chain.registry).not.to.equal(registry);
    });

    it("with the real registry pinned (options or file, online or offline) it fails", async () => {
      const pin = await write({ chainId: CHAIN_ID, registry });
      for (const args of [["--rpc", chain.url, ...pinned()], ["--rpc", chain.url, "--pin", pin], pinned()]) {
        const { code, stdout } = await verify(elsewhere, ...args);
        expect(code, `${args.join(" ")}: ${stdout}`).to.equal(1);
        expect(stdout).to.include(
          `  chain.registry: the bundle names another registry than the one trusted (expected ${registry}, found ${elsewhere.chain.registry})`,
        );
      }
      const otherChain = await verify(honest, "--chain-id", "1", "--registry", registry);
      expect(otherChain.code).to.equal(1);
      expect(otherChain.stdout).to.include(`  chain.chainId: the bundle names another chain than the one trusted (expected 1, found ${CHAIN_ID})`);
    });
  });

  it("finding 4: a bottle of a 50-bottle event: its bundle names no other serial of the lot", async () => {
    const text = JSON.stringify(honest);
    const others = lot.filter((serial) => serial !== bottle);
    expect(others).to.have.length(49);
    for (const serial of others) expect(text.includes(serial), serial).to.equal(false);
    const { code, stdout } = await verify(honest, "--rpc", chain.url, ...pinned());
    expect(code, stdout).to.equal(0);
  });

  it("finding 5: the header's GTIN, lot, brand or index edited: INVALID", async () => {
    const edits: [string, (b: ProofBundle) => void][] = [
      [
        "gtin",
        (b) => {
          b.gtin = "06901234567885";
        },
      ],
      [
        "lot",
        (b) => {
          b.lot = "2026-12-B";
        },
      ],
      [
        "lot",
        (b) => {
          b.lot = null;
        },
      ],
      [
        "brand",
        (b) => {
          b.brand = "another-brand";
        },
      ],
      [
        "index",
        (b) => {
          b.index += 1;
        },
      ],
    ];
    for (const [field, edit] of edits) {
      const bundle = clone();
      edit(bundle);
      const { code, stdout } = await verify(bundle, "--rpc", chain.url);
      expect(code, `${field}: ${stdout}`).to.equal(1);
      expect(stdout, field).to.include(
        "  links[0].link.prev: the first link does not commit to this bottle's brand, GTIN, lot, serial and index (a header field was changed)",
      );
    }
  });

  describe("older formats", () => {
    it("a format-1 bundle: VALID, with a note that completeness is not proven", async () => {
      const chainRef = { chainId: CHAIN_ID, registry: "" };
      const history = sealedHistory(chainRef);
      chainRef.registry = await registryWith(history.batches.map((b) => ({ root: b.tree.root, leafCount: b.leafCount })));
      const bundle = { ...history.bundle, chain: { ...chainRef } };
      const { code, stdout } = await verify(bundle, "--rpc", chain.url);
      expect(code, stdout).to.equal(0);
      expect(stdout).to.match(/^VALID: bottle MT2026A0000001, 5 links, 5 anchored; in batches 1, 2; roots match the chain \(2 roots compared\)$/m);
      expect(stdout).to.match(/^ {2}note: format 1: completeness not proven/m);
    });

    it("a chain begun before format 2: VALID, with notes that its identity and completeness are not proven", async () => {
      const chainRef = { chainId: CHAIN_ID, registry: "" };
      const history = sealedHistoryV2(chainRef, { formatOneStart: true });
      chainRef.registry = await registryWith(history.batches.map((b) => ({ root: b.root, leafCount: b.leafCount })));
      const bundle = { ...history.bundle, chain: { ...chainRef } };
      const { code, stdout } = await verify(bundle, "--rpc", chain.url);
      expect(code, stdout).to.equal(0);
      expect(stdout).to.match(/^VALID: bottle MT2026A0000001, 5 links/m);
      expect(stdout).to.match(/^ {2}note: identity not bound: the bottle's chain began before format 2/m);
      expect(stdout).to.match(/^ {2}note: completeness not proven/m);
    });
  });

  describe("usage errors and unreadable input: exit 2", () => {
    it("no file, two files, an unknown option, or options that do not go together", async () => {
      const file = await write(honest);
      const cases = [
        [],
        [file, file],
        ["--frobnicate", file],
        [file, "--chain-id", "31337"],
        [file, "--registry", registry],
        [file, "--pin", file, "--chain-id", "1", "--registry", registry],
        [file, "--chain-id", "x", "--registry", registry],
        [file, "--chain-id", "1", "--registry", "0x1234"],
        [file, "--max-age", "-1"],
        [file, "--pin", file],
      ];
      for (const args of cases) {
        const { code, stderr } = await runScript(SCRIPT, args);
        expect(code, args.join(" ")).to.equal(2);
        expect(stderr, args.join(" ")).to.match(/usage: npm run verify-proof/);
      }
    });

    it("a missing file or one that is not JSON", async () => {
      expect((await runScript(SCRIPT, [join(dir, "missing.json")])).code).to.equal(2);
      const { code, stderr } = await verify("{ not json");
      expect(code).to.equal(2);
      expect(stderr).to.match(/cannot read .* as JSON/);
    });

    it("an RPC that cannot be reached", async () => {
      const { code, stderr } = await verify(honest, "--rpc", "http://127.0.0.1:1");
      expect(code).to.equal(2);
      expect(stderr).to.match(/cannot reach the chain at http:\/\/127\.0\.0\.1:1/);
    });
  });

  // Last (mocha runs a suite's own tests before its nested suites, and nested suites in order): it anchors newer batches.
  describe("staleness", () => {
    it("with --rpc, a head proof whose batch the registry superseded more than --max-age ago fails; a fresh bundle passes", async () => {
      const other = brand.codes[50]!;
      expect((await stack.postEvents(brand, lifecycle([other.serial]))).status).to.equal(202);
      await stack.waitAnchored(other.serial, other.secret);
      // Until the chain's clock is past the newer batch's block by more than a second.
      const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
      try {
        const latest = (await provider.getBlock("latest"))!.timestamp;
        while (Date.now() / 1000 < latest + 1.5) await new Promise((resolve) => setTimeout(resolve, 250));
      } finally {
        provider.destroy();
      }
      const stale = await verify(honest, "--rpc", chain.url, "--max-age", "0");
      expect(stale.code, stale.stdout).to.equal(1);
      expect(stale.stdout).to.match(
        new RegExp(
          `^ {2}head\\.seq: stale: the registry has held batch ${honest.head!.seq + 1} \\(newer than the head proof's batch ${honest.head!.seq}\\) since .*, longer than 0 s`,
          "m",
        ),
      );
      expect((await verify(honest, "--rpc", chain.url)).code, "within the default window").to.equal(0);
      const fresh = await stack.waitAnchored(bottle, brand.codes[0]!.secret);
      expect(fresh.head!.seq).to.be.greaterThan(honest.head!.seq);
      const r = await verify(fresh, "--rpc", chain.url, "--max-age", "0");
      expect(r.code, r.stdout).to.equal(0);
    });
  });
});
