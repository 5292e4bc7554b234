// End-to-end harness: the real agentry binary on a fresh PostgreSQL database, the fake LLM
// provider binary, and headless Debian Chromium driven by playwright-core. Nothing here is mocked:
// fixtures are created through the public API, exactly as an administrator would.
//
// Built to hold on a busy machine (CI shares two cores with cargo builds): every server listens on
// a port the OS picks, every run gets its own database, every wait is on a condition and has a
// deadline (generous, since a loaded machine is slow, but never unbounded), and nothing sleeps to
// let something else happen. See docs/testing.md.

import { spawn, execFileSync } from "node:child_process";
import { afterEach } from "node:test";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

const repo = resolve(import.meta.dirname, "../..");
export const artifacts = join(repo, "test-artifacts");
// Where cargo put the binaries: CARGO_TARGET_DIR when set, else the workspace's target/.
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, "target");
const bin = (name) => process.env[`AGENTRY_E2E_${name.toUpperCase()}`] ?? join(targetDir, "debug", name);
const adminUrl = process.env.AGENTRY_E2E_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const PASSWORD = "correct horse battery staple";

/** Deadline for one browser action or wait (Playwright's own default is 30 s). */
export const UI_TIMEOUT = 60_000;
/** Deadline for a wait that includes a model run or a workspace build on the server. */
export const SLOW_TIMEOUT = 120_000;
/** Deadline for a whole `node:test` test or hook (node:test has none by default). */
export const TEST_TIMEOUT = 10 * 60_000;
/** Deadline for one fixture HTTP request, one psql call, one process to start. */
const REQUEST_TIMEOUT = 60_000;
const START_TIMEOUT = 120_000;

/**
 * Polls `probe` until it returns something other than undefined/false and returns that, or
 * throws once `timeout` ms have passed (with the last value or error in the message). A probe
 * that throws an error with `fatal: true` ends the wait at once.
 */
export async function waitUntil(what, probe, { timeout = SLOW_TIMEOUT, interval = 200 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      if (e?.fatal) throw e; // The probe knows waiting longer cannot help.
      last = e;
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not after ${timeout} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

function psql(sql) {
  execFileSync("psql", [adminUrl, "-qc", sql], { timeout: REQUEST_TIMEOUT, stdio: ["ignore", "ignore", "pipe"] });
}

/** Reads the child's stdout until `match` finds something; rejects when the child exits first. */
function firstLine(child, match, what) {
  return new Promise((resolveLine, reject) => {
    const rl = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`${what}: no address within ${START_TIMEOUT / 1000} s`)), START_TIMEOUT);
    rl.on("line", (line) => {
      const m = match(line);
      if (m) {
        clearTimeout(timer);
        resolveLine(m);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before listening`));
    });
  });
}

function stop(child) {
  return new Promise((res) => {
    if (child.exitCode !== null) return res();
    child.once("exit", () => res());
    child.kill("SIGINT");
    setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
  });
}

/** Starts `fakellm` with a script of turns; resolves to its address. */
export async function startFakeLlm(turns = []) {
  const dir = mkdtempSync(join(tmpdir(), "agentry-e2e-llm-"));
  const script = join(dir, "script.json");
  writeFileSync(script, JSON.stringify(turns));
  const child = spawn(bin("fakellm"), ["--listen", "127.0.0.1:0", "--script", script], { stdio: ["ignore", "pipe", "inherit"] });
  const addr = await firstLine(child, (l) => (/^\S+:\d+$/.test(l.trim()) ? l.trim() : null), "fakellm").catch(async (e) => {
    await stop(child);
    throw e;
  });
  return { addr, baseUrl: `http://${addr}/v1`, close: () => stop(child) };
}

/** A fresh database, the real server on a free port, and a cleanup that drops both. */
export async function startServer() {
  const db = `agentry_e2e_${randomBytes(6).toString("hex")}`;
  psql(`CREATE DATABASE ${db}`);
  const url = new URL(adminUrl);
  url.pathname = `/${db}`;
  const dataDir = mkdtempSync(join(tmpdir(), "agentry-e2e-data-"));
  const child = spawn(
    bin("agentry"),
    ["server", "--postgres-url", url.toString(), "--http-address", "127.0.0.1:0", "--data-dir", dataDir],
    {
      stdio: ["ignore", "pipe", process.env.AGENTRY_E2E_LOGS ? "inherit" : "ignore"],
      env: { ...process.env, AGENTRY_CHAT_ACQUIRE_INTERVAL: "200ms", RUST_LOG: process.env.RUST_LOG ?? "warn" },
    },
  );
  const close = async () => {
    await stop(child);
    try {
      psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    } catch {
      // Left for the next run's operator; never fail a test on cleanup.
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  let base;
  try {
    base = await firstLine(child, (l) => l.match(/agentry listening on (http:\/\/\S+)/)?.[1] ?? null, "agentry server");
  } catch (e) {
    await close(); // A server that never listened must not outlive the run, nor its database.
    throw e;
  }
  return { base, close };
}

/** A tiny JSON client for fixtures. Throws with the server's message on non-2xx. */
export function api(base, token) {
  const call = async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return {
    get: (p) => call("GET", p),
    post: (p, b) => call("POST", p, b ?? {}),
    put: (p, b) => call("PUT", p, b),
    patch: (p, b) => call("PATCH", p, b),
    del: (p) => call("DELETE", p),
  };
}

export async function login(base, email, password = PASSWORD) {
  const { session_token } = await api(base).post("/api/v2/users/login", { email, password });
  return api(base, session_token);
}

/**
 * The common world: an owner, the default organization and a second one (`second`), the fake
 * provider registered as `openai-compat` with a default model, and a template in each org.
 */
export async function seedWorld(base, llmBaseUrl) {
  await api(base).post("/api/v2/users/first", { email: "owner@example.com", username: "owner", password: PASSWORD });
  const owner = await login(base, "owner@example.com");
  const orgs = await owner.get("/api/v2/organizations");
  const def = orgs.find((o) => o.is_default);
  const second = await owner.post("/api/v2/organizations", { name: "second", display_name: "Second Org" });
  await owner.post("/api/experimental/chats/providers", { provider: "openai-compat", display_name: "Fake", base_url: llmBaseUrl, api_key: "unused" });
  await owner.post("/api/experimental/chats/model-configs", { provider: "openai-compat", model: "fake-model", display_name: "Fake model", is_default: true });
  const tpl = {};
  for (const org of [def, second]) {
    tpl[org.id] = await owner.post(`/api/v2/organizations/${org.id}/templates`, { name: `tpl-${org.name}`, description: "e2e" });
  }
  return { owner, def, second, tpl };
}

/** A user who is a member of `memberOf` orgs and holds `agents-access` in `agentsIn`. */
export async function makeUser(world, username, memberOf, agentsIn) {
  const { owner } = world;
  await owner.post("/api/v2/users", { email: `${username}@example.com`, username, password: PASSWORD, organization_ids: memberOf.map((o) => o.id) });
  for (const org of agentsIn) await owner.put(`/api/v2/organizations/${org.id}/members/${username}/roles`, { roles: ["agents-access"] });
  return { username, email: `${username}@example.com` };
}

export async function makeWorkspace(world, org, username, name) {
  return world.owner.post(`/api/v2/organizations/${org.id}/members/${username}/workspaces`, { template_id: world.tpl[org.id].id, name });
}

/** Waits for a workspace's latest build to succeed (fails at once if it failed). */
export async function waitForBuild(world, workspace) {
  return waitUntil(`workspace ${workspace.name} build`, async () => {
    const w = await world.owner.get(`/api/v2/workspaces/${workspace.id}`);
    if (w.latest_build.job.status === "failed") throw Object.assign(new Error("workspace build failed"), { fatal: true });
    return w.latest_build.job.status === "succeeded" ? w : undefined;
  });
}

const browsers = new Set();

export async function launchBrowser() {
  const browser = await chromium.launch({
    timeout: START_TIMEOUT,
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  browsers.add(browser);
  browser.on("disconnected", () => browsers.delete(browser));
  return browser;
}

// A failed test never reaches its `context.close()`, so the pages it left open show where it
// stopped. Each is saved under test-artifacts/failures/ (a screenshot, the focused element, the
// HTML) and closed, so the next test starts clean. A flake in CI is then explained by its files.
afterEach(async (t) => {
  if (t.passed) return;
  const name = t.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 80);
  const dir = join(artifacts, "failures");
  mkdirSync(dir, { recursive: true });
  for (const browser of browsers) {
    for (const [c, context] of browser.contexts().entries()) {
      for (const [p, page] of context.pages().entries()) {
        const file = join(dir, `${name}-${c}-${p}`);
        try {
          await page.screenshot({ path: `${file}.png`, fullPage: true, timeout: 10_000 });
          const focused = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 500) ?? null);
          writeFileSync(`${file}.html`, `<!-- url: ${page.url()}\n     focused: ${focused} -->\n${await page.content()}`);
          console.error(`# failure artifacts: ${file}.png (url ${page.url()}, focused ${focused})`);
        } catch (e) {
          console.error(`# failure artifacts for ${file}: ${e.message}`);
        }
      }
      await context.close().catch(() => {});
    }
  }
});

/** A fresh browser context signed in as `user` through the login page. */
export async function signIn(browser, base, user) {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(UI_TIMEOUT);
  context.setDefaultNavigationTimeout(UI_TIMEOUT);
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/agents$/);
  return { context, page };
}

export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true, animations: "disabled" });
}
