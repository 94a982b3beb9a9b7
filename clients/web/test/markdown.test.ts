import { describe, expect, it } from "vitest";
import { previewMarkdown, renderMessage, toFormattedBody } from "../src/logic/markdown";

describe("markdown to formatted_body", () => {
  it("sends plain text without a formatted body", () => {
    expect(toFormattedBody("hello there")).toBeNull();
    expect(toFormattedBody("two\nlines")).toBeNull();
  });

  it("formats emphasis, code and links", () => {
    expect(toFormattedBody("**bold** and *it*")).toBe("<p><strong>bold</strong> and <em>it</em></p>");
    expect(toFormattedBody("`x`")).toBe("<p><code>x</code></p>");
    expect(toFormattedBody("[site](https://example.org)")).toContain('<a href="https://example.org">site</a>');
  });

  it("keeps a fenced block's language for highlighting", () => {
    const html = toFormattedBody("```rust\nfn main() {}\n```")!;
    expect(html).toContain('<pre><code class="language-rust">');
  });

  it("shows typed HTML as text, never as markup", () => {
    const html = toFormattedBody("<b>hi</b> **x**")!;
    expect(html).toContain("&lt;b&gt;");
    expect(html).not.toContain("<b>");
  });
});

describe("rendering received messages", () => {
  it("strips scripts, handlers and javascript: links from formatted bodies", () => {
    const html = renderMessage("x", '<p onclick="evil()">hi<script>alert(1)</script><a href="javascript:alert(1)">l</a><img src="https://tracker.example/p.gif"></p>');
    expect(html).not.toMatch(/script|onclick|javascript|img|tracker/);
    expect(html).toContain("hi");
  });

  it("escapes plain bodies", () => {
    expect(renderMessage("<i>not html</i>")).toBe("<p>&lt;i&gt;not html&lt;/i&gt;</p>");
  });

  it("hides rich-reply fallbacks", () => {
    expect(renderMessage("x", "<mx-reply><blockquote>old</blockquote></mx-reply>new")).toBe("new");
  });

  it("highlights code of known languages in the preview", () => {
    const html = previewMarkdown("```js\nconst a = 1;\n```");
    expect(html).toContain('class="hljs language-js"');
    expect(html).toContain("hljs-keyword");
  });
});
