import type { KeyboardEvent } from "react";

const ITEM = '[role="menuitem"]:not([disabled]), [role="menuitemradio"]:not([disabled]), [role="menuitemcheckbox"]:not([disabled])';

/**
 * Keyboard behaviour of a menu (WAI-ARIA menu pattern): Up/Down move between items and wrap,
 * Home/End jump, Escape closes and returns focus to the button that opened it, Tab closes.
 * Attach to the element that contains the menu's items.
 */
export function menuKeyDown(e: KeyboardEvent<HTMLElement>, close: () => void) {
  const items = [...e.currentTarget.querySelectorAll<HTMLElement>(ITEM)];
  const at = items.indexOf(document.activeElement as HTMLElement);
  const focus = (i: number) => {
    if (items.length === 0) return;
    e.preventDefault();
    items[(i + items.length) % items.length]!.focus();
  };
  switch (e.key) {
    case "ArrowDown":
      return focus(at + 1);
    case "ArrowUp":
      return focus(at < 0 ? items.length - 1 : at - 1);
    case "Home":
      return focus(0);
    case "End":
      return focus(items.length - 1);
    case "Escape":
      e.preventDefault();
      e.stopPropagation();
      return close();
    case "Tab":
      return close();
  }
}
