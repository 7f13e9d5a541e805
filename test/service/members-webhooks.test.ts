/**
 * The members' outgoing webhooks (issue 20): member.joined and bottle.claimed reach the brand's
 * subscribed endpoints, signed, as documented byte for byte (README "Webhooks out"), with no phone
 * number in any form; another brand's endpoint gets nothing; each event goes once per endpoint, also
 * when fan-out runs twice at once, again from cursors moved back, or for an endpoint added later.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import type pg from "pg";
import { Webhook } from "standardwebhooks";
import { withTransaction } from "../../service/db/pool.ts";
import type { MembersRepo } from "../../service/members/repo.ts";
import { fanOutMembers } from "../../service/outbox/members.ts";
import { createOutboxRepo } from "../../service/outbox/repo.ts";
import { brandIdOf, claimBottle, phone, phoneForms, sellAt, stackMembers } from "../helpers/members.ts";
import { startChainStack, type BrandFixture, type ChainStack, type Stack } from "../helpers/stack.ts";

interface Received {
  path: string;
  body: string;
  webhookId: string;
  verified: boolean;
}

async function startReceiver() {
  const received: Received[] = [];
  const secrets = new Map<string, string>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const path = request.url ?? "/";
      const body = Buffer.concat(chunks).toString("utf8");
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) if (typeof value === "string") headers[name] = value;
      let verified = false;
      try {
        new Webhook(secrets.get(path)!).verify(body, headers);
        verified = true;
      } catch {
        /* recorded unverified */
      }
      received.push({ path, body, webhookId: headers["webhook-id"] ?? "", verified });
      response.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    secrets,
    at: (path: string) => received.filter((r) => r.path === path),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("members' webhooks", function () {
  this.timeout(180_000);
  let services: ChainStack;
  let stack: Stack;
  let db: pg.Pool;
  let members: MembersRepo;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let a: BrandFixture;
  let b: BrandFixture;
  let aId: number;
  let bId: number;
  const p1 = phone("13800138000");
  const p2 = phone("13912345678");
  const p3 = phone("15012345678");
  const pb = phone("13700001111");

  const addEndpoint = async (brand: BrandFixture, path: string, types: string[]) => {
    const r = await stack.request("POST", "/api/v1/endpoints", { token: brand.apiKey, body: { url: `${receiver.base}${path}`, types } });
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    receiver.secrets.set(path, r.body.secret);
    return Number(r.body.id);
  };
  /** Per endpoint, event type and source: how many deliveries (the unique key says at most one). */
  const deliveryCounts = async () =>
    (
      await db.query<{ endpoint_id: number; event_type: string; source_id: number; n: number }>(
        `SELECT endpoint_id, event_type, source_id, count(*)::int AS n FROM deliveries
          WHERE event_type IN ('member.joined', 'bottle.claimed') GROUP BY 1, 2, 3`,
      )
    ).rows;

  before(async () => {
    receiver = await startReceiver();
    services = await startChainStack({ keyIndex: 7 });
    ({ stack, db } = services);
    members = stackMembers(stack, db);
    [a, b] = await Promise.all([stack.createBrand({ codes: 5 }), stack.createBrand({ codes: 1 })]);
    [aId, bId] = await Promise.all([brandIdOf(db, a.slug), brandIdOf(db, b.slug)]);
    await sellAt(
      stack,
      a,
      a.codes.map((c) => c.serial),
      "store-pudong",
    );
    await sellAt(stack, b, [b.codes[0]!.serial], "store-pudong");
  });
  after(async () => {
    await services?.stop();
    await receiver?.close();
  });

  it("sends member.joined once per member and bottle.claimed once per bottle, as documented, with no phone number", async () => {
    await addEndpoint(a, "/a-both", ["member.joined", "bottle.claimed"]);
    await addEndpoint(a, "/a-claims", ["bottle.claimed", "diversion"]);
    await addEndpoint(b, "/b-both", ["member.joined", "bottle.claimed"]);
    const s = a.codes.map((c) => c.serial);
    const c1 = await claimBottle(members, aId, s[0]!, p1.e164);
    const c2 = await claimBottle(members, aId, s[1]!, p1.e164);
    const c3 = await claimBottle(members, aId, s[2]!, p2.e164);
    const cb = await claimBottle(members, bId, b.codes[0]!.serial, pb.e164);

    await waitFor("A's deliveries", () => receiver.at("/a-both").length >= 5 && receiver.at("/a-claims").length >= 3 && receiver.at("/b-both").length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // a few more outbox runs: nothing more may come
    const both = receiver.at("/a-both");
    expect(both).to.have.length(5);
    expect(receiver.at("/a-claims")).to.have.length(3);
    expect(receiver.at("/b-both")).to.have.length(2);
    for (const r of [...both, ...receiver.at("/a-claims"), ...receiver.at("/b-both")]) {
      expect(r.verified, r.body).to.equal(true);
      // No phone number in any form, not even masked, in any body.
      for (const p of [p1, p2, p3, pb]) {
        for (const form of [...phoneForms(p), p.masked]) expect(r.body, form).to.not.include(form);
      }
    }
    expect(new Set(both.map((r) => r.webhookId)).size).to.equal(5);

    // The bodies, byte for byte, as README's "Webhooks out" documents them.
    const { rows: claimEvents } = await db.query<{ brand_event_id: string; id: number }>("SELECT brand_event_id, id FROM events WHERE type = 'claimed'");
    const eventId = new Map(claimEvents.map((e) => [e.brand_event_id, String(e.id)]));
    const joined = (memberId: number, at: Date) =>
      `{"type":"member.joined","timestamp":"${at.toISOString()}","data":{"store":"store-pudong","joinedAt":"${at.toISOString()}","memberId":"${memberId}"}}`;
    const claimed = (memberId: number, serial: string, at: Date, claimEvent: string) =>
      `{"type":"bottle.claimed","timestamp":"${at.toISOString()}","data":{"gtin":"${a.gtin}","store":"store-pudong","points":10,"serial":"${serial}",` +
      `"eventId":"${eventId.get(claimEvent)}","memberId":"${memberId}","claimedAt":"${at.toISOString()}"}}`;
    const p1Member = (await members.member(aId, c1.memberId))!;
    const p2Member = (await members.member(aId, c3.memberId))!;
    expect(both.map((r) => r.body)).to.have.members([
      joined(c1.memberId, p1Member.joinedAt),
      joined(c3.memberId, p2Member.joinedAt),
      claimed(c1.memberId, s[0]!, c1.claimedAt, c1.claimEvent),
      claimed(c2.memberId, s[1]!, c2.claimedAt, c2.claimEvent),
      claimed(c3.memberId, s[2]!, c3.claimedAt, c3.claimEvent),
    ]);
    // Brand B's endpoint: B's member and bottle only.
    expect(receiver.at("/b-both").map((r) => JSON.parse(r.body).data.memberId)).to.deep.equal([String(cb.memberId), String(cb.memberId)]);
    expect(
      receiver
        .at("/b-both")
        .map((r) => r.body)
        .join(),
    ).to.not.include(s[0]!);
  });

  it("queues each event once per endpoint when fan-out runs twice at once, and again from cursors moved back", async () => {
    const endpoint = await addEndpoint(a, "/a-race", ["member.joined", "bottle.claimed"]);
    const c = await claimBottle(members, aId, a.codes[3]!.serial, p3.e164);
    // Two fan-outs at once, past the outbox's lock (the deliveries' unique key is what keeps them single),
    // beside the outbox's own runs, twice over.
    for (let round = 0; round < 2; round++) {
      const queued = await Promise.all([withTransaction(db, fanOutMembers), withTransaction(db, fanOutMembers), createOutboxRepo(db).fanOut()]);
      expect(queued.every((n) => n >= 0)).to.equal(true);
    }
    let counts = await deliveryCounts();
    expect(counts.every((r) => r.n === 1)).to.equal(true);
    const race = counts.filter((r) => r.endpoint_id === endpoint);
    expect(race.map((r) => `${r.event_type}:${r.source_id}`).sort()).to.deep.equal([`member.joined:${c.memberId}`, `bottle.claimed:${c.eventId}`].sort());
    const before = counts.length;
    // The first endpoint's cursors moved back to the start (it existed before any member): everything is
    // looked at again, nothing is queued twice.
    await db.query("UPDATE endpoints SET last_member_id = 0, last_claim_event_id = 0 WHERE url LIKE '%/a-both'");
    await Promise.all([withTransaction(db, fanOutMembers), withTransaction(db, fanOutMembers)]);
    counts = await deliveryCounts();
    expect(counts).to.have.length(before);
    expect(counts.every((r) => r.n === 1)).to.equal(true);
    await waitFor("the race endpoint's deliveries", () => receiver.at("/a-race").length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(receiver.at("/a-race")).to.have.length(2);
  });

  it("gives an endpoint added later only what happens after it, and an endpoint not subscribed nothing", async () => {
    const later = await addEndpoint(a, "/a-later", ["member.joined", "bottle.claimed"]);
    const alerts = await addEndpoint(a, "/a-alerts", ["diversion"]);
    await withTransaction(db, fanOutMembers);
    expect((await deliveryCounts()).filter((r) => r.endpoint_id === later || r.endpoint_id === alerts)).to.deep.equal([]);
    const c = await claimBottle(members, aId, a.codes[4]!.serial, p1.e164);
    await waitFor("the later endpoint's delivery", () => receiver.at("/a-later").length >= 1);
    expect(receiver.at("/a-later").map((r) => JSON.parse(r.body))).to.deep.equal([
      {
        type: "bottle.claimed",
        timestamp: c.claimedAt.toISOString(),
        data: {
          gtin: a.gtin,
          store: "store-pudong",
          points: 10,
          serial: a.codes[4]!.serial,
          eventId: String(c.eventId),
          memberId: String(c.memberId),
          claimedAt: c.claimedAt.toISOString(),
        },
      },
    ]);
    expect(receiver.at("/a-alerts")).to.deep.equal([]);
  });
});
