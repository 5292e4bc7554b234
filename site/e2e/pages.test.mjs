// Every page at both widths the UI is built for (1280×800 and 390×844): it renders its heading,
// nothing makes the document scroll sideways, no table is cut off without a way to scroll it,
// and a screenshot of each is written to test-artifacts/pages/.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { SLOW_TIMEOUT, TEST_TIMEOUT, artifacts, launchBrowser, login, makeUser, makeWorkspace, seedWorld, signIn, startFakeLlm, startServer, waitForBuild } from "./harness.mjs";

const turns = [
  { steps: [{ type: "text", text: "## A heading\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```sh\necho wide-line-that-goes-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on\n```" }] },
  { steps: [{ type: "text", text: "Pages chat" }] },
];

const widths = [
  { name: "wide", viewport: { width: 1280, height: 800 } },
  { name: "narrow", viewport: { width: 390, height: 844 } },
];

let server, llm, browser, world, dev, chatId;

before(
  async () => {
    llm = await startFakeLlm(turns);
    server = await startServer();
    world = await seedWorld(server.base, llm.baseUrl);
    dev = await makeUser(world, "dev", [world.def], [world.def]);
    await waitForBuild(world, await makeWorkspace(world, world.def, "dev", "dev-ws"));
    const devApi = await login(server.base, dev.email);
    const chat = await devApi.post("/api/experimental/chats", { organization_id: world.def.id, content: [{ type: "text", text: "Show me a table." }] });
    chatId = chat.id;
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

/**
 * What does not fit: the page scrolling sideways, and any visible element reaching past the
 * right edge of the window without a scrolling container around it (a cut-off table, a field
 * or a button half off screen).
 */
function layoutProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    const width = document.documentElement.clientWidth;
    // The document, and at narrow widths the main area (its own scroller under the top bar).
    for (const root of [document.documentElement, document.body, document.querySelector(".main")]) {
      if (!root) continue;
      if (root.scrollWidth > width + 1) {
        // Name the widest elements, so the message says what to fix.
        const widest = [...root.querySelectorAll("*")]
          .map((el) => ({ el, right: el.getBoundingClientRect().right }))
          .sort((a, b) => b.right - a.right)
          .slice(0, 3)
          .map(({ el, right }) => `<${el.tagName.toLowerCase()} class="${el.className}"> to ${Math.round(right)}`);
        problems.push(`the page scrolls sideways (${root.tagName} ${root.scrollWidth} > ${width}; widest: ${widest.join(", ")})`);
      }
    }
    const insideScroller = (el) => {
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        const o = getComputedStyle(a).overflowX;
        if (o === "auto" || o === "scroll") return true;
      }
      return false;
    };
    const shown = (el) => el.checkVisibility({ visibilityProperty: true, opacityProperty: true }) && !el.closest("[inert], [aria-hidden='true']");
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= width + 1 || r.left >= width || !shown(el) || insideScroller(el)) continue;
      // Off-canvas drawers sit wholly outside the window until opened.
      if (r.left >= width - 1) continue;
      const name = el.getAttribute("aria-label") ?? el.textContent?.trim().slice(0, 30) ?? "";
      problems.push(`<${el.tagName.toLowerCase()} class="${el.className}"> "${name}" ends at ${Math.round(r.right)} > ${width}`);
      if (problems.length > 5) break;
    }
    return problems;
  });
}

async function visit(page, path, heading, name, size) {
  await page.goto(path);
  await page.getByRole("heading", { name: heading, level: 1 }).first().waitFor();
  await page.waitForLoadState("networkidle");
  const dir = join(artifacts, "pages");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}-${size}.png`), fullPage: true, animations: "disabled" });
  return (await layoutProblems(page)).map((p) => `${name} at ${size}: ${p}`);
}

for (const { name: size, viewport } of widths) {
  test(`every page at ${viewport.width}×${viewport.height}: heading, no sideways scrolling, screenshot`, { timeout: TEST_TIMEOUT }, async () => {
    const found = [];

    const anon = await browser.newContext({ baseURL: server.base, viewport });
    const signedOut = await anon.newPage();
    await signedOut.goto("/login");
    await signedOut.getByRole("button", { name: "Sign in" }).waitFor();
    mkdirSync(join(artifacts, "pages"), { recursive: true });
    await signedOut.screenshot({ path: join(artifacts, "pages", `login-${size}.png`), fullPage: true });
    found.push(...(await layoutProblems(signedOut)).map((p) => `login at ${size}: ${p}`));
    await anon.close();

    const owner = await signIn(browser, server.base, { email: "owner@example.com" });
    await owner.page.setViewportSize(viewport);
    const pages = [
      ["/agents", "New agent", "agents"],
      ["/workspaces", "Workspaces", "workspaces"],
      ["/templates", "Templates", "templates"],
      ["/settings/organizations", "Organizations", "organizations"],
      [`/settings/organizations/${world.second.name}`, "Second Org", "organization"],
      [`/settings/organizations/${world.second.name}/models`, "Models in Second Org", "organization-models"],
      ["/settings/users", "Users", "users"],
      ["/settings/providers", "Providers", "providers"],
      ["/settings/models", "Models", "models"],
      ["/settings/tokens", "Tokens", "tokens"],
      ["/settings/audit", "Audit log", "audit"],
      ["/settings/account", "Account", "account"],
      ["/no/such/page", "Page not found", "not-found"],
    ];
    for (const [path, heading, name] of pages) found.push(...(await visit(owner.page, path, heading, `owner-${name}`, size)));
    await owner.context.close();

    // A member: their chat (a table and a long code line in the answer), and a page they may
    // not use, which says who can.
    const member = await signIn(browser, server.base, dev);
    await member.page.setViewportSize(viewport);
    await member.page.goto(`/agents/${chatId}`);
    await member.page.locator(".code-block").waitFor({ timeout: SLOW_TIMEOUT });
    found.push(...(await visit(member.page, `/agents/${chatId}`, /Pages chat|Show me a table/, "member-chat", size)));
    // The composer is on screen without scrolling.
    const composer = await member.page.getByRole("textbox", { name: "Chat message" }).boundingBox();
    assert.ok(composer && composer.y + composer.height <= viewport.height, `the composer is on screen at ${size}`);
    found.push(...(await visit(member.page, "/settings/providers", "Providers", "member-providers", size)));
    await member.page.getByText(/Ask a site owner/).first().waitFor();
    await member.context.close();

    assert.deepEqual(found, []);
  });
}
