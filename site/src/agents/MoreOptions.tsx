import * as Ariakit from "@ariakit/react";
import { type ReactNode, useState } from "react";
import type { Workspace } from "../api/types";
import { WorkspaceOption, useFilePicker } from "./Composer";

// Loaded on its own (React.lazy in Composer.tsx) with the other Ariakit widgets, so the first
// load does not carry the primitives library; see docs/benchmarks/ui.md.

export default function MoreOptions(props: {
  disabled: boolean;
  workspaces: Workspace[];
  workspacesLoading: boolean;
  selectedWorkspaceId: string | null;
  onSelectWorkspace: (workspaceId: string | null) => void;
  onAttachFiles?: (files: File[]) => void;
}) {
  const picker = useFilePicker(props.onAttachFiles);
  // Ariakit's menu: arrow keys, Escape and outside clicks close it and give focus back to "+".
  return (
    <div className="more-options">
      <Ariakit.MenuProvider placement="top-start">
        <Ariakit.MenuButton aria-label="More options" disabled={props.disabled}>
          +
        </Ariakit.MenuButton>
        <Ariakit.Menu aria-label="More options" className="popover" gutter={4} unmountOnHide>
          <WorkspaceMenu {...props} />
          {props.onAttachFiles ? (
            <Ariakit.MenuItem className="menu-item" onClick={picker.open}>
              Attach file…
            </Ariakit.MenuItem>
          ) : null}
        </Ariakit.Menu>
      </Ariakit.MenuProvider>
      {picker.input}
    </div>
  );
}

/**
 * "Attach workspace": a submenu holding a search field and the list of workspaces (a combobox
 * with its listbox, so typing filters while arrow keys move through the matches).
 */
/** The option value of "Auto-create Workspace" (no workspace id can look like it). */
const AUTO = "auto-create";

function WorkspaceMenu(props: {
  workspaces: Workspace[];
  workspacesLoading: boolean;
  selectedWorkspaceId: string | null;
  onSelectWorkspace: (workspaceId: string | null) => void;
}) {
  const parent = Ariakit.useMenuContext();
  const [query, setQuery] = useState("");
  const q = query.trim().toLowerCase();
  const matches = props.workspaces.filter((w) => q === "" || w.name.toLowerCase().includes(q));
  const choose = (id: string | null) => {
    props.onSelectWorkspace(id);
    parent?.hideAll();
  };
  const option = (id: string | null, key: string, label: ReactNode) => (
    <Ariakit.ComboboxItem
      key={key}
      className="menu-item"
      value={id ?? AUTO}
      setValueOnClick={false}
      hideOnClick={false}
      onClick={() => choose(id)}
    >
      {label}
    </Ariakit.ComboboxItem>
  );
  return (
    <Ariakit.ComboboxProvider
      resetValueOnHide
      includesBaseElement={false}
      value={query}
      setValue={setQuery}
      selectedValue={props.selectedWorkspaceId ?? AUTO}
    >
      <Ariakit.MenuProvider placement="right-start">
        <Ariakit.MenuButton render={<Ariakit.MenuItem className="menu-item" />} disabled={props.workspacesLoading}>
          Attach workspace{props.workspacesLoading ? " (loading…)" : ""}
        </Ariakit.MenuButton>
        {/* Portaled: rendered inside the parent menu, whose box scrolls (overflow: auto), the
            submenu was clipped to that box and only reachable by scrolling it sideways. */}
        <Ariakit.Menu aria-label="Attach workspace" className="popover" gutter={4} unmountOnHide portal>
          <Ariakit.Combobox autoSelect aria-label="Search workspaces" placeholder="Search workspaces..." />
          <Ariakit.ComboboxList aria-label="Workspaces">
            {option(null, "auto", "Auto-create Workspace")}
            {matches.map((w) => option(w.id, w.id, <WorkspaceOption workspace={w} />))}
          </Ariakit.ComboboxList>
          {matches.length === 0 ? <p className="muted empty">No workspaces found</p> : null}
        </Ariakit.Menu>
      </Ariakit.MenuProvider>
    </Ariakit.ComboboxProvider>
  );
}

