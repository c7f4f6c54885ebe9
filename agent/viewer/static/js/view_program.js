/* The program page: source, diff against the parent, evaluation stages, metrics, how the
 * learning proposer made it (when it did), the prompt and answer that produced it, its
 * children, and a diff against any other program; for a prompt program, its per-example
 * results against its parent's. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;
  const TABS = [
    ["source", "Source"],
    ["diff", "Diff vs parent"],
    ["evaluation", "Evaluation"],
    ["llm", "Prompt & answer"],
    ["children", "Children"],
    ["compare", "Compare"],
  ];

  function kernelPanel(kernel) {
    if (!kernel) return null;
    const m = kernel.headline;
    const ci = "runtime_ms_ci_low" in m && "runtime_ms_ci_high" in m ? `CI ${EF.fmt.num(m.runtime_ms_ci_low, 3)}–${EF.fmt.num(m.runtime_ms_ci_high, 3)} ms` : null;
    return EF.section(
      "Kernel",
      "kernel",
      h(
        "div",
        { class: "cards" },
        EF.card("speedup vs eager", "speedup" in m ? EF.fmt.num(m.speedup, 3) + "×" : "not timed"),
        EF.card("speedup vs torch.compile", "speedup_vs_compile" in m ? EF.fmt.num(m.speedup_vs_compile, 3) + "×" : "–"),
        EF.card("fraction of roofline", EF.fmt.pct(m.roofline_fraction), EF.bar(m.roofline_fraction, "#2f9e5f")),
        EF.card("runtime", "runtime_ms" in m ? EF.fmt.num(m.runtime_ms, 4) + " ms" : "–", ci),
        EF.card("reference (eager / compiled)", `${EF.fmt.num(m.reference_ms, 4)} / ${EF.fmt.num(m.compile_ref_ms, 4)} ms`)
      ),
      Object.keys(kernel.profiler).length ? h("div", null, h("h4", null, "Profiler metrics (Nsight Compute)"), EF.kvTable(Object.entries(kernel.profiler).map(([k, v]) => [k, EF.fmt.num(v)]))) : null
    );
  }

  /* A prompt program's per-example results against its parent's (agent/viewer/examples.py):
   * the summary line, the rule, and one row per example, broke and fixed first. Inputs, answers
   * and feedback are untrusted text: they go on the page through h() as text only. */
  const CLIP = 160;
  const MARKS = { fixed: "▲ fixed", broke: "▼ broke" };

  function examplesPanel(ex, runId) {
    if (!ex) return null;
    const rows = ex.rows.map((r) =>
      h(
        "tr",
        { class: [r.change ? "ex-" + r.change : null, r.passed ? null : "ex-failed"], dataset: { example: r.id } },
        h("td", { class: "mono" }, r.id),
        h("td", null, r.split),
        h("td", { class: ["num", r.passed ? "ok" : "bad"] }, EF.fmt.num(r.score, 3)),
        h("td", { class: "num" }, r.parent_score === null ? "–" : EF.fmt.num(r.parent_score, 3)),
        h("td", { class: "mark" }, r.change ? h("span", { class: ["ex-mark", r.change] }, MARKS[r.change]) : ""),
        h("td", { class: "ex-input" }, EF.clipText(r.input, CLIP)),
        h("td", { class: "ex-expected" }, r.expected === null ? h("span", { class: "muted" }, "(no label)") : EF.clipText(r.expected, CLIP)),
        h("td", { class: "ex-output" }, EF.clipText(r.output, CLIP)),
        h("td", { class: "ex-feedback" }, EF.clipText(r.feedback, CLIP))
      )
    );
    const c = ex.counts;
    return EF.section(
      "Examples",
      "examples",
      h("p", { class: "examples-summary" }, h("strong", null, ex.summary), ex.parent_id ? [" (parent ", EF.programLink(runId, ex.parent_id), ")"] : null),
      h("p", { class: "muted small" }, `passes ${c.passed} of ${c.total}` + (c.compared ? `; the parent passed ${c.parent_passed} of the ${c.compared} compared` : "") + ` · ${ex.rule}.`),
      h(
        "div",
        { class: "examples-scroll" },
        h(
          "table",
          { class: ["grid-table", "examples-table"] },
          h("thead", null, h("tr", null, ["example", "split", "score", "parent", "", "input", "expected", "output", "feedback"].map((c, i) => h("th", { class: i === 2 || i === 3 ? "num" : null }, c)))),
          h("tbody", null, rows)
        )
      )
    );
  }

  function lineagePath(runId, lineage, selfId) {
    return h(
      "div",
      { class: "lineage-path" },
      "lineage: ",
      lineage.map((b, i) => [
        i ? h("span", { class: "arrow" }, " → ") : null,
        b.id === selfId ? h("strong", { class: "mono" }, EF.fmt.id(b.id)) : EF.programLink(runId, b.id),
        h("span", { class: "muted small" }, ` (${b.status === "correct" ? EF.fmt.num(b.fitness, 3) : (EF.STATUS[b.status] || {}).label || b.status})`),
      ])
    );
  }

  function evaluationTab(d) {
    const p = d.program;
    const rows = d.evaluations.map((st) =>
      h(
        "tr",
        { class: st.ok ? null : "failed-row" },
        h("td", { class: "num" }, st.attempt),
        h("td", { class: "mono" }, st.stage),
        h("td", null, st.ok ? h("span", { class: "ok" }, "✓ passed") : h("span", { class: "bad" }, "✗ failed")),
        h("td", { class: "num" }, EF.fmt.seconds(st.seconds)),
        h("td", null, st.message, st.log ? h("details", null, h("summary", null, `log (${st.log.length} characters)`), EF.textBlock(st.log, "log")) : null)
      )
    );
    return h(
      "div",
      null,
      p.error ? h("div", { class: "error-box" }, p.error) : null,
      rows.length
        ? h("table", { class: "grid-table" }, h("thead", null, h("tr", null, ["attempt", "stage", "result", "time", "message and log"].map((c) => h("th", null, c)))), h("tbody", null, rows))
        : h("p", { class: "muted" }, p.status === "pending" ? "Not evaluated yet." : "No evaluation stages were recorded (the program was never run)."),
      p.feedback ? h("div", null, h("h4", null, "Feedback for the next prompt"), EF.textBlock(p.feedback)) : null
    );
  }

  function llmTab(d) {
    const p = d.program;
    if (!d.llm_calls.length) return h("p", { class: "muted" }, p.proposer === "initial" ? "The initial program came from the task, not from an LLM." : `No LLM call produced this program (proposer: ${p.proposer}).`);
    return d.llm_calls.map((c) =>
      h(
        "div",
        { class: "llm-call" },
        h("div", { class: "meta" }, EF.callRole(c), h("span", { class: "mono" }, c.model), ` · ${EF.fmt.int(c.prompt_tokens)} prompt + ${EF.fmt.int(c.completion_tokens)} completion tokens · ${EF.fmt.dollars(c.cost)} · ${EF.fmt.seconds(c.latency)} · ${c.attempts} attempt(s) · ${EF.fmt.time(c.created_at)}`),
        c.error ? h("div", { class: "error-box" }, c.error) : null,
        c.messages.map((m) => h("div", { class: ["message", "role-" + m.role] }, h("div", { class: "role" }, m.role), EF.textBlock(m.content))),
        h("div", { class: ["message", "role-answer"] }, h("div", { class: "role" }, "answer"), EF.textBlock(c.response || "(empty)"))
      )
    );
  }

  EF.views.program = async function (root, scope, runRef, programRef, tab) {
    const base = `/api/runs/${encodeURIComponent(runRef)}/programs/${encodeURIComponent(programRef)}`;
    const d = await EF.api(base);
    const p = d.program;
    const runId = d.run.id;
    const language = d.language;
    EF.setCrumbs([[d.run.task + " · " + EF.fmt.id(runId), `#/run/${runId}`], ["program " + EF.fmt.id(p.id), `#/run/${runId}/program/${p.id}`]]);
    const panels = {};
    const buttons = {};
    const loaded = {};
    const loaders = {
      source: () => (p.source ? EF.codeBlock(p.source, language) : h("p", { class: "muted" }, "No source: the LLM's edit did not apply to the parent (see the prompt & answer).")),
      diff: async () => {
        const edit = p.diff ? h("details", { class: "edit" }, h("summary", null, "The edit as the LLM wrote it"), EF.textBlock(p.diff)) : null;
        if (!p.parent_id) return [h("p", { class: "muted" }, "The initial program has no parent."), edit];
        const diff = await EF.api(base + "/diff");
        return [h("p", { class: "muted" }, "From parent ", EF.programLink(runId, p.parent_id), " to this program."), EF.diffView(diff, language), edit];
      },
      evaluation: () => evaluationTab(d),
      llm: () => llmTab(d),
      children: async () => {
        if (!d.children) return h("p", { class: "muted" }, "No children.");
        const page = await EF.api(base + "/children" + EF.query({ limit: 200 }));
        return h(
          "table",
          { class: "grid-table" },
          h("thead", null, h("tr", null, ["#", "program", "status", "fitness", "error"].map((c) => h("th", null, c)))),
          h("tbody", null, page.items.map((c) => h("tr", null, h("td", { class: "num" }, c.seq), h("td", null, EF.programLink(runId, c.id)), h("td", null, EF.badge(c.status)), h("td", { class: "num" }, EF.fmt.num(c.fitness)), h("td", { class: "error-cell" }, c.error || ""))))
        );
      },
      compare: async () => {
        const out = h("div", { class: "compare-out" });
        const input = h("input", { type: "text", placeholder: "program id or prefix", class: "mono", size: 20 });
        const compare = async (other) => {
          try {
            const diff = await EF.api(base + "/diff" + EF.query({ against: other }));
            EF.replace(out, h("p", { class: "muted" }, "From ", EF.programLink(runId, diff.from.id), ` (${(EF.STATUS[diff.from.status] || {}).label}, fitness ${EF.fmt.num(diff.from.fitness)}) to this program.`), EF.diffView(diff, language));
          } catch (e) {
            EF.replace(out, h("p", { class: "error-box" }, e.message));
          }
        };
        const run = (await EF.api(`/api/runs/${encodeURIComponent(runId)}`)).run;
        const quick = [p.parent_id ? h("button", { type: "button", onclick: () => compare(p.parent_id) }, "with the parent") : null, run.best && run.best.id !== p.id ? h("button", { type: "button", onclick: () => compare(run.best.id) }, "with the best program") : null];
        const form = h("form", { class: "toolbar", onsubmit: (ev) => (ev.preventDefault(), input.value.trim() && compare(input.value.trim())) }, "Compare with ", input, h("button", { type: "submit" }, "Compare"), " or ", quick);
        return [form, out];
      },
    };
    const show = async (name) => {
      for (const [key] of TABS) {
        buttons[key].classList.toggle("active", key === name);
        panels[key].hidden = key !== name;
      }
      if (!loaded[name]) {
        loaded[name] = true;
        try {
          EF.replace(panels[name], await loaders[name]());
        } catch (e) {
          EF.replace(panels[name], h("p", { class: "error-box" }, e.message));
        }
      }
    };
    const tabBar = h(
      "div",
      { class: "tabs", role: "tablist" },
      TABS.map(([key, label]) => (buttons[key] = h("button", { type: "button", role: "tab", class: "tab", dataset: { tab: key }, onclick: () => show(key) }, label, key === "children" ? ` (${d.children})` : key === "llm" ? ` (${d.llm_calls.length})` : "")))
    );
    const tabBody = h("div", { class: "tab-body" }, TABS.map(([key]) => (panels[key] = h("div", { class: "tab-panel", dataset: { panel: key }, hidden: true }))));
    const metrics = Object.entries(p.metrics || {});
    const descriptors = Object.entries(p.descriptors || {});
    EF.replace(
      root,
      h(
        "div",
        { class: "run-header" },
        h("h1", null, "program ", h("span", { class: "mono" }, EF.fmt.id(p.id)), " ", EF.badge(p.status)),
        h("div", { class: "meta muted" }, `#${p.seq} · generation ${p.generation} · proposer ${p.proposer} · island ${p.island} · proposed ${EF.fmt.time(p.created_at)}${p.evaluated_at ? " · evaluated " + EF.fmt.time(p.evaluated_at) : ""}`),
        p.reason ? h("div", { class: "meta" }, "parent chosen because: ", h("em", null, p.reason)) : null,
        lineagePath(runId, d.lineage, p.id),
        p.error ? h("div", { class: "error-box" }, p.error) : null,
        h(
          "div",
          { class: "cards" },
          EF.card("fitness", EF.fmt.num(p.fitness)),
          EF.card("parent", d.parent ? h("span", null, EF.programLink(runId, d.parent.id), " ", EF.fmt.num(d.parent.fitness)) : "none (initial)"),
          EF.card("children", EF.fmt.int(d.children)),
          EF.card("evaluation time", EF.fmt.seconds(d.evaluations.reduce((a, st) => a + st.seconds, 0)))
        ),
        h("div", { class: "two-col" }, h("div", null, h("h4", null, "Metrics"), metrics.length ? EF.kvTable(metrics.map(([k, v]) => [k, EF.fmt.num(v, 6)])) : h("p", { class: "muted" }, "none")), h("div", null, h("h4", null, "Descriptors"), descriptors.length ? EF.kvTable(descriptors.map(([k, v]) => [k, EF.fmt.num(v, 6)])) : h("p", { class: "muted" }, "none")))
      ),
      EF.proposalPanel(d.proposal, runId),
      kernelPanel(d.kernel),
      examplesPanel(d.examples, runId),
      h("section", { class: "panel" }, tabBar, tabBody)
    );
    await show(TABS.some(([k]) => k === tab) ? tab : "source");
    if (p.status === "pending") {
      scope.every(3000, async () => {
        const now = await EF.api(base);
        if (now.program.status !== "pending") EF.route();
      });
    }
  };
})();
