// Light, dark, or whatever the system prefers. The stylesheet keys its dark palette on
// `<html data-theme="dark">`; this module sets that attribute, before the first render and
// whenever the choice or (for "system") the system's preference changes.

export type ThemeChoice = "system" | "light" | "dark";

export const THEME_KEY = "agentry.theme";

function stored(): ThemeChoice {
  const v = window.localStorage.getItem(THEME_KEY);
  return v === "light" || v === "dark" ? v : "system";
}

const systemDark = () => window.matchMedia?.("(prefers-color-scheme: dark)").matches === true;

/** The scheme a choice means right now. */
export function resolveTheme(choice: ThemeChoice, prefersDark: boolean): "light" | "dark" {
  return choice === "system" ? (prefersDark ? "dark" : "light") : choice;
}

function apply(choice: ThemeChoice) {
  document.documentElement.dataset.theme = resolveTheme(choice, systemDark());
}

export function currentTheme(): ThemeChoice {
  return stored();
}

export function setTheme(choice: ThemeChoice) {
  if (choice === "system") window.localStorage.removeItem(THEME_KEY);
  else window.localStorage.setItem(THEME_KEY, choice);
  apply(choice);
}

/** Applies the stored choice and follows the system's preference while the choice is "system". */
export function initTheme() {
  apply(stored());
  window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener("change", () => apply(stored()));
}
