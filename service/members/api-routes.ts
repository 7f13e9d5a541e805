/**
 * The members API for the brand's CRM (issue 20, docs/MEMBERS.md "Members API"), with the brand's API
 * key: its members, cursor-paged, optionally one store's, and one member with its claimed bottles.
 * Personal data stops at the masked phone (138****5678) and the birthday month the member gave; the
 * full number leaves only through the console's audited export. Another brand's member is a 404.
 */
import { Type, type Static } from "@sinclair/typebox";
import type { Api } from "../http/api.ts";
import { cursorParam, encodeCursor } from "../http/cursor.ts";
import { notFound } from "../http/errors.ts";
import type { Member, MembersRepo } from "./repo.ts";

const CURSOR_TAG = "mem";
const NullableString = Type.Union([Type.String(), Type.Null()]);

const MemberView = Type.Object({
  id: Type.String({ description: "the member's id within the brand" }),
  phoneMasked: Type.Union([Type.String(), Type.Null()], { description: "the phone number masked (138****5678); null once the member left" }),
  points: Type.Integer(),
  level: Type.Integer({ description: "1-based, from the points and the brand's memberLevelPoints" }),
  birthMonth: Type.Union([Type.Integer({ minimum: 1, maximum: 12 }), Type.Null()], { description: "if the member gave it" }),
  store: Type.Union([Type.String(), Type.Null()], { description: "the store party whose sale preceded the member's first claim" }),
  joinedAt: Type.String(),
  claims: Type.Integer({ description: "bottles the member claimed" }),
  lastClaimAt: NullableString,
  consent: Type.Boolean({ description: "whether the member's consent to be contacted for the membership is in force" }),
  leftAt: Type.Union([Type.String(), Type.Null()], { description: "when the member left (personal data erased; counts stay)" }),
});
const ClaimView = Type.Object({
  serial: Type.String(),
  gtin: Type.String(),
  productName: NullableString,
  store: NullableString,
  points: Type.Integer({ description: "points the claim earned" }),
  claimedAt: Type.String(),
});
const MemberDetail = Type.Composite([MemberView, Type.Object({ bottles: Type.Array(ClaimView, { description: "the claimed bottles, newest first" }) })]);
const ListQuery = Type.Object(
  {
    store: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "only the members attributed to this store party" })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: "nextCursor of the previous page" })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  { additionalProperties: false },
);
const MemberId = Type.Object({ id: Type.String({ pattern: "^[1-9][0-9]{0,14}$" }) });
const brandSecurity = [{ brandApiKey: [] }];

function view(member: Member): Static<typeof MemberView> {
  return {
    id: String(member.id),
    phoneMasked: member.phoneMasked,
    points: member.points,
    level: member.level,
    birthMonth: member.birthMonth,
    store: member.store,
    joinedAt: member.joinedAt.toISOString(),
    claims: member.claims,
    lastClaimAt: member.lastClaimAt?.toISOString() ?? null,
    consent: member.consent,
    leftAt: member.erasedAt?.toISOString() ?? null,
  };
}

export function memberApiRoutes(app: Api, deps: { members: MembersRepo }): void {
  const { members } = deps;

  app.get(
    "/api/v1/members",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["members"],
        summary: "The brand's members, oldest first (optionally one store's); pass nextCursor as cursor for the next page",
        description: "Phones are masked; no personal data beyond the masked phone and the birthday month. Members who left stay, without them.",
        security: brandSecurity,
        querystring: ListQuery,
        response: { 200: Type.Object({ members: Type.Array(MemberView), nextCursor: NullableString }) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const after = request.query.cursor === undefined ? 0 : cursorParam(CURSOR_TAG, request.query.cursor);
      const page = await members.list(request.brand.id, { store: request.query.store ?? null, after, limit: limit + 1 });
      const shown = page.slice(0, limit);
      return { members: shown.map(view), nextCursor: page.length > limit ? encodeCursor(CURSOR_TAG, shown.at(-1)!.id) : null };
    },
  );

  app.get(
    "/api/v1/members/:id",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["members"],
        summary: "One of the brand's members, with its claimed bottles",
        description: "Another brand's member, like an unknown id, is 404.",
        security: brandSecurity,
        params: MemberId,
        response: { 200: MemberDetail },
      },
    },
    async (request) => {
      const id = Number(request.params.id);
      const member = await members.member(request.brand.id, id);
      if (member === null) throw notFound(`no member ${request.params.id}`);
      const claims = await members.claimsOf(request.brand.id, id);
      return {
        ...view(member),
        bottles: claims.map((c) => ({
          serial: c.serial,
          gtin: c.gtin,
          productName: c.productName,
          store: c.store,
          points: c.points,
          claimedAt: c.claimedAt.toISOString(),
        })),
      };
    },
  );
}
