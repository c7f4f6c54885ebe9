/* What the learning proposer did (agent/learning; the API's /proposer answer and a program's
 * `proposal`): per run, the models by role, the meta-prompts' lineage with their children's
 * gains, the plans, the knowledge used and distilled; per program, the choices it was made with.
 * Runs and programs without these records get no panel at all. Meta-prompts, plans and
 * knowledge are LLM text: they go on the page through h() as text only. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;
  const CLIP = 120;
  const MAX_ROWS = 200;

  function signed(x) {
    if (typeof x !== "number") return "–";
    return (x > 0 ? "+" : "") + EF.fmt.num(x, 4);
  }

  function table(cls, columns, rows) {
    return h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { class: ["grid-table", cls] },
        h("thead", null, h("tr", null, columns.map(([label, num]) => h("th", { class: num ? "num" : null }, label)))),
        h("tbody", null, rows)
      )
    );
  }

  function context(ctx) {
    return Object.entries(ctx || {})
      .map(([k, v]) => `${k}=${v}`)
      .join(", ");
  }

  function instructions(m) {
    return h("details", { class: "clip" }, h("summary", null, "instructions"), h("h4", null, "system"), EF.textBlock(m.system), m.hints ? [h("h4", null, "hints"), EF.textBlock(m.hints)] : null);
  }

  function rolesBlock(roles) {
    if (!roles.length) return null;
    const max = Math.max(...roles.map((r) => r.cost), 1e-12);
    const rows = roles.map((r) =>
      h(
        "tr",
        { dataset: { role: r.role, model: r.model } },
        h("td", null, r.role),
        h("td", { class: "mono" }, r.model),
        h("td", { class: "num" }, EF.fmt.int(r.calls)),
        h("td", { class: "num" }, EF.fmt.int(r.failed)),
        h("td", { class: "num" }, EF.fmt.dollars(r.cost), EF.bar(r.cost / max, "#e8912d")),
        h("td", { class: "num reward" }, r.mean_reward === null ? "–" : EF.fmt.num(r.mean_reward, 4)),
        h("td", { class: "num" }, EF.fmt.int(r.rewarded))
      )
    );
    const columns = [["role"], ["model"], ["calls", 1], ["failed", 1], ["dollars", 1], ["mean reward", 1], ["rewarded calls", 1]];
    return [h("h4", null, "Models by role"), table("proposer-roles", columns, rows)];
  }

  function metaBlock(metas, runId) {
    if (!metas.length) return null;
    const rows = metas.map((m) =>
      h(
        "tr",
        { dataset: { meta: m.id, depth: m.depth } },
        h("td", { class: "mono", style: { paddingLeft: 8 + 18 * m.depth + "px" } }, m.depth ? "↳ " : "", h("span", { title: m.id }, EF.fmt.id(m.id))),
        h("td", null, m.origin),
        h("td", { class: "mono" }, m.parent_id ? h("span", { title: m.parent_id }, EF.fmt.id(m.parent_id)) : "–"),
        h("td", { class: "num" }, EF.fmt.int(m.children)),
        h("td", { class: "num" }, EF.fmt.int(m.compared)),
        h("td", { class: "num" }, EF.fmt.int(m.improved)),
        h("td", { class: "num gain" }, signed(m.mean_gain)),
        h("td", null, instructions(m))
      )
    );
    const columns = [["meta-prompt"], ["origin"], ["parent"], ["children", 1], ["compared", 1], ["gained", 1], ["mean gain", 1], [""]];
    return [h("h4", null, "Meta-prompts and their lineage"), h("p", { class: "muted small" }, "Gain: a child's fitness minus its parent's, where both are correct (compared)."), table("proposer-metas", columns, rows)];
  }

  function plansBlock(plans, runId) {
    if (!plans.length) return null;
    const ranked = plans.slice().sort((a, b) => (a.gain === null) - (b.gain === null) || (b.gain || 0) - (a.gain || 0) || a.created_at - b.created_at);
    const implemented = plans.filter((p) => p.program_id).length;
    const gained = plans.filter((p) => typeof p.gain === "number" && p.gain > 0).length;
    const rows = ranked.slice(0, MAX_ROWS).map((p) =>
      h(
        "tr",
        { dataset: { plan: p.id } },
        h("td", { class: "mono" }, h("span", { title: p.id }, EF.fmt.id(p.id))),
        h("td", null, EF.programLink(runId, p.parent_program_id)),
        h("td", null, p.program_id ? EF.programLink(runId, p.program_id) : h("span", { class: "muted" }, "not implemented")),
        h("td", { class: "num gain" }, signed(p.gain)),
        h("td", { class: "plan-text" }, EF.clipText(p.text, CLIP))
      )
    );
    const note = plans.length > MAX_ROWS ? h("p", { class: "muted" }, `${MAX_ROWS} of ${plans.length} plans shown, best first.`) : null;
    return [
      h("h4", null, "Plans"),
      h("p", { class: "muted small plans-summary" }, `${plans.length} written, ${implemented} implemented, ${gained} gained; best first.`),
      table("proposer-plans", [["plan"], ["parent"], ["child"], ["gain", 1], ["plan"]], rows),
      note,
    ];
  }

  function knowledgeRows(entries, used) {
    return entries.map((k) =>
      h(
        "tr",
        { dataset: { entry: k.id } },
        h("td", { class: "mono" }, h("span", { title: k.id }, EF.fmt.id(k.id))),
        used ? [h("td", { class: "num" }, EF.fmt.int(k.used_by)), h("td", { class: "num" }, EF.fmt.int(k.gained))] : null,
        k.found
          ? [
              h("td", { class: "transformation" }, EF.clipText(k.transformation, CLIP), k.avoid ? h("div", { class: "muted small" }, "avoid: ", EF.clipText(k.avoid, CLIP)) : null),
              h("td", { class: "small" }, context(k.context)),
              h("td", { class: "num" }, signed(k.gain)),
              h("td", { class: "num" }, `${EF.fmt.int(k.wins)} / ${EF.fmt.int(k.uses)}`, k.demoted ? h("span", { class: "muted" }, " demoted") : null),
              h("td", { class: "mono" }, k.run_id ? EF.fmt.id(k.run_id) : "–"),
            ]
          : h("td", { class: "muted", colspan: 5 }, "no longer in the store (pruned)")
      )
    );
  }

  function knowledgeBlock(used, written) {
    const tail = [["transformation"], ["context"], ["gain", 1], ["wins / uses", 1], ["from run"]];
    return [
      used.length ? [h("h4", null, "Knowledge used"), table("proposer-knowledge-used", [["entry"], ["used by", 1], ["gained", 1], ...tail], knowledgeRows(used, true))] : null,
      written.length ? [h("h4", null, "Knowledge distilled by this run"), table("proposer-knowledge-written", [["entry"], ...tail], knowledgeRows(written, false))] : null,
    ];
  }

  /* The run's panel, or null when the run recorded nothing of the learning proposer. */
  EF.proposerPanel = function (answer, runId) {
    if (!answer || !answer.recorded) return null;
    return EF.section(
      "The learning proposer",
      "proposer",
      rolesBlock(answer.roles),
      metaBlock(answer.meta_prompts, runId),
      plansBlock(answer.plans, runId),
      knowledgeBlock(answer.knowledge_used, answer.knowledge_written)
    );
  };

  /* A program's proposal choices, or null when it has none. */
  EF.proposalPanel = function (proposal, runId) {
    if (!proposal) return null;
    const c = proposal.choices;
    const meta = proposal.meta_prompt;
    const plan = proposal.plan;
    const rows = [
      c.role ? ["role", c.role] : null,
      c.model ? ["model", h("span", { class: "mono" }, c.model)] : null,
      c.meta_prompt_id
        ? ["meta-prompt", h("span", { class: "meta-choice" }, h("span", { class: "mono", title: c.meta_prompt_id }, EF.fmt.id(c.meta_prompt_id)), meta ? [` (${meta.origin}${meta.parent_id ? " of " + EF.fmt.id(meta.parent_id) : ""}) `, instructions(meta)] : h("span", { class: "muted" }, " (not in the store)"))]
        : null,
      c.plan_id ? ["plan", h("div", { class: "plan-choice" }, h("span", { class: "mono", title: c.plan_id }, EF.fmt.id(c.plan_id)), plan ? [` · gain ${signed(plan.gain)}`, EF.textBlock(plan.text)] : h("span", { class: "muted" }, " (not in the store)"))] : null,
      proposal.knowledge.length
        ? ["knowledge", h("ul", { class: "knowledge-choice" }, proposal.knowledge.map((k) => h("li", { dataset: { entry: k.id } }, h("span", { class: "mono", title: k.id }, EF.fmt.id(k.id)), " ", k.found ? EF.clipText(k.transformation, CLIP) : h("span", { class: "muted" }, "no longer in the store (pruned)"))))]
        : null,
    ];
    return EF.section("How it was proposed", "proposal", EF.kvTable(rows));
  };

  /* "role draft · reward 0.5 · " for an LLM call's header, "" for a call without a role. */
  EF.callRole = function (call) {
    if (!call.role) return "";
    return `role ${call.role} · reward ${call.reward === null || call.reward === undefined ? "–" : EF.fmt.num(call.reward, 4)} · `;
  };
})();
