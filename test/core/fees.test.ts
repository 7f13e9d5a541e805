import { expect } from "chai";
import { bumpedFees } from "../../service/core/fees.ts";

const gwei = (n: number) => BigInt(Math.round(n * 1e9));

describe("replacement fees (core/fees.ts)", () => {
  const old = { maxFeePerGas: gwei(10), maxPriorityFeePerGas: gwei(1) };
  const calm = { maxFeePerGas: gwei(5), maxPriorityFeePerGas: gwei(1) };

  it("raise both fees by 20 %, rounded up, when the market asks less", () => {
    expect(bumpedFees(old, calm, gwei(500))).to.deep.equal({ maxFeePerGas: gwei(12), maxPriorityFeePerGas: gwei(1.2) });
    expect(bumpedFees({ maxFeePerGas: 7n, maxPriorityFeePerGas: 1n }, { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }, 1_000n)).to.deep.equal({
      maxFeePerGas: 9n,
      maxPriorityFeePerGas: 2n,
    });
  });

  it("follow the market when it asks more than the bump", () => {
    expect(bumpedFees(old, { maxFeePerGas: gwei(80), maxPriorityFeePerGas: gwei(3) }, gwei(500))).to.deep.equal({
      maxFeePerGas: gwei(80),
      maxPriorityFeePerGas: gwei(3),
    });
  });

  it("never pass the cap; none when the cap leaves no room for a full bump", () => {
    expect(bumpedFees(old, { maxFeePerGas: gwei(900), maxPriorityFeePerGas: gwei(2) }, gwei(50))).to.deep.equal({
      maxFeePerGas: gwei(50),
      maxPriorityFeePerGas: gwei(2),
    });
    expect(bumpedFees(old, calm, gwei(11))).to.equal(null);
    expect(bumpedFees({ maxFeePerGas: gwei(10), maxPriorityFeePerGas: gwei(10) }, calm, gwei(11.9))).to.equal(null);
  });
});
