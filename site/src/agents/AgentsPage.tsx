import { lazy, Suspense, useEffect, useState } from "react";
import type { Organization } from "../api/types";
import { ErrorAlert } from "../components/ErrorAlert";
import { navigate } from "../router";
import { markStarted } from "./startedChats";
import { Composer, PendingButton } from "./Composer";
import { organizationLabels } from "./orgPicker";
import {
  type SendBlocker,
  attachmentsForSelectedOrg,
  effectiveWorkspace,
  permittedOrganizations,
  pickerPhase,
  sendBlocker,
  showPicker,
  workspacesForSelectedOrg,
} from "./orgPicker";
import { DRAFT_KEY, readKey, writeKey } from "./storage";
import { uploadFile } from "../api/chats";
import { LAST_MODEL_KEY, hasDefaultModel, preselectModel, useModelCatalog } from "./models";
import { ModelSelect } from "./ModelSelect";
import { NoModelNotice, OnboardingChecklist } from "./Onboarding";
import { useOrgPicker } from "./useOrgPicker";

// Ariakit's widgets load after first paint (docs/benchmarks/ui.md); placeholders hold their place.
const OrgPickerMenu = lazy(() => import("./OrgPickerMenu").then((m) => ({ default: m.OrgPickerMenu })));
const ConfirmDialog = lazy(() => import("../components/ConfirmDialog").then((m) => ({ default: m.ConfirmDialog })));

const hints: Record<SendBlocker, string | null> = {
  "permissions-loading": "Checking your permissions…",
  "permissions-error": null,
  "no-permission": null,
  "workspaces-loading": "Loading your workspaces…",
  "workspaces-error": "Your workspaces could not be checked. Remove the workspace or reload.",
  "confirm-pending": null,
  submitting: null,
  "empty-message": null,
};

/**
 * `/agents`: the create form. A failed create keeps the draft, the organization and the workspace
 * so the user can fix the cause and send again; success opens the new chat.
 */
export function AgentsPage() {
  const picker = useOrgPicker();
  const { state, dispatch } = picker;
  const [text, setText] = useState(() => readKey(window.localStorage, DRAFT_KEY) ?? "");

  useEffect(() => writeKey(window.localStorage, DRAFT_KEY, text), [text]);

  const phase = pickerPhase(state);
  const catalog = useModelCatalog(phase === "ready", state.selectedOrgId);
  const models = catalog.status === "ready" ? catalog.models : [];
  const [pickedModel, setPickedModel] = useState<string | null>(() => readKey(window.localStorage, LAST_MODEL_KEY));
  const modelId = preselectModel(models, [pickedModel]);
  const [uploading, setUploading] = useState(false);
  const [uploadError, setUploadError] = useState<unknown>(null);

  async function attachFiles(files: File[]) {
    const org = state.selectedOrgId;
    if (!org) return;
    setUploading(true);
    setUploadError(null);
    try {
      for (const file of files) {
        const { id } = await uploadFile(org, file);
        dispatch({ type: "addAttachment", attachment: { fileId: id, name: file.name, organizationId: org } });
      }
    } catch (e) {
      setUploadError(e);
    } finally {
      setUploading(false);
    }
  }
  const blocker = sendBlocker(state, text);
  const permitted = permittedOrganizations(state);

  async function send() {
    const chat = await picker.send(text, modelId);
    if (chat) {
      setText("");
      writeKey(window.localStorage, DRAFT_KEY, null);
      markStarted(chat.id);
      navigate(`/agents/${encodeURIComponent(chat.id)}`);
    }
  }

  return (
    <section className="page agents-page">
      <div className="agents-column">
        <h1>New agent</h1>
        <OnboardingChecklist />
        {hasDefaultModel(catalog) === false && phase !== "no-permission" ? <NoModelNotice /> : null}
        <ErrorAlert title="Could not attach the file" error={uploadError} onDismiss={() => setUploadError(null)} />

        {state.submitError ? <ErrorAlert error={state.submitError} onDismiss={() => picker.dispatch({ type: "dismissSubmitError" })} /> : null}
        {state.permissions.status === "error" ? (
          <ErrorAlert title="Could not check your permissions" error={state.permissions.error} onRetry={picker.refreshPermissions} />
        ) : null}
        {state.workspaces.status === "error" ? (
          <ErrorAlert title="Could not load your workspaces" error={state.workspaces.error} />
        ) : null}

        {phase === "no-permission" ? (
          <div role="alert" className="alert alert-info">
            <strong className="alert-title">Permission required</strong>
            <p className="alert-message">{noAccessMessage(state.permissions.status === "ready" ? state.permissions.value.organizations : [])}</p>
            <button type="button" onClick={picker.refreshPermissions}>
              Check again
            </button>
          </div>
        ) : (
          <>
            {showPicker(state) && state.selectedOrgId ? (
              <Suspense fallback={<PendingOrgPicker organizations={permitted} selectedId={state.selectedOrgId} />}>
                <OrgPickerMenu
                  organizations={permitted}
                  selectedId={state.selectedOrgId}
                  disabled={state.submitting}
                  onSelect={(organizationId) => dispatch({ type: "selectOrg", organizationId })}
                />
              </Suspense>
            ) : null}
            <Composer
              text={text}
              onTextChange={setText}
              canSend={blocker === null}
              busy={state.submitting}
              hint={blocker ? hints[blocker] : null}
              onSend={send}
              organizationId={state.selectedOrgId}
              workspaces={workspacesForSelectedOrg(state)}
              workspacesLoading={state.workspaces.status === "loading" || phase !== "ready"}
              selectedWorkspace={effectiveWorkspace(state)}
              onSelectWorkspace={(workspaceId) => dispatch({ type: "selectWorkspace", workspaceId })}
              attachments={attachmentsForSelectedOrg(state)}
              uploading={uploading}
              onAttachFiles={attachFiles}
              onRemoveAttachment={(fileId) => dispatch({ type: "removeAttachment", fileId })}
              modelSelect={
                <ModelSelect
                  models={models}
                  value={modelId}
                  disabled={state.submitting}
                  onChange={(id) => {
                    setPickedModel(id);
                    writeKey(window.localStorage, LAST_MODEL_KEY, id);
                  }}
                />
              }
            />
          </>
        )}
      </div>
      <Suspense fallback={null}>
        <ConfirmDialog
        open={state.pendingOrgId !== null}
        title="Change organization?"
        description="Changing organization will remove your selected workspace and attachments."
        confirmLabel="Continue"
        onConfirm={() => dispatch({ type: "confirmOrgChange" })}
        onCancel={() => dispatch({ type: "cancelOrgChange" })}
        />
      </Suspense>
    </section>
  );
}

/** The organization picker's place while its code (Ariakit's select) loads: same name, disabled. */
function PendingOrgPicker({ organizations, selectedId }: { organizations: Organization[]; selectedId: string }) {
  const label = organizationLabels(organizations).get(selectedId) ?? "";
  return (
    <div className="org-picker">
      <PendingButton label={`Organization: ${label}`} text={label} className="org-trigger" />
    </div>
  );
}

/** Names what is missing and who can grant it: the role, in words, and the organizations. */
export function noAccessMessage(orgs: Organization[]): string {
  if (orgs.length === 0) return "You are not a member of any organization yet. Ask an administrator to add you to one.";
  const names = orgs.map((o) => o.display_name || o.name);
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
  return `You need the Agents access role to start agents. Ask an organization admin for Agents access in ${list}.`;
}
