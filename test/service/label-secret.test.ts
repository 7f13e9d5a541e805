/**
 * Issue 16, point 8: with a shared database every process must derive the same labels and console
 * CSRF tokens, so LABEL_SECRET is required there (a secret generated into one container's DATA_DIR
 * made every lot's labels unexportable after the container was recreated, and replicas refuse each
 * other's CSRF tokens). Embedded mode keeps generating one under DATA_DIR.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startLocalChain, type LocalChain } from "../../service/anchoring/local-chain.ts";
import { ConfigError, loadConfig } from "../../service/config.ts";
import { createLogger } from "../../service/log.ts";
import { startRuntime, type Runtime } from "../../service/runtime.ts";
import { consoleClient, csrfOf } from "../helpers/console.ts";
import { createBrandWith, httpClient, stackEnv } from "../helpers/stack.ts";

describe("LABEL_SECRET with a shared database", function () {
  this.timeout(120_000);

  it("refuses to start with DATABASE_URL and no LABEL_SECRET, saying how to make one", () => {
    for (const env of [
      { DATABASE_URL: "postgres://sealtrace@127.0.0.1:5432/sealtrace" },
      { DATABASE_URL: "postgres://sealtrace@127.0.0.1:5432/sealtrace", LABEL_SECRET: "  " },
    ]) {
      let error: unknown = null;
      try {
        loadConfig(env);
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(ConfigError);
      const problem = (error as ConfigError).problems.find((p) => p.includes("LABEL_SECRET"));
      expect(problem).to.include("DATABASE_URL is set, so LABEL_SECRET must be set").and.to.include("openssl rand -hex 32");
    }
    expect(() => loadConfig({ DATABASE_URL: "postgres://sealtrace@127.0.0.1:5432/sealtrace", LABEL_SECRET: "short" })).to.throw(
      ConfigError,
      /openssl rand -hex 32/,
    );
    // Embedded (no DATABASE_URL): none needed, one is generated under DATA_DIR.
    expect(loadConfig({}).labelSecret).to.equal(null);
  });

  describe("two processes of one deployment (a recreated or a scaled API container)", () => {
    let chain: LocalChain;
    let env: Record<string, string>;
    let cleanup: () => Promise<void>;
    const runtimes: Runtime[] = [];
    const dirs: string[] = [];
    const log = createLogger("silent");

    /** A process with this deployment's environment but a DATA_DIR of its own (a fresh container). */
    const start = async (): Promise<Runtime> => {
      const dir = await mkdtemp(join(tmpdir(), "sealtrace-container-"));
      dirs.push(dir);
      const runtime = await startRuntime(loadConfig({ ...env, DATA_DIR: dir }), { role: "all", log });
      runtimes.push(runtime);
      return runtime;
    };

    before(async () => {
      chain = await startLocalChain();
      ({ env, cleanup } = await stackEnv({ chainUrl: chain.url, keyIndex: 6 }));
    });
    after(async () => {
      for (const runtime of runtimes) await runtime.stop();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
      await cleanup?.();
      await chain?.stop();
    });

    it("exports the labels the other process minted, accepts its CSRF tokens, and writes no secret of its own", async () => {
      const first = await start();
      const brand = await createBrandWith(httpClient(first.url!), { codes: 2 });
      const second = await start();
      const exported = await fetch(`${second.url}/api/v1/codes/export?lot=2026-11-A`, { headers: { authorization: `Bearer ${brand.apiKey}` } });
      expect(exported.status).to.equal(200);
      const csv = await exported.text();
      for (const code of brand.codes)
        expect(csv)
          .to.include(new URL(code.url).pathname + new URL(code.url).search)
          .and.to.include(code.capCode);
      // A sign-in form from one process, posted to the other: the CSRF token holds (wrong password: 401, not 403).
      const client = consoleClient(first.url!);
      const token = csrfOf((await client.get("/console/sign-in")).text);
      const other = consoleClient(second.url!);
      for (const [name, value] of client.cookies) other.cookies.set(name, value);
      const posted = await other.post("/console/sign-in", { brand: brand.slug, username: "nobody-here", password: "not the password", _csrf: token });
      expect(posted.status).to.equal(401);
      for (const dir of dirs)
        await readFile(join(dir, "label-secret"), "utf8").then(
          () => expect.fail(`${dir}/label-secret was generated`),
          () => undefined,
        );
    });
  });
});
