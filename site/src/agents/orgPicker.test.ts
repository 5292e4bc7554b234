import { describe, expect, it } from "vitest";
import type { Organization, Workspace } from "../api/types";
import {
  type Attachment,
  type OrgPickerAction,
  type OrgPickerState,
  type StoredChoice,
  attachmentsForSelectedOrg,
  createChatRequest,
  defaultOrganization,
  effectiveWorkspace,
  hasOrgDependents,
  initialOrgPickerState,
  organizationLabels,
  orgPickerReducer,
  permittedOrganizations,
  pickerPhase,
  selectedOrganization,
  sendBlocker,
  showPicker,
  workspacesForSelectedOrg,
} from "./orgPicker";

function org(id: string, extra: Partial<Organization> = {}): Organization {
  return {
    id,
    name: id,
    display_name: id.toUpperCase(),
    description: "",
    icon: "",
    is_default: false,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...extra,
  };
}

function ws(id: string, organization_id: string): Workspace {
  return { id, name: `ws-${id}`, organization_id };
}

const dflt = org("dflt", { is_default: true });
const acme = org("acme");
const beta = org("beta");
const allOrgs = [acme, dflt, beta];
const workspaces = [ws("w-dflt", "dflt"), ws("w-acme", "acme"), ws("w-acme2", "acme"), ws("w-beta", "beta")];

const noStorage: StoredChoice = { organizationId: null, workspaceId: null };

function allow(...ids: string[]): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const o of allOrgs) out[o.id] = ids.includes(o.id);
  return out;
}

function run(state: OrgPickerState, ...actions: OrgPickerAction[]): OrgPickerState {
  return actions.reduce(orgPickerReducer, state);
}

const permissions = (ids: string[], organizations: Organization[] = allOrgs): OrgPickerAction => ({
  type: "permissionsLoaded",
  permissions: { organizations, allowed: allow(...ids) },
});
const workspacesLoaded: OrgPickerAction = { type: "workspacesLoaded", workspaces };
const selectOrg = (organizationId: string): OrgPickerAction => ({ type: "selectOrg", organizationId });
const selectWorkspace = (workspaceId: string | null): OrgPickerAction => ({ type: "selectWorkspace", workspaceId });
const attach = (fileId: string, organizationId: string): OrgPickerAction => ({
  type: "addAttachment",
  attachment: { fileId, name: `${fileId}.png`, organizationId },
});

/** A form where everything has loaded and the user may create chats in every org. */
function loaded(stored: StoredChoice = noStorage, ids = ["acme", "dflt", "beta"]): OrgPickerState {
  return run(initialOrgPickerState(stored), permissions(ids), workspacesLoaded);
}

describe("permitted organizations", () => {
  it("keeps only orgs whose authcheck answer is true, in server order", () => {
    const s = run(initialOrgPickerState(noStorage), permissions(["beta", "acme"]));
    expect(permittedOrganizations(s).map((o) => o.id)).toEqual(["acme", "beta"]);
  });

  it("treats an org missing from the authcheck answer as not permitted", () => {
    const s = run(initialOrgPickerState(noStorage), {
      type: "permissionsLoaded",
      permissions: { organizations: allOrgs, allowed: { acme: true } },
    });
    expect(permittedOrganizations(s).map((o) => o.id)).toEqual(["acme"]);
  });

  it("is empty while permissions load", () => {
    expect(permittedOrganizations(initialOrgPickerState(noStorage))).toEqual([]);
  });
});

describe("single permitted org", () => {
  it("hides the picker and creates the chat in that org", () => {
    const s = run(initialOrgPickerState(noStorage), permissions(["dflt"], [dflt]), workspacesLoaded);
    expect(showPicker(s)).toBe(false);
    expect(selectedOrganization(s)?.id).toBe("dflt");
    expect(createChatRequest(s, "hello")).toEqual({
      organization_id: "dflt",
      content: [{ type: "text", text: "hello" }],
    });
  });

  it("hides the picker when only one of several memberships is permitted, and uses that one", () => {
    const s = loaded(noStorage, ["beta"]);
    expect(showPicker(s)).toBe(false);
    expect(selectedOrganization(s)?.id).toBe("beta");
    expect(createChatRequest(s, "hi")?.organization_id).toBe("beta");
  });
});

describe("default selection", () => {
  it("with several permitted orgs shows the picker and defaults to is_default", () => {
    const s = loaded();
    expect(showPicker(s)).toBe(true);
    expect(s.selectedOrgId).toBe("dflt");
  });

  it("prefers the remembered org when it is still permitted (the choice survives reload)", () => {
    const s = loaded({ organizationId: "beta", workspaceId: null });
    expect(s.selectedOrgId).toBe("beta");
  });

  it("ignores a remembered org that is no longer permitted", () => {
    const s = loaded({ organizationId: "beta", workspaceId: null }, ["acme", "dflt"]);
    expect(s.selectedOrgId).toBe("dflt");
  });

  it("falls back to the first permitted org when the default org is not permitted", () => {
    const s = loaded(noStorage, ["beta", "acme"]);
    expect(s.selectedOrgId).toBe("acme");
  });

  it("defaultOrganization applies remembered > is_default > first", () => {
    expect(defaultOrganization([acme, dflt], "acme")?.id).toBe("acme");
    expect(defaultOrganization([acme, dflt], "gone")?.id).toBe("dflt");
    expect(defaultOrganization([acme, beta], null)?.id).toBe("acme");
    expect(defaultOrganization([], "acme")).toBeNull();
  });

  it("adopts the resolved org, so a refetch with the same permissions does not switch it", () => {
    let s = loaded();
    s = run(s, selectOrg("acme"));
    s = run(s, permissions(["acme", "dflt", "beta"]));
    expect(s.selectedOrgId).toBe("acme");
  });

  it("does not write the adopted default to storage; only deliberate picks are remembered", () => {
    const s = loaded();
    expect(s.stored).toEqual(noStorage);
  });
});

describe("while permissions load", () => {
  const s = run(initialOrgPickerState({ organizationId: "acme", workspaceId: "w-acme" }), workspacesLoaded);

  it("hides the picker, selects nothing and disables Send", () => {
    expect(pickerPhase(s)).toBe("loading");
    expect(showPicker(s)).toBe(false);
    expect(s.selectedOrgId).toBeNull();
    expect(sendBlocker(s, "hello")).toBe("permissions-loading");
    expect(createChatRequest(s, "hello")).toBeNull();
  });

  it("ignores org and workspace picks and does not touch storage", () => {
    const after = run(s, selectOrg("acme"), selectWorkspace("w-acme2"));
    expect(after.selectedOrgId).toBeNull();
    expect(after.workspaceId).toBe("w-acme");
    expect(after.stored).toEqual({ organizationId: "acme", workspaceId: "w-acme" });
  });

  it("ignores attachments dropped before an org is known", () => {
    expect(run(s, attach("f1", "acme")).attachments).toEqual([]);
  });
});

describe("permissions query failure", () => {
  it("keeps Send disabled and shows the error phase", () => {
    const err = new Error("boom");
    const s = run(initialOrgPickerState(noStorage), workspacesLoaded, { type: "permissionsFailed", error: err });
    expect(pickerPhase(s)).toBe("error");
    expect(sendBlocker(s, "hello")).toBe("permissions-error");
    expect(s.permissions).toEqual({ status: "error", error: err });
  });

  it("a failed refetch also disables Send, and a later success keeps the adopted org", () => {
    let s = run(loaded(), selectOrg("acme"), { type: "permissionsFailed", error: new Error("x") });
    expect(sendBlocker(s, "hello")).toBe("permissions-error");
    s = run(s, permissions(["acme", "dflt", "beta"]));
    expect(s.selectedOrgId).toBe("acme");
    expect(sendBlocker(s, "hello")).toBeNull();
  });
});

describe("no permitted org", () => {
  const stored = { organizationId: "acme", workspaceId: "w-acme" };
  const attachment: Attachment = { fileId: "f1", name: "a.png", organizationId: "acme" };
  const s = run(initialOrgPickerState(stored, [attachment]), permissions([]), workspacesLoaded);

  it("is the permission-required phase with Send disabled and no picker", () => {
    expect(pickerPhase(s)).toBe("no-permission");
    expect(showPicker(s)).toBe(false);
    expect(sendBlocker(s, "hello")).toBe("no-permission");
    expect(createChatRequest(s, "hello")).toBeNull();
  });

  it("keeps the stored org, workspace and attachments because access may come back", () => {
    expect(s.stored).toEqual(stored);
    expect(s.attachments).toEqual([attachment]);
  });

  it("restores them all when access comes back", () => {
    const back = run(s, permissions(["acme", "dflt"]));
    expect(back.selectedOrgId).toBe("acme");
    expect(effectiveWorkspace(back)?.id).toBe("w-acme");
    expect(attachmentsForSelectedOrg(back)).toEqual([attachment]);
  });

  it("also applies when the user has no organizations at all", () => {
    const none = run(initialOrgPickerState(noStorage), {
      type: "permissionsLoaded",
      permissions: { organizations: [], allowed: {} },
    });
    expect(pickerPhase(none)).toBe("no-permission");
  });
});

describe("workspace list", () => {
  it("is filtered to the selected org", () => {
    let s = loaded();
    expect(workspacesForSelectedOrg(s).map((w) => w.id)).toEqual(["w-dflt"]);
    s = run(s, selectOrg("acme"));
    expect(workspacesForSelectedOrg(s).map((w) => w.id)).toEqual(["w-acme", "w-acme2"]);
  });

  it("is empty until the list has loaded", () => {
    const s = run(initialOrgPickerState(noStorage), permissions(["acme", "dflt"]));
    expect(workspacesForSelectedOrg(s)).toEqual([]);
  });

  it("an empty list (the server has no workspaces yet) still allows sending without a workspace", () => {
    const s = run(initialOrgPickerState(noStorage), permissions(["dflt"]), { type: "workspacesLoaded", workspaces: [] });
    expect(createChatRequest(s, "hi")).toEqual({ organization_id: "dflt", content: [{ type: "text", text: "hi" }] });
  });

  it("choosing a workspace stores it and sends it", () => {
    const s = run(loaded(), selectOrg("acme"), selectWorkspace("w-acme2"));
    expect(s.stored).toEqual({ organizationId: "acme", workspaceId: "w-acme2" });
    expect(createChatRequest(s, "hi")?.workspace_id).toBe("w-acme2");
  });

  it("Auto-create clears the choice and the stored key, and sends no workspace_id", () => {
    const s = run(loaded(), selectOrg("acme"), selectWorkspace("w-acme"), selectWorkspace(null));
    expect(s.workspaceId).toBeNull();
    expect(s.stored.workspaceId).toBeNull();
    expect(createChatRequest(s, "hi")).not.toHaveProperty("workspace_id");
  });

  it("refuses a workspace of another org or one that does not exist", () => {
    const s = loaded();
    expect(run(s, selectWorkspace("w-acme"))).toBe(s);
    expect(run(s, selectWorkspace("nope"))).toBe(s);
  });

  it("cannot be chosen (or stored) before the list has loaded", () => {
    const s = run(initialOrgPickerState(noStorage), permissions(["acme", "dflt"]), selectWorkspace("w-dflt"));
    expect(s.workspaceId).toBeNull();
    expect(s.stored.workspaceId).toBeNull();
  });
});

describe("remembered workspace", () => {
  it("from another org is never sent, and stays in storage until a deliberate org change", () => {
    const s = loaded({ organizationId: null, workspaceId: "w-acme" });
    expect(s.selectedOrgId).toBe("dflt");
    expect(effectiveWorkspace(s)).toBeNull();
    expect(createChatRequest(s, "hi")).toEqual({ organization_id: "dflt", content: [{ type: "text", text: "hi" }] });
    expect(s.stored.workspaceId).toBe("w-acme");
  });

  it("that no longer exists is treated as none", () => {
    const s = loaded({ organizationId: "dflt", workspaceId: "deleted" });
    expect(effectiveWorkspace(s)).toBeNull();
    expect(createChatRequest(s, "hi")).not.toHaveProperty("workspace_id");
    expect(hasOrgDependents(s)).toBe(false);
  });

  it("is kept while the list loads, and Send is disabled meanwhile", () => {
    const stored = { organizationId: "acme", workspaceId: "w-acme" };
    let s = run(initialOrgPickerState(stored), permissions(["acme", "dflt"]));
    expect(s.workspaceId).toBe("w-acme");
    expect(sendBlocker(s, "hi")).toBe("workspaces-loading");
    expect(createChatRequest(s, "hi")).toBeNull();
    s = run(s, workspacesLoaded);
    expect(createChatRequest(s, "hi")?.workspace_id).toBe("w-acme");
  });

  it("of the remembered org is used once both answers arrive, in either order", () => {
    const stored = { organizationId: "acme", workspaceId: "w-acme" };
    const a = run(initialOrgPickerState(stored), workspacesLoaded, permissions(["acme", "dflt"]));
    const b = run(initialOrgPickerState(stored), permissions(["acme", "dflt"]), workspacesLoaded);
    expect(effectiveWorkspace(a)?.id).toBe("w-acme");
    expect(effectiveWorkspace(b)?.id).toBe("w-acme");
  });
});

describe("workspace list failure", () => {
  it("blocks Send when a workspace is chosen, since it cannot be checked", () => {
    const s = run(initialOrgPickerState({ organizationId: null, workspaceId: "w-dflt" }), permissions(["dflt"]), {
      type: "workspacesFailed",
      error: new Error("x"),
    });
    expect(sendBlocker(s, "hi")).toBe("workspaces-error");
  });

  it("allows sending without a workspace", () => {
    const s = run(initialOrgPickerState(noStorage), permissions(["dflt"]), { type: "workspacesFailed", error: new Error("x") });
    expect(createChatRequest(s, "hi")).toEqual({ organization_id: "dflt", content: [{ type: "text", text: "hi" }] });
  });
});

describe("changing organization", () => {
  it("with nothing depending on the org switches at once and remembers the choice", () => {
    const s = run(loaded(), selectOrg("acme"));
    expect(s.pendingOrgId).toBeNull();
    expect(s.selectedOrgId).toBe("acme");
    expect(s.stored).toEqual({ organizationId: "acme", workspaceId: null });
  });

  it("a silent switch drops a stale remembered workspace from storage (deliberate change)", () => {
    const s = run(loaded({ organizationId: null, workspaceId: "w-acme" }), selectOrg("beta"));
    expect(s.selectedOrgId).toBe("beta");
    expect(s.workspaceId).toBeNull();
    expect(s.stored.workspaceId).toBeNull();
  });

  it("ignores picking the current org, an unpermitted org or an unknown org", () => {
    const s = loaded(noStorage, ["acme", "dflt"]);
    expect(run(s, selectOrg("dflt"))).toBe(s);
    expect(run(s, selectOrg("beta"))).toBe(s);
    expect(run(s, selectOrg("nope"))).toBe(s);
  });

  describe("with a workspace selected", () => {
    const base = run(loaded(), selectOrg("acme"), selectWorkspace("w-acme"));

    it("asks first", () => {
      const s = run(base, selectOrg("beta"));
      expect(s.pendingOrgId).toBe("beta");
      expect(s.selectedOrgId).toBe("acme");
      expect(sendBlocker(s, "hi")).toBe("confirm-pending");
    });

    it("Cancel keeps the org and the workspace", () => {
      const s = run(base, selectOrg("beta"), { type: "cancelOrgChange" });
      expect(s.pendingOrgId).toBeNull();
      expect(s.selectedOrgId).toBe("acme");
      expect(effectiveWorkspace(s)?.id).toBe("w-acme");
      expect(s.stored).toEqual({ organizationId: "acme", workspaceId: "w-acme" });
    });

    it("Continue switches and clears the workspace", () => {
      const s = run(base, selectOrg("beta"), { type: "confirmOrgChange" });
      expect(s.pendingOrgId).toBeNull();
      expect(s.selectedOrgId).toBe("beta");
      expect(s.workspaceId).toBeNull();
      expect(s.stored).toEqual({ organizationId: "beta", workspaceId: null });
      expect(createChatRequest(s, "hi")).toEqual({ organization_id: "beta", content: [{ type: "text", text: "hi" }] });
    });
  });

  describe("with attachments", () => {
    const base = run(loaded(), attach("f1", "dflt"), attach("f2", "dflt"));

    it("asks first", () => {
      expect(hasOrgDependents(base)).toBe(true);
      expect(run(base, selectOrg("acme")).pendingOrgId).toBe("acme");
    });

    it("Cancel keeps the attachments, and they are sent", () => {
      const s = run(base, selectOrg("acme"), { type: "cancelOrgChange" });
      expect(s.selectedOrgId).toBe("dflt");
      expect(createChatRequest(s, "hi")?.content).toEqual([
        { type: "text", text: "hi" },
        { type: "file", file_id: "f1" },
        { type: "file", file_id: "f2" },
      ]);
    });

    it("Continue clears the attachments", () => {
      const s = run(base, selectOrg("acme"), { type: "confirmOrgChange" });
      expect(s.selectedOrgId).toBe("acme");
      expect(s.attachments).toEqual([]);
      expect(createChatRequest(s, "hi")?.content).toEqual([{ type: "text", text: "hi" }]);
    });

    it("Continue keeps another org's stored attachments, which are never sent here", () => {
      const other: Attachment = { fileId: "f9", name: "b.png", organizationId: "beta" };
      const s = run(
        run(initialOrgPickerState(noStorage, [other]), permissions(["acme", "dflt", "beta"]), workspacesLoaded),
        attach("f1", "dflt"),
        selectOrg("acme"),
        { type: "confirmOrgChange" },
      );
      expect(s.attachments).toEqual([other]);
      expect(attachmentsForSelectedOrg(s)).toEqual([]);
    });
  });

  it("with a remembered workspace still being checked, asks first", () => {
    const s = run(initialOrgPickerState({ organizationId: "acme", workspaceId: "w-acme" }), permissions(["acme", "dflt"]));
    expect(hasOrgDependents(s)).toBe(true);
    expect(run(s, selectOrg("dflt")).pendingOrgId).toBe("dflt");
  });

  it("Continue re-checks the target: if it is no longer permitted nothing changes", () => {
    let s = run(loaded(), selectOrg("acme"), selectWorkspace("w-acme"), selectOrg("beta"));
    // Revoked between opening the dialog and pressing Continue, without a reducer-visible refetch
    // having closed it (e.g. a hand-built state): confirm must still refuse.
    s = { ...s, permissions: { status: "ready", value: { organizations: allOrgs, allowed: allow("acme", "dflt") } } };
    s = run(s, { type: "confirmOrgChange" });
    expect(s.pendingOrgId).toBeNull();
    expect(s.selectedOrgId).toBe("acme");
    expect(effectiveWorkspace(s)?.id).toBe("w-acme");
  });

  it("confirm and cancel without a pending change do nothing", () => {
    const s = loaded();
    expect(run(s, { type: "confirmOrgChange" })).toBe(s);
    expect(run(s, { type: "cancelOrgChange" })).toBe(s);
  });

  it("is ignored while a send is in flight", () => {
    const s = run(loaded(), { type: "submitStarted" });
    expect(run(s, selectOrg("acme"))).toBe(s);
    expect(run(s, selectWorkspace(null))).toBe(s);
  });
});

describe("revocation by a permissions refetch", () => {
  it("drops the selected org and falls back to the default", () => {
    const s = run(loaded(), selectOrg("acme"), permissions(["dflt", "beta"]));
    expect(s.selectedOrgId).toBe("dflt");
  });

  it("forgets a remembered org that was revoked, so re-permission does not bring it back", () => {
    let s = run(loaded(), selectOrg("acme"));
    expect(s.stored.organizationId).toBe("acme");
    s = run(s, permissions(["dflt", "beta"]));
    expect(s.stored.organizationId).toBeNull();
    s = run(s, permissions(["acme", "dflt", "beta"]));
    expect(s.selectedOrgId).toBe("dflt");
  });

  it("stops sending the revoked org's workspace", () => {
    const s = run(loaded(), selectOrg("acme"), selectWorkspace("w-acme"), permissions(["dflt", "beta"]));
    expect(effectiveWorkspace(s)).toBeNull();
    expect(createChatRequest(s, "hi")).not.toHaveProperty("workspace_id");
  });

  it("closes a pending confirmation whose target org was revoked, leaving the selection alone", () => {
    const s = run(loaded(), selectOrg("acme"), selectWorkspace("w-acme"), selectOrg("beta"), permissions(["acme", "dflt"]));
    expect(s.pendingOrgId).toBeNull();
    expect(s.selectedOrgId).toBe("acme");
    expect(effectiveWorkspace(s)?.id).toBe("w-acme");
    expect(sendBlocker(s, "hi")).toBeNull();
  });

  it("keeps a pending confirmation whose target is still permitted", () => {
    const s = run(loaded(), selectOrg("acme"), selectWorkspace("w-acme"), selectOrg("beta"), permissions(["acme", "beta"]));
    expect(s.pendingOrgId).toBe("beta");
  });

  it("hides the picker when the refetch leaves a single org", () => {
    const s = run(loaded(), permissions(["beta"]));
    expect(showPicker(s)).toBe(false);
    expect(s.selectedOrgId).toBe("beta");
  });

  it("closes a pending confirmation when every org is revoked", () => {
    const s = run(loaded(), attach("f1", "dflt"), selectOrg("acme"), permissions([]));
    expect(s.pendingOrgId).toBeNull();
    expect(pickerPhase(s)).toBe("no-permission");
  });
});

describe("attachments", () => {
  it("are accepted only for the selected org, once each, and can be removed", () => {
    let s = run(loaded(), attach("f1", "dflt"), attach("f1", "dflt"), attach("f2", "acme"));
    expect(s.attachments.map((a) => a.fileId)).toEqual(["f1"]);
    s = run(s, { type: "removeAttachment", fileId: "f1" });
    expect(s.attachments).toEqual([]);
    expect(hasOrgDependents(s)).toBe(false);
  });
});

describe("sending", () => {
  it("is disabled for an empty or blank message", () => {
    const s = loaded();
    expect(sendBlocker(s, "")).toBe("empty-message");
    expect(sendBlocker(s, "  \n ")).toBe("empty-message");
    expect(sendBlocker(s, " hi ")).toBeNull();
    expect(createChatRequest(s, " hi ")?.content).toEqual([{ type: "text", text: "hi" }]);
  });

  it("always includes organization_id", () => {
    expect(createChatRequest(loaded(), "x")?.organization_id).toBe("dflt");
  });

  it("is disabled while a send is in flight", () => {
    expect(sendBlocker(run(loaded(), { type: "submitStarted" }), "hi")).toBe("submitting");
  });

  it("a failure keeps org, workspace and attachments and records the error", () => {
    const err = new Error("You are not a member of the specified organization.");
    const before = run(loaded(), selectOrg("acme"), selectWorkspace("w-acme"), attach("f1", "acme"));
    const s = run(before, { type: "submitStarted" }, { type: "submitFailed", error: err });
    expect(s.submitting).toBe(false);
    expect(s.submitError).toBe(err);
    expect(s.selectedOrgId).toBe("acme");
    expect(s.workspaceId).toBe("w-acme");
    expect(s.attachments).toHaveLength(1);
    expect(sendBlocker(s, "hi")).toBeNull();
  });

  it("the user can switch org after a failure and retry; the error clears", () => {
    const s = run(loaded(), { type: "submitStarted" }, { type: "submitFailed", error: new Error("no") }, selectOrg("acme"));
    expect(s.submitError).toBeNull();
    expect(createChatRequest(s, "hi")?.organization_id).toBe("acme");
  });

  it("success clears the sent attachments and keeps the workspace choice", () => {
    const before = run(loaded(), selectOrg("acme"), selectWorkspace("w-acme"), attach("f1", "acme"));
    const chat = {
      id: "c1",
      organization_id: "acme",
      owner_id: "u",
      title: "t",
      status: "pending" as const,
      created_at: "",
      updated_at: "",
      archived: false,
      has_unread: false,
      labels: {},
      last_model_config_id: "m",
      mcp_server_ids: [],
      pin_order: 0,
      root_chat_id: "c",
    };
    const s = run(before, { type: "submitStarted" }, { type: "submitSucceeded", chat });
    expect(s.submitting).toBe(false);
    expect(s.attachments).toEqual([]);
    expect(s.stored.workspaceId).toBe("w-acme");
  });
});

describe("organizationLabels", () => {
  it("uses display_name, falls back to name, and disambiguates duplicates with the slug", () => {
    const labels = organizationLabels([
      org("a", { name: "eng-eu", display_name: "Engineering" }),
      org("b", { name: "eng-us", display_name: "Engineering" }),
      org("c", { name: "ops", display_name: "" }),
      org("d", { name: "sales", display_name: "Sales" }),
    ]);
    expect([...labels.values()]).toEqual(["Engineering (eng-eu)", "Engineering (eng-us)", "ops", "Sales"]);
  });
});
