import { expect } from "chai";
import { ADVISORY_LOCKS } from "../../service/db/locks.ts";

describe("advisory locks", () => {
  it("every feature's lock has a key of its own", () => {
    const keys = Object.values(ADVISORY_LOCKS);
    expect(new Set(keys).size).to.equal(keys.length);
  });
});
