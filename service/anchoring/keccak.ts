/**
 * keccak256 in WebAssembly (hash-wasm) for the sealer's trees: about eight times the pure-JS
 * implementation on 64-byte inputs here. It is created asynchronously (the module is compiled once)
 * and then hashes synchronously, so it plugs into core/merkle.ts as its `Keccak`. core/ itself keeps
 * the pure-JS keccak: it also runs in the browser, bundled into the consumer page's self-check.
 */
import { createKeccak } from "hash-wasm";
import type { Keccak } from "../core/merkle.ts";

let hasher: Promise<Keccak> | null = null;

/** The process's WebAssembly keccak256 (one instance: hashing is synchronous, so it is never shared mid-hash). */
export async function wasmKeccak256(): Promise<Keccak> {
  hasher ??= createKeccak(256).then((wasm) => (bytes: Uint8Array) => {
    wasm.init();
    wasm.update(bytes);
    return wasm.digest("binary");
  });
  // A failed start is not cached: the next seal tries again.
  hasher.catch(() => {
    hasher = null;
  });
  return await hasher;
}
