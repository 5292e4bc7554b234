// The rules of the create form's organization picker, as a pure reducer plus selectors.
//
// Which organization a new chat goes to decides who can see it, which workspaces it may use and
// which attachments belong to it, so the rules here are deliberately strict: nothing is sent
// before permissions have settled, a workspace from another organization is never sent, and a
// choice the user made is never switched silently. The module knows nothing about React, fetch or
// localStorage: the hook in `useOrgPicker.ts` feeds it server answers and mirrors `state.stored`
// into localStorage.

import type { Chat, ChatInputPart, CreateChatRequest, Organization, Workspace } from "../api/types";

/** localStorage key of the organization the user last picked on purpose. */
export const STORED_ORG_KEY = "agents.selected-organization-id";
/** localStorage key of the workspace the user last attached on purpose. */
export const STORED_WORKSPACE_KEY = "agents.selected-workspace-id";

export type Load<T> = { status: "loading" } | { status: "error"; error: unknown } | { status: "ready"; value: T };

/** The organizations the user belongs to and, keyed by org id, whether they may create chats there. */
export interface Permissions {
  organizations: Organization[];
  allowed: Record<string, boolean>;
}

/** An uploaded file waiting to be sent; uploads belong to the organization they were made in. */
export interface Attachment {
  fileId: string;
  name: string;
  organizationId: string;
}

export interface StoredChoice {
  organizationId: string | null;
  workspaceId: string | null;
}

export interface OrgPickerState {
  permissions: Load<Permissions>;
  workspaces: Load<Workspace[]>;
  /**
   * The organization the form uses. It is adopted once when permissions settle and afterwards
   * changes only when the user picks another one or when it stops being permitted.
   */
  selectedOrgId: string | null;
  /** The chosen workspace, possibly stale (remembered from storage) until checked against the list. */
  workspaceId: string | null;
  attachments: Attachment[];
  /** The organization a pending "Change organization?" confirmation would switch to. */
  pendingOrgId: string | null;
  submitting: boolean;
  submitError: unknown;
  /** What localStorage must hold; only deliberate choices are written here. */
  stored: StoredChoice;
}

export type OrgPickerAction =
  | { type: "permissionsLoaded"; permissions: Permissions }
  | { type: "permissionsFailed"; error: unknown }
  | { type: "workspacesLoaded"; workspaces: Workspace[] }
  | { type: "workspacesFailed"; error: unknown }
  | { type: "selectOrg"; organizationId: string }
  | { type: "confirmOrgChange" }
  | { type: "cancelOrgChange" }
  /** `null` is "Auto-create Workspace": no workspace is sent and the server creates one. */
  | { type: "selectWorkspace"; workspaceId: string | null }
  | { type: "addAttachment"; attachment: Attachment }
  | { type: "removeAttachment"; fileId: string }
  | { type: "submitStarted" }
  | { type: "submitFailed"; error: unknown }
  | { type: "dismissSubmitError" }
  | { type: "submitSucceeded"; chat: Chat };

export function initialOrgPickerState(stored: StoredChoice, attachments: Attachment[] = []): OrgPickerState {
  return {
    permissions: { status: "loading" },
    workspaces: { status: "loading" },
    selectedOrgId: null,
    workspaceId: stored.workspaceId,
    attachments,
    pendingOrgId: null,
    submitting: false,
    submitError: null,
    stored,
  };
}

/** The organizations the user may create chats in, in the server's order; empty until loaded. */
export function permittedOrganizations(state: OrgPickerState): Organization[] {
  if (state.permissions.status !== "ready") return [];
  const { organizations, allowed } = state.permissions.value;
  return organizations.filter((o) => allowed[o.id] === true);
}

/** First match wins: the remembered choice, the `is_default` org, the first permitted org. */
export function defaultOrganization(permitted: Organization[], rememberedId: string | null): Organization | null {
  return (
    permitted.find((o) => o.id === rememberedId) ??
    permitted.find((o) => o.is_default) ??
    permitted[0] ??
    null
  );
}

function isPermitted(state: OrgPickerState, orgId: string | null): boolean {
  return orgId !== null && permittedOrganizations(state).some((o) => o.id === orgId);
}

/** Switches organization on purpose: the workspace and this org's attachments go, the choice is stored. */
function switchOrg(state: OrgPickerState, orgId: string): OrgPickerState {
  const from = state.selectedOrgId;
  return {
    ...state,
    selectedOrgId: orgId,
    pendingOrgId: null,
    workspaceId: null,
    attachments: state.attachments.filter((a) => a.organizationId !== from),
    submitError: null,
    stored: { organizationId: orgId, workspaceId: null },
  };
}

function onPermissionsLoaded(state: OrgPickerState, permissions: Permissions): OrgPickerState {
  const next: OrgPickerState = { ...state, permissions: { status: "ready", value: permissions } };
  const permitted = permittedOrganizations(next);
  if (next.pendingOrgId !== null && !isPermitted(next, next.pendingOrgId)) {
    // The dialog asked about an organization that is gone; nothing is left to confirm.
    next.pendingOrgId = null;
  }
  if (permitted.length === 0) {
    // Access may come back, so storage (the remembered org, workspace and attachments) stays.
    next.selectedOrgId = null;
    next.pendingOrgId = null;
    return next;
  }
  if (next.selectedOrgId !== null && isPermitted(next, next.selectedOrgId)) {
    return next;
  }
  if (next.selectedOrgId !== null && next.stored.organizationId === next.selectedOrgId) {
    // The remembered org was revoked: forget it so a later re-permission cannot switch back to it.
    next.stored = { ...next.stored, organizationId: null };
  }
  next.selectedOrgId = defaultOrganization(permitted, next.stored.organizationId)?.id ?? null;
  return next;
}

export function orgPickerReducer(state: OrgPickerState, action: OrgPickerAction): OrgPickerState {
  switch (action.type) {
    case "permissionsLoaded":
      return onPermissionsLoaded(state, action.permissions);
    case "permissionsFailed":
      return { ...state, permissions: { status: "error", error: action.error }, pendingOrgId: null };
    case "workspacesLoaded":
      // The remembered workspace is only judged (via `effectiveWorkspace`), never deleted here:
      // a late permissions answer can still change which organization is in effect.
      return { ...state, workspaces: { status: "ready", value: action.workspaces } };
    case "workspacesFailed":
      return { ...state, workspaces: { status: "error", error: action.error } };
    case "selectOrg": {
      if (state.submitting || action.organizationId === state.selectedOrgId) return state;
      if (!isPermitted(state, action.organizationId)) return state;
      if (hasOrgDependents(state)) return { ...state, pendingOrgId: action.organizationId };
      return switchOrg(state, action.organizationId);
    }
    case "confirmOrgChange": {
      if (state.pendingOrgId === null) return state;
      // Permissions may have changed while the dialog was open: check the target once more.
      if (!isPermitted(state, state.pendingOrgId)) return { ...state, pendingOrgId: null };
      return switchOrg(state, state.pendingOrgId);
    }
    case "cancelOrgChange":
      return state.pendingOrgId === null ? state : { ...state, pendingOrgId: null };
    case "selectWorkspace": {
      if (state.submitting) return state;
      if (action.workspaceId === null) {
        return { ...state, workspaceId: null, stored: { ...state.stored, workspaceId: null } };
      }
      // Only a workspace of the confirmed, permitted organization can be chosen (and stored).
      const ws = workspacesForSelectedOrg(state).find((w) => w.id === action.workspaceId);
      if (!ws) return state;
      return { ...state, workspaceId: ws.id, stored: { ...state.stored, workspaceId: ws.id } };
    }
    case "addAttachment":
      if (state.selectedOrgId === null || action.attachment.organizationId !== state.selectedOrgId) return state;
      if (state.attachments.some((a) => a.fileId === action.attachment.fileId)) return state;
      return { ...state, attachments: [...state.attachments, action.attachment] };
    case "removeAttachment":
      return { ...state, attachments: state.attachments.filter((a) => a.fileId !== action.fileId) };
    case "submitStarted":
      return { ...state, submitting: true, submitError: null };
    case "submitFailed":
      // Everything the user chose stays so they can fix the cause (switch org, detach) and retry.
      return { ...state, submitting: false, submitError: action.error };
    case "dismissSubmitError":
      return { ...state, submitError: null };
    case "submitSucceeded": {
      const sent = state.selectedOrgId;
      return { ...state, submitting: false, submitError: null, attachments: state.attachments.filter((a) => a.organizationId !== sent) };
    }
  }
}

// ---- selectors ----

export type PickerPhase = "loading" | "error" | "no-permission" | "ready";

export function pickerPhase(state: OrgPickerState): PickerPhase {
  if (state.permissions.status === "loading") return "loading";
  if (state.permissions.status === "error") return "error";
  return state.selectedOrgId === null ? "no-permission" : "ready";
}

/** The picker appears only once permissions have settled and leave more than one choice. */
export function showPicker(state: OrgPickerState): boolean {
  return pickerPhase(state) === "ready" && permittedOrganizations(state).length > 1;
}

export function selectedOrganization(state: OrgPickerState): Organization | null {
  return permittedOrganizations(state).find((o) => o.id === state.selectedOrgId) ?? null;
}

/** The workspace list filtered to the selected organization; empty until both have loaded. */
export function workspacesForSelectedOrg(state: OrgPickerState): Workspace[] {
  if (state.workspaces.status !== "ready" || state.selectedOrgId === null) return [];
  const org = state.selectedOrgId;
  return state.workspaces.value.filter((w) => w.organization_id === org);
}

/**
 * The workspace a chat would be created with: the chosen one if it still exists and belongs to
 * the selected organization, else none. A remembered workspace of another org is "none".
 */
export function effectiveWorkspace(state: OrgPickerState): Workspace | null {
  if (state.workspaceId === null) return null;
  return workspacesForSelectedOrg(state).find((w) => w.id === state.workspaceId) ?? null;
}

export function attachmentsForSelectedOrg(state: OrgPickerState): Attachment[] {
  return state.attachments.filter((a) => a.organizationId === state.selectedOrgId);
}

/**
 * Whether switching organization would throw something away. While the workspace list is still
 * loading, a remembered workspace counts: it may well belong to the current org.
 */
export function hasOrgDependents(state: OrgPickerState): boolean {
  if (attachmentsForSelectedOrg(state).length > 0) return true;
  if (state.workspaceId === null) return false;
  return state.workspaces.status === "loading" || effectiveWorkspace(state) !== null;
}

export type SendBlocker =
  | "permissions-loading"
  | "permissions-error"
  | "no-permission"
  | "workspaces-loading"
  | "workspaces-error"
  | "confirm-pending"
  | "submitting"
  | "empty-message";

/** Why Send is disabled, or null when it is enabled. */
export function sendBlocker(state: OrgPickerState, text: string): SendBlocker | null {
  switch (pickerPhase(state)) {
    case "loading":
      return "permissions-loading";
    case "error":
      return "permissions-error";
    case "no-permission":
      return "no-permission";
    case "ready":
      break;
  }
  // Sending before the list arrives would silently drop a remembered workspace.
  if (state.workspaces.status === "loading") return "workspaces-loading";
  // Without the list a chosen workspace cannot be checked; without a choice there is nothing to check.
  if (state.workspaces.status === "error" && state.workspaceId !== null) return "workspaces-error";
  if (state.pendingOrgId !== null) return "confirm-pending";
  if (state.submitting) return "submitting";
  if (text.trim() === "") return "empty-message";
  return null;
}

/** The body of `POST /api/experimental/chats`, or null when Send is disabled. */
export function createChatRequest(state: OrgPickerState, text: string): CreateChatRequest | null {
  if (sendBlocker(state, text) !== null || state.selectedOrgId === null) return null;
  const content: ChatInputPart[] = [{ type: "text", text: text.trim() }];
  for (const a of attachmentsForSelectedOrg(state)) content.push({ type: "file", file_id: a.fileId });
  const req: CreateChatRequest = { organization_id: state.selectedOrgId, content };
  const ws = effectiveWorkspace(state);
  if (ws) req.workspace_id = ws.id;
  return req;
}

/** Labels for organization options: `display_name || name`, with the slug added to duplicates. */
export function organizationLabels(orgs: Organization[]): Map<string, string> {
  const base = (o: Organization) => o.display_name.trim() || o.name;
  const counts = new Map<string, number>();
  for (const o of orgs) counts.set(base(o), (counts.get(base(o)) ?? 0) + 1);
  return new Map(orgs.map((o) => [o.id, (counts.get(base(o)) ?? 0) > 1 ? `${base(o)} (${o.name})` : base(o)]));
}
