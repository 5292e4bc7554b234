// Administration in the browser: creating users, suspending and activating them, site roles, and
// adding members to an organization (including a name that matches no account).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { PASSWORD, TEST_TIMEOUT, launchBrowser, login, screenshot, seedWorld, signIn, startFakeLlm, startServer } from "./harness.mjs";

let server, llm, browser, world;
const owner = { email: "owner@example.com" };

before(
  async () => {
    llm = await startFakeLlm([]);
    server = await startServer();
    world = await seedWorld(server.base, llm.baseUrl);
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

test("an owner creates a user, edits their site roles, suspends and activates them", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, owner);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
  await page.getByRole("heading", { name: "Users", level: 1 }).waitFor();

  const form = page.getByRole("form", { name: "Create user" });
  await form.getByLabel("Email").fill("ada@example.com");
  await form.getByLabel("Username").fill("ada");
  await form.getByLabel("Password").fill(PASSWORD);
  await form.getByRole("checkbox", { name: world.second.display_name }).check();
  await form.getByRole("button", { name: "Create user" }).click();
  await form.getByRole("status").getByText("Created ada.").waitFor();
  const row = page.getByRole("table", { name: "Users" }).getByRole("row").filter({ hasText: "ada@example.com" });
  await row.waitFor();
  // She joined the default organization and the one ticked, and can sign in.
  const ada = await login(server.base, "ada@example.com");
  const orgs = (await ada.get("/api/v2/users/me/organizations")).map((o) => o.id).sort();
  assert.deepEqual(orgs, [world.def.id, world.second.id].sort());

  await row.getByRole("button", { name: "Edit site roles of ada" }).click();
  await row.getByRole("checkbox", { name: /Auditor/ }).check();
  await row.getByRole("button", { name: "Save roles" }).click();
  await row.getByText("Auditor", { exact: true }).waitFor();
  // Every user is a `member` implicitly; the page neither shows nor sends it.
  assert.deepEqual((await world.owner.get("/api/v2/users/ada")).roles.map((r) => r.name).filter((n) => n !== "member"), ["auditor"]);

  await row.getByRole("button", { name: "Suspend ada" }).click();
  await row.getByText("Suspended").waitFor();
  await assert.rejects(login(server.base, "ada@example.com"));
  await row.getByRole("button", { name: "Activate ada" }).click();
  await row.getByRole("button", { name: "Suspend ada" }).waitFor();
  await login(server.base, "ada@example.com");

  // The owner resets her password: the old one stops working.
  await row.getByRole("button", { name: "Reset password of ada" }).click();
  await row.getByPlaceholder("New password").fill("a brand new one");
  await row.getByRole("button", { name: "Set" }).click();
  await row.getByRole("button", { name: "Reset password of ada" }).waitFor();
  await assert.rejects(login(server.base, "ada@example.com"));
  await login(server.base, "ada@example.com", "a brand new one");
  await screenshot(page, "admin-users");
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, "admin-users-mobile");
  await page.setViewportSize({ width: 1280, height: 800 });

  // What was just done is in the audit log, newest first, by who did it.
  await page.goto("/settings/audit");
  const log = page.getByRole("table", { name: "Audit log" });
  const created = log.getByRole("row").filter({ hasText: "ada" }).filter({ hasText: "create" }).first();
  await created.waitFor();
  await created.getByRole("cell", { name: "owner", exact: true }).waitFor();
  await screenshot(page, "admin-audit");
  await context.close();
});

test("adding a name that matches no account says what to do; an existing account is added", { timeout: TEST_TIMEOUT }, async () => {
  await world.owner.post("/api/v2/users", { email: "bob@example.com", username: "bob", password: PASSWORD, organization_ids: [world.def.id] });
  const { context, page } = await signIn(browser, server.base, owner);
  await page.goto(`/settings/organizations/${world.second.name}`);
  const username = page.getByRole("combobox", { name: "Username" });
  await username.fill("nobody-here");
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByRole("alert").getByText('There is no user named "nobody-here" that you can add. Create the account on the Users page first.').waitFor();
  assert.equal(await page.getByText("Resource not found").count(), 0);
  await username.fill("bob");
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByRole("row").filter({ hasText: "bob" }).waitFor();
  await screenshot(page, "admin-org-members");
  await context.close();
});

test("a plain member sees no Users page and is told who manages users", { timeout: TEST_TIMEOUT }, async () => {
  await world.owner.post("/api/v2/users", { email: "carol@example.com", username: "carol", password: PASSWORD, organization_ids: [world.def.id] });
  const { context, page } = await signIn(browser, server.base, { email: "carol@example.com" });
  assert.equal(await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).count(), 0);
  assert.equal(await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).count(), 0);
  await page.goto("/settings/users");
  await page.getByText("Users are managed by site owners and user admins.").waitFor();
  assert.equal(await page.getByRole("form", { name: "Create user" }).count(), 0);

  // Her own settings: profile, password and theme (kept across reloads).
  await page.getByRole("link", { name: "carol" }).click();
  await page.getByRole("heading", { name: "Account", level: 1 }).waitFor();
  const pw = page.getByRole("form", { name: "Change password" });
  await pw.getByLabel("Current password").fill("not it at all");
  await pw.getByLabel("New password").fill("carol's new password");
  await pw.getByRole("button", { name: "Change password" }).click();
  await pw.getByRole("alert").getByText("Your current password is incorrect.").waitFor();
  await pw.getByLabel("Current password").fill(PASSWORD);
  await pw.getByRole("button", { name: "Change password" }).click();
  await pw.getByRole("status").getByText(/Password changed/).waitFor();
  await login(server.base, "carol@example.com", "carol's new password");
  await page.getByRole("region", { name: "Profile" }).getByText("carol@example.com").waitFor();
  await page.getByRole("radio", { name: "Dark" }).check();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  await page.reload();
  await page.getByRole("radio", { name: "Dark" }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  await screenshot(page, "account-dark");
  await page.getByRole("radio", { name: "Light" }).check();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
  await context.close();
});
