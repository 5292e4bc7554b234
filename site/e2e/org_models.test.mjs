// An organization's Models page (issue 14): the site owner enables a site-wide model for the
// organization, its admin chooses the default, and the organization's chats see exactly that.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT, launchBrowser, login, makeUser, screenshot, seedWorld, signIn, startFakeLlm, startServer, waitUntil } from "./harness.mjs";

let server, llm, browser, world, other;
const owner = { email: "owner@example.com" };

before(
  async () => {
    llm = await startFakeLlm([]);
    server = await startServer();
    world = await seedWorld(server.base, llm.baseUrl);
    browser = await launchBrowser();
    // A second site-wide model, open only to the default organization for now.
    other = await world.owner.post("/api/experimental/chats/model-configs", {
      provider: "openai-compat",
      model: "other-model",
      display_name: "Other model",
      organization_ids: [world.def.id],
    });
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

/** The model ids `client` may use in `org`. */
async function usableIn(client, org) {
  const r = await client.get(`/api/experimental/chats/models?organization_id=${org.id}`);
  return r.providers.flatMap((p) => p.models.map((m) => m.id));
}

test("the owner enables a model for an organization and its admin makes it the default", { timeout: TEST_TIMEOUT }, async () => {
  const admin = await makeUser(world, "second-admin", [world.second], [world.second]);
  await world.owner.put(`/api/v2/organizations/${world.second.id}/members/second-admin/roles`, { roles: ["organization-admin", "agents-access"] });
  const adminApi = await login(server.base, admin.email);
  assert.ok(!(await usableIn(adminApi, world.second)).includes(other.id));

  // The owner: organization settings → Models → enable "Other model" for Second Org.
  {
    const { context, page } = await signIn(browser, server.base, owner);
    await page.goto(`/settings/organizations/${world.second.name}`);
    await page.getByRole("link", { name: "Chat models of this organization" }).click();
    await page.getByRole("heading", { name: `Models in ${world.second.display_name}`, level: 1 }).waitFor();
    const box = page.getByRole("checkbox", { name: `Other model available in ${world.second.display_name}` });
    assert.equal(await box.isChecked(), false);
    // A controlled checkbox: it turns on once the server has answered and the page reloaded.
    await box.click();
    await waitUntil("the checkbox to show the new state", () => box.isChecked());
    await page.getByRole("table", { name: "Models" }).getByRole("row").filter({ hasText: "Other model" }).getByText("Enabled").waitFor();
    await waitUntil("the model enabled for the organization", async () => (await usableIn(adminApi, world.second)).includes(other.id));
    // The default organization keeps it; nothing else changed.
    const cfg = (await world.owner.get("/api/experimental/chats/model-configs")).find((m) => m.id === other.id);
    assert.deepEqual([...cfg.organization_ids].sort(), [world.def.id, world.second.id].sort());
    await screenshot(page, "org-models-owner-1280");
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "org-models-owner-390");
    await context.close();
  }

  // The organization's admin: chooses it as the organization's default model.
  {
    const { context, page } = await signIn(browser, server.base, admin);
    await page.goto(`/settings/organizations/${world.second.name}/models`);
    const form = page.getByRole("form", { name: "Default model" });
    await form.getByLabel("Default model").selectOption({ label: "Other model (Fake)" });
    await form.getByRole("button", { name: "Save default" }).click();
    await form.getByRole("status").getByText("Default model saved.").waitFor();
    // Org admins cannot change which site-wide models the organization may use.
    assert.equal(await page.getByRole("checkbox", { name: /available in/ }).count(), 0);
    const d = await adminApi.get(`/api/v2/organizations/${world.second.id}/chat-default-model`);
    assert.equal(d.model_config_id, other.id);
    // New chats in the organization start on it.
    const chat = await adminApi.post("/api/experimental/chats", { organization_id: world.second.id, content: [{ type: "text", text: "hi" }] });
    assert.equal(chat.last_model_config_id, other.id);
    await screenshot(page, "org-models-admin-1280");
    await context.close();
  }
});
