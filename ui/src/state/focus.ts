/**
 * Where Tab moves the focus inside a dialog (WAI-ARIA's modal dialog
 * pattern): from the last element to the first, and with Shift from the
 * first to the last; from outside the dialog, to its first. `null`: leave
 * it to the browser (the focus stays within the dialog by itself).
 */
export function trappedFocus(count: number, current: number, shift: boolean): number | null {
  if (count === 0) return null;
  if (current < 0) return shift ? count - 1 : 0;
  if (!shift && current === count - 1) return 0;
  if (shift && current === 0) return count - 1;
  return null;
}

/** What Tab can reach inside `root`, in order. */
export const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';
