// The create form's organization picker against the real server (reference §3 "Playwright
// scenarios"), plus server errors shown with the server's message while the draft stays.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT, UI_TIMEOUT, launchBrowser, makeUser, makeWorkspace, screenshot, seedWorld, signIn, startFakeLlm, startServer, waitUntil } from "./harness.mjs";

// Every check reads a settled screen: it first waits (with the context's deadline, see
// signIn) for the state it is about to assert, e.g. Send enabled once permissions and
// workspaces have loaded, instead of reading whatever the page shows at that instant.
const t = { timeout: TEST_TIMEOUT };

let server, llm, browser, world;
const users = {};
const ws = {};
const label = (o) => o.display_name || o.name;

before(async () => {
  llm = await startFakeLlm();
  server = await startServer();
  world = await seedWorld(server.base, llm.baseUrl);
  const { def, second } = world;
  users.solo = await makeUser(world, "solo", [def], [def]);
  users.multi = await makeUser(world, "multi", [def, second], [def, second]);
  users.subset = await makeUser(world, "subset", [def, second], [second]);
  users.none = await makeUser(world, "nobody", [def], []);
  users.leaver = await makeUser(world, "leaver", [def, second], [def, second]);
  users.cross = await makeUser(world, "cross", [def, second], [def, second]);
  ws.multiDef = await makeWorkspace(world, def, "multi", "multi-default-ws");
  ws.multiSec = await makeWorkspace(world, second, "multi", "multi-second-ws");
  ws.crossDef = await makeWorkspace(world, def, "cross", "cross-default-ws");
  ws.crossSec = await makeWorkspace(world, second, "cross", "cross-second-ws");
  browser = await launchBrowser();
}, t);

after(async () => {
  await browser?.close();
  await server?.close();
  await llm?.close();
}, t);

const orgTrigger = (page) => page.getByRole("combobox", { name: /^Organization: / });
/** The picker's trigger showing `org` (waiting on it waits for the selection to settle). */
const orgTriggerFor = (page, org) => page.getByRole("combobox", { name: `Organization: ${label(org)}`, exact: true });

const enabledSend = (page) => page.getByRole("button", { name: "Send" }).and(page.locator(":enabled"));

async function workspaceOptions(page) {
  await page.getByRole("button", { name: "More options" }).click();
  await page.getByRole("menuitem", { name: /^Attach workspace/ }).click();
  const items = await page.getByRole("listbox", { name: "Workspaces" }).getByRole("option").allTextContents();
  // Each workspace's line ends with its agent's state (" · agent connected (0.1.0)").
  const names = items.map((text) => text.split(" · ")[0]);
  // Escape closes the submenu, then the menu.
  while ((await page.getByRole("menu").count()) > 0) await page.keyboard.press("Escape");
  return names;
}

async function attachWorkspace(page, name) {
  await page.getByRole("button", { name: "More options" }).click();
  await page.getByRole("menuitem", { name: /^Attach workspace/ }).click();
  const option = page.getByRole("listbox", { name: "Workspaces" }).getByRole("option", { name });
  // The option is where a user sees it: nothing covers or clips its centre. (The submenu once
  // rendered inside the "More options" menu, which scrolls, so it was cut off; Playwright's
  // click scrolled it into view and, on a busy machine, sometimes missed.)
  await waitUntil(`option ${name} unclipped`, () =>
    option.evaluate((el) => {
      const r = el.getBoundingClientRect();
      return el.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2));
    }),
  { timeout: UI_TIMEOUT, interval: 50 });
  await option.click();
  await page.getByRole("button", { name: `Remove workspace ${name}` }).waitFor();
}

async function pickOrg(page, org) {
  await orgTrigger(page).click();
  await page.getByRole("listbox", { name: "Organizations" }).getByRole("option", { name: label(org) }).click();
}

/** Types a prompt, clicks Send and returns the create request's body and the response. */
async function send(page, text) {
  await page.getByRole("textbox", { name: "Chat message" }).fill(text);
  const [req, res] = await Promise.all([
    page.waitForRequest((r) => r.method() === "POST" && new URL(r.url()).pathname === "/api/experimental/chats"),
    page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/api/experimental/chats"),
    page.getByRole("button", { name: "Send" }).click(),
  ]);
  return { body: JSON.parse(req.postData()), status: res.status(), json: await res.json() };
}

describe("organization picker", () => {
  test("single organization: no picker, the chat is created in that organization", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.solo);
    await page.getByRole("textbox", { name: "Chat message" }).fill("hello from solo");
    await enabledSend(page).waitFor();
    assert.equal(await orgTrigger(page).count(), 0);
    const { body, status, json } = await send(page, "hello from solo");
    assert.equal(status, 201);
    assert.equal(body.organization_id, world.def.id);
    assert.equal(json.organization_id, world.def.id);
    await page.waitForURL(new RegExp(`/agents/${json.id}$`));
    await context.close();
  });

  test("multi-org defaults to the default org; switching changes the workspace list", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.multi);
    await orgTriggerFor(page, world.def).waitFor();
    await page.waitForFunction(() => !document.querySelector('[role="menuitem"]'));
    // "Attach workspace" is disabled until the list has loaded; the click waits for that.
    let names = await workspaceOptions(page);
    assert.deepEqual(names, ["Auto-create Workspace", "multi-default-ws"]);
    await screenshot(page, "create-form-multi-org");
    await pickOrg(page, world.second);
    await orgTriggerFor(page, world.second).waitFor();
    names = await workspaceOptions(page);
    assert.deepEqual(names, ["Auto-create Workspace", "multi-second-ws"]);
    await context.close();
  });

  test("by keyboard: the current org is checked, Escape forgets the search, choosing returns focus", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.multi);
    const trigger = orgTriggerFor(page, world.def);
    await trigger.waitFor();
    await trigger.focus();
    await page.keyboard.press("Enter");
    const search = page.getByRole("combobox", { name: "Find organization" });
    await search.waitFor();
    const current = page.getByRole("listbox", { name: "Organizations" }).getByRole("option", { name: world.def.display_name });
    assert.equal(await current.getAttribute("aria-selected"), "true");
    assert.equal(await current.locator(".option-check").count(), 1);
    await search.fill("second");
    await page.keyboard.press("Escape");
    await search.waitFor({ state: "detached" });
    await page.keyboard.press("Enter");
    assert.equal(await page.getByRole("combobox", { name: "Find organization" }).inputValue(), "", "the old search is gone");
    await page.getByRole("listbox", { name: "Organizations" }).getByRole("option", { name: world.second.display_name }).waitFor();
    // Focus stays in the search field; arrow keys move the active option (aria-activedescendant).
    const active = async () => (await page.locator('[role="option"][data-active-item]').allTextContents()).join();
    for (let i = 0; i < 5 && !(await active()).includes(world.second.display_name); i++) {
      await page.keyboard.press("ArrowDown");
    }
    assert.ok((await active()).includes(world.second.display_name), "arrow keys reach the other organization");
    assert.equal(await page.getByRole("combobox", { name: "Find organization" }).evaluate((el) => el === document.activeElement), true);
    await page.keyboard.press("Enter");
    const chosen = orgTriggerFor(page, world.second);
    await chosen.waitFor();
    // Ariakit hands focus back in an effect after the popover closes: poll rather than read once.
    await waitUntil("focus is back on the picker", () => chosen.evaluate((el) => el === document.activeElement), { timeout: UI_TIMEOUT, interval: 50 });
    await context.close();
  });

  test("the chosen organization survives a reload", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.multi);
    await pickOrg(page, world.second);
    await orgTriggerFor(page, world.second).waitFor();
    // Reload only once the choice is stored, or the reload could race the write.
    await page.waitForFunction((id) => localStorage.getItem("agents.selected-organization-id") === id, world.second.id);
    await page.reload();
    await orgTriggerFor(page, world.second).waitFor();
    await context.close();
  });

  test("permitted subset of one: picker hidden, that organization is used", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.subset);
    await page.getByRole("textbox", { name: "Chat message" }).fill("hello from subset");
    await enabledSend(page).waitFor();
    assert.equal(await orgTrigger(page).count(), 0);
    const { body, status } = await send(page, "hello from subset");
    assert.equal(status, 201);
    assert.equal(body.organization_id, world.second.id);
    await context.close();
  });

  test("no permitted organization: the alert names the missing role and where, no composer", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.none);
    const alert = page.getByRole("alert").filter({ hasText: "Permission required" });
    await alert.waitFor();
    await alert.getByText(`Ask an organization admin for Agents access in ${world.def.display_name}.`).waitFor();
    // Nothing that looks usable but is not: no message box, no Send, no workspace menu.
    assert.equal(await page.getByRole("textbox", { name: "Chat message" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "Send" }).count(), 0);
    assert.equal(await orgTrigger(page).count(), 0);
    // Plain members do not see the deployment's AI settings, and reaching them by URL says why.
    assert.equal(await page.getByRole("link", { name: "Providers" }).count(), 0);
    assert.equal(await page.getByRole("link", { name: "Models" }).count(), 0);
    await page.goto("/settings/models");
    await page.getByText("Providers and models are managed by the deployment's owners.").waitFor();
    assert.equal(await page.getByText("Forbidden.").count(), 0);
    assert.equal(await page.getByText("Add a provider first.").count(), 0);
    await screenshot(page, "create-form-permission-required");
    await context.close();
  });

  test("a remembered workspace of another organization is not sent", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.cross);
    await page.evaluate(
      ([org, wsId]) => {
        localStorage.setItem("agents.selected-organization-id", org);
        localStorage.setItem("agents.selected-workspace-id", wsId);
      },
      [world.def.id, ws.crossSec.id],
    );
    await page.reload();
    await orgTriggerFor(page, world.def).waitFor();
    // Send is enabled once the workspace list has loaded and the remembered one was judged.
    await page.getByRole("textbox", { name: "Chat message" }).fill("no stale workspace please");
    await enabledSend(page).waitFor();
    assert.equal(await page.getByRole("button", { name: /^Remove workspace/ }).count(), 0);
    const { body, status } = await send(page, "no stale workspace please");
    assert.equal(status, 201);
    assert.equal(body.organization_id, world.def.id);
    assert.equal("workspace_id" in body, false);
    await context.close();
  });

  test("changing organization with a workspace selected asks first: Cancel keeps, Continue clears", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.multi);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await orgTrigger(page).waitFor();
    await attachWorkspace(page, "multi-default-ws");
    await pickOrg(page, world.second);
    const dialog = page.getByRole("dialog", { name: "Change organization?" });
    await dialog.waitFor();
    await screenshot(page, "create-form-change-org-dialog");
    // A modal: focus is inside it, and Escape cancels like the Cancel button.
    await waitUntil("focus in the dialog", () => dialog.evaluate((d) => d.contains(document.activeElement)));
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    await orgTriggerFor(page, world.def).waitFor();
    await pickOrg(page, world.second);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    await orgTriggerFor(page, world.def).waitFor();
    await page.getByRole("button", { name: "Remove workspace multi-default-ws" }).waitFor();

    await pickOrg(page, world.second);
    await dialog.getByRole("button", { name: "Continue" }).click();
    await dialog.waitFor({ state: "hidden" });
    await orgTriggerFor(page, world.second).waitFor();
    await page.getByRole("button", { name: /^Remove workspace/ }).waitFor({ state: "detached" });
    await context.close();
  });
});

/** Holds every request matching `pattern` until the returned function is called. */
async function hold(page, pattern) {
  let release;
  const held = new Promise((r) => (release = r));
  await page.route(pattern, async (route) => {
    await held;
    await route.continue();
  });
  return release;
}


describe("organization picker while answers are slow or change", () => {
  test("while permissions load: no picker, Send disabled, no model list fetched", t, async () => {
    const { context, page: signedIn } = await signIn(browser, server.base, users.multi);
    // A page of its own, opened after the signed-in one is closed: a reload of that page could
    // still see the first load's model request, issued late on a busy machine.
    await signedIn.close();
    const page = await context.newPage();
    const modelRequests = [];
    page.on("request", (r) => {
      if (new URL(r.url()).pathname === "/api/experimental/chats/models") modelRequests.push(r.url());
    });
    const release = await hold(page, "**/api/v2/authcheck");
    await page.goto("/agents");
    await page.getByRole("textbox", { name: "Chat message" }).fill("waiting for permissions");
    assert.equal(await page.getByRole("button", { name: "Send" }).isDisabled(), true);
    assert.equal(await orgTrigger(page).count(), 0);
    assert.deepEqual(modelRequests, []);
    release();
    await orgTrigger(page).waitFor();
    await enabledSend(page).waitFor();
    await context.close();
  });

  test("a remembered workspace is kept while the workspace list loads, and Send waits for it", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.multi);
    await page.evaluate(
      ([org, wsId]) => {
        localStorage.setItem("agents.selected-organization-id", org);
        localStorage.setItem("agents.selected-workspace-id", wsId);
      },
      [world.def.id, ws.multiDef.id],
    );
    const release = await hold(page, /\/api\/v2\/workspaces(\?|$)/);
    await page.reload();
    await orgTrigger(page).waitFor();
    await page.getByRole("textbox", { name: "Chat message" }).fill("with my workspace");
    assert.equal(await page.getByRole("button", { name: "Send" }).isDisabled(), true, "sending now would drop the workspace");
    assert.equal(await page.evaluate(() => localStorage.getItem("agents.selected-workspace-id")), ws.multiDef.id);
    release();
    await page.getByRole("button", { name: "Remove workspace multi-default-ws" }).waitFor();
    await enabledSend(page).waitFor();
    const { body, status } = await send(page, "with my workspace");
    assert.equal(status, 201);
    assert.equal(body.workspace_id, ws.multiDef.id);
    await context.close();
  });

  test("a pending confirmation closes when its target organization is revoked", t, async () => {
    const reviewer = await makeUser(world, "revoked", [world.def, world.second], [world.def, world.second]);
    await makeWorkspace(world, world.def, "revoked", "revoked-ws");
    const { context, page } = await signIn(browser, server.base, reviewer);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await orgTrigger(page).waitFor();
    await attachWorkspace(page, "revoked-ws");
    await pickOrg(page, world.second);
    const dialog = page.getByRole("dialog", { name: "Change organization?" });
    await dialog.waitFor();
    // Access to the target goes away; the form learns it when permissions are checked again.
    await world.owner.put(`/api/v2/organizations/${world.second.id}/members/revoked/roles`, { roles: [] });
    await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
    await dialog.waitFor({ state: "hidden" });
    // One permitted organization left: no picker.
    await orgTrigger(page).waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Remove workspace revoked-ws" }).waitFor();
    await context.close();
  });
});

describe("server errors keep the draft", () => {
  test("403 not a member: the server's message is shown and the draft stays", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.leaver);
    await orgTrigger(page).waitFor();
    await pickOrg(page, world.second);
    await world.owner.del(`/api/v2/organizations/${world.second.id}/members/leaver`);
    const { status } = await send(page, "draft that must survive");
    assert.equal(status, 403);
    await page.getByRole("alert").filter({ hasText: "You are not a member of the specified organization." }).waitFor();
    assert.equal(await page.getByRole("textbox", { name: "Chat message" }).inputValue(), "draft that must survive");
    assert.match(page.url(), /\/agents$/);
    await screenshot(page, "create-form-403");
    await context.close();
  });

  test("400 cross-org workspace: the server's message is shown and the draft stays", t, async () => {
    const { context, page } = await signIn(browser, server.base, users.cross);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await orgTrigger(page).waitFor();
    await attachWorkspace(page, "cross-default-ws");
    // The UI never offers another org's workspace, so the request is rewritten on its way out;
    // the answer is the real server's.
    await page.route("**/api/experimental/chats", (route) => {
      const body = JSON.parse(route.request().postData());
      body.workspace_id = ws.crossSec.id;
      return route.continue({ postData: JSON.stringify(body) });
    });
    const { status } = await send(page, "cross-org draft");
    assert.equal(status, 400);
    await page.getByRole("alert").filter({ hasText: "Workspace does not belong to the specified organization." }).waitFor();
    assert.equal(await page.getByRole("textbox", { name: "Chat message" }).inputValue(), "cross-org draft");
    await page.getByRole("button", { name: "Remove workspace cross-default-ws" }).waitFor();
    await context.close();
  });
});
