/**
 * Builds a batch's links tree in a worker thread (the sealer's `buildTree`), so that on a machine of
 * two or more cores the tree is hashed while the sealer's own thread moves the heads map: the two
 * take about as long each. The leaves come in and the levels go back as transferred buffers.
 */
import { parentPort } from "node:worker_threads";
import { MerkleTree } from "../core/merkle.ts";
import { wasmKeccak256 } from "./keccak.ts";

parentPort!.once("message", (leaves: Uint8Array) => {
  void wasmKeccak256().then((keccak) => {
    const levels = [...new MerkleTree(leaves, keccak).allLevels()];
    parentPort!.postMessage(
      levels,
      levels.map((level) => level.buffer as ArrayBuffer),
    );
  });
});
