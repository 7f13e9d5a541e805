import { expect } from "chai";
import {
  claimRefusal,
  CODE_MAX_ATTEMPTS,
  codeState,
  consentRecord,
  consentText,
  CONSENT_VERSION,
  levelOf,
  levelPointsProblem,
  maskPhone,
  normalisePhone,
  oneTimeCode,
  sendLimitReached,
  SENDS_PER_BOTTLE_PER_HOUR,
  SENDS_PER_IP_PER_HOUR,
  SENDS_PER_PHONE_PER_HOUR,
  typedCode,
} from "../../service/core/members.ts";
import { warningsFor, verdictOf, type StepFact } from "../../service/core/warnings.ts";
import { checkBottle } from "../../service/core/checks.ts";

describe("members: the pure rules", () => {
  it("normalises a Chinese mobile number however it is typed, to E.164; refuses fixed lines and nonsense", () => {
    for (const typed of ["13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "+8613800138000", "008613800138000", " (138) 0013 8000 "]) {
      expect(normalisePhone(typed), typed).to.equal("+8613800138000");
    }
    expect(normalisePhone("+1 202 555 0123"), "another country's mobile (or fixed-or-mobile) number").to.equal("+12025550123");
    for (const bad of ["010 6552 9988", "12345", "", "1380013800a", "+86", "13800138000; DROP TABLE", "1".repeat(41)]) {
      expect(normalisePhone(bad), bad).to.equal(null);
    }
  });

  it("masks the number: 138****5678 for China, the country code shown for others", () => {
    expect(maskPhone("+8613812345678")).to.equal("138****5678");
    expect(maskPhone("+12025550123")).to.equal("+1 202****0123");
    expect(maskPhone("+8613812345678")).not.to.include("1234");
  });

  it("derives the level from points and the brand's thresholds", () => {
    expect([0, 99, 100, 499, 500, 10_000].map((p) => levelOf(p))).to.deep.equal([1, 1, 2, 2, 3, 3]);
    expect(levelOf(60, [0, 50])).to.equal(2);
    expect(levelPointsProblem([0, 100, 500])).to.equal(null);
    expect(levelPointsProblem([10, 100])).to.match(/start at 0/);
    expect(levelPointsProblem([0, 100, 100])).to.match(/rise strictly/);
    expect(levelPointsProblem([])).to.match(/1 to 10/);
  });

  it("makes 6-digit codes without bias, reads typed ones, and says when a code can no longer be tried", () => {
    let i = 0;
    const bytes = [
      [0xff, 0xff, 0xff, 0xff], // above the largest multiple of 10^6: drawn again
      [0, 0, 0, 7],
    ];
    expect(oneTimeCode(() => Uint8Array.from(bytes[i++]!))).to.equal("000007");
    expect(typedCode(" 123 456 ")).to.equal("123456");
    expect(typedCode("12345")).to.equal(null);
    expect(typedCode("12345a")).to.equal(null);
    const now = new Date("2026-12-01T10:00:00Z");
    const fresh = { expiresAt: new Date("2026-12-01T10:05:00Z"), usedAt: null, attempts: 0 };
    expect(codeState(fresh, now)).to.equal("usable");
    expect(codeState(fresh, new Date("2026-12-01T10:05:00Z"))).to.equal("expired");
    expect(codeState({ ...fresh, usedAt: now }, now)).to.equal("used");
    expect(codeState({ ...fresh, attempts: CODE_MAX_ATTEMPTS }, now)).to.equal("exhausted");
  });

  it("limits sends per phone, IP and bottle", () => {
    expect(sendLimitReached({ phone: SENDS_PER_PHONE_PER_HOUR - 1, ip: 0, bottle: 0 })).to.equal(null);
    expect(sendLimitReached({ phone: SENDS_PER_PHONE_PER_HOUR, ip: 0, bottle: 0 })).to.equal("phone");
    expect(sendLimitReached({ phone: 0, ip: SENDS_PER_IP_PER_HOUR, bottle: 0 })).to.equal("ip");
    expect(sendLimitReached({ phone: 0, ip: 0, bottle: SENDS_PER_BOTTLE_PER_HOUR })).to.equal("bottle");
    expect(sendLimitReached({ phone: 0, ip: 0, bottle: null }), "a sign-in names no bottle").to.equal(null);
  });

  it("versions the consent text, which names the brand, the store and the purpose and says how to withdraw", () => {
    for (const lang of ["zh", "en"] as const) {
      const text = consentText(lang, "茅台", "浦东专卖店");
      expect(text).to.include("茅台").and.to.include("浦东专卖店");
      const record = consentRecord(lang, "茅台", "浦东专卖店");
      expect(record.version).to.equal(CONSENT_VERSION);
      expect(record.sha256).to.match(/^[0-9a-f]{64}$/);
      expect(consentRecord(lang, "茅台", "另一家店").sha256, "another store is another text").not.to.equal(record.sha256);
    }
    expect(consentText("en", "B", null))
      .to.include("withdraw")
      .and.to.include("membership");
    expect(consentText("zh", "B", null)).to.include("撤回");
  });

  it("lets a bottle be claimed once, only genuine and sold", () => {
    const sale = { at: new Date("2026-12-01T09:00:00Z"), store: "store-pudong" };
    expect(claimRefusal({ verdict: "genuine", sale, claimed: false, openedBeforeSale: false })).to.equal(null);
    expect(claimRefusal({ verdict: "genuine", sale, claimed: true, openedBeforeSale: false })).to.equal("already_claimed");
    expect(claimRefusal({ verdict: "genuine", sale: null, claimed: false, openedBeforeSale: false })).to.equal("not_sold");
    expect(claimRefusal({ verdict: "warning", sale, claimed: false, openedBeforeSale: false })).to.equal("not_genuine");
    expect(claimRefusal({ verdict: "not_produced", sale, claimed: false, openedBeforeSale: false })).to.equal("not_genuine");
    expect(claimRefusal({ verdict: "genuine", sale, claimed: false, openedBeforeSale: true })).to.equal("not_genuine");
  });

  it("warns everyone but the claiming member about a claimed bottle; a later sale or receiving is resold_after_claim", () => {
    const at = (h: number) => new Date(Date.UTC(2026, 11, 1, h));
    const steps: StepFact[] = [
      { type: "production", at: at(1), party: null },
      { type: "retail_sale", at: at(2), party: null },
      { type: "claimed", at: at(3), party: null },
    ];
    const now = at(4);
    const others = warningsFor({ steps, openedAt: null, assignedRegion: null, scans: [], now });
    expect(others).to.deep.equal([{ kind: "claimed", at: at(3) }]);
    expect(verdictOf(others)).to.equal("warning");
    expect(warningsFor({ steps, openedAt: null, assignedRegion: null, scans: [], now, viewerClaimed: true })).to.deep.equal([]);

    const history = [
      { eventId: 1, type: "production" as const, party: "factory", to: null, at: at(1), price: null },
      { eventId: 2, type: "store_receiving" as const, party: "store-a", to: null, at: at(1), price: null },
      { eventId: 3, type: "retail_sale" as const, party: "store-a", to: null, at: at(2), price: null },
      { eventId: 4, type: "claimed" as const, party: null, to: null, at: at(3), price: null },
      { eventId: 5, type: "store_receiving" as const, party: "store-b", to: null, at: at(4), price: null },
    ];
    const parties = new Map([["store-b", { id: "store-b", name: "B", kind: "store" as const, region: "CN-SH", authorised: true }]]);
    const { alerts } = checkBottle({ serial: "S", region: null, history, fresh: new Set([5]), divertedTo: new Set() }, parties, []);
    expect(alerts.filter((a) => a.kind === "resold_after_claim")).to.deep.equal([
      {
        kind: "resold_after_claim",
        serial: "S",
        eventId: 5,
        party: "store-b",
        details: { store: "store-b", name: "B", eventType: "store_receiving", claimedAt: at(3).toISOString() },
      },
    ]);
    // The sale before the claim raises nothing of the kind.
    const before = checkBottle({ serial: "S", region: null, history: history.slice(0, 4), fresh: new Set([3]), divertedTo: new Set() }, parties, []);
    expect(before.alerts.filter((a) => a.kind === "resold_after_claim")).to.deep.equal([]);
  });
});
