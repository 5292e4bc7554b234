import { useEffect, useRef, useState } from "react";

/**
 * Reveals streamed text a few characters per frame so bursts of deltas read as typing. The pace
 * grows with the backlog, so the display never falls far behind the stream. When `text` stops
 * being an extension of what is shown (a new reply), it starts over.
 */
export function useSmoothText(text: string, enabled: boolean): string {
  const [shown, setShown] = useState(enabled ? "" : text);
  const shownRef = useRef(shown);
  shownRef.current = shown;

  useEffect(() => {
    if (!enabled) {
      setShown(text);
      return;
    }
    if (!text.startsWith(shownRef.current)) setShown("");
    let raf = 0;
    const step = () => {
      const cur = shownRef.current;
      const base = text.startsWith(cur) ? cur : "";
      if (base.length >= text.length) return;
      const backlog = text.length - base.length;
      const next = text.slice(0, base.length + Math.max(2, Math.ceil(backlog / 8)));
      shownRef.current = next;
      setShown(next);
      raf = requestAnimationFrame(step);
    };
    raf = requestAnimationFrame(step);
    return () => cancelAnimationFrame(raf);
  }, [text, enabled]);

  return enabled ? shown : text;
}
