// Which model a message goes to: the user's pick from the catalog the server offers.

import { useEffect, useState } from "react";
import { listModels } from "../api/chats";
import type { ChatModel } from "../api/types";

/** localStorage key of the model the user last picked on purpose. */
export const LAST_MODEL_KEY = "agents.last-model-config-id";

/** The models a new message may use: those of providers that are available. */
export function usableModels(providers: { available: boolean; models: ChatModel[] }[]): ChatModel[] {
  return providers.filter((p) => p.available).flatMap((p) => p.models);
}

/**
 * The model to preselect: the chat's own model (for a reply), else the user's last pick, else the
 * default, as long as it is still in the catalog; `null` when there is nothing to choose.
 */
export function preselectModel(models: ChatModel[], preferred: (string | null | undefined)[]): string | null {
  for (const id of preferred) if (id && models.some((m) => m.id === id)) return id;
  return models.find((m) => m.is_default)?.id ?? models[0]?.id ?? null;
}

export type Catalog = { status: "loading" } | { status: "error"; error: unknown } | { status: "ready"; models: ChatModel[] };

/**
 * The model catalog of an organization (what its chats may use), fetched once `enabled` (the
 * create form waits for permissions first).
 */
export function useModelCatalog(enabled: boolean, organizationId: string | null): Catalog {
  const [catalog, setCatalog] = useState<Catalog>({ status: "loading" });
  useEffect(() => {
    if (!enabled || !organizationId) return;
    let live = true;
    listModels(organizationId).then(
      (r) => live && setCatalog({ status: "ready", models: usableModels(r.providers) }),
      (error: unknown) => live && setCatalog({ status: "error", error }),
    );
    return () => {
      live = false;
    };
  }, [enabled, organizationId]);
  return catalog;
}

/** Whether a new chat without a chosen model has one: the default is usable. */
export function hasDefaultModel(catalog: Catalog): boolean | null {
  return catalog.status === "ready" ? catalog.models.some((m) => m.is_default) : null;
}
