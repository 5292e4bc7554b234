// Defects from issue 15 that no other browser test covers, each driven as a user meets it:
// an HTML error page from a proxy (defect 7), a chat's title in the header and the tab after a
// new one is generated and the open chat never shown as unread (8), and a plain member's
// navigation offering only what they can use (9), and the providers and models forms (10).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { SLOW_TIMEOUT, TEST_TIMEOUT, launchBrowser, login, makeUser, screenshot, seedWorld, signIn, startFakeLlm, startServer, waitUntil } from "./harness.mjs";

// In request order: the first chat's answer and its title, then the regenerated title.
const turns = [
  { steps: [{ type: "text", text: "An answer worth a title." }] },
  { steps: [{ type: "text", text: "First title" }] },
  { steps: [{ type: "text", text: "Second title" }] },
];

let server, llm, browser, world, dev, devApi;

before(
  async () => {
    llm = await startFakeLlm(turns);
    server = await startServer();
    world = await seedWorld(server.base, llm.baseUrl);
    dev = await makeUser(world, "dev", [world.def], [world.def]);
    devApi = await login(server.base, dev.email);
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

test("a proxy's HTML error page is shown in words, and Retry gets past it", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, dev);
  await page.getByRole("heading", { name: "New agent", level: 1 }).waitFor();
  // A reverse proxy in front of the server refuses the chat list with its own HTML page.
  const isList = (url) => url.pathname === "/api/experimental/chats";
  await page.route(isList, (route) =>
    route.request().method() === "GET"
      ? route.fulfill({
          status: 403,
          contentType: "text/html",
          body: "<!DOCTYPE html><html><head><title>403 Forbidden</title><style>body{}</style></head><body><center><h1>403 Forbidden</h1></center><hr><center>nginx</center></body></html>",
        })
      : route.continue(),
  );
  await page.reload();
  const alert = page.getByRole("alert").filter({ hasText: "Could not load chats" });
  await alert.waitFor();
  const said = await alert.textContent();
  assert.match(said, /403 Forbidden/);
  assert.doesNotMatch(said, /<|DOCTYPE|nginx<|style/, "no markup in the alert");
  await screenshot(page, "defect-proxy-403");

  // The proxy lets requests through again; Retry loads the list and the alert goes.
  await page.unroute(isList);
  await alert.getByRole("button", { name: "Retry" }).click();
  await alert.waitFor({ state: "detached" });
  await page.getByRole("navigation", { name: "Agents" }).or(page.getByRole("complementary", { name: "Agents" })).first().waitFor();
  await context.close();
});

test("the header and the tab follow a new title, and the open chat is never shown unread", { timeout: TEST_TIMEOUT }, async () => {
  const chat = await devApi.post("/api/experimental/chats", { organization_id: world.def.id, content: [{ type: "text", text: "Name this chat." }] });
  await waitUntil("the first title", async () => (await devApi.get(`/api/experimental/chats/${chat.id}`)).title === "First title");

  const { context, page } = await signIn(browser, server.base, dev);
  await page.goto(`/agents/${chat.id}`);
  await page.getByRole("heading", { name: "First title", level: 1 }).waitFor();
  await waitUntil("the tab title", async () => (await page.title()) === "First title · agentry");
  const row = page.locator(`.chat-link[href="/agents/${chat.id}"]`);
  await row.waitFor();
  assert.equal(await row.locator(".unread").count(), 0, "the chat on screen is not unread");

  await page.getByRole("button", { name: "Open agent actions" }).click();
  await page.getByRole("menuitem", { name: "Generate new title" }).click();
  await page.getByRole("heading", { name: "Second title", level: 1 }).waitFor({ timeout: SLOW_TIMEOUT });
  await waitUntil("the tab title to follow", async () => (await page.title()) === "Second title · agentry");
  await row.getByText("Second title").waitFor();
  assert.equal(await row.locator(".unread").count(), 0);
  await context.close();
});

test("a plain member's navigation offers only what they can use", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, dev);
  // Reached by URL, a page they may not use says who manages it instead of a bare
  // "Forbidden." (and once it says so, the site permissions have loaded).
  await page.goto("/settings/models");
  await page.getByText(/Ask a site owner/).waitFor();
  assert.equal(await page.getByText("Forbidden.").count(), 0);
  assert.equal(await page.getByText(/Add a provider first/).count(), 0);
  const nav = page.getByRole("navigation", { name: "Main" });
  const links = await nav.getByRole("link").allTextContents();
  assert.ok(links.includes("Agents"), `${links}`);
  for (const hidden of ["Users", "Providers", "Models", "Audit log"]) assert.ok(!links.includes(hidden), `${hidden} is not offered: ${links}`);
  await context.close();

  // The owner sees them all, once the permissions have loaded.
  const owner = await signIn(browser, server.base, { email: "owner@example.com" });
  const ownerNav = owner.page.getByRole("navigation", { name: "Main" });
  await ownerNav.getByRole("link", { name: "Audit log" }).waitFor();
  const ownerLinks = await ownerNav.getByRole("link").allTextContents();
  for (const shown of ["Users", "Providers", "Models", "Audit log"]) assert.ok(ownerLinks.includes(shown), `${shown} for the owner: ${ownerLinks}`);
  await owner.context.close();
});

test("providers and models: two of one type by name, one error each, names not kinds, checked numbers, no duplicates", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, { email: "owner@example.com" });
  await page.goto("/settings/providers");
  const form = page.getByRole("form", { name: "Add provider" });
  await form.getByLabel("Type").selectOption({ label: "OpenAI-compatible" });
  // The base URL is required for this type, and the form says so (no "Leave empty…").
  const baseUrl = form.getByRole("textbox", { name: "Base URL", exact: true });
  assert.equal(await baseUrl.getAttribute("required"), "");
  assert.equal(await form.getByText(/Leave empty|optional/).count(), 0);

  // A second provider of the same type, told apart by its name.
  await form.getByLabel("Display name").fill("Second compat");
  await form.getByLabel("API key").fill("k");
  await baseUrl.fill(llm.baseUrl);
  await form.getByRole("button", { name: "Add provider" }).click();
  await page.getByRole("listitem", { name: "Provider Second compat" }).waitFor();
  // The same name again: refused, with the error shown once.
  await form.getByLabel("Type").selectOption({ label: "OpenAI-compatible" });
  await form.getByLabel("Display name").fill("Second compat");
  await form.getByLabel("API key").fill("k");
  await baseUrl.fill(llm.baseUrl);
  await form.getByRole("button", { name: "Add provider" }).click();
  await form.getByRole("alert").waitFor();
  assert.equal(await page.getByRole("alert").count(), 1, "one error, not two");

  // Models name their provider, not its type.
  await page.goto("/settings/models");
  const table = page.getByRole("table");
  await table.getByRole("row").filter({ hasText: "Fake model" }).getByRole("cell", { name: "Fake", exact: true }).waitFor();
  assert.equal(await table.getByText("openai-compat").count(), 0);

  // A context limit that is not a whole number is refused before anything is sent.
  const add = page.getByRole("form", { name: "Add model" });
  await add.getByLabel("Provider").selectOption({ label: "Fake" });
  await add.getByLabel("Model identifier").fill("another-model");
  await add.getByLabel("Context limit (tokens)").fill("abc");
  let posted = false;
  page.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/api/experimental/chats/model-configs") posted = true;
  });
  await add.getByRole("button", { name: "Add model" }).click();
  // The browser's own validation stops it (the field only takes digits), or the form does.
  const limitField = add.getByLabel("Context limit (tokens)");
  await waitUntil("the context limit refused", async () => !(await limitField.evaluate((el) => el.validity.valid)) || (await add.getByRole("alert").getByText(/whole number/).count()) > 0);
  assert.equal(posted, false);

  // The same model, provider and name twice: refused.
  await add.getByLabel("Model identifier").fill("fake-model");
  await add.getByLabel("Display name").fill("Fake model");
  await add.getByLabel("Context limit (tokens)").fill("");
  await add.getByRole("button", { name: "Add model" }).click();
  await add.getByRole("alert").waitFor();
  assert.equal(await page.getByRole("alert").count(), 1);
  const models = await world.owner.get("/api/experimental/chats/model-configs");
  assert.equal(models.filter((m) => m.model === "fake-model").length, 1);
  await context.close();
});
