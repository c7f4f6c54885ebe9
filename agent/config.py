"""Task configuration: the typed models behind `task.yaml`, and loading with readable errors.

Every model forbids unknown keys, so a typo is an error that names the key. Relative paths
resolve against the task file's folder. `load_task` is the only entry point: it reads the
YAML, applies command-line overrides, validates, and raises `ConfigError` with one line that
names the file, the key and what was expected.

`kind` names a task kind through the plugin registry (agent/plugins.py). The kind's own
options sit under its `config_key` (e.g. `kernel:`), are validated by its `config_model` and
kept as `task.kind_options` (dumped back under the same key); the kind's `check` refuses a
task it cannot run. Nothing here knows a kind by name.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_serializer, model_validator)
from pydantic_core import PydanticCustomError

from evaluators.kernel.config import InputDistribution, KernelConfig  # noqa: F401 - re-exported, as before
from evaluators.program.kind import PROGRAM_TIMEOUT_SECONDS  # noqa: F401 - re-exported, as before
from archives.options import (DescriptorSpec, MapElitesConfig, MCTSConfig, NoveltyConfig,  # noqa: F401 - re-exported
                              PQConfig, SearchConfig)


class ConfigError(Exception):
    """A problem with the user's task file or options; its message is one readable line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Budget(_Model):
    evaluations: int = Field(50, ge=1)
    """Stop after this many evaluated programs (the initial program counts)."""
    dollars: float | None = Field(None, ge=0)
    """Stop when the LLM spend reaches this many US dollars; None: no limit."""
    wall_seconds: float | None = Field(None, gt=0)
    """Stop after this much wall-clock time in this session of the run; None: no limit."""


class ModelSpec(_Model):
    name: str = Field(min_length=1)
    """A litellm model string, e.g. "openai/gpt-4o-mini" or "anthropic/claude-sonnet-4-5"."""
    weight: float = Field(1.0, gt=0)
    """Relative chance of this model being picked for a proposal."""
    api_base: str | None = None
    """Base URL of an OpenAI-compatible server (vLLM, Ollama, llama.cpp), if not the vendor's."""
    api_key_env: str | None = None
    """Name of the environment variable holding this model's API key (default: litellm's)."""
    temperature: float | None = Field(None, ge=0, le=2)
    """Overrides `llm.temperature` for this model."""


ROLES = ("draft", "fix", "plan", "summarize")


class RolesConfig(_Model):
    """Which models of `llm.models` serve each role (names; a string is one name). An empty role
    is served by every model. draft: routine changes; fix: a parent that fails to build or is
    wrong; plan: the plan of a plan-then-implement proposal; summarize: the summarizer and the
    other bookkeeping calls (meta-prompt rewrites, knowledge distillation)."""

    draft: tuple[str, ...] = ()
    fix: tuple[str, ...] = ()
    plan: tuple[str, ...] = ()
    summarize: tuple[str, ...] = ()

    @field_validator("draft", "fix", "plan", "summarize", mode="before")
    @classmethod
    def _one_name(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class LLMConfig(_Model):
    models: tuple[ModelSpec, ...] = ()
    """The ensemble; empty means no LLM: the built-in tuner proposes."""
    temperature: float = Field(0.8, ge=0, le=2)
    max_tokens: int = Field(4096, ge=16)
    timeout_seconds: float = Field(120.0, gt=0)
    """Per request."""
    retries: int = Field(3, ge=0, le=10)
    """Retries on rate limits, 5xx and timeouts, with exponential backoff."""
    concurrency: int = Field(4, ge=1, le=64)
    """LLM requests in flight at once."""
    tuner_share: float = Field(0.0, ge=0, le=1)
    """Share of proposals made by the built-in tuner even when an LLM is configured."""
    edit_format: Literal["diff", "full", "auto"] = "auto"
    """Ask for SEARCH/REPLACE blocks ("diff"), whole programs ("full"), or let the strategy say."""
    max_answer_chars: int = Field(200_000, ge=1000)
    """Longest answer used; a longer one is refused (not evaluated, not retried) and only its
    first few thousand characters are stored."""
    preflight_seconds: float = Field(30.0, ge=0)
    """Longest wait for each model's answer to the preflight request sent before a run starts
    (also at most `timeout_seconds`, and half the wall budget); 0 skips the preflight."""
    choice: Literal["weights", "ucb", "thompson"] = "weights"
    """How a role's model is picked: by `weight` at random, or by a bandit (UCB1 or Thompson
    sampling) rewarded by child-minus-parent improvement per dollar (agent/learning/model_choice.py)."""
    roles: RolesConfig = RolesConfig()

    @model_validator(mode="after")
    def _roles_name_models(self) -> LLMConfig:
        names = {m.name for m in self.models}
        for role in ROLES:
            for name in getattr(self.roles, role):
                if name not in names:
                    known = ", ".join(sorted(names)) or "none"
                    raise ValueError(f"roles.{role}: {name!r} is not one of llm.models (known: {known})")
        return self

    @field_validator("models", mode="before")
    @classmethod
    def _models_from_strings(cls, value: Any) -> Any:
        if isinstance(value, (str, dict)):
            value = [value]
        if isinstance(value, (list, tuple)):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value


class EvaluateConfig(_Model):
    workers: int = Field(2, ge=1, le=256)
    """Evaluations running at once."""
    timeout_seconds: float = Field(60.0, gt=0)
    """Wall-clock limit for one evaluation (all its cascade stages together); the whole process
    group is killed after it. Default 60 s, or the task kind's own (program tasks: 300 s,
    PROGRAM_TIMEOUT_SECONDS, OpenEvolve's default)."""
    memory_mb: int = Field(4096, ge=64)
    max_processes: int = Field(64, ge=1)
    output_bytes: int = Field(256_000, ge=1024)
    """Captured stdout/stderr per stream; the rest is dropped."""
    cascade_thresholds: tuple[float, ...] = ()
    """For evaluators with evaluate_stage1/2/3, as OpenEvolve: stage N+1 runs only if the metrics
    so far reach entry N (their combined_score, else the mean of their numeric values other
    than `error`); a stage with no entry does not run; empty: every stage runs."""
    cascade_evaluation: bool = True
    """Run evaluate_stage1/2/3 when the evaluator defines them; false: evaluate() alone."""
    fitness_metric: str | None = Field(None, min_length=1)
    """Program tasks without a scorer: the metric that is the fitness (higher is better); None:
    combined_score, or without one the mean of the numeric metrics (OpenEvolve's rule)."""
    profile: Literal["ncu"] | None = None
    """Kernel tasks on a GPU: "ncu" adds Nsight Compute metrics (DRAM and SM throughput,
    occupancy, registers, spills) to every correct candidate's feedback; None: no profile."""
    # What the program evaluator needs (evaluators/program/runtime.py); paths are relative to the task file.
    python: Path | None = None
    """The Python that runs the evaluator (a path, or a name on PATH such as python3.12); None:
    evoforge's own (with sandbox.image: a path inside the image)."""
    venv: Path | None = None
    """A virtual environment whose Python runs the evaluator (its bin/ goes first on PATH)."""
    requirements: Path | None = None
    """A pip requirements file: checked against the evaluator's Python before a run or check
    starts; a missing or mismatched package stops it, naming the install command."""
    pythonpath: tuple[Path, ...] = ()
    """Folders put first on the evaluator's PYTHONPATH and shown to the sandbox read-only."""

    @model_validator(mode="after")
    def _one_interpreter(self) -> EvaluateConfig:
        if self.python is not None and self.venv is not None:
            raise ValueError("give evaluate.python or evaluate.venv, not both")
        return self


class SandboxConfig(_Model):
    backend: str = "auto"
    """"docker": evaluations in containers; "process": a local process tree in namespaces and
    cgroups; "auto": Docker wherever a daemon answers, else the process backend (the run says
    which it uses); or a plugin backend: a dotted path "package.module:Factory" or an installed
    `evoforge.sandboxes` entry point."""
    options: dict[str, Any] = {}
    """Keyword arguments for a plugin backend's factory (the built-in backends take none)."""

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from agent.plugins import PluginError, builtin_names, resolve

        names = builtin_names("sandboxes")
        if value in names:
            return value
        try:
            resolve("sandboxes", value)
        except PluginError as exc:
            shown = " or ".join([", ".join(repr(n) for n in list(names)[:-1]), repr(list(names)[-1])])
            if ":" in value:  # a dotted path that does not import: say why
                raise ValueError(str(exc)) from None
            raise ValueError(f"Input should be {shown}, a dotted path 'package.module:Factory' or an installed "
                             "evoforge.sandboxes entry point") from None
        return value

    @field_validator("options")
    @classmethod
    def _options_for_plugins(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from agent.plugins import builtin_names

        backend = info.data.get("backend")
        if value and backend in builtin_names("sandboxes"):
            raise ValueError(f"the built-in backend {backend!r} takes no options")
        return value
    image: str | None = None
    """Docker image to evaluate in (e.g. built from sandbox/Dockerfile), with its own Python and
    packages; None: a minimal local image with this machine's Python and environment mounted
    read-only (needs no registry)."""
    image_python: str = "python3"
    """With `image`: the image's Python, run wherever the evaluation asks for this machine's."""
    cpus: float | None = Field(1.0, gt=0)
    """CPU cores one evaluation may use (Docker backend); None: no limit."""
    reuse_containers: bool = True
    """Docker: a container serves one evaluation after another, wiped in between (processes,
    files, IPC); false: a fresh container for every evaluation (slower, see
    bench/results/sandbox.md)."""


class PromptConfig(_Model):
    templates: Path | None = None
    """A folder with Jinja2 templates overriding the built-in ones (same file names)."""
    system: str | None = None
    """Extra text appended to the system message."""


class Tunable(_Model):
    choices: tuple[float | int | str, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _range_or_choices(self) -> Tunable:
        if self.choices is None and (self.low is None or self.high is None):
            raise ValueError("give either choices or both low and high")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        if self.log and self.low is not None and self.low <= 0:
            raise ValueError("log scale needs low > 0")
        return self


class MetaPromptsConfig(_Model):
    enabled: bool = False
    """Co-evolve the proposer's instructions (system prompt and strategy hints)."""
    population: int = Field(4, ge=1, le=64)
    """Meta-prompts kept at once; a rewrite beyond it retires the worst."""
    evolve_every: int = Field(10, ge=1)
    """Evaluated children between two rewrites of the best meta-prompts by the LLM."""
    explore: float = Field(1.0, ge=0)
    """The bandit's exploration weight."""


class PlanConfig(_Model):
    enabled: bool = False
    """Each proposal is two calls: a plan (role plan), then its implementation."""
    reuse: int = Field(3, ge=0, le=20)
    """Plans whose children gained, offered to later plan prompts."""
    avoid: int = Field(3, ge=0, le=20)
    """Plans whose children failed or lost, shown as things to avoid."""


class KnowledgeConfig(_Model):
    enabled: bool = False
    """Distil what worked into entries that later runs' prompts read."""
    store: str | None = None
    """The store (SQLAlchemy URL) holding the knowledge base; default: the run's store."""
    retrieve: int = Field(3, ge=0, le=20)
    """Entries shown in each prompt."""
    distil_every: int = Field(5, ge=1)
    """Improvements between two distillations during a run (one more when the run ends)."""
    demote_after: int = Field(5, ge=1)
    """Uses after which an entry's win rate is judged."""
    demote_below: float = Field(0.2, ge=0, le=1)
    """Win rate under which a judged entry is demoted (no longer retrieved)."""


class LearningConfig(_Model):
    """The proposer's learning parts (agent/learning); each is off unless switched on here."""

    meta_prompts: MetaPromptsConfig = MetaPromptsConfig()
    plan: PlanConfig = PlanConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()
    diagnosis: bool = True
    """State a one-line diagnosis from the parent's profile metrics next to them in the prompt."""


class TaskConfig(_Model):
    """A whole task file, validated."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Letters, digits, '_', '.', '-': names the run and the default store file."""
    kind: str = Field(min_length=1)
    """"program", "kernel", "prompt", a dotted path "package.module:Kind" or the name of an
    installed `evoforge.kinds` entry point (agent/plugins.py)."""
    description: str = ""
    """What the program does and what "better" means: the start of every prompt."""
    program: Path
    """The initial program; for kernel tasks the initial candidate (a ModelNew file)."""
    evaluator: Path | None = None
    """Program tasks: a Python file with evaluate(program_path) -> dict (OpenEvolve contract)."""
    reference: Path | None = None
    """Kernel tasks: the PyTorch reference, a KernelBench problem file (Model, get_inputs,
    get_init_inputs)."""
    language: str = "python"
    """The candidates' language; kernel tasks: "triton" or "cuda"."""
    kind_options: Any = None
    """Set by validation from the key the kind names (its `config_key`, e.g. `kernel:` for
    checking and timing settings): an instance of the kind's `config_model`, or None."""
    budget: Budget = Budget()
    llm: LLMConfig = LLMConfig()
    search: SearchConfig = SearchConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    sandbox: SandboxConfig = SandboxConfig()
    prompt: PromptConfig = PromptConfig()
    learning: LearningConfig = LearningConfig()
    scorer: str | None = None
    """"path/to/file.py:function", "package.module:function" or the name of an
    `evoforge.scorers` entry point."""
    tunables: dict[str, Tunable] = {}
    """Constants the built-in tuner may change, by the name assigned in the source."""
    summary_metrics: tuple[str, ...] = ()
    """Metrics of the evaluator (e.g. "mean_length") that the end-of-run summary shows for the
    initial and the best program, beside the fitness: the numbers a user cares about."""
    store: str | None = None
    """A SQLAlchemy URL; default sqlite:///runs/<name>.db under the current folder."""
    task_dir: Path = Path(".")
    """Set by the loader: the folder of the task file."""

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///runs/{self.name}.db"

    @property
    def task_kind(self) -> Any:
        """The kind object (evaluators/base.py TaskKind) that `kind` names."""
        return task_kind(self.kind)

    @model_validator(mode="before")
    @classmethod
    def _kind_options(cls, raw: Any) -> Any:
        """Resolve the kind; validate its options from its own key into `kind_options`; give
        evaluate.timeout_seconds the kind's default when the task does not set it."""
        if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str) or not raw["kind"].strip():
            return raw  # the fields' own errors
        kind = _kind_or_error(raw["kind"])
        raw = dict(raw)
        key, model = kind.config_key, kind.config_model
        given = raw.pop(key, None) if key else None
        current = raw.get("kind_options")
        if current is not None and not (model is not None and isinstance(current, model)):
            where = f"give the kind's options under {key}:" if key else f"kind {kind.name!r} takes no options"
            raise PydanticCustomError("kind_options", "kind_options: unknown key ({where})", {"where": where})
        if model is not None and (current is None or given is not None):
            try:
                raw["kind_options"] = model.model_validate({} if given is None else given)
            except ValidationError as exc:
                raise PydanticCustomError("kind_options", "{line}", {"line": _first_error(exc, key)}) from None
        timeout = getattr(kind, "timeout_seconds", None)
        return raw if timeout is None else _default_timeout(raw, timeout)

    @model_serializer(mode="wrap")
    def _dump_kind_options(self, handler: Any) -> dict[str, Any]:
        """`kind_options` dumped under the kind's own key, as the task file gives them."""
        data = handler(self)
        options = data.pop("kind_options", None)
        key = task_kind(self.kind).config_key
        if key and options is not None:
            data[key] = options
        return data

    def __getattr__(self, name: str) -> Any:
        """The kind's own key reads as its options (`task.kernel` of a kernel task)."""
        kind = self.__dict__.get("kind") if not name.startswith("_") else None
        if kind is not None and task_kind(kind).config_key == name:
            return self.__dict__.get("kind_options")
        return super().__getattr__(name)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> TaskConfig:
        """As pydantic's; an update of the kind's own key (e.g. "kernel") sets `kind_options`."""
        key = task_kind(self.kind).config_key
        if update and key and key in update:
            update = {**update, "kind_options": update[key]}
            del update[key]
        return super().model_copy(update=update, deep=deep)

    @model_validator(mode="after")
    def _one_fitness(self) -> TaskConfig:
        if self.scorer and self.evaluate.fitness_metric:
            raise ValueError("give scorer or evaluate.fitness_metric, not both")
        return self

    @model_validator(mode="after")
    def _kind_accepts(self) -> TaskConfig:
        self.task_kind.check(self)  # ValueError: one line
        return self


@functools.cache
def task_kind(name: str) -> Any:
    """The kind object `name` stands for (agent/plugins.py, group "kinds"); ConfigError if none."""
    from agent.plugins import PluginError, resolve

    try:
        found = resolve("kinds", name)
    except PluginError as exc:
        raise ConfigError(f"kind: {exc}") from None
    kind = found() if isinstance(found, type) else found
    missing = [m for m in _KIND_MEMBERS if not hasattr(kind, m)]
    if missing:
        raise ConfigError(f"kind: {name!r} is not a task kind (it lacks {', '.join(missing)}; see evaluators/base.py)")
    return kind


_KIND_MEMBERS = ("name", "config_key", "config_model", "path_keys", "check", "candidate_language", "description",
                 "build_evaluator")


def _kind_or_error(name: str) -> Any:
    try:
        return task_kind(name.strip())
    except ConfigError as exc:
        raise PydanticCustomError("kind_options", "{line}", {"line": str(exc)}) from None


def _default_timeout(raw: dict[str, Any], seconds: float) -> dict[str, Any]:
    """`raw` with evaluate.timeout_seconds = `seconds` unless the task sets it."""
    evaluate = raw.get("evaluate")
    if evaluate is None:
        return {**raw, "evaluate": {"timeout_seconds": seconds}}
    if isinstance(evaluate, dict) and "timeout_seconds" not in evaluate:
        return {**raw, "evaluate": {**evaluate, "timeout_seconds": seconds}}
    if isinstance(evaluate, EvaluateConfig) and "timeout_seconds" not in evaluate.model_fields_set:
        return {**raw, "evaluate": evaluate.model_copy(update={"timeout_seconds": seconds})}
    return raw


# Command-line overrides: option name -> dotted key in the task file.
OVERRIDE_KEYS = {
    "evaluations": "budget.evaluations",
    "dollars": "budget.dollars",
    "wall_seconds": "budget.wall_seconds",
    "strategy": "search.strategy",
    "seed": "search.seed",
    "model": "llm.models",
    "api_base": "llm.api_base",
    "workers": "evaluate.workers",
    "store": "store",
}

def resolve_paths(task: TaskConfig, path: Path) -> TaskConfig:
    """The task with its files made absolute and checked to exist (agent/task_paths.py)."""
    from agent.task_paths import resolve_paths as resolved

    return resolved(task, path)


def read_yaml(path: Path, missing: str) -> Any:
    """A YAML file's content; ConfigError with one line (`missing` when there is no file)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {missing}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def load_task(path: str | Path, overrides: dict[str, Any] | None = None) -> TaskConfig:
    """Read, override and validate a task file. Raises ConfigError with one readable line."""
    path = Path(path)
    raw = read_yaml(path, "no such task file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top, got {type(raw).__name__}")
    _apply_overrides(raw, overrides or {})
    task_dir = path.resolve().parent
    raw["task_dir"] = task_dir
    try:
        task = TaskConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc)}") from None
    return resolve_paths(task, path)


def task_from_run(config: dict[str, Any], task_path: Path, overrides: dict[str, Any] | None = None) -> TaskConfig:
    """The task as a stored run recorded it, with new command-line overrides on top.

    A resumed run keeps its own settings (budget, strategy, seed...) even if the task file
    changed since; options given on the command line still win.
    """
    raw = json.loads(json.dumps(config))  # a deep copy
    _drop_other_kinds_keys(raw)
    _apply_overrides(raw, overrides or {})
    try:
        task = TaskConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{task_path} (as stored with the run): {_first_error(exc)}") from None
    return resolve_paths(task, task_path)


_STORED_FOR_EVERY_KIND = ("kernel",)
"""Keys that runs stored before task kinds were plugins carry whatever their kind (the kernel
options were then a field of every task)."""


def _drop_other_kinds_keys(raw: dict[str, Any]) -> None:
    try:
        own = task_kind(str(raw.get("kind", ""))).config_key
    except ConfigError:
        return  # validation says what is wrong with the kind
    for key in _STORED_FOR_EVERY_KIND:
        if key != own:
            raw.pop(key, None)


def _apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> None:
    for option, value in overrides.items():
        if value is None or option in ("model", "api_base"):
            continue
        *parents, leaf = OVERRIDE_KEYS[option].split(".")
        node = raw
        for key in parents:
            if node.get(key) is None:
                node[key] = {}
            node = node[key]
        node[leaf] = value
    model, api_base = overrides.get("model"), overrides.get("api_base")
    if model is None and api_base is None:
        return
    if raw.get("llm") is None:
        raw["llm"] = {}
    llm = raw["llm"]
    if model is not None:
        llm["models"] = [{"name": model}]
        llm.pop("roles", None)  # they named the task's models; the one model given serves every role
    if api_base is not None:
        models = llm.get("models") or []
        if isinstance(models, (str, dict)):
            models = [models]
        if not models:
            raise ConfigError("--api-base needs a model: pass --model or set llm.models")
        llm["models"] = [{**({"name": m} if isinstance(m, str) else m), "api_base": api_base} for m in models]


def strategy_options(cls: Any, search: SearchConfig) -> Any:
    """A strategy's own options: `search.options` validated by the class's `config_model`
    (None when it declares none). Raises ConfigError with one line."""
    model = getattr(cls, "config_model", None)
    given = search.options
    if model is None:
        if given not in (None, {}):
            raise ConfigError(f"search.options: strategy {search.strategy!r} takes no options (it has no config_model)")
        return None
    if isinstance(given, model):
        return given
    try:
        return model.model_validate({} if given is None else given)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc, "search.options")) from None


def _first_error(exc: ValidationError, prefix: str | None = None) -> str:
    """One line for a validation error: the dotted key (under `prefix`), what is wrong, what was given."""
    err = exc.errors()[0]
    problem = err["type"]
    if problem == "kind_options":  # a line made already (the kind's own options)
        return err["msg"]
    key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(err["loc"])) or "(top level)"
    if problem == "missing":
        return f"{key}: required key is missing"
    if problem == "extra_forbidden":
        return f"{key}: unknown key"
    message = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f", got {got!r}"
    more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return f"{key}: {message}{shown}{more}"
