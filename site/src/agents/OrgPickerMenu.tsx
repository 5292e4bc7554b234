import * as Ariakit from "@ariakit/react";
import { useState } from "react";
import type { Organization } from "../api/types";
import { organizationLabels } from "./orgPicker";

/** Initials for an organization's avatar: the first letters of its first two words. */
function initials(label: string): string {
  const words = label.split(/[\s\-_]+/).filter(Boolean);
  return words.slice(0, 2).map((w) => w.charAt(0).toUpperCase()).join("") || "?";
}

/**
 * The compact organization selector: a select named `Organization: <name>` whose popover holds a
 * search field and the matching organizations (Ariakit's select with a combobox: arrow keys move
 * through the matches while typing filters, Escape or an outside click closes it and forgets the
 * search, and focus returns to the trigger). It renders choices only; which org is selected and
 * whether a switch needs confirmation is the reducer's business.
 */
export function OrgPickerMenu(props: {
  organizations: Organization[];
  selectedId: string;
  disabled?: boolean;
  onSelect: (organizationId: string) => void;
}) {
  const [query, setQuery] = useState("");
  const labels = organizationLabels(props.organizations);
  const selectedLabel = labels.get(props.selectedId) ?? "";
  const q = query.trim().toLowerCase();
  const matches = props.organizations.filter(
    (o) => q === "" || (labels.get(o.id) ?? "").toLowerCase().includes(q) || o.name.toLowerCase().includes(q),
  );

  return (
    <div className="org-picker">
      <Ariakit.ComboboxProvider resetValueOnHide includesBaseElement={false} value={query} setValue={setQuery}>
        <Ariakit.SelectProvider
          value={props.selectedId}
          setValue={(id) => {
            if (id !== props.selectedId) props.onSelect(id);
          }}
        >
          {/* A combobox is not named by its content, so the name is given; it starts with the
              visible text's words in the same order as axe's label-content-name-mismatch wants. */}
          <Ariakit.Select className="org-trigger" aria-label={`Organization: ${selectedLabel}`} disabled={props.disabled}>
            <span className="avatar" aria-hidden="true">
              {initials(selectedLabel)}
            </span>
            <span>{selectedLabel}</span>
            <span aria-hidden="true">▾</span>
          </Ariakit.Select>
          <Ariakit.SelectPopover className="popover" aria-label="Choose organization" gutter={4} portal unmountOnHide>
            <Ariakit.Combobox autoSelect aria-label="Find organization" placeholder="Find organization…" />
            {matches.length === 0 ? <p className="muted empty">No organizations found.</p> : null}
            <Ariakit.ComboboxList aria-label="Organizations">
              {matches.map((o) => {
                const label = labels.get(o.id) ?? o.name;
                return (
                  <Ariakit.SelectItem key={o.id} value={o.id} className="menu-item" render={<Ariakit.ComboboxItem />}>
                    <span className="avatar" aria-hidden="true">
                      {initials(label)}
                    </span>
                    {label}
                    {o.id === props.selectedId ? (
                      <span className="option-check" aria-hidden="true">
                        ✓
                      </span>
                    ) : null}
                  </Ariakit.SelectItem>
                );
              })}
            </Ariakit.ComboboxList>
          </Ariakit.SelectPopover>
        </Ariakit.SelectProvider>
      </Ariakit.ComboboxProvider>
    </div>
  );
}
