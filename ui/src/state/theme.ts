/** Light or dark colours: the system's choice unless the user picks one. */
export type ThemeChoice = "system" | "light" | "dark";

export const THEME_KEY = "c2s-theme";

/** The colours to show for a choice, given whether the system is dark. */
export function effectiveTheme(choice: ThemeChoice, systemDark: boolean): "light" | "dark" {
  return choice === "system" ? (systemDark ? "dark" : "light") : choice;
}

/** The next choice of the theme button: system, then light, then dark. */
export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return choice === "system" ? "light" : choice === "light" ? "dark" : "system";
}

/** A stored choice, or the system's for anything else (a first start, an old value). */
export function readTheme(stored: string | null): ThemeChoice {
  return stored === "light" || stored === "dark" ? stored : "system";
}

export function themeLabel(choice: ThemeChoice): string {
  return choice === "system" ? "Colours: as the system" : choice === "light" ? "Colours: light" : "Colours: dark";
}

/** Sets the page's colours for a choice. main.tsx calls it before React
 *  draws anything, so a dark-mode user never sees one light frame. */
export function applyTheme(choice: ThemeChoice): void {
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-theme", effectiveTheme(choice, dark));
}
