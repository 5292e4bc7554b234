// First run: after setting up the first user, the owner is told what the deployment still needs
// (a provider, a default model, people) and the composer says why sending cannot work yet.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { PASSWORD, TEST_TIMEOUT, launchBrowser, login, screenshot, startFakeLlm, startServer } from "./harness.mjs";

let server, llm, browser;

before(
  async () => {
    llm = await startFakeLlm([]);
    server = await startServer();
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

test("the first-run checklist leads the owner through set-up and then goes away", { timeout: TEST_TIMEOUT }, async () => {
  const context = await browser.newContext({ baseURL: server.base, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto("/");
  await page.waitForURL(/\/setup$/);
  await page.getByLabel("Email").fill("owner@example.com");
  await page.getByLabel("Username").fill("owner");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: /Create/ }).click();
  await page.waitForURL(/\/agents$/);

  const checklist = page.getByRole("region", { name: "Set up agentry" });
  await checklist.getByRole("link", { name: "Add an LLM provider" }).waitFor();
  await checklist.getByRole("link", { name: "Add a model and make it the default" }).waitFor();
  await checklist.getByRole("link", { name: "Create an organization and invite people" }).waitFor();
  const notice = page.getByRole("status").filter({ hasText: "No model is available yet" });
  await notice.getByRole("link", { name: "Set up a default model" }).waitFor();
  await screenshot(page, "onboarding-fresh");

  // The steps follow what the deployment has.
  const owner = await login(server.base, "owner@example.com");
  await owner.post("/api/experimental/chats/providers", { provider: "openai-compat", display_name: "Fake", base_url: llm.baseUrl, api_key: "unused" });
  await owner.post("/api/experimental/chats/model-configs", { provider: "openai-compat", model: "fake-model", display_name: "Fake model", is_default: true });
  await page.reload();
  await checklist.getByText("Add an LLM provider").waitFor();
  assert.equal(await checklist.getByRole("link", { name: "Add an LLM provider" }).count(), 0, "a done step is no longer a link");
  await checklist.getByRole("link", { name: "Create an organization and invite people" }).waitFor();
  assert.equal(await notice.count(), 0, "a default model exists now");

  const def = (await owner.get("/api/v2/organizations")).find((o) => o.is_default);
  await owner.post("/api/v2/users", { email: "dev@example.com", username: "dev", password: PASSWORD, organization_ids: [def.id] });
  await page.reload();
  await page.getByRole("textbox", { name: "Chat message" }).waitFor();
  assert.equal(await checklist.count(), 0);
  await context.close();
});

test("a member is told to ask a site owner when there is no default model", { timeout: TEST_TIMEOUT }, async () => {
  const owner = await login(server.base, "owner@example.com");
  const models = await owner.get("/api/experimental/chats/model-configs");
  for (const m of models) await owner.patch(`/api/experimental/chats/model-configs/${m.id}`, { is_default: false });
  const def = (await owner.get("/api/v2/organizations")).find((o) => o.is_default);
  await owner.put(`/api/v2/organizations/${def.id}/members/dev/roles`, { roles: ["agents-access"] });
  const context = await browser.newContext({ baseURL: server.base, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByLabel("Email").fill("dev@example.com");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  const notice = page.getByRole("status").filter({ hasText: "No model is available yet" });
  await notice.getByText("Ask a site owner to add one.").waitFor();
  assert.equal(await notice.getByRole("link").count(), 0);
  assert.equal(await page.getByRole("region", { name: "Set up agentry" }).count(), 0, "members get no owner checklist");
  await screenshot(page, "onboarding-member-no-model");
  await context.close();
});
