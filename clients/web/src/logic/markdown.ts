// Markdown as Discord users write it, turned into the Matrix `formatted_body`
// (org.matrix.custom.html) and sanitised for display: what the sender wrote
// is never trusted HTML.
import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import typescript from "highlight.js/lib/languages/typescript";
import { Marked } from "marked";

hljs.registerLanguage("bash", bash);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("js", javascript);
hljs.registerLanguage("json", json);
hljs.registerLanguage("python", python);
hljs.registerLanguage("py", python);
hljs.registerLanguage("rust", rust);
hljs.registerLanguage("rs", rust);
hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("ts", typescript);

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  // HTML typed into the composer is shown as typed, never interpreted.
  renderer: { html: ({ text }) => escapeHtml(text) },
});

/** Tags the Matrix spec suggests clients allow in formatted bodies, plus span for highlighting. */
const ALLOWED_TAGS = [
  "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup", "sub", "li", "b", "i",
  "u", "strong", "em", "s", "code", "hr", "br", "div", "table", "thead", "tbody", "tr", "th", "td", "caption",
  "pre", "span", "details", "summary",
];

/** The formatted body to send, or null when the text has no formatting (send plain text only). */
export function toFormattedBody(text: string): string | null {
  const html = (marked.parse(text) as string).trim();
  const plain = plainHtml(text);
  if (html === plain || html === `<p>${escapeHtml(text)}</p>`) return null;
  return html;
}

/** Sanitised HTML for a message: its formatted body, or its plain body as markdown-free text. */
export function renderMessage(body: string, formatted?: string | null): string {
  const source = formatted ?? plainHtml(body);
  const clean = DOMPurify.sanitize(stripReplyFallback(source), {
    ALLOWED_TAGS: [...ALLOWED_TAGS, "img"],
    ALLOWED_ATTR: ["href", "class", "data-mx-spoiler", "start", "src", "alt", "title", "height", "data-mx-emoticon"],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|matrix:|mxc:|#)/i,
  });
  return highlightCode(inlineEmoticonsOnly(clean));
}

/** The live preview of what the composer holds. */
export function previewMarkdown(text: string): string {
  return renderMessage(text, toFormattedBody(text) ?? undefined);
}

/** Colours code blocks whose language highlight.js knows (`language-x` class from the fence). */
function highlightCode(html: string): string {
  return html.replace(/<pre><code class="language-([\w-]+)">([\s\S]*?)<\/code><\/pre>/g, (whole, lang, code) => {
    if (!hljs.getLanguage(lang)) return whole;
    const highlighted = hljs.highlight(unescapeHtml(code), { language: lang }).value;
    return `<pre><code class="hljs language-${lang}">${highlighted}</code></pre>`;
  });
}

/**
 * The only images a message may show are custom emoji (`data-mx-emoticon`
 * with an mxc source, fetched by the client with its token); any other
 * image would be a request to wherever its URL points, so it becomes its
 * alt text. Emoticons keep their mxc URI in `data-mxc`, for the client to
 * load, and no `src` a browser would fetch by itself.
 */
function inlineEmoticonsOnly(html: string): string {
  return html.replace(/<img\b[^>]*>/g, (tag) => {
    const src = /\ssrc="(mxc:\/\/[^"]+)"/.exec(tag)?.[1];
    const alt = /\salt="([^"]*)"/.exec(tag)?.[1] ?? "";
    if (!src || !/\sdata-mx-emoticon\b/.test(tag)) return alt;
    return `<img class="emoticon" data-mxc="${src}" alt="${alt}" title="${alt}">`;
  });
}

/** Rich replies carry a quote of the parent (`mx-reply`) that clients hide. */
function stripReplyFallback(html: string): string {
  return html.replace(/<mx-reply>[\s\S]*?<\/mx-reply>/g, "");
}

/** Plain text as the HTML of one paragraph, line breaks kept. */
export function plainHtml(text: string): string {
  return `<p>${escapeHtml(text).replace(/\n/g, "<br>")}</p>`;
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function unescapeHtml(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}
