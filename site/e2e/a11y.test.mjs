// Accessibility: axe-core scans every page and the chat's main states (empty, streaming, a dialog
// open, an error shown) in light and dark mode. Serious and critical violations fail the test;
// the full report of each scan is written to test-artifacts/a11y/.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { SLOW_TIMEOUT, TEST_TIMEOUT, artifacts, launchBrowser, makeUser, screenshot, seedWorld, signIn, startFakeLlm, startServer } from "./harness.mjs";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// In request order: a finished answer and its title, then a long answer the scan catches mid-stream.
const turns = [
  { steps: [{ type: "text", text: "## Done\n\nHere is `code`:\n\n```js\nconsole.log(1)\n```" }] },
  { steps: [{ type: "text", text: "Scanned chat" }] },
  { steps: [{ type: "text", text: "Streaming: " }, { type: "text_tokens", count: 2000, delay_ms: 50 }] },
];

let server, llm, browser, world, dev;

before(
  async () => {
    llm = await startFakeLlm(turns);
    server = await startServer();
    world = await seedWorld(server.base, llm.baseUrl);
    dev = await makeUser(world, "dev", [world.def, world.second], [world.def, world.second]);
    browser = await launchBrowser();
  },
  { timeout: TEST_TIMEOUT },
);

after(
  async () => {
    await browser?.close();
    await server?.close();
    await llm?.close();
  },
  { timeout: TEST_TIMEOUT },
);

/** Runs axe on the page; returns the serious and critical violations, and saves the report. */
async function scan(page, name) {
  // Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not
  // restrict (the page itself may not run inline scripts).
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const dir = join(artifacts, "a11y");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(result.violations, null, 2));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${name}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

for (const scheme of ["light", "dark"]) {
  test(`every page and chat state has no serious accessibility violation (${scheme})`, { timeout: TEST_TIMEOUT }, async () => {
    const found = [];
    const check = async (page, name) => found.push(...(await scan(page, `${scheme}-${name}`)));

    // Signed out.
    const anon = await browser.newContext({ baseURL: server.base, colorScheme: scheme });
    const login = await anon.newPage();
    await login.goto("/login");
    await login.getByRole("button", { name: "Sign in" }).waitFor();
    await check(login, "login");
    await anon.close();

    // The owner's pages.
    const { context: oc, page: op } = await signIn(browser, server.base, { email: "owner@example.com" });
    await op.emulateMedia({ colorScheme: scheme });
    const pages = [
      ["/agents", "New agent"],
      ["/settings/organizations", "Organizations"],
      [`/settings/organizations/${world.second.name}`, "Second Org"],
      [`/settings/organizations/${world.second.name}/models`, "Models in Second Org"],
      ["/settings/users", "Users"],
      ["/settings/providers", "Providers"],
      ["/settings/models", "Models"],
      ["/settings/tokens", "Tokens"],
      ["/settings/audit", "Audit log"],
      ["/settings/account", "Account"],
      ["/workspaces", "Workspaces"],
      ["/templates", "Templates"],
    ];
    for (const [path, heading] of pages) {
      await op.goto(path);
      await op.getByRole("heading", { name: heading, level: 1 }).waitFor();
      await op.waitForLoadState("networkidle");
      assert.equal(await op.evaluate(() => document.documentElement.dataset.theme), scheme, "the page follows the system's scheme");
      await check(op, `owner${path.replaceAll("/", "-")}`);
    }
    await oc.close();

    // A member's agents page: the picker, a dialog, a chat, a streaming answer, an error.
    const { context, page } = await signIn(browser, server.base, dev);
    await page.emulateMedia({ colorScheme: scheme });
    await page.getByRole("combobox", { name: /^Organization: / }).waitFor();
    await check(page, "agents-empty");
    await page.getByRole("combobox", { name: /^Organization: / }).click();
    await page.getByRole("listbox").waitFor();
    await check(page, "org-picker-open");
    await page.keyboard.press("Escape");

    if (scheme === "light") {
      // The chats are made once; the dark pass scans the same ones.
      await page.getByRole("textbox", { name: "Chat message" }).fill("Scan me.");
      await page.getByRole("button", { name: "Send" }).click();
      await page.waitForURL(/\/agents\/[0-9a-f-]{36}$/);
      await page.locator(".code-block").waitFor({ timeout: SLOW_TIMEOUT });
      await page.getByRole("link", { name: /Scanned chat/ }).waitFor({ timeout: SLOW_TIMEOUT });
    } else {
      await page.getByRole("link", { name: /Scanned chat/ }).click();
      await page.locator(".code-block").waitFor({ timeout: SLOW_TIMEOUT });
    }
    await check(page, "chat");
    await page.getByRole("button", { name: "Open agent actions" }).click();
    await page.getByRole("menu", { name: "Agent actions" }).waitFor();
    await check(page, "chat-menu-open");
    await page.keyboard.press("Escape");

    if (scheme === "light") {
      await page.getByRole("textbox", { name: "Chat message" }).fill("Stream something long.");
      await page.getByRole("button", { name: "Send" }).click();
      await page.getByText(/Streaming: tok0 tok1/).waitFor({ timeout: SLOW_TIMEOUT });
      await check(page, "chat-streaming");
      await screenshot(page, "a11y-chat-streaming");
    }

    // An error: access withdrawn, then a send.
    await world.owner.put(`/api/v2/organizations/${world.def.id}/members/dev/roles`, { roles: [] });
    await page.getByRole("textbox", { name: "Chat message" }).fill("Still there?");
    await page.getByRole("textbox", { name: "Chat message" }).press("Enter");
    await page.locator(".chat-bottom [role=alert]").waitFor();
    await check(page, "chat-error");
    await world.owner.put(`/api/v2/organizations/${world.def.id}/members/dev/roles`, { roles: ["agents-access"] });
    await context.close();

    assert.deepEqual(found, []);
  });
}
