// Answers render as GitHub-flavoured Markdown without letting a model inject markup.

import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import Markdown from "./MarkdownView";

const render = (text: string) => renderToStaticMarkup(<Markdown text={text} />);

describe("Markdown", () => {
  it("renders headings, emphasis, lists and tables", () => {
    const html = render("## Plan\n\n**bold** and `x`\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
    expect(html).toContain("<h2>Plan</h2>");
    expect(html).toContain("<strong>bold</strong>");
    expect(html).toContain("<code>x</code>");
    expect(html).toContain("<li>one</li>");
    expect(html).toMatch(/<div class="table-scroll"><table>.*<td>1<\/td>/s);
  });

  it("shows raw HTML as text instead of parsing it", () => {
    const html = render('<img src=x onerror="alert(1)"> <script>alert(2)</script>');
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<script");
  });

  it("drops javascript: links and opens links in a new tab without an opener", () => {
    const html = render("[click](javascript:alert(1)) [site](https://example.com)");
    expect(html).not.toContain("javascript:");
    expect(html).toContain('href="https://example.com" target="_blank" rel="noopener noreferrer nofollow"');
  });

  it("turns images into links so the page never fetches them", () => {
    const html = render("![diagram](https://example.com/a.png)");
    expect(html).not.toContain("<img");
    expect(html).toContain('href="https://example.com/a.png"');
  });

  it("renders fenced code in a block with its language and a copy button", () => {
    const html = render("```rust\nfn main() {}\n```");
    expect(html).toContain('class="code-block"');
    expect(html).toContain(">rust</span>");
    expect(html).toContain('aria-label="Copy code"');
    expect(html).toContain("fn main() {}");
  });
});
