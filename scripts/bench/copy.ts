/**
 * The ingest ceiling: COPY of the very rows an ingest wrote (its events and their links) into the
 * same tables, in one transaction that is rolled back. pg has no COPY API of its own (pg-copy-streams
 * adds one); its query protocol takes any object with the handlers below, which is all COPY needs.
 */
import pg from "pg";

type Connection = { query(text: string): void; sendCopyFromChunk(chunk: Buffer): void; endCopyFrom(): void };

/** One COPY statement as a pg "submittable": data out (TO STDOUT) or in (FROM STDIN). */
class CopyQuery {
  readonly text: string;
  readonly done: Promise<Buffer[]>;
  private readonly input: Buffer[];
  private readonly output: Buffer[] = [];
  private settle!: { resolve: (chunks: Buffer[]) => void; reject: (error: Error) => void };

  constructor(text: string, input: Buffer[] = []) {
    this.text = text;
    this.input = input;
    this.done = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }
  handleCopyInResponse(connection: Connection): void {
    for (const chunk of this.input) connection.sendCopyFromChunk(chunk);
    connection.endCopyFrom();
  }
  // The chunk is a view into the parser's buffer, which is reused: keep a copy.
  handleCopyData(message: { chunk: Buffer }): void {
    this.output.push(Buffer.from(message.chunk));
  }
  // pg forgets the query on an error (no readyForQuery reaches it then): settle here.
  handleError(error: Error): void {
    this.settle.reject(error);
  }
  handleReadyForQuery(): void {
    this.settle.resolve(this.output);
  }
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

async function copy(client: pg.Client, text: string, input?: Buffer[]): Promise<Buffer[]> {
  const query = new CopyQuery(text, input);
  void client.query(query as unknown as pg.QueryConfig);
  return await query.done;
}

/** Bigger chunks for COPY IN than the ~64 KB messages COPY OUT delivers. */
function rechunk(chunks: Buffer[], size = 1 << 20): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < chunks.length;) {
    const group: Buffer[] = [];
    let bytes = 0;
    while (i < chunks.length && bytes < size) {
      bytes += chunks[i]!.length;
      group.push(chunks[i++]!);
    }
    out.push(Buffer.concat(group));
  }
  return out;
}

const EVENT_COLUMNS =
  "brand_id, brand_event_id, type, codes, occurred_at, received_at, party, to_party, price_amount, price_currency, data, salt, canonical, event_hash, webhook_id";

/**
 * COPYs the brand's events whose brand id starts with `prefix`, and their links, into events and
 * links again (unique keys shifted), timing only the COPY FROM; rolled back. Returns events/s.
 */
export async function copyCeiling(
  databaseUrl: string,
  brandId: number,
  prefix: string,
): Promise<{ events: number; links: number; seconds: number; eventsPerSecond: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const where = `e.brand_id = ${Number(brandId)} AND e.brand_event_id LIKE '${prefix.replace(/[^A-Za-z0-9-]/g, "")}-%'`;
    const columns = EVENT_COLUMNS.replace("brand_event_id", "brand_event_id || '~copy'").replace(/(^|, )/g, "$1e.");
    const events = rechunk(await copy(client, `COPY (SELECT ${columns} FROM events e WHERE ${where}) TO STDOUT`));
    const links = rechunk(
      await copy(
        client,
        `COPY (SELECT l.brand_id, l.serial, l.n + 1000000, l.event_id, l.prev, l.link_hash, l.leaf FROM links l JOIN events e ON e.id = l.event_id AND e.brand_id = l.brand_id WHERE ${where}) TO STDOUT`,
      ),
    );
    const count = (chunks: Buffer[]) => chunks.reduce((n, c) => n + c.reduce((m, b) => m + (b === 10 ? 1 : 0), 0), 0);
    await client.query("BEGIN");
    const started = performance.now();
    await copy(client, `COPY events (${EVENT_COLUMNS}) FROM STDIN`, events);
    await copy(client, "COPY links (brand_id, serial, n, event_id, prev, link_hash, leaf) FROM STDIN", links);
    const seconds = (performance.now() - started) / 1000;
    await client.query("ROLLBACK");
    const eventCount = count(events);
    return { events: eventCount, links: count(links), seconds, eventsPerSecond: eventCount / seconds };
  } finally {
    await client.end();
  }
}
