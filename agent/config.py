"""Task configuration: the typed models behind `task.yaml`, and loading with readable errors.

Every model forbids unknown keys, so a typo is an error that names the key. Relative paths
resolve against the task file's folder. `load_task` is the only entry point: it reads the
YAML, applies command-line overrides, validates, and raises `ConfigError` with one line that
names the file, the key and what was expected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


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

    @field_validator("models", mode="before")
    @classmethod
    def _models_from_strings(cls, value: Any) -> Any:
        if isinstance(value, (str, dict)):
            value = [value]
        if isinstance(value, (list, tuple)):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value


class DescriptorSpec(_Model):
    name: str = Field(min_length=1)
    """A metric the evaluator reports (or a built-in: "lines", "diversity")."""
    low: float | None = None
    high: float | None = None
    """The range split into `bins`; values outside fall into the end bins."""
    bins: int = Field(8, ge=1, le=1000)
    log: bool = False
    """Space the bins logarithmically (both bounds must then be positive)."""


class MapElitesConfig(_Model):
    descriptors: tuple[DescriptorSpec, ...] = ()
    """Behaviour descriptors of the grid; empty: the first two numeric metrics the evaluator
    reports other than the score (combined_score, score, fitness), else the built-in "lines"
    and "diversity"."""
    exploit_ratio: float = Field(0.7, ge=0, le=1)
    """Chance a parent is drawn from the best elites rather than from all filled cells."""
    selection: Literal["ranked", "uniform"] = "ranked"
    """How the other parents are drawn from the filled cells: "uniform": each filled cell
    alike; "ranked": weighted 1/sqrt(fitness rank) and by freshness."""
    elite_pool: int = Field(5, ge=1)
    """How many top elites exploitation draws from."""
    inspirations: int = Field(2, ge=0, le=10)
    """How many other elites are shown to the LLM beside the parent."""
    islands: int = Field(1, ge=1, le=64)
    """Separate grids that evolve on their own and exchange elites; 1: no islands."""
    migration_interval: int = Field(25, ge=1)
    """With islands: migrate after every this many correct programs."""
    migrants: int = Field(2, ge=0)
    """With islands: how many of its fittest elites each island sends to the next one."""


class PQConfig(_Model):
    """The priority queue with an epsilon-net memory (archives/pq.py)."""

    capacity: int = Field(8, ge=1)
    """Most programs kept in the memory; beyond it one leaves (see `eviction`). Small, so that
    exploration returns to each member often (bench/results/strategies.md: with 32 the deceptive
    task's false peak was left in 7 of 10 runs, with 8 in 10 of 10)."""
    epsilon: float | Literal["auto"] = "auto"
    """A program joins the memory only if farther than this from every member; otherwise it
    replaces its nearest member when its mean is higher. "auto": the smallest distance between
    two members once the memory is full (the memory keeps its most mutually distant programs)."""
    distance: Literal["auto", "code", "descriptors"] = "auto"
    """"code": 1 - Jaccard similarity of token shingles (MinHash); "descriptors": scaled
    Euclidean distance of the behaviour descriptors (the metrics when there are none); "auto":
    descriptors where both programs report descriptors or metrics, else the same distance over
    the programs' numeric constants (archives/constants.py), else code."""
    eviction: Literal["crowding", "fitness"] = "crowding"
    """Who leaves a full memory: "crowding": the worse of the two closest members;
    "fitness": the lowest mean."""
    pool: int = Field(4, ge=1)
    """While exploring (see `explore_patience`), the parents not drawn for exploration come from
    this many members with the highest mean fitness (weighted 1/rank)."""
    climb_pool: int = Field(1, ge=1)
    """The same while the best still rises clearly (1: always the leader, as greedy)."""
    explore_share: float = Field(0.5, ge=0, le=1)
    """Share of parents drawn uniformly from all members (freshness-weighted) instead of from
    the `pool` best while the search stagnates: the budget for exploring different programs."""
    explore_patience: int = Field(50, ge=0)
    """Exploration starts once this many evaluations passed without the best mean rising by
    more than 1% of the spread of the members' means; 0: always explore."""
    confidence: float = Field(1.0, ge=0)
    """Width of the confidence bounds in standard errors (mean ± confidence * sd / sqrt(n))."""
    max_evaluations: int = Field(3, ge=1, le=100)
    """Most evaluations of one program when evaluations are noisy; 1: never repeat."""
    reevaluate_share: float = Field(0.1, ge=0, le=1)
    """Most of the evaluations that may go to repeats."""
    summarize_every: int = Field(10, ge=0)
    """With an LLM: summarize the memory into recommendations for the prompts after every this
    many evaluations; 0: never."""
    summary_notes: int = Field(4, ge=1, le=20)
    """Most recommendations a summary may give."""


class MCTSConfig(_Model):
    """Monte Carlo tree search over the lineage (archives/mcts.py)."""

    selection: Literal["uct", "puct"] = "uct"
    """How a child is chosen on the way down: UCT, or PUCT with a uniform prior."""
    exploration: float = Field(0.1, ge=0)
    """The exploration constant c of UCT / PUCT (values are scaled to [0, 1])."""
    widening: float = Field(2.0, gt=0)
    """Progressive widening: a node with N visits may have ceil(widening * N ** exponent) children."""
    widening_exponent: float = Field(0.5, ge=0, le=1)
    """Progressive widening exponent (0: at most `widening` children per node)."""


class NoveltyConfig(_Model):
    """Rejection of duplicate proposals before they are evaluated (agent/controller.py)."""

    similarity: float | None = Field(1.0, gt=0, le=1)
    """A proposal at least this similar to a pending or correct program (Jaccard over token
    shingles, comments and spacing ignored) is not evaluated. 1.0 rejects programs that differ
    only in comments and spacing; lower values also reject small edits (e.g. 0.95), and with
    them the tuner's one-constant changes of long programs. None: exact copies only."""
    shingle: int = Field(3, ge=1, le=20)
    """Tokens per shingle."""


class SearchConfig(_Model):
    strategy: str = "pq"
    """A strategy name ("pq", "map_elites", "mcts", "greedy", "best_of_n") or a dotted import
    path "package.module:Class". The default is chosen from bench/results/strategies.md."""
    seed: int = 0
    """Seeds the run's random choices (parents, models, tuner)."""
    map_elites: MapElitesConfig = MapElitesConfig()
    pq: PQConfig = PQConfig()
    mcts: MCTSConfig = MCTSConfig()
    novelty: NoveltyConfig = NoveltyConfig()


PROGRAM_TIMEOUT_SECONDS = 300.0
"""evaluate.timeout_seconds when a program task does not set it (OpenEvolve's default: its
examples' evaluators often need minutes); other kinds keep EvaluateConfig's 60 s."""


class EvaluateConfig(_Model):
    workers: int = Field(2, ge=1, le=256)
    """Evaluations running at once."""
    timeout_seconds: float = Field(60.0, gt=0)
    """Wall-clock limit for one evaluation (all its cascade stages together); the whole process
    group is killed after it. Default 60 s; for program tasks 300 s (PROGRAM_TIMEOUT_SECONDS,
    OpenEvolve's default)."""
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
    backend: Literal["auto", "docker", "process"] = "auto"
    """"docker": evaluations in containers; "process": a local process tree in namespaces and
    cgroups; "auto": Docker wherever a daemon answers, else the process backend (the run says
    which it uses)."""
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


class InputDistribution(_Model):
    """How a correctness trial transforms the floating-point inputs get_inputs() makes."""

    scale: float = 1.0
    """Multiply the inputs by this."""
    offset: float = 0.0
    """Then add this."""
    edge: bool = False
    """Replace about 1% of the elements with edge values (zeros, +-tiny, +-large)."""


class KernelConfig(_Model):
    """Kernel tasks: how candidates are checked and timed (evaluators/kernel/README.md)."""

    device: Literal["auto", "cuda", "cpu"] = "auto"
    """"auto": the GPU when this machine has one, else the CPU (Triton in its interpreter,
    CUDA compiled only, no timing)."""
    trials: int = Field(5, ge=5, le=100)
    """Correctness trials at the benchmark shape, each with fresh secret-seeded inputs and weights."""
    shape: dict[str, int | float | tuple[int, ...]] | None = None
    """Module-level constants of the reference to set for the benchmark (e.g. {batch_size: 64};
    a tuple constant as a list: {input_shape: [64]}); None: the reference's own. Module-level
    names the file computes from them follow."""
    cpu_shape: dict[str, int | float | tuple[int, ...]] | None = None
    """The shape used without a GPU, where Triton runs in its slow interpreter: keep it tiny."""
    odd_shapes: tuple[dict[str, int | float | tuple[int, ...]], ...] = ()
    """Extra shapes checked for correctness (one trial each; also without a GPU: keep them small),
    e.g. sizes that are not multiples of a block."""
    inputs: tuple[InputDistribution, ...] = ()
    """Input distributions for trials 2, 3, ... in turn (trial 1 uses get_inputs() as it is)."""
    atol: float | None = Field(None, ge=0)
    """Absolute tolerance; None: by the output's dtype (the table in evaluators/kernel/correctness.py)."""
    rtol: float | None = Field(None, ge=0)
    """Relative tolerance; None: by the output's dtype."""
    allow_ops: tuple[str, ...] = ()
    """torch operators a candidate may call although they do the reference's work (e.g. "matmul")."""
    min_own_share: float | None = Field(None, ge=0, le=1)
    """On a GPU: the least share of one forward's GPU time that must run in the candidate's own
    kernels (the rest ran in torch's or a vendor library's); below it the candidate is rejected,
    naming the library kernels that did the work. None: 0.5, or 0 when `allow_ops` is set."""
    bytes: float | None = Field(None, gt=0)
    """Bytes the op must move at the benchmark shape (roofline); None: estimated."""
    flops: float | None = Field(None, ge=0)
    """FLOPs the op must do at the benchmark shape (roofline); None: estimated."""
    compile_timeout_seconds: float = Field(300.0, gt=0)
    """Limit for a candidate's import and first call (where CUDA and Triton compile)."""
    timing_seconds: float = Field(10.0, gt=0)
    """Time budget of the adaptive timing loop per candidate."""
    target_rel_se: float = Field(0.002, gt=0, lt=1)
    """Repeat timed calls until the median's relative standard error is below this."""
    compile_reference: bool = True
    """Also time torch.compile of the reference (once per run) for speedup_vs_compile."""
    ceilings: Path | None = None
    """JSON file caching measured device ceilings; None: ~/.cache/evoforge/ceilings.json."""


class TaskConfig(_Model):
    """A whole task file, validated."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Letters, digits, '_', '.', '-': names the run and the default store file."""
    kind: Literal["program", "kernel", "prompt"]
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
    kernel: KernelConfig = KernelConfig()
    """Kernel tasks: checking and timing settings."""
    budget: Budget = Budget()
    llm: LLMConfig = LLMConfig()
    search: SearchConfig = SearchConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    sandbox: SandboxConfig = SandboxConfig()
    prompt: PromptConfig = PromptConfig()
    scorer: str | None = None
    """"path/to/file.py:function" or the name of an `evoforge.scorers` entry point."""
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

    @model_validator(mode="before")
    @classmethod
    def _program_timeout(cls, raw: Any) -> Any:
        """A program task without evaluate.timeout_seconds gets PROGRAM_TIMEOUT_SECONDS."""
        if not isinstance(raw, dict) or raw.get("kind") != "program":
            return raw
        evaluate = raw.get("evaluate")
        if evaluate is None:
            return {**raw, "evaluate": {"timeout_seconds": PROGRAM_TIMEOUT_SECONDS}}
        if isinstance(evaluate, dict) and "timeout_seconds" not in evaluate:
            return {**raw, "evaluate": {**evaluate, "timeout_seconds": PROGRAM_TIMEOUT_SECONDS}}
        if isinstance(evaluate, EvaluateConfig) and "timeout_seconds" not in evaluate.model_fields_set:
            return {**raw, "evaluate": evaluate.model_copy(update={"timeout_seconds": PROGRAM_TIMEOUT_SECONDS})}
        return raw

    @model_validator(mode="after")
    def _one_fitness(self) -> TaskConfig:
        if self.scorer and self.evaluate.fitness_metric:
            raise ValueError("give scorer or evaluate.fitness_metric, not both")
        return self

    @model_validator(mode="after")
    def _kind_files(self) -> TaskConfig:
        if self.kind == "program" and self.evaluator is None:
            raise ValueError("evaluator: required key is missing (kind: program needs it)")
        if self.kind == "kernel":
            if self.reference is None:
                raise ValueError("reference: required key is missing (kind: kernel needs a KernelBench problem file)")
            if self.language not in ("triton", "cuda"):
                raise ValueError(f"language: kernel tasks take 'triton' or 'cuda', got {self.language!r}")
        return self


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

_PATH_KEYS = ("program", "evaluator", "reference")


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
    return _resolve_paths(task, path)


def task_from_run(config: dict[str, Any], task_path: Path, overrides: dict[str, Any] | None = None) -> TaskConfig:
    """The task as a stored run recorded it, with new command-line overrides on top.

    A resumed run keeps its own settings (budget, strategy, seed...) even if the task file
    changed since; options given on the command line still win.
    """
    raw = json.loads(json.dumps(config))  # a deep copy
    _apply_overrides(raw, overrides or {})
    try:
        task = TaskConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{task_path} (as stored with the run): {_first_error(exc)}") from None
    return _resolve_paths(task, task_path)


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
    if api_base is not None:
        models = llm.get("models") or []
        if isinstance(models, (str, dict)):
            models = [models]
        if not models:
            raise ConfigError("--api-base needs a model: pass --model or set llm.models")
        llm["models"] = [{**({"name": m} if isinstance(m, str) else m), "api_base": api_base} for m in models]


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    message = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f", got {got!r}"
    more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return f"{key}: {message}{shown}{more}"


def _resolve_paths(task: TaskConfig, path: Path) -> TaskConfig:
    updates: dict[str, Any] = {}
    for key in _PATH_KEYS:
        value: Path | None = getattr(task, key)
        if value is None:
            continue
        full = value if value.is_absolute() else task.task_dir / value
        if not full.is_file():
            raise ConfigError(f"{path}: {key}: file not found: {full}")
        updates[key] = full
    evaluate = _resolve_evaluator_needs(task.evaluate, task.task_dir, path, in_image=task.sandbox.image is not None)
    if evaluate is not task.evaluate:
        updates["evaluate"] = evaluate
    if task.prompt.templates is not None:
        tdir = task.prompt.templates
        tdir = tdir if tdir.is_absolute() else task.task_dir / tdir
        if not tdir.is_dir():
            raise ConfigError(f"{path}: prompt.templates: folder not found: {tdir}")
        updates["prompt"] = task.prompt.model_copy(update={"templates": tdir})
    if task.scorer and ":" in task.scorer:
        file_part, _, func = task.scorer.rpartition(":")
        scorer_file = Path(file_part)
        scorer_file = scorer_file if scorer_file.is_absolute() else task.task_dir / scorer_file
        if not scorer_file.is_file():
            raise ConfigError(f"{path}: scorer: file not found: {scorer_file}")
        if not func.isidentifier():
            raise ConfigError(f"{path}: scorer: expected 'file.py:function', got {task.scorer!r}")
        updates["scorer"] = f"{scorer_file}:{func}"
    return task.model_copy(update=updates)


def _resolve_evaluator_needs(cfg: EvaluateConfig, task_dir: Path, path: Path, *, in_image: bool) -> EvaluateConfig:
    """evaluate.python / venv / requirements / pythonpath made absolute and checked to exist
    (an interpreter given as a bare name is looked up on PATH). With sandbox.image the
    interpreter and venv are paths inside the image, taken as written."""
    if cfg.python is None and cfg.venv is None and cfg.requirements is None and not cfg.pythonpath:
        return cfg

    def full(value: Path) -> Path:  # normpath, not resolve: a venv's bin/python is a link to keep
        return Path(os.path.normpath(value if value.is_absolute() else task_dir / value))

    updates: dict[str, Any] = {}
    if cfg.python is not None and not in_image:
        if len(cfg.python.parts) == 1 and not full(cfg.python).exists():  # "python3.12": a command
            from evaluators.program.runtime import python_on_path

            found = python_on_path(str(cfg.python))
            if found is None:
                raise ConfigError(f"{path}: evaluate.python: {cfg.python} is neither a file beside the task nor on PATH")
            updates["python"] = Path(found)
        else:
            updates["python"] = full(cfg.python)
    if cfg.venv is not None and not in_image:
        if not full(cfg.venv).is_dir():
            raise ConfigError(f"{path}: evaluate.venv: folder not found: {full(cfg.venv)}")
        updates["venv"] = full(cfg.venv)
    if cfg.requirements is not None:
        if not full(cfg.requirements).is_file():
            raise ConfigError(f"{path}: evaluate.requirements: file not found: {full(cfg.requirements)}")
        updates["requirements"] = full(cfg.requirements)
    folders = tuple(full(p) for p in cfg.pythonpath)
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"{path}: evaluate.pythonpath: folder not found: {folder}")
    updates["pythonpath"] = folders
    return cfg.model_copy(update=updates)
