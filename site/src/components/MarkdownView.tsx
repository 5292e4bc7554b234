import { lazy, memo, Suspense, useState, type ReactNode } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";

// The highlighter is the heaviest part of an answer's rendering, so it loads on the first code
// block instead of with the page (first-load JavaScript stays small).
const Highlighted = lazy(() => import("./Highlighted"));

/**
 * An assistant answer as GitHub-flavoured Markdown. Raw HTML in the text is shown as text, never
 * parsed (react-markdown's default), and link targets go through react-markdown's URL filter, so a
 * model cannot inject markup or `javascript:` links.
 */
const MarkdownView = memo(function MarkdownView({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown remarkPlugins={[remarkGfm]} components={components}>
        {text}
      </ReactMarkdown>
    </div>
  );
});

export default MarkdownView;

const components: Components = {
  a: ({ href, children }) => (
    <a href={href} target="_blank" rel="noopener noreferrer nofollow">
      {children}
    </a>
  ),
  // The Content-Security-Policy blocks images from other origins anyway; a link says where the
  // image is without the page fetching it.
  img: ({ src, alt }) =>
    typeof src === "string" ? (
      <a href={src} target="_blank" rel="noopener noreferrer nofollow">
        {alt || src}
      </a>
    ) : null,
  pre: ({ children }) => <>{children}</>,
  code: ({ className, children }) => {
    const text = String(children ?? "");
    const language = /language-([\w+-]+)/.exec(className ?? "")?.[1];
    // Fenced blocks carry a language class or span lines; everything else is inline code.
    if (language === undefined && !text.includes("\n")) return <code>{children}</code>;
    return <CodeBlock code={text.replace(/\n$/, "")} language={language} />;
  },
  table: ({ children }) => (
    <div className="table-scroll">
      <table>{children}</table>
    </div>
  ),
};

export function CodeBlock({ code, language }: { code: string; language?: string }) {
  return (
    <div className="code-block">
      <div className="code-block-bar">
        <span className="code-block-lang">{language ?? "text"}</span>
        <CopyButton text={code} />
      </div>
      <pre>
        <Suspense fallback={<code>{code}</code>}>
          <Highlighted code={code} language={language} />
        </Suspense>
      </pre>
    </div>
  );
}

function CopyButton({ text }: { text: string }): ReactNode {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
    window.setTimeout(() => setState("idle"), 1500);
  }
  return (
    <button type="button" className="link-button code-copy" onClick={copy} aria-label="Copy code">
      {state === "copied" ? "Copied" : state === "failed" ? "Copy failed" : "Copy"}
    </button>
  );
}
