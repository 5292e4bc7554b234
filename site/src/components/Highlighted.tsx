import hljs from "highlight.js/lib/common";

/**
 * Syntax-highlighted code. highlight.js escapes the code and emits only `<span class="hljs-…">`
 * markup (no inline styles or scripts), so setting its output as HTML is safe under the page's
 * Content-Security-Policy. Loaded lazily by `CodeBlock`.
 */
export default function Highlighted({ code, language }: { code: string; language?: string }) {
  const known = language !== undefined && hljs.getLanguage(language) !== undefined;
  if (!known) return <code>{code}</code>;
  const html = hljs.highlight(code, { language: language!, ignoreIllegals: true }).value;
  return <code className={`hljs language-${language}`} dangerouslySetInnerHTML={{ __html: html }} />;
}
