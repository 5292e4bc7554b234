// The create form's localStorage keys. Storage can throw (private browsing, quota, disabled), and
// losing a remembered choice must never break the form, so every access is guarded.

import { STORED_ORG_KEY, STORED_WORKSPACE_KEY, type StoredChoice } from "./orgPicker";

/** localStorage key of the unsent prompt. */
export const DRAFT_KEY = "agents.empty-input";

export type KeyValueStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export function readKey(storage: KeyValueStorage, key: string): string | null {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

/** Writes `value`, or removes the key when it is null or empty. */
export function writeKey(storage: KeyValueStorage, key: string, value: string | null): void {
  try {
    if (value === null || value === "") storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    // Nothing to do: the choice simply is not remembered.
  }
}

export function readStoredChoice(storage: KeyValueStorage): StoredChoice {
  return {
    organizationId: readKey(storage, STORED_ORG_KEY) || null,
    workspaceId: readKey(storage, STORED_WORKSPACE_KEY) || null,
  };
}

export function writeStoredChoice(storage: KeyValueStorage, choice: StoredChoice): void {
  writeKey(storage, STORED_ORG_KEY, choice.organizationId);
  writeKey(storage, STORED_WORKSPACE_KEY, choice.workspaceId);
}
