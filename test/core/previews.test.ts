import { expect } from "chai";
import { notAScan, PREVIEW_BOTS } from "../../service/core/previews.ts";

const PHONE_SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const WECHAT_BROWSER =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322c) NetType/WIFI Language/zh_CN";
const get = (userAgent: string | undefined, purpose: (string | undefined)[] = []) => notAScan({ method: "GET", userAgent, purpose });

describe("core/previews: requests that are not a consumer's scan", () => {
  it("recognises the chat and social apps' link previewers", () => {
    const agents: Record<string, string> = {
      "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)": "facebookexternalhit",
      "WhatsApp/2.23.20.0 A": "whatsapp",
      "Twitterbot/1.0": "twitterbot",
      "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)": "slackbot",
      "TelegramBot (like TwitterBot)": "telegrambot",
      "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)": "discordbot",
      "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)": "linkedinbot",
      "Mozilla/5.0 (Macintosh) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0":
        "facebookexternalhit",
    };
    for (const [agent, bot] of Object.entries(agents)) {
      const found = get(agent);
      expect(found?.kind, agent).to.equal("bot");
      if (found?.kind === "bot") expect([bot, "twitterbot"], agent).to.include(found.bot);
    }
    expect(PREVIEW_BOTS.length, "a small named list").to.be.below(16);
  });

  it("HEAD requests and browser prefetches are not scans", () => {
    expect(notAScan({ method: "HEAD", userAgent: PHONE_SAFARI, purpose: [] })).to.deep.equal({ kind: "head" });
    for (const purpose of ["prefetch", "prefetch;prerender", "Prefetch", "preview"])
      expect(get(PHONE_SAFARI, [undefined, purpose]), purpose).to.deep.equal({ kind: "prefetch" });
  });

  it("a person's phone is a scan, WeChat's own browser (its QR scanner) included", () => {
    expect(get(PHONE_SAFARI)).to.equal(null);
    expect(get(WECHAT_BROWSER)).to.equal(null);
    expect(get(undefined)).to.equal(null);
    expect(get(PHONE_SAFARI, ["navigate"])).to.equal(null);
  });
});
