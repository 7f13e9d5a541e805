/**
 * The members' pages, server-rendered with the consumer page's document and stylesheet (no script):
 * the claim offer on the consumer page (a plain form), the enter-code step, the member page
 * (/m/<brand>) and its sign-in, and the answers to failed posts. Words in Chinese and English.
 */
import { consentText, type ConsentLang } from "../core/members.ts";
import { html, type SafeHtml } from "../web/html.ts";
import type { Lang } from "../web/lang.ts";
import { pageDocument } from "../web/layout.ts";
import { formatTime } from "../web/time.ts";
import type { Member, MemberClaim } from "./repo.ts";

const MONTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

export const MEMBER_WORDS = {
  zh: {
    title: "会员",
    claimTitle: "登记这瓶酒 · 加入会员",
    claimText: (brand: string) => `这是您购买的正品。用手机号码登记这瓶酒，即可加入${brand}会员并获得积分。`,
    phone: "手机号码",
    birthMonth: "生日月份（选填）",
    noMonth: "不填写",
    consentLabel: "我已阅读并同意以上说明（单独同意，可随时撤回）",
    sendCode: "获取验证码",
    codeTitle: "输入验证码",
    codeSent: (phone: string) => `验证码已发送至 ${phone}，5 分钟内有效。`,
    devSent: "开发模式：未发送短信，验证码写在服务日志中，并显示在控制台。",
    code: "6 位验证码",
    confirm: "确认登记",
    signInConfirm: "登录",
    memberTitle: (brand: string) => `${brand} 会员`,
    signInTitle: (brand: string) => `登录 ${brand} 会员`,
    signInText: "输入您登记时使用的手机号码，我们将发送验证码。",
    points: "积分",
    level: "会员等级",
    store: "所属门店",
    joined: "加入时间",
    bottles: "我登记的酒",
    noBottles: "还没有登记的酒。",
    claimedOn: (time: string) => `登记于 ${time}`,
    consentOn: "已同意会员个人信息处理",
    consentOff: "已撤回同意：品牌方不再联系您",
    withdraw: "撤回同意",
    withdrawText: "撤回后您仍是会员，积分保留，但品牌方不再使用您的手机号码联系您。",
    leave: "退出会员并删除个人信息",
    leaveText: "退出后您的手机号码、生日月份等个人信息将被删除，无法恢复；已登记的酒仍保留匿名登记记录。",
    leaveConfirm: "我确认退出",
    signOut: "退出登录",
    left: "您已退出会员，个人信息已删除。",
    withdrawn: "已撤回同意。",
    back: "返回",
    failed: "未能完成",
    revokeHow: "如需撤回同意或退出会员，可随时在会员页面操作：",
    errors: {
      consent: "请勾选同意说明：没有您的单独同意，我们不能登记。",
      phone: "请输入有效的手机号码。",
      code: "验证码不正确，请核对短信后重新输入。",
      code_expired: "验证码已过期或已使用，请重新获取。",
      too_many_attempts: "验证码错误次数过多，请重新获取。",
      too_many_phone: "此号码在一小时内获取验证码次数过多，请稍后再试。",
      too_many_ip: "您的网络在一小时内获取验证码次数过多，请稍后再试。",
      too_many_bottle: "这瓶酒在一小时内获取验证码次数过多，请稍后再试。",
      sms_failed: "验证码暂时无法发送，请一分钟后再试。",
      already_claimed: "这瓶酒已被其买家登记。",
      not_sold: "只能登记已售出的酒：此瓶没有零售记录。",
      not_genuine: "只能登记验证无异常的酒。",
      other: "请求未能完成，请返回重试。",
    },
  },
  en: {
    title: "Members",
    claimTitle: "Register this bottle · join as a member",
    claimText: (brand: string) => `You bought a genuine bottle. Register it with your mobile number to join ${brand}'s members and earn points.`,
    phone: "Mobile number",
    birthMonth: "Birthday month (optional)",
    noMonth: "Not given",
    consentLabel: "I have read and agree to the text above (a separate consent, revocable at any time)",
    sendCode: "Send me a code",
    codeTitle: "Enter the code",
    codeSent: (phone: string) => `A code was sent to ${phone}; it is valid for 5 minutes.`,
    devSent: "DEVELOPMENT mode: no SMS was sent; the code is in the service's log and shown in the console.",
    code: "6-digit code",
    confirm: "Register",
    signInConfirm: "Sign in",
    memberTitle: (brand: string) => `${brand} member`,
    signInTitle: (brand: string) => `Sign in as a ${brand} member`,
    signInText: "Enter the mobile number you registered with; we will send you a code.",
    points: "Points",
    level: "Level",
    store: "Your store",
    joined: "Member since",
    bottles: "My registered bottles",
    noBottles: "No bottles registered yet.",
    claimedOn: (time: string) => `registered on ${time}`,
    consentOn: "You consent to the membership's use of your data",
    consentOff: "Consent withdrawn: the brand no longer contacts you",
    withdraw: "Withdraw consent",
    withdrawText: "You stay a member and keep your points, but the brand no longer uses your number to contact you.",
    leave: "Leave and erase my personal data",
    leaveText: "Leaving erases your mobile number, birthday month and other personal data for good; your registered bottles keep an anonymous record.",
    leaveConfirm: "I confirm I want to leave",
    signOut: "Sign out",
    left: "You have left; your personal data is erased.",
    withdrawn: "Consent withdrawn.",
    back: "Back",
    failed: "Not done",
    revokeHow: "To withdraw this consent or leave, at any time, use the member page:",
    errors: {
      consent: "Please tick the consent: without your separate consent we cannot register you.",
      phone: "Please enter a valid mobile number.",
      code: "This code is wrong: check the SMS and type it again.",
      code_expired: "This code has expired or was used: ask for a new one.",
      too_many_attempts: "Too many wrong tries for this code: ask for a new one.",
      too_many_phone: "Too many codes were sent to this number in the last hour: try again later.",
      too_many_ip: "Too many codes were requested from your network in the last hour: try again later.",
      too_many_bottle: "Too many codes were requested for this bottle in the last hour: try again later.",
      sms_failed: "The code could not be sent just now: try again in a minute.",
      already_claimed: "This bottle is already registered to its buyer.",
      not_sold: "Only a sold bottle can be registered: no retail sale is recorded for it.",
      not_genuine: "Only a bottle whose check found nothing wrong can be registered.",
      other: "The request could not be completed: go back and try again.",
    },
  },
} as const;

export type MemberErrorKey = keyof (typeof MEMBER_WORDS)["zh"]["errors"];

const doc = (lang: Lang, title: string, body: SafeHtml): string => pageDocument(lang, title, body);

/** The claim offer on the consumer page: a genuine scan of a sold, unclaimed bottle. */
export function claimOffer(lang: Lang, offer: { action: string; secret: string; brandName: string; brandSlug: string; storeName: string | null }): SafeHtml {
  const w = MEMBER_WORDS[lang];
  return html`<section class="card member-claim" id="member-claim" aria-labelledby="claim-h">
<h2 id="claim-h">${w.claimTitle}</h2>
<p>${w.claimText(offer.brandName)}</p>
<form method="post" action="${offer.action}">
<input type="hidden" name="s" value="${offer.secret}">
<input type="hidden" name="lang" value="${lang}">
<p><label for="claim-phone">${w.phone}</label><br>
<input id="claim-phone" name="phone" type="tel" inputmode="tel" autocomplete="tel" maxlength="40" size="16" required></p>
<p><label for="claim-month">${w.birthMonth}</label><br>
<select id="claim-month" name="birthMonth"><option value="">${w.noMonth}</option>${MONTHS.map((n) => html`<option value="${n}">${n}</option>`)}</select></p>
<p class="consent-text" id="consent-text">${consentText(lang as ConsentLang, offer.brandName, offer.storeName)}</p>
<p class="muted">${w.revokeHow} <a href="/m/${offer.brandSlug}?lang=${lang}">/m/${offer.brandSlug}</a></p>
<p><label><input type="checkbox" name="consent" value="yes" aria-describedby="consent-text"> ${w.consentLabel}</label></p>
<button type="submit">${w.sendCode}</button>
</form>
</section>`;
}

/** The enter-code step (of a claim or a sign-in). */
export function renderCodePage(
  lang: Lang,
  step: { action: string; hidden: Record<string, string>; phoneMasked: string; development: boolean; signIn: boolean },
): string {
  const w = MEMBER_WORDS[lang];
  return doc(
    lang,
    w.codeTitle,
    html`<main>
<section class="card member-code" aria-labelledby="code-h">
<h1 id="code-h">${w.codeTitle}</h1>
<p>${w.codeSent(step.phoneMasked)}</p>
${step.development ? html`<p class="dev-note" data-development="true"><strong>${w.devSent}</strong></p>` : ""}
<form method="post" action="${step.action}">
${Object.entries(step.hidden).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<input type="hidden" name="lang" value="${lang}">
<p><label for="code">${w.code}</label><br>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" size="8" required></p>
<button type="submit">${step.signIn ? w.signInConfirm : w.confirm}</button>
</form>
</section>
</main>`,
  );
}

/** A failed member post: what went wrong, in words, and the way back. */
export function renderFailed(lang: Lang, key: MemberErrorKey, backUrl: string): string {
  const w = MEMBER_WORDS[lang];
  return doc(
    lang,
    w.failed,
    html`<header class="verdict verdict-warning" role="alert"><h1>${w.failed}</h1><p data-error="${key}">${w.errors[key]}</p></header>
<main><p><a href="${backUrl}">${w.back}</a></p></main>`,
  );
}

/** The member page's sign-in form. */
export function renderSignIn(lang: Lang, brand: { slug: string; name: string }, notice: string | null = null): string {
  const w = MEMBER_WORDS[lang];
  return doc(
    lang,
    w.signInTitle(brand.name),
    html`<main>
${notice === null ? "" : html`<p class="card" role="status">${notice}</p>`}
<section class="card member-sign-in" aria-labelledby="sign-in-h">
<h1 id="sign-in-h">${w.signInTitle(brand.name)}</h1>
<p>${w.signInText}</p>
<form method="post" action="/m/${brand.slug}/code">
<input type="hidden" name="lang" value="${lang}">
<p><label for="phone">${w.phone}</label><br>
<input id="phone" name="phone" type="tel" inputmode="tel" autocomplete="tel" maxlength="40" size="16" required></p>
<button type="submit">${w.sendCode}</button>
</form>
</section>
</main>`,
  );
}

/** The member page: masked phone, points, level, store, the claimed bottles (links to their pages), consent, leave. */
export function renderMemberPage(
  lang: Lang,
  model: { brand: { slug: string; name: string }; member: Member; claims: (MemberClaim & { url: string })[]; storeName: string | null; notice: string | null },
): string {
  const w = MEMBER_WORDS[lang];
  const { member, brand } = model;
  const base = `/m/${brand.slug}`;
  return doc(
    lang,
    w.memberTitle(brand.name),
    html`<header class="verdict verdict-genuine" role="status"><p class="brand">${brand.name}</p><h1>${w.memberTitle(brand.name)}</h1>
<p data-member-phone="${member.phoneMasked ?? ""}">${member.phoneMasked ?? ""}</p></header>
<main>
${model.notice === null ? "" : html`<p class="card" role="status">${model.notice}</p>`}
<section class="card member-summary" aria-labelledby="summary-h">
<h2 id="summary-h">${w.memberTitle(brand.name)}</h2>
<dl>
<dt>${w.points}</dt><dd data-points="${member.points}">${member.points}</dd>
<dt>${w.level}</dt><dd data-level="${member.level}">${member.level}</dd>
${model.storeName === null ? "" : html`<dt>${w.store}</dt><dd>${model.storeName}</dd>`}
<dt>${w.joined}</dt><dd>${formatTime(member.joinedAt, lang)}</dd>
</dl>
</section>
<section class="card member-bottles" aria-labelledby="bottles-h">
<h2 id="bottles-h">${w.bottles}</h2>
${
  model.claims.length === 0
    ? html`<p>${w.noBottles}</p>`
    : html`<ul>${model.claims.map(
        (c) =>
          html`<li data-claimed-serial="${c.serial}"><a href="${c.url}">${c.productName ?? c.gtin} · ${c.serial}</a> <span class="muted">${w.claimedOn(formatTime(c.claimedAt, lang))} · +${c.points}</span></li>`,
      )}</ul>`
}
</section>
<section class="card member-privacy" aria-labelledby="privacy-h">
<h2 id="privacy-h">${member.consent ? w.consentOn : w.consentOff}</h2>
${
  member.consent
    ? html`<p class="muted">${w.withdrawText}</p>
<form method="post" action="${base}/withdraw"><input type="hidden" name="lang" value="${lang}"><button type="submit">${w.withdraw}</button></form>`
    : ""
}
<p class="muted">${w.leaveText}</p>
<form method="post" action="${base}/leave"><input type="hidden" name="lang" value="${lang}">
<p><label><input type="checkbox" name="confirm" value="yes" required> ${w.leaveConfirm}</label></p>
<button type="submit">${w.leave}</button></form>
<form method="post" action="${base}/sign-out"><input type="hidden" name="lang" value="${lang}"><button type="submit">${w.signOut}</button></form>
</section>
</main>`,
  );
}
