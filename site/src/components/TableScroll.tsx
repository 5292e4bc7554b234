import type { ReactNode } from "react";

/**
 * A table that may be wider than a narrow screen scrolls sideways inside this box instead of
 * pushing the page wide. The box is focusable and named so keyboard users can scroll it too
 * (axe's scrollable-region-focusable).
 */
export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-scroll" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
