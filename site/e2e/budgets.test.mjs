// Budgets and usage in the browser: an owner sets the organization's budget, a member's chat
// spends through the priced fake model, and the usage chart shows the day's spend.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT, launchBrowser, login, makeUser, screenshot, seedWorld, signIn, startFakeLlm, startServer, waitUntil } from "./harness.mjs";

let server, llm, browser, world;
const owner = { email: "owner@example.com" };

before(
  async () => {
    llm = await startFakeLlm([]);
    server = await startServer();
    world = await seedWorld(server.base, llm.baseUrl);
    // $1000 per million input tokens: the fake's estimated usage of a turn costs cents.
    const [model] = await world.owner.get("/api/experimental/chats/model-configs");
    await world.owner.patch(`/api/experimental/chats/model-configs/${model.id}`, { input_price_per_million: 1000 });
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

test("an owner sets a budget and sees the usage chart update after a chat", { timeout: TEST_TIMEOUT }, async () => {
  const { page } = await signIn(browser, server.base, owner);
  await page.goto(`/settings/organizations/${world.def.id}/budgets`);
  const form = page.getByRole("form", { name: "Organization budget" });
  await form.getByLabel("Limit in dollars").fill("100");
  await form.getByLabel("Period").selectOption("week");
  await form.getByRole("button", { name: "Save" }).click();
  await form.getByText("of $100.00 this week").waitFor();
  const budget = await world.owner.get(`/api/v2/organizations/${world.def.id}/chat-budget`);
  assert.equal(budget.limit_micros, 100_000_000);
  assert.equal(budget.period, "week");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Usage" }).click();
  await page.getByLabel("Organization").selectOption(world.def.id);
  await page.getByTestId("usage-total").getByText("$0.00").waitFor();

  await makeUser(world, "ana", [world.def], [world.def]);
  const ana = await login(server.base, "ana@example.com");
  const chat = await ana.post("/api/experimental/chats", { organization_id: world.def.id, content: [{ type: "text", text: "spend a little" }] });
  await waitUntil("the chat's turn", async () => (await ana.get(`/api/experimental/chats/${chat.id}`)).status === "waiting");
  const report = await world.owner.get(`/api/experimental/chats/usage?organization_id=${world.def.id}&group_by=day`);
  assert.ok(report.total_micros > 0, JSON.stringify(report));

  await page.reload();
  await page.getByLabel("Organization").selectOption(world.def.id);
  const today = new Date().toISOString().slice(0, 10);
  const bar = page.getByRole("img", { name: "Spend per day" }).locator(`rect[data-day="${today}"]`);
  await waitUntil("today's bar", async () => Number(await bar.getAttribute("data-micros")) === report.total_micros);
  assert.ok(Number(await bar.getAttribute("height")) > 0);
  await page.getByRole("table", { name: "By user" }).getByText("ana").waitFor();
  await screenshot(page, "usage");
});
