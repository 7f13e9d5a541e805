import { expect } from "chai";
import { createGroupCommit, QueueFull } from "../../service/core/group-commit.ts";

/** A write that records its groups and finishes only when the test lets it. */
function gatedWrite() {
  const groups: number[][] = [];
  const gates: (() => void)[] = [];
  let failNext: Error | null = null;
  const write = async (items: number[]): Promise<(string | Error)[]> => {
    groups.push(items);
    await new Promise<void>((resolve) => gates.push(resolve));
    if (failNext) {
      const error = failNext;
      failNext = null;
      throw error;
    }
    return items.map((i) => (i < 0 ? new Error(`item ${i} refused`) : `done ${i}`));
  };
  const until = async (check: () => boolean) => {
    while (!check()) await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    groups,
    write,
    until,
    /** Lets the oldest write in flight finish. */
    async open() {
      await until(() => gates.length > 0);
      gates.shift()!();
    },
    failWith(error: Error) {
      failNext = error;
    },
  };
}

describe("group commit", () => {
  it("writes a lone item at once, and groups what arrives while a write is in flight", async () => {
    const gate = gatedWrite();
    const commit = createGroupCommit(gate.write, { maxGroup: 100, maxQueue: 100 });
    const first = commit.submit(1);
    await gate.until(() => gate.groups.length === 1);
    const rest = [2, 3, 4, 5].map((i) => commit.submit(i));
    await gate.open();
    expect(await first).to.equal("done 1");
    await gate.open();
    expect(await Promise.all(rest)).to.deep.equal(["done 2", "done 3", "done 4", "done 5"]);
    expect(gate.groups).to.deep.equal([[1], [2, 3, 4, 5]]);
    await commit.drain();
  });

  it("settles no caller before its group's write has returned", async () => {
    const gate = gatedWrite();
    const commit = createGroupCommit(gate.write, { maxGroup: 100, maxQueue: 100 });
    let settled = false;
    const pending = commit.submit(1).then(() => {
      settled = true;
    });
    await gate.until(() => gate.groups.length === 1);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).to.equal(false);
    await gate.open();
    await pending;
    expect(settled).to.equal(true);
  });

  it("fails every caller of a group whose write throws, and goes on with the next group", async () => {
    const gate = gatedWrite();
    const commit = createGroupCommit(gate.write, { maxGroup: 100, maxQueue: 100 });
    const first = commit.submit(1).then(
      () => "ok",
      (error: Error) => error.message,
    );
    await gate.until(() => gate.groups.length === 1);
    const next = [2, 3].map((i) =>
      commit.submit(i).then(
        () => "ok",
        (error: Error) => error.message,
      ),
    );
    gate.failWith(new Error("connection lost at COMMIT"));
    await gate.open(); // group [1]: fails
    await gate.open(); // group [2, 3]: succeeds
    expect(await first).to.equal("connection lost at COMMIT");
    expect(await Promise.all(next)).to.deep.equal(["ok", "ok"]);
  });

  it("fails only the item the write refuses", async () => {
    const gate = gatedWrite();
    const commit = createGroupCommit(gate.write, { maxGroup: 100, maxQueue: 100 });
    const results = [7, -1, 8].map((i) =>
      commit.submit(i).then(
        (r) => r,
        (error: Error) => error.message,
      ),
    );
    await gate.open();
    expect(await Promise.all(results)).to.deep.equal(["done 7", "item -1 refused", "done 8"]);
  });

  it("bounds the group and the queue: past the limit a caller is refused at once", async () => {
    const gate = gatedWrite();
    const commit = createGroupCommit(gate.write, { maxGroup: 3, maxQueue: 5 });
    const first = commit.submit(0);
    await gate.until(() => gate.groups.length === 1);
    const queued = [1, 2, 3, 4, 5].map((i) => commit.submit(i));
    let refused: unknown = null;
    await commit.submit(6).catch((error: unknown) => {
      refused = error;
    });
    expect(refused).to.be.instanceOf(QueueFull);
    for (let i = 0; i < 3; i++) await gate.open();
    await Promise.all([first, ...queued]);
    expect(gate.groups).to.deep.equal([[0], [1, 2, 3], [4, 5]]);
    // and once drained, it takes items again
    const later = commit.submit(9);
    await gate.open();
    expect(await later).to.equal("done 9");
    await commit.drain();
  });
});
