import { expect } from "chai";
import { pickLang } from "../../service/web/lang.ts";
import { formatMoney } from "../../service/web/money.ts";
import { formatTime } from "../../service/web/time.ts";

describe("web: what every page shares", () => {
  it("shows money one way: ¥ for yuan, the ISO code before any other currency", () => {
    expect(formatMoney({ amount: "1499.00", currency: "CNY" })).to.equal("¥1499.00");
    expect(formatMoney({ amount: "12.50", currency: "USD" })).to.equal("USD 12.50");
  });

  it("shows times in China Standard Time in either language", () => {
    const at = new Date("2026-11-20T16:30:00Z"); // 00:30 the next day in China
    expect(formatTime(at, "zh")).to.equal("2026/11/21 00:30");
    expect(formatTime(at, "en")).to.equal("21/11/2026, 00:30");
  });

  it("chooses the language: an explicit choice, else the browser's first, else Chinese", () => {
    expect(pickLang("en", "zh-CN")).to.equal("en");
    expect(pickLang(undefined, "en-GB,zh;q=0.8")).to.equal("en");
    expect(pickLang(undefined, "fr-FR,en;q=0.8")).to.equal("zh");
    expect(pickLang("xx", undefined)).to.equal("zh");
  });
});
