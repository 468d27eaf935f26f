import { useEffect, useRef, type ReactNode } from "react";
import { FOCUSABLE, trappedFocus } from "../state/focus";

/**
 * A modal dialog usable by keyboard alone (WAI-ARIA's modal dialog
 * pattern): the focus moves into it when it opens (its first control, or
 * the one marked `data-autofocus`), Tab and Shift+Tab stay inside it,
 * Escape closes it, and the focus returns where it was when it closes.
 */
export function Modal({
  label,
  testId,
  className = "",
  onClose,
  closeOnBackdrop = false,
  children,
}: {
  label: string;
  testId: string;
  className?: string;
  onClose: () => void;
  /** A click beside the dialog closes it (dialogs that only inform). */
  closeOnBackdrop?: boolean;
  children: ReactNode;
}) {
  const box = useRef<HTMLDivElement>(null);
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const root = box.current!;
    const first = root.querySelector<HTMLElement>("[data-autofocus]") ?? root.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? root).focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        close.current();
      } else if (e.key === "Tab") {
        const all = [...root.querySelectorAll<HTMLElement>(FOCUSABLE)];
        const next = trappedFocus(all.length, all.indexOf(document.activeElement as HTMLElement), e.shiftKey);
        if (next != null) {
          e.preventDefault();
          all[next].focus();
        }
      }
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      before?.focus?.();
    };
  }, []);
  return (
    <div className="modal-backdrop" onClick={closeOnBackdrop ? onClose : undefined}>
      <div
        ref={box}
        className={`card modal ${className}`}
        role="dialog"
        aria-modal="true"
        aria-label={label}
        tabIndex={-1}
        data-testid={testId}
        onClick={(e) => e.stopPropagation()}
      >
        {children}
      </div>
    </div>
  );
}
