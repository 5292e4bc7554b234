// Templates and workspaces in the browser: a template admin adds a template, a member creates a
// workspace from it, reads its build log, stops, starts and deletes it.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { SLOW_TIMEOUT, TEST_TIMEOUT, launchBrowser, makeUser, screenshot, seedWorld, signIn, startFakeLlm, startServer } from "./harness.mjs";

let server, llm, browser, world, dev;

before(
  async () => {
    llm = await startFakeLlm([]);
    server = await startServer();
    world = await seedWorld(server.base, llm.baseUrl);
    dev = await makeUser(world, "dev", [world.def], [world.def]);
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

test("an owner adds a template; a member creates, stops, starts and deletes a workspace", { timeout: TEST_TIMEOUT }, async () => {
  const owner = await signIn(browser, server.base, { email: "owner@example.com" });
  await owner.page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Templates" }).click();
  const form = owner.page.getByRole("form", { name: "Create template" });
  await form.getByLabel("Name").fill("builder");
  await form.getByLabel("Description").fill("prints a greeting");
  await form.getByLabel(/Startup script/).fill("echo hello-from-the-build");
  await form.getByRole("button", { name: "Create template" }).click();
  await owner.page.getByRole("table", { name: "Templates" }).getByRole("row").filter({ hasText: "builder" }).waitFor();
  await screenshot(owner.page, "templates");
  await owner.context.close();

  const { context, page } = await signIn(browser, server.base, dev);
  await page.goto("/templates");
  await page.getByRole("table", { name: "Templates" }).waitFor();
  assert.equal(await page.getByRole("form", { name: "Create template" }).count(), 0, "members add no templates");
  await page.goto("/workspaces");
  const create = page.getByRole("form", { name: "Create workspace" });
  await create.getByLabel("Template").selectOption({ label: `builder (${world.def.display_name})` });
  await create.getByLabel("Name").fill("my-box");
  await create.getByRole("button", { name: "Create workspace" }).click();
  const row = page.getByRole("table", { name: "Workspaces" }).getByRole("row").filter({ hasText: "my-box" }).first();
  await row.getByText("running", { exact: true }).waitFor({ timeout: SLOW_TIMEOUT });
  await row.getByRole("button", { name: "Build log of my-box" }).click();
  await page.getByLabel("Build log").getByText(/hello-from-the-build/).waitFor({ timeout: SLOW_TIMEOUT });
  await screenshot(page, "workspaces");

  await row.getByRole("button", { name: "Stop my-box" }).click();
  await row.getByText("stopped", { exact: true }).waitFor({ timeout: SLOW_TIMEOUT });
  await row.getByRole("button", { name: "Start my-box" }).click();
  await row.getByText("running", { exact: true }).waitFor({ timeout: SLOW_TIMEOUT });
  page.once("dialog", (d) => d.accept());
  await row.getByRole("button", { name: "Delete my-box" }).click();
  // Deleted workspaces leave the list.
  await row.waitFor({ state: "detached", timeout: SLOW_TIMEOUT });
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, "workspaces-mobile");
  await context.close();
});
