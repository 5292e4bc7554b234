// How answers look: Markdown rendered (safely), code highlighted with a copy button, and a call
// of a tool that does not exist shown as a failed tool card while the turn goes on.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { PASSWORD, SLOW_TIMEOUT, TEST_TIMEOUT, launchBrowser, makeUser, screenshot, seedWorld, signIn, startFakeLlm, startServer, waitUntil } from "./harness.mjs";

const markdownAnswer = [
  "## Plan",
  "",
  "Run **two** steps, then check the [docs](https://example.com/docs).",
  "",
  "| step | command |",
  "|------|---------|",
  "| 1 | `cargo build` |",
  "",
  "```rust",
  "fn main() {",
  '    println!("hi");',
  "}",
  "```",
  "",
  '<img src="x" onerror="window.__injected = true">',
].join("\n");

// In request order: the first chat's answer and title, then the unknown-tool chat's two model
// steps and its title.
const turns = [
  { steps: [{ type: "text", text: markdownAnswer }] },
  { steps: [{ type: "text", text: "Markdown chat" }] },
  { steps: [{ type: "tool_call", id: "call_frob", name: "frobnicate", arguments: { x: 1 } }] },
  { steps: [{ type: "text", text: "That tool does not exist, so here is the answer without it." }] },
  { steps: [{ type: "text", text: "Unknown tool chat" }] },
  { steps: [{ type: "text", text: "First answer." }] },
  { steps: [{ type: "text", text: "Access chat" }] },
  { steps: [{ type: "text", text: "Second answer, after access came back." }] },
  { steps: [{ type: "text", text: "I read your notes." }] },
  { steps: [{ type: "text", text: "Notes chat" }] },
  { steps: [{ type: "text", text: "Answered by the first model again." }] },
  { steps: [{ type: "text", text: "A retried answer." }] },
];

let server, llm, browser, world, dev;

before(
  async () => {
    llm = await startFakeLlm(turns);
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

async function send(page, text) {
  await page.getByRole("textbox", { name: "Chat message" }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  await page.waitForURL(/\/agents\/[0-9a-f-]{36}$/);
  return page.url().split("/").pop();
}

test("an answer renders as Markdown with a highlighted, copyable code block", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, dev);
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await send(page, "Show me a plan.");
  const answer = page.locator(".msg-assistant .markdown");
  await answer.getByRole("heading", { name: "Plan", level: 2 }).waitFor({ timeout: SLOW_TIMEOUT });
  await answer.locator("strong", { hasText: "two" }).waitFor();
  await answer.getByRole("cell", { name: "cargo build" }).waitFor();
  const link = answer.getByRole("link", { name: "docs" });
  assert.equal(await link.getAttribute("target"), "_blank");
  assert.match((await link.getAttribute("rel")) ?? "", /noopener/);
  // The highlighter loads lazily, then colours the keyword.
  const block = answer.locator(".code-block");
  await block.locator(".hljs-keyword", { hasText: "fn" }).waitFor({ timeout: SLOW_TIMEOUT });
  assert.equal(await block.locator(".code-block-lang").textContent(), "rust");
  await block.getByRole("button", { name: "Copy code" }).click();
  await block.getByRole("button", { name: "Copy code" }).getByText("Copied").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'fn main() {\n    println!("hi");\n}');
  // Raw HTML in an answer is text, never markup.
  assert.equal(await answer.locator("img").count(), 0);
  assert.equal(await page.evaluate(() => window.__injected === true), false);
  await answer.getByText(/<img src="x"/).waitFor();
  await screenshot(page, "answer-markdown");
  // The title request is the fake's second answer: wait for it so the next test's requests
  // meet the next answers in the script.
  await page.getByRole("link", { name: /Markdown chat/ }).waitFor({ timeout: SLOW_TIMEOUT });
  // The header and the tab follow the generated title, and the open chat is not unread.
  await page.getByRole("heading", { name: "Markdown chat", level: 1 }).waitFor();
  await waitUntil("tab title", async () => (await page.title()) === "Markdown chat · agentry");
  assert.equal(await page.locator(".chat-row.active .chat-row-title.unread").count(), 0);
  await context.close();
});

test("a call of a tool that does not exist fails its card and the answer continues", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, dev);
  // The chat page's first read of the chat is held until the answer is done, so the page never
  // sees the chat busy: its end must still be announced, since this tab started it.
  await page.route(/\/api\/experimental\/chats\/[0-9a-f-]{36}$/, async (route) => {
    if (route.request().method() !== "GET") return route.continue();
    const id = new URL(route.request().url()).pathname.split("/").pop();
    await waitUntil("chat waiting", async () => (await world.owner.get(`/api/experimental/chats/${id}`)).status === "waiting");
    await route.continue();
  });
  const chatId = await send(page, "Frobnicate it.");
  await page.getByText("That tool does not exist, so here is the answer without it.").waitFor({ timeout: SLOW_TIMEOUT });
  const card = page.locator('details.tool-card[data-tool="frobnicate"]');
  await card.waitFor();
  await card.click();
  await card.getByText(/There is no tool named/).waitFor();
  await waitUntil("chat waiting", async () => (await world.owner.get(`/api/experimental/chats/${chatId}`)).status === "waiting");
  // Screen readers hear the answer once it is done.
  await page.getByTestId("announcer").getByText("The agent finished answering.").waitFor();
  // Nothing says the chat waits for a client tool.
  assert.equal(await page.getByText(/Waiting for a client tool result/).count(), 0);
  await screenshot(page, "answer-unknown-tool");
  await context.close();
});

test("a failed send can be dismissed, a successful one clears it, and focus stays in the composer", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, dev);
  await send(page, "Hello.");
  await page.getByText("First answer.").waitFor({ timeout: SLOW_TIMEOUT });
  await page.getByRole("link", { name: /Access chat/ }).waitFor({ timeout: SLOW_TIMEOUT });
  const box = page.getByRole("textbox", { name: "Chat message" });

  // Access withdrawn: the send fails with the server's message, which can be dismissed.
  await world.owner.put(`/api/v2/organizations/${world.def.id}/members/dev/roles`, { roles: [] });
  await box.fill("Are you there?");
  await box.press("Enter");
  const alert = page.locator(".chat-bottom [role=alert]");
  await alert.waitFor();
  await screenshot(page, "chat-send-failed");
  await alert.getByRole("button", { name: "Dismiss error" }).click();
  await alert.waitFor({ state: "detached" });

  // The same failure again, then access comes back and the retry succeeds: no stale alert.
  await page.getByRole("button", { name: "Send" }).click();
  await alert.waitFor();
  await world.owner.put(`/api/v2/organizations/${world.def.id}/members/dev/roles`, { roles: ["agents-access"] });
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByText("Second answer, after access came back.").waitFor({ timeout: SLOW_TIMEOUT });
  assert.equal(await alert.count(), 0);
  // Sending with the button handed focus back to the message box.
  assert.equal(await box.evaluate((el) => el === document.activeElement), true);
  await context.close();
});

test("a deep link survives signing in", { timeout: TEST_TIMEOUT }, async () => {
  const context = await browser.newContext({ baseURL: server.base, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // The favicon is served.
  assert.equal((await fetch(`${server.base}/favicon.svg`)).headers.get("content-type"), "image/svg+xml");
  await page.goto("/settings/tokens?tab=1");
  await page.waitForURL(/\/login\?redirect=/);
  await page.getByLabel("Email").fill(dev.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/settings\/tokens\?tab=1$/);
  await page.getByRole("heading", { name: "Tokens", level: 1 }).waitFor();
  await context.close();
});

test("at 390×844 the menu and the chat list are drawers and the composer stays on screen", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await signIn(browser, server.base, dev);
  await page.setViewportSize({ width: 390, height: 844 });
  const inView = async (locator) => {
    const box = await locator.boundingBox();
    return box !== null && box.y >= 0 && box.y + box.height <= 844 && box.x >= 0 && box.x + box.width <= 390;
  };
  // The create form: composer visible without scrolling, navigation tucked away.
  const box = page.getByRole("textbox", { name: "Chat message" });
  await box.waitFor();
  assert.ok(await inView(box), "composer on screen");
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.waitFor({ state: "hidden" }); // After the resize's transition.
  await screenshot(page, "mobile-new-agent");

  // The menu opens as a drawer, closes on Escape, and closes by itself after navigating.
  await page.getByRole("button", { name: "Open menu" }).click();
  await nav.waitFor({ state: "visible" });
  await screenshot(page, "mobile-menu-open");
  await page.keyboard.press("Escape");
  await nav.waitFor({ state: "hidden" });
  await page.getByRole("button", { name: "Open menu" }).click();
  await nav.getByRole("link", { name: "Tokens" }).click();
  await page.getByRole("heading", { name: "Tokens", level: 1 }).waitFor();
  await nav.waitFor({ state: "hidden" });

  // The chat list is a drawer too; choosing a chat closes it, and the chat's composer is on screen.
  await page.getByRole("button", { name: "Open menu" }).click();
  await nav.getByRole("link", { name: "Agents" }).click();
  const list = page.getByRole("list", { name: "Chats" });
  await list.waitFor({ state: "hidden" });
  await page.getByRole("button", { name: "Show chats" }).click();
  await list.waitFor({ state: "visible" });
  await screenshot(page, "mobile-chat-list");
  await list.getByRole("link", { name: /Markdown chat/ }).click();
  await page.getByRole("heading", { name: "Markdown chat", level: 1 }).waitFor();
  await list.waitFor({ state: "hidden" });
  const reply = page.getByRole("textbox", { name: "Chat message" });
  assert.ok(await inView(reply), "chat composer on screen");
  assert.ok(await inView(page.getByRole("button", { name: "Send" })), "Send on screen");
  await screenshot(page, "mobile-chat");
  await context.close();
});

test("the composer picks a model and attaches files, on a new chat and on a reply", { timeout: TEST_TIMEOUT }, async () => {
  const second = await world.owner.post("/api/experimental/chats/model-configs", {
    provider: "openai-compat",
    model: "fake-model-2",
    display_name: "Second model",
    input_price_per_million: 3,
    output_price_per_million: 15,
  });
  const { context, page } = await signIn(browser, server.base, dev);
  const model = page.getByRole("combobox", { name: "Model" });
  await model.selectOption({ label: "Second model" });
  await page.getByRole("button", { name: "More options" }).click();
  const chooser = page.waitForEvent("filechooser");
  await page.getByRole("menuitem", { name: "Attach file…" }).click();
  await (await chooser).setFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("remember the milk") });
  await page.getByRole("button", { name: "Remove attachment notes.txt" }).waitFor();
  const chatId = await send(page, "Read my notes.");
  await page.getByText("I read your notes.").waitFor({ timeout: SLOW_TIMEOUT });
  // Each answer says what it used and cost; the header sums the chat.
  const footer = page.locator(".msg-assistant .msg-usage").first();
  await footer.getByText(/[\d.]+k? in · [\d.]+k? out · cost \d/).waitFor({ timeout: SLOW_TIMEOUT });
  await page.getByLabel("Chat usage").getByText(/tokens · cost/).waitFor();
  const chat = await world.owner.get(`/api/experimental/chats/${chatId}`);
  assert.equal(chat.last_model_config_id, second.id);
  const { messages } = await world.owner.get(`/api/experimental/chats/${chatId}/messages`);
  const user = messages.find((m) => m.role === "user");
  assert.ok(user.content.some((p) => p.type === "file"), JSON.stringify(user.content));
  // The choice is remembered for the next new chat.
  assert.equal(await page.evaluate(() => localStorage.getItem("agents.last-model-config-id")), second.id);

  // A reply starts on the chat's model; switching sends with the other one.
  await page.getByRole("link", { name: /Notes chat/ }).waitFor({ timeout: SLOW_TIMEOUT });
  await waitUntil("reply model preselected", async () => (await model.inputValue()) === second.id);
  await model.selectOption({ label: "Fake model (default)" });
  await page.getByRole("textbox", { name: "Chat message" }).fill("And now?");
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByText("Answered by the first model again.").waitFor({ timeout: SLOW_TIMEOUT });
  const after = await world.owner.get(`/api/experimental/chats/${chatId}`);
  assert.notEqual(after.last_model_config_id, second.id);
  await screenshot(page, "composer-model-and-file");

  // Retry runs the last message again: the newest answer is replaced.
  await waitUntil("chat idle", async () => (await world.owner.get(`/api/experimental/chats/${chatId}`)).status === "waiting");
  await page.getByRole("button", { name: "Retry" }).click();
  await page.getByText("A retried answer.").waitFor({ timeout: SLOW_TIMEOUT });
  await page.getByText("Answered by the first model again.").waitFor({ state: "detached" });
  // Copy puts the answer's text on the clipboard.
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.getByRole("button", { name: "Copy answer" }).last().click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "A retried answer.");
  await context.close();
});
