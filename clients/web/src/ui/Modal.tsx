// A dialog: focus moves into it, Escape closes it, the page behind is inert
// to screen readers while it is open.
import { type ReactNode, useEffect, useRef } from "react";
import { createPortal } from "react-dom";

export function Modal({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  // Parents pass a new onClose on every render; focus must move in once,
  // not back to the first field whenever the parent re-renders.
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input, textarea, select, button:not(.close)");
    (first ?? ref.current)?.focus();
    // The page behind is out of reach (Tab, clicks, screen readers) while
    // the dialog is open; dialogs live outside #root.
    const app = document.getElementById("root");
    app?.setAttribute("inert", "");
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && close.current();
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keydown", onKey);
      // The last dialog to close gives the page back (read from the page
      // itself, once this one's nodes are gone), then focus returns to
      // where it was (an inert element could not take it).
      const release = () => {
        if (document.querySelector(".modal-backdrop")) return false;
        app?.removeAttribute("inert");
        if (previous?.isConnected) previous.focus();
        return true;
      };
      if (!release()) setTimeout(release);
    };
  }, []);
  // A portal, so a dialog opened from inside a form is not a nested form.
  return createPortal(
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={wide ? "modal wide" : "modal"} role="dialog" aria-modal="true" aria-label={title} ref={ref} tabIndex={-1}>
        <header>
          <h2>{title}</h2>
          <button className="close" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </header>
        {children}
      </div>
    </div>,
    document.body,
  );
}
