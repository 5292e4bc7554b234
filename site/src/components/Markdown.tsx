import { lazy, Suspense } from "react";

// The Markdown renderer (and, behind it, the highlighter) loads with the first answer rather than
// with the page, which keeps first-load JavaScript small. Until it arrives the text shows as is.
const MarkdownView = lazy(() => import("./MarkdownView"));

export function Markdown({ text }: { text: string }) {
  return (
    <Suspense fallback={<div className="markdown markdown-pending">{text}</div>}>
      <MarkdownView text={text} />
    </Suspense>
  );
}
