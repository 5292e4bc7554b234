import { useCallback, useEffect, useReducer, useRef } from "react";
import { createChat } from "../api/chats";
import type { Chat } from "../api/types";
import { listMyWorkspaces } from "../api/workspaces";
import { loadChatCreatePermissions } from "./data";
import { type OrgPickerAction, type OrgPickerState, createChatRequest, initialOrgPickerState, orgPickerReducer } from "./orgPicker";
import { type KeyValueStorage, readStoredChoice, writeStoredChoice } from "./storage";

export interface OrgPicker {
  state: OrgPickerState;
  dispatch: (action: OrgPickerAction) => void;
  /** Asks the server again which organizations allow chat creation. */
  refreshPermissions: () => void;
  /** Creates the chat; resolves to it, or to null when Send is disabled or the request failed. */
  send: (text: string, modelConfigId?: string | null) => Promise<Chat | null>;
}

/**
 * Connects the organization picker's reducer to the server and to localStorage. Permissions are
 * fetched on mount and again whenever the tab becomes visible, so a revoked org is noticed; the
 * workspace list is fetched once.
 */
export function useOrgPicker(storage: KeyValueStorage = window.localStorage): OrgPicker {
  const [state, dispatch] = useReducer(orgPickerReducer, storage, (s) => initialOrgPickerState(readStoredChoice(s)));

  // Answers to older permission requests are dropped so they cannot overwrite newer ones.
  const permissionsRequest = useRef(0);
  const refreshPermissions = useCallback(() => {
    const n = ++permissionsRequest.current;
    loadChatCreatePermissions().then(
      (permissions) => n === permissionsRequest.current && dispatch({ type: "permissionsLoaded", permissions }),
      (error: unknown) => n === permissionsRequest.current && dispatch({ type: "permissionsFailed", error }),
    );
  }, []);

  useEffect(() => {
    refreshPermissions();
    const onVisible = () => {
      if (document.visibilityState === "visible") refreshPermissions();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      document.removeEventListener("visibilitychange", onVisible);
      permissionsRequest.current++;
    };
  }, [refreshPermissions]);

  useEffect(() => {
    let live = true;
    listMyWorkspaces().then(
      (workspaces) => live && dispatch({ type: "workspacesLoaded", workspaces }),
      (error: unknown) => live && dispatch({ type: "workspacesFailed", error }),
    );
    return () => {
      live = false;
    };
  }, []);

  useEffect(() => {
    writeStoredChoice(storage, state.stored);
  }, [storage, state.stored]);

  const stateRef = useRef(state);
  stateRef.current = state;
  const send = useCallback(async (text: string, modelConfigId: string | null = null) => {
    const req = createChatRequest(stateRef.current, text);
    if (!req) return null;
    if (modelConfigId) req.model_config_id = modelConfigId;
    dispatch({ type: "submitStarted" });
    try {
      const chat = await createChat(req);
      dispatch({ type: "submitSucceeded", chat });
      return chat;
    } catch (error) {
      dispatch({ type: "submitFailed", error });
      return null;
    }
  }, []);

  return { state, dispatch, refreshPermissions, send };
}
