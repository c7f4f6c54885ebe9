/* Source code with syntax highlighting, and server-computed diffs.
 *
 * highlight.js escapes the source and returns markup; that markup is parsed in an inert
 * document (DOMParser: no script runs, nothing loads) and copied over node by node, keeping
 * only text and <span class="hljs-..."> elements. So even a highlighter bug cannot put a
 * candidate's markup on the page. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;

  function copyHighlighted(from, to) {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        to.appendChild(document.createTextNode(node.nodeValue));
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        if (node.tagName === "SPAN") {
          const span = document.createElement("span");
          const cls = (node.getAttribute("class") || "").split(/\s+/).filter((c) => /^hljs-[\w-]+$|^[\w-]+_$/.test(c));
          if (cls.length) span.className = cls.join(" ");
          copyHighlighted(node, span);
          to.appendChild(span);
        } else {
          to.appendChild(document.createTextNode(node.textContent));
        }
      }
    }
  }

  /* Fill `target` with `source`, highlighted as `language` when highlight.js knows it. */
  EF.highlightInto = function (target, source, language) {
    const hljs = window.hljs;
    if (!hljs || !language || !hljs.getLanguage(language) || source.length > 400000) {
      target.textContent = source;
      return target;
    }
    const markup = hljs.highlight(source, { language, ignoreIllegals: true }).value;
    const inert = new DOMParser().parseFromString("<!doctype html><body></body>", "text/html");
    const holder = inert.createElement("pre");
    // The markup goes into the inert document only: it is never attached to this page.
    holder.innerHTML = markup;
    copyHighlighted(holder, target);
    target.classList.add("hljs");
    return target;
  };

  /* A code block with line numbers. */
  EF.codeBlock = function (source, language) {
    const lines = source.length ? source.split("\n").length - (source.endsWith("\n") ? 1 : 0) : 0;
    const numbers = Array.from({ length: Math.max(lines, 1) }, (_, i) => i + 1).join("\n");
    const code = EF.highlightInto(h("code", { class: "language-" + (language || "plaintext") }), source, language);
    return h("div", { class: "code" }, h("pre", { class: "gutter", "aria-hidden": "true" }, numbers), h("pre", { class: "src" }, code));
  };

  /* Plain text that may be long (logs, prompts, answers): preformatted, wrapped. */
  EF.textBlock = function (text, cls) {
    return h("pre", { class: ["text", cls] }, text || "");
  };

  /* Text that may be long, in a table cell: the first `limit` characters, and the whole text
   * behind a click (a <details> element) when there is more. */
  EF.clipText = function (text, limit) {
    const value = text === null || text === undefined ? "" : String(text);
    if (value.length <= limit) return h("span", { class: "clip" }, value);
    return h(
      "details",
      { class: "clip" },
      h("summary", null, h("span", { class: "clip-head" }, value.slice(0, limit) + "…"), h("span", { class: "muted small" }, ` show all ${value.length} characters`)),
      EF.textBlock(value)
    );
  };

  /* A diff as the API returns it: {identical, added, removed, too_large, hunks}. */
  EF.diffView = function (diff, language) {
    if (diff.identical) return h("p", { class: "muted" }, "The two sources are identical.");
    if (diff.too_large) return h("p", { class: "muted" }, "The sources are too long to diff line by line.");
    const rows = [];
    for (const hunk of diff.hunks) {
      rows.push(h("tr", { class: "hunk" }, h("td", { colspan: 4 }, hunk.header)));
      for (const line of hunk.lines) {
        const cls = line.op === "+" ? "add" : line.op === "-" ? "del" : "ctx";
        const text = EF.highlightInto(h("code"), line.text, language);
        rows.push(
          h("tr", { class: cls }, h("td", { class: "ln" }, line.old ?? ""), h("td", { class: "ln" }, line.new ?? ""), h("td", { class: "op" }, line.op), h("td", { class: "dl" }, text))
        );
      }
    }
    return h(
      "div",
      { class: "diff" },
      h("div", { class: "diff-stats" }, h("span", { class: "added" }, `+${diff.added}`), " ", h("span", { class: "removed" }, `−${diff.removed}`), " lines"),
      h("table", { class: "diff-table" }, h("tbody", null, rows))
    );
  };
})();
