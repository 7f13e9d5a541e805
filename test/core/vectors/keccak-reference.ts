/**
 * Keccak-256 written from FIPS 202's description (Keccak-f[1600] on 64-bit lanes held as BigInts,
 * round constants from the rc(t) LFSR, rotation offsets from the (x, y) walk) with the original
 * Keccak padding (0x01 … 0x80) that Ethereum's keccak256 uses, not SHA3-256's (0x06). Slow and
 * short on purpose: the test vectors are recomputed with it, so they do not rest on the library the
 * service uses (@noble/hashes) being right.
 */
const MASK = (1n << 64n) - 1n;
const rotl = (x: bigint, n: number): bigint => (n === 0 ? x : ((x << BigInt(n)) | (x >> BigInt(64 - n))) & MASK);
// Round constants from the LFSR rc(t) (FIPS 202, algorithm 5), rotation offsets from the (x, y) walk.
function rc(t: number): number {
  if (t % 255 === 0) return 1;
  let r = 0x01;
  for (let i = 1; i <= t % 255; i++) {
    r <<= 1;
    if (r & 0x100) r ^= 0x171;
  }
  return r & 1;
}
const ROUND = Array.from({ length: 24 }, (_, ir) => {
  let c = 0n;
  for (let j = 0; j <= 6; j++) if (rc(j + 7 * ir)) c |= 1n << BigInt(2 ** j - 1);
  return c;
});
const OFFSET: number[] = new Array(25).fill(0);
{
  let x = 1,
    y = 0;
  for (let t = 0; t < 24; t++) {
    OFFSET[x + 5 * y] = (((t + 1) * (t + 2)) / 2) % 64;
    [x, y] = [y, (2 * x + 3 * y) % 5];
  }
}
function permute(a: bigint[]): void {
  for (let round = 0; round < 24; round++) {
    const c = [0, 1, 2, 3, 4].map((x) => a[x]! ^ a[x + 5]! ^ a[x + 10]! ^ a[x + 15]! ^ a[x + 20]!);
    for (let x = 0; x < 5; x++) {
      const d = c[(x + 4) % 5]! ^ rotl(c[(x + 1) % 5]!, 1);
      for (let y = 0; y < 5; y++) a[x + 5 * y] = a[x + 5 * y]! ^ d;
    }
    const b: bigint[] = new Array(25).fill(0n);
    for (let x = 0; x < 5; x++) for (let y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y]!, OFFSET[x + 5 * y]!);
    for (let x = 0; x < 5; x++) for (let y = 0; y < 5; y++) a[x + 5 * y] = b[x + 5 * y]! ^ (~b[((x + 1) % 5) + 5 * y]! & MASK & b[((x + 2) % 5) + 5 * y]!);
    a[0] = a[0]! ^ ROUND[round]!;
  }
}
export function keccak256Reference(data: Uint8Array): Uint8Array {
  const rate = 136;
  const padded = new Uint8Array(Math.floor(data.length / rate + 1) * rate);
  padded.set(data);
  padded[data.length]! ^= 0x01;
  padded[padded.length - 1]! ^= 0x80;
  const state: bigint[] = new Array(25).fill(0n);
  for (let block = 0; block < padded.length; block += rate) {
    for (let i = 0; i < rate / 8; i++) {
      let lane = 0n;
      for (let k = 7; k >= 0; k--) lane = (lane << 8n) | BigInt(padded[block + i * 8 + k]!);
      state[i] = state[i]! ^ lane;
    }
    permute(state);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((state[i >> 3]! >> BigInt(8 * (i % 8))) & 0xffn);
  return out;
}
