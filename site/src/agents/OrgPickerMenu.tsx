import { type KeyboardEvent, useEffect, useId, useRef, useState } from "react";
import type { Organization } from "../api/types";
import { organizationLabels } from "./orgPicker";

/** Initials for an organization's avatar: the first letters of its first two words. */
function initials(label: string): string {
  const words = label.split(/[\s\-_]+/).filter(Boolean);
  return words.slice(0, 2).map((w) => w.charAt(0).toUpperCase()).join("") || "?";
}

/**
 * The compact organization selector: a button named `Organization: <name>` opening a searchable
 * list. It renders choices only; which org is selected and whether a switch needs confirmation is
 * the reducer's business.
 */
export function OrgPickerMenu(props: {
  organizations: Organization[];
  selectedId: string;
  disabled?: boolean;
  onSelect: (organizationId: string) => void;
}) {
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState("");
  const rootRef = useRef<HTMLDivElement>(null);
  const listId = useId();
  const labels = organizationLabels(props.organizations);
  const selectedLabel = labels.get(props.selectedId) ?? "";
  const q = query.trim().toLowerCase();
  const matches = props.organizations.filter(
    (o) => q === "" || (labels.get(o.id) ?? "").toLowerCase().includes(q) || o.name.toLowerCase().includes(q),
  );

  // Closing in any way forgets the search, so the next opening lists every organization.
  function close() {
    setOpen(false);
    setQuery("");
  }

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (rootRef.current && !rootRef.current.contains(e.target as Node)) close();
    };
    document.addEventListener("mousedown", onDown);
    return () => document.removeEventListener("mousedown", onDown);
  }, [open]);

  function choose(id: string) {
    close();
    // Focus goes back to the button (a confirmation dialog, if one opens, returns it there too).
    rootRef.current?.querySelector<HTMLElement>("button")?.focus();
    props.onSelect(id);
  }

  function onListKey(e: KeyboardEvent<HTMLElement>) {
    const options = [...(rootRef.current?.querySelectorAll<HTMLElement>('[role="option"]') ?? [])];
    const i = options.indexOf(document.activeElement as HTMLElement);
    if (e.key === "ArrowDown") {
      e.preventDefault();
      options[Math.min(i + 1, options.length - 1)]?.focus();
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      if (i <= 0) rootRef.current?.querySelector<HTMLElement>("input")?.focus();
      else options[i - 1]?.focus();
    } else if (e.key === "Escape") {
      e.preventDefault();
      close();
      rootRef.current?.querySelector<HTMLElement>("button")?.focus();
    }
  }

  return (
    <div className="org-picker" ref={rootRef}>
      <button
        type="button"
        className="org-trigger"
        aria-haspopup="listbox"
        aria-expanded={open}
        aria-controls={open ? listId : undefined}
        disabled={props.disabled}
        onClick={() => (open ? close() : setOpen(true))}
      >
        <span className="avatar" aria-hidden="true">
          {initials(selectedLabel)}
        </span>
        <span>
          <span className="visually-hidden">Organization: </span>
          {selectedLabel}
        </span>
        <span aria-hidden="true">▾</span>
      </button>
      {open ? (
        <div className="popover" onKeyDown={onListKey}>
          <input
            type="search"
            aria-label="Find organization"
            placeholder="Find organization…"
            value={query}
            autoFocus
            onChange={(e) => setQuery(e.target.value)}
          />
          {matches.length === 0 ? (
            <p className="muted empty">No organizations found.</p>
          ) : (
            <ul role="listbox" id={listId} aria-label="Organizations">
              {matches.map((o) => {
                const label = labels.get(o.id) ?? o.name;
                return (
                  <li
                    key={o.id}
                    role="option"
                    tabIndex={-1}
                    aria-selected={o.id === props.selectedId}
                    onClick={() => choose(o.id)}
                    onKeyDown={(e) => {
                      if (e.key === "Enter" || e.key === " ") {
                        e.preventDefault();
                        choose(o.id);
                      }
                    }}
                  >
                    <span className="avatar" aria-hidden="true">
                      {initials(label)}
                    </span>
                    {label}
                    {o.id === props.selectedId ? (
                      <span className="option-check" aria-hidden="true">
                        ✓
                      </span>
                    ) : null}
                  </li>
                );
              })}
            </ul>
          )}
        </div>
      ) : null}
    </div>
  );
}
