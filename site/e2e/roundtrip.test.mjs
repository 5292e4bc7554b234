// A full round trip through the chat daemon: log in, pick an organization and a workspace, send,
// watch the streamed answer and a tool card, stop a long answer, edit the last message. Also
// measures the agents page's first paint for docs/benchmarks/ui.md.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  SLOW_TIMEOUT,
  TEST_TIMEOUT,
  artifacts,
  launchBrowser,
  makeUser,
  makeWorkspace,
  screenshot,
  seedWorld,
  signIn,
  startFakeLlm,
  startServer,
  waitForBuild,
  waitUntil,
} from "./harness.mjs";

// The fake answers requests in order: the agent's two turns around the tool call, the title,
// the long answer that gets stopped, and the answer to the edited message.
const turns = [
  {
    steps: [
      { type: "reasoning", text: "The user wants the greeting; run it in the workspace." },
      { type: "text", text: "Running the greeting command now." },
      { type: "tool_call", id: "call_exec_1", name: "execute", arguments: { command: "echo hello-from-the-workspace" } },
    ],
  },
  {
    steps: [
      { type: "delay", ms: 300 },
      { type: "text", text: "The command printed hello-from-the-workspace and exited cleanly. All done here." },
    ],
  },
  { steps: [{ type: "text", text: "Greeting command run" }] },
  { steps: [{ type: "text", text: "Counting slowly: " }, { type: "text_tokens", count: 600, delay_ms: 100 }] },
  { steps: [{ type: "text", text: "This is the answer to the edited message." }] },
];

let server, llm, browser, world, dev, workspace;

before(
  async () => {
    llm = await startFakeLlm(turns);
    server = await startServer();
    world = await seedWorld(server.base, llm.baseUrl);
    dev = await makeUser(world, "dev", [world.def, world.second], [world.def, world.second]);
    workspace = await makeWorkspace(world, world.second, "dev", "dev-second-ws");
    // The execute tool needs a started workspace: wait for its first build.
    await waitForBuild(world, workspace);
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

/** Waits for the chat's stored status to become `want`; an `error` status fails at once. */
function statusBecomes(chatId, want) {
  return waitUntil(`chat ${chatId} ${want}`, async () => {
    const c = await world.owner.get(`/api/experimental/chats/${chatId}`);
    if (c.status === "error" && want !== "error") throw Object.assign(new Error(`chat error: ${c.last_error}`), { fatal: true });
    return c.status === want;
  });
}

const isMessagesGet = (chatId) => (r) =>
  r.request().method() === "GET" && new URL(r.url()).pathname === `/api/experimental/chats/${chatId}/messages`;

test("round trip: pick org and workspace, stream an answer with a tool card, stop, edit", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, dev);
  await page.getByRole("combobox", { name: /^Organization: / }).click();
  await page.getByRole("listbox", { name: "Organizations" }).getByRole("option", { name: world.second.display_name }).click();
  await page.getByRole("button", { name: "More options" }).click();
  await page.getByRole("menuitem", { name: /^Attach workspace/ }).click();
  await page.getByRole("listbox", { name: "Workspaces" }).getByRole("option", { name: "dev-second-ws" }).click();
  await page.getByRole("textbox", { name: "Chat message" }).fill("Please run the greeting command.");
  await screenshot(page, "create-form-ready");
  await page.getByRole("button", { name: "Send" }).click();
  await page.waitForURL(/\/agents\/[0-9a-f-]{36}$/);
  const chatId = page.url().split("/").pop();

  // The streamed answer and the execute card with command, output and exit code.
  const card = page.locator('details.tool-card[data-tool="execute"]');
  await card.waitFor({ timeout: SLOW_TIMEOUT });
  await card.getByText("$ echo hello-from-the-workspace").waitFor();
  await card.locator(".tool-output").getByText("hello-from-the-workspace").waitFor({ timeout: SLOW_TIMEOUT });
  await card.getByText(/Exit code 0/).waitFor();
  await page.getByText("All done here.").waitFor({ timeout: SLOW_TIMEOUT });
  await page.getByText("Thinking", { exact: true }).waitFor();
  // The sidebar follows the watch socket: the generated title arrives live. The title request
  // is the fake's third answer, so nothing else may reach the model before it has been made.
  await page.getByRole("link", { name: /Greeting command run/ }).waitFor({ timeout: SLOW_TIMEOUT });
  await screenshot(page, "chat-view-tool-card");

  const stored = await world.owner.get(`/api/experimental/chats/${chatId}`);
  assert.equal(stored.organization_id, world.second.id);
  assert.equal(stored.workspace_id, workspace.id);

  // A long answer, stopped half way.
  await page.getByRole("textbox", { name: "Chat message" }).fill("Count slowly.");
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByText(/Counting slowly: tok0 tok1 tok2/).waitFor({ timeout: SLOW_TIMEOUT });
  await screenshot(page, "chat-view-streaming");
  await page.getByRole("button", { name: "Stop" }).click();
  await page.getByRole("button", { name: "Stop" }).waitFor({ state: "detached", timeout: SLOW_TIMEOUT });
  // The stream told the page the turn ended; the server agrees once the interrupt has settled.
  await statusBecomes(chatId, "waiting");
  // The cut-off answer is kept and marked as stopped, not shown as a finished one.
  const stoppedAnswer = page.locator(".msg-assistant").filter({ hasText: /Counting slowly:/ });
  await stoppedAnswer.getByText("Stopped", { exact: true }).waitFor({ timeout: SLOW_TIMEOUT });
  assert.equal(await page.locator(".msg-stopped").count(), 1, "only the stopped answer is marked");
  await screenshot(page, "chat-view-stopped");

  // Edit the last user message: later history goes, the agent answers the new text.
  await page.getByRole("button", { name: "Edit message" }).click();
  await page.getByRole("textbox", { name: "Edit message" }).fill("Answer the edited message instead.");
  const reloaded = page.waitForResponse(isMessagesGet(chatId), { timeout: SLOW_TIMEOUT });
  reloaded.catch(() => {}); // Awaited below; if an earlier step fails, its rejection is not news.
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("This is the answer to the edited message.").waitFor({ timeout: SLOW_TIMEOUT });
  await page.getByText("Answer the edited message instead.").waitFor();
  // Checked at once on purpose: the UI never shows the new answer next to the turn it replaced
  // (issue 17; site/src/agents/edit.test.ts covers every arrival order).
  assert.equal(await page.getByText("Count slowly.", { exact: true }).count(), 0);
  assert.equal(await page.getByText(/Counting slowly:/).count(), 0);
  // ... and the history reloaded after the edit does not bring it back.
  await reloaded;
  await statusBecomes(chatId, "waiting");
  await page.getByText("This is the answer to the edited message.").waitFor();
  assert.equal(await page.getByText("Count slowly.", { exact: true }).count(), 0);
  assert.equal(await page.getByText(/Counting slowly:/).count(), 0);
  await screenshot(page, "chat-view-after-edit");

  // Archive from the actions menu: the chat leaves the active list.
  await page.getByRole("button", { name: "Open agent actions" }).click();
  await page.getByRole("menuitem", { name: "Archive" }).click();
  await page.getByText("This chat is archived").waitFor();
  await page.getByRole("list", { name: "Chats" }).getByRole("link", { name: /Greeting command run/ }).waitFor({ state: "detached" });
  await context.close();
});

test("first paint of the agents page and the first-load JS size", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, dev);
  const samples = [];
  let js = 0;
  for (let i = 0; i < 5; i++) {
    const p = await context.newPage();
    // Each header read is awaited before the page closes; one begun by a late lazy chunk as the
    // page closes resolves to 0 instead of rejecting after the test (an unhandled rejection
    // that failed the whole file once).
    const reads = [];
    p.on("response", (r) => {
      if (r.url().endsWith(".js")) reads.push(r.headerValue("content-length").then((v) => Number(v ?? 0), () => 0));
    });
    await p.goto("/agents", { waitUntil: "load" });
    await p.getByRole("textbox", { name: "Chat message" }).waitFor();
    const fp = await p.evaluate(() => {
      const e = performance.getEntriesByType("paint");
      const get = (n) => e.find((x) => x.name === n)?.startTime ?? null;
      const nav = performance.getEntriesByType("navigation")[0];
      return { firstPaint: get("first-paint"), firstContentfulPaint: get("first-contentful-paint"), domContentLoaded: nav?.domContentLoadedEventEnd ?? null };
    });
    const ready = await p.evaluate(() => performance.now());
    samples.push({ ...fp, composerReady: ready });
    js = (await Promise.all(reads)).reduce((a, b) => a + b, 0);
    await p.close();
  }
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, "first-paint.json"), JSON.stringify({ samples, firstLoadJsBytes: js }, null, 2));
  await screenshot(page, "agents-page");
  assert.ok(samples.every((s) => s.firstContentfulPaint !== null));
  await context.close();
});
