/**
 * Fees of a replacement transaction (EIP-1559). A node takes a transaction with a nonce already
 * pending only if it pays more: geth wants both fees up by at least 10 %, others 12.5 %. The anchorer
 * raises them by 20 %, or to what the network asks now if that is more, but never past its cap.
 */

/** Both fees are raised by this much, rounded up. */
export const FEE_BUMP_PERCENT = 20;

/** The fee fields of an EIP-1559 transaction, in wei. */
export interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

const bump = (value: bigint): bigint => (value * BigInt(100 + FEE_BUMP_PERCENT) + 99n) / 100n;
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/**
 * The fees to replace a transaction paying `old` with: each the larger of `old` + FEE_BUMP_PERCENT
 * and the `market`'s, maxFeePerGas at most `cap` (and the tip at most maxFeePerGas). Null when the cap
 * leaves no room for a full bump: a node would refuse the replacement as underpriced.
 */
export function bumpedFees(old: Fees, market: Fees, cap: bigint): Fees | null {
  const wantedMax = bump(old.maxFeePerGas);
  const wantedTip = bump(old.maxPriorityFeePerGas);
  const maxFeePerGas = min(max(wantedMax, market.maxFeePerGas), cap);
  const maxPriorityFeePerGas = min(max(wantedTip, market.maxPriorityFeePerGas), maxFeePerGas);
  if (maxFeePerGas < wantedMax || maxPriorityFeePerGas < wantedTip) return null;
  return { maxFeePerGas, maxPriorityFeePerGas };
}
