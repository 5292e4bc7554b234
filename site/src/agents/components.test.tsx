// Static renders of the create form's pieces: the accessible names the end-to-end tests will rely
// on, and which controls are disabled. (Interaction is covered by the reducer tests; these check
// that the components expose the reducer's answers.)

import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import type { Organization } from "../api/types";
import { ApiError } from "../api/http";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorAlert } from "../components/ErrorAlert";
import { Composer, WorkspaceOption } from "./Composer";
import { OrgPickerMenu } from "./OrgPickerMenu";
import { noAccessMessage } from "./AgentsPage";
import { setupSteps } from "./Onboarding";
import { noSuchUser } from "../settings/OrganizationPage";
import { ToolError } from "./ToolCard";

const noop = () => {};

function composer(overrides: Partial<Parameters<typeof Composer>[0]> = {}) {
  return renderToStaticMarkup(
    <Composer
      text="hello"
      onTextChange={noop}
      canSend={true}
      busy={false}
      hint={null}
      onSend={noop}
      workspaces={[]}
      workspacesLoading={false}
      selectedWorkspace={null}
      onSelectWorkspace={noop}
      {...overrides}
    />,
  );
}

describe("Composer", () => {
  it("names the prompt box and the buttons", () => {
    const html = composer();
    expect(html).toContain('aria-label="Chat message"');
    expect(html).toContain('data-testid="chat-message-input"');
    expect(html).toContain('aria-label="More options"');
    expect(html).toMatch(/<button type="submit" class="primary">Send<\/button>/);
  });

  it("disables Send when the reducer says so, and shows the reason", () => {
    const html = composer({ canSend: false, hint: "Loading your workspaces…" });
    expect(html).toMatch(/<button type="submit" class="primary" disabled="">Send<\/button>/);
    expect(html).toContain("Loading your workspaces…");
  });

  it("shows the chosen workspace as a removable chip", () => {
    const html = composer({ selectedWorkspace: { id: "w1", name: "dev", organization_id: "o1" } });
    expect(html).toContain("Workspace: dev");
    expect(html).toContain('aria-label="Remove workspace dev"');
  });
});

describe("OrgPickerMenu", () => {
  const org = (id: string, display_name: string, name = id): Organization => ({
    id,
    name,
    display_name,
    description: "",
    icon: "",
    is_default: false,
    created_at: "",
    updated_at: "",
  });

  it("names its trigger after the selected organization", () => {
    const html = renderToStaticMarkup(
      <OrgPickerMenu organizations={[org("a", "Acme"), org("b", "Beta")]} selectedId="b" onSelect={noop} />,
    );
    // A select (role combobox) is not named by its content, so its label starts with the
    // words of the visible name (axe's label-content-name-mismatch).
    expect(html).toContain('aria-label="Organization: Beta"');
    expect(html).toContain('role="combobox"');
    expect(html).toContain('aria-haspopup="listbox"');
  });

  it("disambiguates duplicate display names in the trigger", () => {
    const html = renderToStaticMarkup(
      <OrgPickerMenu organizations={[org("a", "Eng", "eng-eu"), org("b", "Eng", "eng-us")]} selectedId="b" onSelect={noop} />,
    );
    expect(html).toContain('aria-label="Organization: Eng (eng-us)"');
  });
});

describe("ConfirmDialog", () => {
  it("leaves nothing behind while closed", () => {
    // Open, it is Ariakit's modal dialog in a portal (role, name and focus are checked in the
    // browser: e2e/picker.test.mjs).
    const html = renderToStaticMarkup(
      <ConfirmDialog open={false} title="Change organization?" description="d" confirmLabel="Continue" onConfirm={noop} onCancel={noop} />,
    );
    expect(html).toBe("");
  });
});

describe("ErrorAlert", () => {
  it("shows the message, then the detail, then field errors", () => {
    const err = new ApiError(400, {
      message: "Validation failed.",
      detail: "Check the fields.",
      validations: [{ field: "name", detail: "must not be empty" }],
    });
    const html = renderToStaticMarkup(<ErrorAlert error={err} />);
    expect(html).toContain('role="alert"');
    expect(html.indexOf("Validation failed.")).toBeLessThan(html.indexOf("Check the fields."));
    expect(html).toContain("<code>name</code>: must not be empty");
  });

  it("renders nothing without an error", () => {
    expect(renderToStaticMarkup(<ErrorAlert error={null} />)).toBe("");
  });
});

describe("noAccessMessage", () => {
  const org = (name: string, display_name: string) => ({ id: name, name, display_name }) as Organization;
  it("names the role and the organizations", () => {
    expect(noAccessMessage([org("acme", "Acme")])).toBe(
      "You need the Agents access role to start agents. Ask an organization admin for Agents access in Acme.",
    );
    expect(noAccessMessage([org("a", "A"), org("b", ""), org("c", "C")])).toMatch(/in A, b or C\.$/);
    expect(noAccessMessage([])).toMatch(/not a member of any organization/);
  });
});

describe("setupSteps", () => {
  it("lists provider, model and people in order with their pages", () => {
    const steps = setupSteps({ provider: true, model: false, people: false });
    expect(steps.map((s) => [s.to, s.done])).toEqual([
      ["/settings/providers", true],
      ["/settings/models", false],
      ["/settings/organizations", false],
    ]);
  });
});

describe("noSuchUser", () => {
  it("says what to do, by who may create accounts", () => {
    expect(noSuchUser("zed", true)).toBe('There is no user named "zed" that you can add. Create the account on the Users page first.');
    expect(noSuchUser("zed", false)).toMatch(/Ask a site owner or user admin/);
  });
});

describe("ToolError", () => {
  it("shows an unreachable workspace agent as its own banner", () => {
    const html = renderToStaticMarkup(
      <ToolError text="workspace agent disconnected: the agent's connection closed. The agent reconnects by itself; retry in a few seconds" />,
    );
    expect(html).toContain('class="tool-agent-disconnected" role="alert"');
    expect(html).toContain("<strong>Workspace agent disconnected</strong>");
    expect(html).toContain("retry in a few seconds");
  });

  it("shows other errors as they are", () => {
    const html = renderToStaticMarkup(<ToolError text="&quot;x&quot; does not exist in the workspace" />);
    expect(html).not.toContain("tool-agent-disconnected");
    expect(html).toContain('<pre class="tool-error">');
  });
});

describe("WorkspaceOption", () => {
  it("shows the workspace's agent state", () => {
    const w = { id: "w1", name: "dev", organization_id: "o1", agent: { status: "connected", version: "0.1.0" } };
    const html = renderToStaticMarkup(<WorkspaceOption workspace={w} />);
    expect(html).toContain("dev");
    expect(html).toContain("agent connected (0.1.0)");
    const away = { ...w, agent: { status: "never_connected", version: "" } };
    expect(renderToStaticMarkup(<WorkspaceOption workspace={away} />)).toContain("agent never connected");
  });
});
