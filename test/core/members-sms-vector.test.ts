/**
 * The SMS gateway webhook's test vector, as docs/MEMBERS.md prints it byte by byte: the body and its
 * Standard Webhooks signature for a fixed secret, id and time.
 */
import { expect } from "chai";
import { signWebhook } from "../../service/ingest/signature.ts";
import { smsBody } from "../../service/members/sms.ts";

describe("members: the SMS gateway webhook's documented vector", () => {
  it("gives the body and signature docs/MEMBERS.md shows", () => {
    const at = new Date("2026-12-01T08:00:00.000Z");
    const issued = { codeId: 42, code: "246810", phoneMasked: "138****8000", expiresAt: new Date("2026-12-01T08:05:00.000Z") };
    const body = smsBody({ brandId: 1, brandSlug: "moutai-demo", brandName: "x", phone: "+8613800138000", issued, purpose: "claim", lang: "zh" }, at);
    expect(body).to.equal(
      '{"type":"member.code","timestamp":"2026-12-01T08:00:00.000Z","data":{"brand":"moutai-demo","phone":"+8613800138000","code":"246810","purpose":"claim","lang":"zh","expiresAt":"2026-12-01T08:05:00.000Z"}}',
    );
    const secret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    expect(secret).to.equal("whsec_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=");
    expect(signWebhook(secret, "msg_0123456789abcdef0123456789abcdef", body, at)).to.deep.equal({
      "webhook-id": "msg_0123456789abcdef0123456789abcdef",
      "webhook-timestamp": "1796112000",
      "webhook-signature": "v1,ueOLup5kMovodHFLmJZSwNXwBvDSSWSD8ZcsZ7pK0aA=",
    });
  });
});
