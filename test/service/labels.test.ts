import { createHash, randomBytes } from "node:crypto";
import { expect } from "chai";
import pg from "pg";
import QRCode from "qrcode";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { newSerial } from "../../service/core/secrets.ts";
import { startStack, type BrandFixture, type Stack } from "../helpers/stack.ts";

interface Minted {
  serial: string;
  secret: string;
  url: string;
  capCode: string;
  capUrl: string;
}

const HEADER = ["serial", "gtin", "lot", "region", "url", "cap_code", "cap_url"];
const sha256 = (text: string) => createHash("sha256").update(text).digest();

/** A strict RFC 4180 parser (CRLF records, quoted fields with doubled quotes), to read exports back. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote < 0) throw new Error("unterminated quoted field");
        field += text.slice(i, quote);
        i = quote + 1;
        if (text[i] === '"') {
          field += '"';
          i++;
        } else break;
      }
    } else {
      while (i < text.length && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n" && text[i] !== '"') field += text[i++];
      if (text[i] === '"') throw new Error(`stray quote at ${i}`);
    }
    record.push(field);
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text.startsWith("\r\n", i)) {
      i += 2;
      records.push(record);
      record = [];
      if (i === text.length) return records;
      continue;
    }
    throw new Error(`expected , or CRLF at ${i}, found ${JSON.stringify(text.slice(i, i + 10))}`);
  }
}

describe("label codes: minting, label export and QR codes", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let stack: Stack;
  let brand: BrandFixture;
  let other: BrandFixture;
  let db: pg.Client;

  const mint = async (token: string, body: Record<string, unknown>): Promise<Minted[]> => {
    const r = await stack.request("POST", "/api/v1/codes", { token, body });
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    return r.body.codes as Minted[];
  };
  const exportLot = (token: string | undefined, lot: string) => stack.request("GET", `/api/v1/codes/export?lot=${encodeURIComponent(lot)}`, { token });
  const path = (url: string) => {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  };

  before(async () => {
    chain = await startLocalChain();
    stack = await startStack({ chainUrl: chain.url, keyIndex: 7 });
    db = new pg.Client({ connectionString: stack.env.DATABASE_URL });
    await db.connect();
    [brand, other] = await Promise.all([stack.createBrand({ codes: 3 }), stack.createBrand({ codes: 2 })]);
  });
  after(async () => {
    await db?.end();
    await stack?.stop();
    await chain?.stop();
  });

  describe("minting", () => {
    it("returns per bottle the QR secret and URL, and the cap code and its URL", async () => {
      const codes = await mint(brand.apiKey, { gtin: brand.gtin, count: 4, lot: "MINT-1", region: "CN-GZ" });
      expect(codes).to.have.length(4);
      for (const code of codes) {
        expect(Object.keys(code).sort()).to.deep.equal(["capCode", "capUrl", "secret", "serial", "url"]);
        expect(code.serial).to.match(/^[0-9A-HJKMNP-TV-Z]{16}$/);
        expect(code.secret).to.match(/^[A-Za-z0-9_-]{22}$/);
        expect(code.capCode).to.match(/^[0-9A-HJKMNP-TV-Z]{16}$/);
        expect(code.url).to.equal(`${stack.url}/01/${brand.gtin}/21/${code.serial}?s=${code.secret}`);
        expect(code.capUrl).to.equal(`${stack.url}/01/${brand.gtin}/21/${code.serial}?o=${code.capCode}`);
      }
      expect(new Set(codes.map((c) => c.secret)).size).to.equal(4);
      expect(new Set(codes.map((c) => c.capCode)).size).to.equal(4);
      // the fixture's own mint has them too
      expect((brand.codes[0] as unknown as Minted).capCode).to.match(/^[0-9A-HJKMNP-TV-Z]{16}$/);
    });

    it("the URL's secret opens the proof bundle, and the cap URL opens the bottle; wrong values do not", async () => {
      const [code] = await mint(brand.apiKey, { gtin: brand.gtin, count: 1, lot: "MINT-2" });
      const proof = await stack.request("GET", `/api/v1/items/${code!.serial}/proof?s=${new URL(code!.url).searchParams.get("s")}`);
      expect(proof.status).to.equal(200);
      expect(proof.body).to.include({ format: "sealtrace-proof/2", serial: code!.serial, gtin: brand.gtin });
      expect(proof.body.links).to.deep.equal([]);
      const wrong = await stack.request("GET", `/api/v1/items/${code!.serial}/proof?s=${code!.capCode}`);
      expect(wrong.status).to.equal(404);

      const page = await stack.request("GET", path(code!.url));
      expect(page.status).to.equal(200);
      const opened = await stack.request("GET", path(code!.capUrl));
      expect(opened.status).to.equal(200);
      const wrongCap = await stack.request("GET", `/01/${brand.gtin}/21/${code!.serial}?o=${code!.secret}`);
      expect(wrongCap.status).to.equal(404);
    });

    it("stores only hashes: no column holds a secret or a cap code", async () => {
      const codes = await mint(brand.apiKey, { gtin: brand.gtin, count: 20, lot: "HASHED" });
      const { rows } = await db.query<{ serial: string; secret_hash: Buffer; cap_hash: Buffer; everything: string }>(
        "SELECT serial, secret_hash, cap_hash, row_to_json(c)::text AS everything FROM codes c WHERE serial = ANY($1)",
        [codes.map((c) => c.serial)],
      );
      expect(rows).to.have.length(20);
      const bySerial = new Map(rows.map((row) => [row.serial, row]));
      for (const code of codes) {
        const row = bySerial.get(code.serial)!;
        expect(row.secret_hash.equals(sha256(code.secret))).to.equal(true);
        expect(row.cap_hash.equals(sha256(code.capCode))).to.equal(true);
        for (const secret of [code.secret, code.capCode, Buffer.from(code.secret, "base64url").toString("hex")]) {
          expect(row.everything).to.not.include(secret);
        }
      }
      // nor does any other table
      const dump = await db.query<{ t: string }>("SELECT string_agg(row_to_json(x)::text, '') AS t FROM (SELECT * FROM events) x");
      for (const code of codes)
        expect(dump.rows[0]!.t ?? "")
          .to.not.include(code.secret)
          .and.not.include(code.capCode);
    });
  });

  describe("label export", () => {
    it("gives the lot's CSV, in serial order, with exactly the minted secrets, cap codes and URLs (several pages)", async () => {
      const lot = `BIG-${randomBytes(3).toString("hex")}`;
      const minted = [
        ...(await mint(brand.apiKey, { gtin: brand.gtin, count: 1_500, lot, region: "CN-SH" })),
        ...(await mint(brand.apiKey, { gtin: brand.gtin, count: 1_100, lot })),
      ];
      const r = await exportLot(brand.apiKey, lot);
      expect(r.status).to.equal(200);
      expect(r.headers.get("content-type")).to.equal("text/csv; charset=utf-8");
      expect(r.headers.get("content-disposition")).to.equal(`attachment; filename="codes-${lot}.csv"`);
      expect(r.headers.get("cache-control")).to.equal("private, no-store");
      const [header, ...rows] = parseCsv(r.body as string);
      expect(header).to.deep.equal(HEADER);
      const expected = minted
        .map((c, i) => [c.serial, brand.gtin, lot, i < 1_500 ? "CN-SH" : "", c.url, c.capCode, c.capUrl])
        .sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
      expect(rows).to.have.length(2_600);
      expect(rows).to.deep.equal(expected);
    });

    it("is the same file when downloaded again", async () => {
      const first = await exportLot(brand.apiKey, "2026-11-A");
      const second = await exportLot(brand.apiKey, "2026-11-A");
      expect(first.status).to.equal(200);
      expect(second.body).to.equal(first.body);
      const rows = parseCsv(first.body as string).slice(1);
      expect(rows.map((row) => row[4]).sort()).to.deep.equal(brand.codes.map((c) => c.url).sort());
    });

    it("holds only this brand's codes; another brand cannot export them", async () => {
      // both fixtures minted into lot 2026-11-A
      const mine = parseCsv((await exportLot(brand.apiKey, "2026-11-A")).body as string).slice(1);
      const theirs = parseCsv((await exportLot(other.apiKey, "2026-11-A")).body as string).slice(1);
      expect(mine.map((row) => row[0]).sort()).to.deep.equal(brand.codes.map((c) => c.serial).sort());
      expect(theirs.map((row) => row[0]).sort()).to.deep.equal(other.codes.map((c) => c.serial).sort());
      // a lot only the first brand has is not found for the other
      const denied = await exportLot(other.apiKey, "MINT-1");
      expect(denied.status).to.equal(404);
      expect(denied.body).to.include({ error: "not_found" });
      expect(JSON.stringify(denied.body)).to.not.match(/[0-9A-HJKMNP-TV-Z]{16}/);
    });

    it("escapes fields per RFC 4180, and names the file safely", async () => {
      const lot = 'L,"7"\n批次';
      const minted = await mint(brand.apiKey, { gtin: brand.gtin, count: 2, lot });
      const r = await exportLot(brand.apiKey, lot);
      expect(r.status).to.equal(200);
      const text = r.body as string;
      expect(text).to.include(`,"L,""7""\n批次",`);
      expect(text.endsWith("\r\n")).to.equal(true);
      const rows = parseCsv(text).slice(1);
      expect(rows.map((row) => row[2])).to.deep.equal([lot, lot]);
      expect(rows.map((row) => row[0]).sort()).to.deep.equal(minted.map((c) => c.serial).sort());
      expect(r.headers.get("content-disposition")).to.equal(
        `attachment; filename="codes-L__7____.csv"; filename*=UTF-8''${encodeURIComponent(`codes-${lot}.csv`)}`,
      );
    });

    it("needs the brand key and a lot: 401, 400, and 404 for a lot with no codes", async () => {
      expect((await exportLot(undefined, "2026-11-A")).status).to.equal(401);
      const missing = await stack.request("GET", "/api/v1/codes/export", { token: brand.apiKey });
      expect(missing.status).to.equal(400);
      expect(missing.body).to.include({ error: "bad_request", field: "lot" });
      const empty = await exportLot(brand.apiKey, "");
      expect(empty.status).to.equal(400);
      expect((await exportLot(brand.apiKey, "x".repeat(21))).status).to.equal(400);
      const unknown = await exportLot(brand.apiKey, "NO-SUCH-LOT");
      expect(unknown.status).to.equal(404);
      expect(unknown.body).to.deep.equal({ error: "not_found", message: 'no codes in lot "NO-SUCH-LOT"' });
    });

    it("refuses (409) a lot whose labels cannot be regenerated: codes minted with random secrets", async () => {
      const {
        rows: [row],
      } = await db.query<{ id: number }>("SELECT id FROM brands WHERE slug = $1", [brand.slug]);
      const serial = newSerial();
      await db.query("INSERT INTO codes (serial, brand_id, gtin, lot, secret_hash) VALUES ($1, $2, $3, 'LEGACY', $4)", [
        serial,
        row!.id,
        brand.gtin,
        sha256(randomBytes(16).toString("base64url")),
      ]);
      const r = await exportLot(brand.apiKey, "LEGACY");
      expect(r.status).to.equal(409);
      expect(r.body).to.include({ error: "conflict", field: "lot" });
      const qr = await stack.request("GET", `/api/v1/codes/${serial}/qr.svg`, { token: brand.apiKey });
      expect(qr.status).to.equal(409);
      expect(qr.body).to.include({ error: "conflict", field: "serial" });
    });

    it("breaks the download, rather than end it cleanly, when a later page holds such a code", async () => {
      const lot = `MIXED-${randomBytes(3).toString("hex")}`;
      await mint(brand.apiKey, { gtin: brand.gtin, count: 1_200, lot });
      const {
        rows: [row],
      } = await db.query<{ id: number }>("SELECT id FROM brands WHERE slug = $1", [brand.slug]);
      await db.query("INSERT INTO codes (serial, brand_id, gtin, lot, secret_hash) VALUES ($1, $2, $3, $4, $5)", [
        "ZZZZZZZZZZZZZZZZ",
        row!.id,
        brand.gtin,
        lot,
        sha256("not-derived"),
      ]);
      const response = await fetch(`${stack.url}/api/v1/codes/export?lot=${lot}`, { headers: { authorization: `Bearer ${brand.apiKey}` } });
      expect(response.status).to.equal(200);
      let failed = false;
      try {
        await response.text();
      } catch {
        failed = true;
      }
      expect(failed, "the truncated download must fail").to.equal(true);
      // the service is fine afterwards
      expect((await exportLot(brand.apiKey, "2026-11-A")).status).to.equal(200);
    });
  });

  describe("QR codes", () => {
    let code: Minted;
    before(async () => {
      [code] = (await mint(brand.apiKey, { gtin: brand.gtin, count: 1, lot: "QR" })) as [Minted];
    });

    it("is an SVG of the bottle's Digital Link URL, never cached", async () => {
      const r = await stack.request("GET", `/api/v1/codes/${code.serial}/qr.svg`, { token: brand.apiKey });
      expect(r.status).to.equal(200);
      expect(r.headers.get("content-type")).to.match(/^image\/svg\+xml/);
      expect(r.headers.get("cache-control")).to.equal("private, no-store");
      expect(r.body as string).to.match(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect((r.body as string).trimEnd().endsWith("</svg>")).to.equal(true);
      // the qrcode package is deterministic: the same URL and options give the same image
      expect(r.body).to.equal(await QRCode.toString(code.url, { type: "svg", errorCorrectionLevel: "M", margin: 2 }));
      const explicit = await stack.request("GET", `/api/v1/codes/${code.serial}/qr.svg?code=url`, { token: brand.apiKey });
      expect(explicit.body).to.equal(r.body);
    });

    it("?code=cap gives the cap URL's QR instead", async () => {
      const url = await stack.request("GET", `/api/v1/codes/${code.serial}/qr.svg`, { token: brand.apiKey });
      const cap = await stack.request("GET", `/api/v1/codes/${code.serial}/qr.svg?code=cap`, { token: brand.apiKey });
      expect(cap.status).to.equal(200);
      expect(cap.body as string).to.match(/^<svg /);
      expect(cap.body).to.not.equal(url.body);
      expect(cap.body).to.equal(await QRCode.toString(code.capUrl, { type: "svg", errorCorrectionLevel: "M", margin: 2 }));
      expect((await stack.request("GET", `/api/v1/codes/${code.serial}/qr.svg?code=other`, { token: brand.apiKey })).status).to.equal(400);
    });

    it("another brand's key and an unknown serial get the same 404; no key is 401", async () => {
      const theirs = await stack.request("GET", `/api/v1/codes/${code.serial}/qr.svg`, { token: other.apiKey });
      const unknown = await stack.request("GET", `/api/v1/codes/${newSerial()}/qr.svg`, { token: brand.apiKey });
      expect(theirs.status).to.equal(404);
      expect(unknown.status).to.equal(404);
      expect(theirs.body).to.deep.equal(unknown.body);
      expect((await stack.request("GET", `/api/v1/codes/${code.serial}/qr.svg`)).status).to.equal(401);
    });
  });

  it("documents the routes in the OpenAPI document", async () => {
    const doc = await stack.request("GET", "/docs/json");
    expect(doc.status).to.equal(200);
    expect(doc.body.paths["/api/v1/codes/export"].get.tags).to.deep.equal(["set-up"]);
    expect(doc.body.paths["/api/v1/codes/export"].get.security).to.deep.equal([{ brandApiKey: [] }]);
    expect(doc.body.paths["/api/v1/codes/export"].get.responses["200"].content).to.have.property("text/csv");
    expect(doc.body.paths["/api/v1/codes/{serial}/qr.svg"].get.responses["200"].content).to.have.property("image/svg+xml");
    const minted = doc.body.paths["/api/v1/codes"].post.responses["201"].content["application/json"].schema;
    expect(minted.properties.codes.items.required).to.include.members(["serial", "secret", "url", "capCode", "capUrl"]);
  });
});
