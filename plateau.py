"""The two transformers of the poster, how they start, and how they are trained.

Start reading at `GrokConfig` and `SequenceConfig` (every knob, with a comment),
then the two models (`grok_forward`, `sequence_forward`), then the two problems
that turn data into losses and metrics (`ArithmeticProblem`, `SequenceProblem`),
then the one training loop `train(...)`. Run folders, checkpoints and signals
live in runs.py.

Ensembles: every parameter carries a leading axis E. E models (one per seed:
own init, own data split, own batches) train in lockstep as one set of arrays,
so E seeds cost one Python loop, and on a GPU one set of bigger kernels. Some
settings may differ from member to member (PER_MEMBER), so one run can train a
grid of settings too.
Shapes: E members, B batch, T positions, D width, H heads, V vocabulary.
"""
import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np

import analysis
import autograd as ag
import fastops
import tasks

# ---------------------------------------------------------------------------
# Configs. Plain dataclasses, saved as config.json in every run folder. Each
# field is declared once, by `knob`: its default, what it means, the values it
# may take and its command-line flag. `check_config` checks every field from
# that declaration, and experiments/common.py builds each flag from it, so a
# flag and its check cannot disagree. A per-member field may also be a tuple
# with one value per ensemble member.

class Values:
    """The values a field may take: `ok(value)`, and `what` says them in words."""

    def __init__(self, what, ok, kind):
        self.what, self.ok, self.kind = what, ok, kind  # kind: how a flag's text is read (int, float, str...)


def _whole(v):
    """An int or a NumPy integer (as tasks.py takes them), never a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _finite(v):
    """A finite real number: an int, a float or a NumPy integer or float (np.float32(0.9)), never a bool."""
    return (_whole(v) or isinstance(v, (float, np.floating))) and math.isfinite(v)


def whole(at_least, at_most=None):
    """A whole number (a bool is not one) in [at_least, at_most]."""
    what = f"a whole number >= {at_least}" if at_most is None else f"a whole number in [{at_least}, {at_most}]"
    return Values(what, lambda v: _whole(v) and v >= at_least and (at_most is None or v <= at_most), int)


def number(low=None, high=None, low_open=False, high_open=False):
    """A finite number in the given range (each end open or closed, or absent)."""
    def ok(v):
        return (_finite(v) and (low is None or (v > low if low_open else v >= low))
                and (high is None or (v < high if high_open else v <= high)))
    if high is None:
        what = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        what = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return Values(what, ok, float)


def one_of(*choices):
    return Values(f"one of {', '.join(choices)}", lambda v: v in choices, choices)


def names_from(choices, what):
    """A non-empty tuple of distinct names from `choices` (a tuple, never a bare string)."""
    def ok(v):
        return (isinstance(v, (tuple, list)) and len(v) >= 1 and len(set(v)) == len(v)
                and all(isinstance(n, str) and n in choices for n in v))
    return Values(f"one or more different {what} from {', '.join(choices)}", ok, ("names", what, tuple(choices)))


SEEDS = Values("one or more whole numbers >= 0",
               lambda v: isinstance(v, (tuple, list)) and len(v) >= 1
               and all(_whole(s) and s >= 0 for s in v), "seeds")
BETAS = Values("two numbers in [0, 1)", lambda v: isinstance(v, (tuple, list)) and len(v) == 2
               and all(_finite(b) and 0 <= b < 1 for b in v), "betas")


def knob(default, help, values, flag=None, per_member=False):
    """One config field: its default, its meaning (the flag's help), its values, its flag
    (None: no flag of its own) and whether each ensemble member may have its own value."""
    return dataclasses.field(default=default, metadata=dict(help=help, values=values, flag=flag,
                                                            per_member=per_member))


def redefault(cls, name, default):
    """The same knob as `cls`'s field `name`, with another default (a subclass's)."""
    return dataclasses.field(default=default, metadata=cls.__dataclass_fields__[name].metadata)


MAX_STEPS = 10 ** 9   # 2,500 times the poster's 400,000 steps: counts beyond are typing errors


@dataclass
class TrainConfig:
    seeds: tuple = knob((0,), "one ensemble member per seed", SEEDS, "--seeds")
    steps: int = knob(5000, "optimizer updates at most", whole(1, MAX_STEPS), "--steps")
    eval_every: int = knob(100, "evaluate every this many steps (and at step 0 and the last)", whole(1, MAX_STEPS),
                           "--eval-every")
    patience: int = knob(3, "evaluations at the goal, by every member, before a run stops", whole(1, MAX_STEPS),
                          "--patience")
    threshold: float = knob(0.95, "accuracy that counts as done (memorised, grokked, converged)",
                            number(0, 1, low_open=True), "--threshold")
    optimizer: str = knob("adamw", "adamw or sgd", one_of("adamw", "sgd"), "--optimizer")
    lr: float = knob(1e-3, "learning rate (0 freezes a member: a control in a sweep)", number(0), "--lr",
                     per_member=True)
    betas: tuple = knob((0.9, 0.98), "AdamW's beta1, beta2", BETAS)
    weight_decay: float = knob(1.0, "AdamW's decoupled decay, SGD's coupled L2", number(0), "--weight-decay",
                               per_member=True)
    momentum: float = knob(0.0, "SGD momentum (SGD only)", number(0, 1, high_open=True), "--momentum",
                           per_member=True)
    grokfast_lambda: float = knob(0.0, "Grokfast-EMA amplification lambda (Lee et al. 2024; 0: off, theirs: 2)",
                                  number(0), "--grokfast-lambda", per_member=True)
    grokfast_alpha: float = knob(0.98, "Grokfast-EMA decay alpha", number(0, 1, high_open=True), "--grokfast-alpha")
    batch_size: int = knob(512, "examples per step, per member", whole(1), "--batch-size")
    checkpoint_every: int = knob(1000, "steps between checkpoints (0: only when interrupted)", whole(0, MAX_STEPS),
                                 "--checkpoint-every")
    on_divergence: str = knob("stop", "a NaN loss: stop the run, or continue (a sweep: the member stays NaN)",
                              one_of("stop", "continue"))
    backend: str = knob("numpy", "array backend: numpy (CPU) or cupy (GPU)", one_of("numpy", "cupy"), "--backend")
    dtype: str = knob("float32", "float32 or float64", one_of("float32", "float64"), "--dtype")


@dataclass
class GrokConfig(TrainConfig):
    ops: tuple = knob(("div",), "operations trained together", names_from(tasks.OPERATIONS, "operations"), "--ops")
    p: int = knob(97, "the modulus (a prime where div is trained)", whole(2, 1000), "--p")
    frac_train: float = knob(0.5, "share of each operation's table used for training",
                             number(0, 1, low_open=True, high_open=True), "--frac-train")
    d_model: int = knob(128, "width D (>= 2: a LayerNorm over one feature outputs a constant)", whole(2),
                        "--d-model")
    n_heads: int = knob(4, "attention heads H", whole(1), "--heads")
    n_layers: int = knob(2, "blocks L", whole(1), "--layers")
    norm: str = knob("post", "LayerNorm after each sublayer (post, PyTorch's default) or before (pre)",
                     one_of("post", "pre"), "--norm")
    init: str = knob("default", "default: PyTorch's; small: Xavier-normal x --init-scale; sparse: Xavier with "
                     "--sparsity zeroed; scaled: PyTorch's x --init-scale",
                     one_of("default", "small", "sparse", "scaled"), "--init", per_member=True)
    init_scale: float = knob(0.01, "small and scaled init: the scale (at most 100: beyond, float32 weights "
                             "overflow)", number(0, 100, low_open=True), "--init-scale", per_member=True)
    sparsity: float = knob(0.9, "sparse init: the share of weights set to zero", number(0, 1, high_open=True),
                           "--sparsity", per_member=True)
    init_scope: str = knob("linear", "linear: MLP, attention output, read-out (the poster's code); all: every "
                           "weight", one_of("linear", "all"), "--init-scope", per_member=True)
    batch_mix: str = knob("pool", "several operations: pool (draw from every op's training half pooled) or balanced "
                          "(an equal share of each batch per op, as the poster's code)",
                          one_of("pool", "balanced"), "--batch-mix")


@dataclass
class SequenceConfig(TrainConfig):
    tasks: tuple = knob(("mws",), "sequence tasks mixed in every batch",
                        names_from(tasks.SEQUENCE_TASK_NAMES, "tasks"))
    n: int = knob(16, "inputs per sequence (>= 2: repetition and collapse compare output positions)",
                  whole(2), "--n")
    k: int = knob(2, "window", whole(1), "--k")
    p: int = knob(17, "modulus", whole(2, 1000), "--p")
    d_model: int = knob(64, "width D (taken as the poster's: 256; 64 keeps the plateau, measured; >= 2: a LayerNorm over "
                        "one feature outputs a constant)", whole(2), "--d-model")
    attention: str = knob("linear", "linear (no softmax) or softmax", one_of("linear", "softmax"), "--attention")
    eval_size: int = knob(256, "held-out sequences per task", whole(1), "--eval-size")
    batch_size: int = redefault(TrainConfig, "batch_size", 128)    # split across the tasks
    lr: float = redefault(TrainConfig, "lr", 1e-3)
    betas: tuple = redefault(TrainConfig, "betas", (0.9, 0.999))
    weight_decay: float = redefault(TrainConfig, "weight_decay", 0.0)  # Adam: AdamW with no decay
    threshold: float = redefault(TrainConfig, "threshold", 1.0)        # held-out token accuracy
    eval_every: int = redefault(TrainConfig, "eval_every", 10)
    steps: int = redefault(TrainConfig, "steps", 3000)


PER_MEMBER = tuple(f.name for f in dataclasses.fields(GrokConfig) if f.metadata["per_member"])
RESUMABLE = ("steps", "backend", "checkpoint_every")  # may change when a run is resumed


def describe(cfg, init=False):
    """A config in one line, as the ledger's 'setting' column and the figures' titles say it; a
    field that differs between members reads 'per member'. init=True: the init too, where it is
    not the default (the ledger's init rows say it in their own words)."""
    show = lambda v: "per member" if isinstance(v, (tuple, list)) else f"{v:g}"
    opt = f"AdamW lr {show(cfg.lr)}" if cfg.optimizer == "adamw" else \
        f"SGD lr {show(cfg.lr)} momentum {show(cfg.momentum)}"
    extra = f", Grokfast λ {show(cfg.grokfast_lambda)}" if cfg.grokfast_lambda != 0 else ""
    budget = f"batch {cfg.batch_size}, {len(cfg.seeds)} members, at most {cfg.steps:,} steps"
    if isinstance(cfg, SequenceConfig):
        return f"{opt}, wd {show(cfg.weight_decay)}, {cfg.attention} attention, D={cfg.d_model}, p={cfg.p}, {budget}"
    if init and cfg.init != "default":
        extra += f", {describe_init(cfg)}"
    return f"{opt}, wd {show(cfg.weight_decay)}{extra}, {cfg.norm}-LN, D={cfg.d_model}, p={cfg.p}, {budget}"


def describe_init(cfg):
    """'small init x0.01', 'sparse init 0.9 zeros', 'per-member init', ... (a grokking config's)."""
    per_member = lambda v: isinstance(v, (tuple, list))
    if per_member(cfg.init):
        return "per-member init"
    if cfg.init == "sparse":
        return "sparse init" + (" (sparsity per member)" if per_member(cfg.sparsity) else f" {cfg.sparsity:g} zeros")
    return f"{cfg.init} init" + (" (scale per member)" if per_member(cfg.init_scale) else f" x{cfg.init_scale:g}")


def member_config(cfg, e):
    """Member e's own config: every per-member tuple replaced by member e's value."""
    return dataclasses.replace(cfg, **{name: getattr(cfg, name)[e] for name in PER_MEMBER
                                       if isinstance(getattr(cfg, name, None), (tuple, list))})


# The splits each kind of problem evaluates, as its history rows name them.
SPLITS = {"grok": ("train", "val"), "sequence": ("heldout",)}


def config_from_dict(values):
    """Rebuild a config from config.json (lists back to tuples)."""
    kinds = {"grok": GrokConfig, "sequence": SequenceConfig}
    if not isinstance(values, dict) or values.get("kind") not in kinds:
        raise ValueError(f"a config needs 'kind': 'grok' or 'sequence', got {values!r:.80}")
    cls = kinds[values["kind"]]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names})


def config_to_dict(cfg):
    """The config as plain JSON values: tuples become lists, NumPy numbers Python ones."""
    kind = "grok" if isinstance(cfg, GrokConfig) else "sequence"
    plain = lambda v: v.item() if isinstance(v, np.generic) else v
    return {"kind": kind, **{k: [plain(x) for x in v] if isinstance(v, (tuple, list)) else plain(v)
                             for k, v in dataclasses.asdict(cfg).items()}}


# ---------------------------------------------------------------------------
# Checking a config: every field in range before any work, one clear line each.

class ConfigError(ValueError):
    """A config field out of range; `field` names it (the scripts name its flag)."""

    def __init__(self, field, message):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def check_config(cfg):
    """Raise ConfigError for the first field that is out of range: every field against its
    declaration (its type too: steps='10' or ops='div' are refused), then the rules that
    tie fields together."""
    if not isinstance(cfg, (GrokConfig, SequenceConfig)):
        raise TypeError(f"check_config takes a GrokConfig or a SequenceConfig, got {type(cfg).__name__}")
    for f in dataclasses.fields(cfg):
        values, value = f.metadata["values"], getattr(cfg, f.name)
        if f.metadata["per_member"] and isinstance(value, (tuple, list)):
            _require(f.name, len(value) == len(cfg.seeds),
                     f"has {len(value)} per-member values for {len(cfg.seeds)} members")
            bad = [v for v in value if not values.ok(v)]
        else:
            bad = [] if values.ok(value) else [value]
        _require(f.name, not bad, lambda: f"must be {values.what}, got {bad[0]!r}")
    momenta = cfg.momentum if isinstance(cfg.momentum, (tuple, list)) else (cfg.momentum,)  # one per member
    stray = next((m for m in momenta if m != 0), 0)
    _require("momentum", stray == 0 or cfg.optimizer == "sgd", lambda: f"has no effect with AdamW (got {stray}); "
                                                                     "it is SGD's")
    (_check_grok if isinstance(cfg, GrokConfig) else _check_sequence)(cfg)


def _check_grok(cfg):
    _require("p", "div" not in cfg.ops or tasks.is_prime(cfg.p),
             f"division mod {cfg.p} needs a prime modulus (b must have an inverse); try 97")
    smallest = min(tasks.table_size(op, cfg.p) for op in cfg.ops)
    _require("frac_train", 1 <= round(cfg.frac_train * smallest) < smallest,
             f"{cfg.frac_train} leaves an empty train or validation half of {smallest} examples")
    _require("n_heads", cfg.d_model % cfg.n_heads == 0,
             f"{cfg.n_heads} heads do not divide the width d_model={cfg.d_model}")
    _require("batch_mix", cfg.batch_mix == "pool" or cfg.batch_size >= len(cfg.ops),
             f"{cfg.batch_size} cannot give each of the {len(cfg.ops)} operations an example")


def _check_sequence(cfg):
    _require("k", cfg.k <= cfg.n, f"a window of {cfg.k} does not fit a sequence of n={cfg.n} inputs")
    _require("batch_size", cfg.batch_size >= len(cfg.tasks),
             f"{cfg.batch_size} cannot give each of the {len(cfg.tasks)} tasks a sequence")


def _require(field, ok, message):
    """Raise ConfigError(field, message) unless ok (message may be a function: made only on failure)."""
    if not ok:
        raise ConfigError(field, message() if callable(message) else message)


# ---------------------------------------------------------------------------
# Memory: what a config needs, estimated before any work (runs.check_fits compares
# it with the machine). Counted, in bytes, with E members, B examples per member,
# T tokens per example, D the width, H heads, L layers, V the vocabulary and b the
# bytes of one float (4 or 8):
# - parameters P per member (the weight matrices and vectors of init_*_member), held
#   5 times in the dtype (parameters, gradients, two optimizer states, the Grokfast
#   filter or SGD's momentum) and twice in float64 on the host while they are made;
# - the data: the grokking tables (p^2 examples per operation, 5 int64 each, twice:
#   the splits and the training pool); the sequence model's held-out set (eval_size
#   sequences of 2n+1 int64 per task, input and target copies) and a step's batch;
# - the larger of one training step and one evaluation, per token: 32 D L floats for
#   a step with its graph and gradients, 16 D L for an evaluation without them (its
#   chunk: 4096 rows of a split per member, or the whole held-out set), plus
#   4 H T L for the attention scores and 4 V for the logits and their softmax.
# The coefficients are peaks measured with ru_maxrss (grok 8x512, 8x2048, 50x256
# with D=64, 2x8192 with D=256 L=1; sequence 8x4096 and eval_size 4096), rounded up
# to 1.2-3x what was measured: the estimate refuses what cannot fit, not what is tight.

EVAL_CHUNK = 4096   # rows per member in one evaluation pass (ArithmeticProblem._score)


def parameter_count(cfg):
    """Parameters per member (the shapes of init_grok_member / init_sequence_member)."""
    D = cfg.d_model
    if isinstance(cfg, GrokConfig):
        V, L = tasks.arithmetic_vocab_size(cfg.p), cfg.n_layers
        return 2 * V * D + 4 * D + L * (12 * D * D + 13 * D) + (2 * D if cfg.norm == "pre" else 0) + V  # ln_f: pre-LN
    V, T = tasks.sequence_vocab_size(cfg.p), 2 * cfg.n + 1
    return 2 * V * D + T * D + 12 * D * D + 15 * D


def memory_estimate(cfg):
    """Bytes this config needs at its peak, by part (see the comment above): a dict of
    'parameters', 'data', 'step' and 'evaluation' (the last two never at once)."""
    E, B, D, b = len(cfg.seeds), cfg.batch_size, cfg.d_model, 8 if cfg.dtype == "float64" else 4
    params = E * parameter_count(cfg) * (5 * b + 16)
    if isinstance(cfg, GrokConfig):
        T, H, L, V = 4, cfg.n_heads, cfg.n_layers, tasks.arithmetic_vocab_size(cfg.p)
        data = E * len(cfg.ops) * cfg.p ** 2 * 5 * 8 * 2
        eval_tokens = E * min(EVAL_CHUNK, cfg.p ** 2) * T
    else:
        T, H, L, V = 2 * cfg.n, 1, 1, tasks.sequence_vocab_size(cfg.p)
        data = E * len(cfg.tasks) * cfg.eval_size * (T + 1) * 8 * 2 + E * B * (T + 1) * 8 * 3
        eval_tokens = E * cfg.eval_size * T
    per_token = 4 * H * T * L + 4 * V
    return {"parameters": params, "data": data,
            "step": E * B * T * (32 * D * L + per_token) * b,
            "evaluation": eval_tokens * (16 * D * L + per_token) * b}


# ---------------------------------------------------------------------------
# Initialisation, on the host with one NumPy generator per member, so a seed
# gives the same model on CPU and GPU.

def uniform(rng, shape, bound):
    return rng.uniform(-bound, bound, shape)


def xavier_normal(rng, shape, fan_in, fan_out):
    """Glorot & Bengio (2010): N(0, 2/(fan_in+fan_out))."""
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), shape)


def constrained(rng, shape, fan_in, fan_out, cfg):
    """The poster's interventions: small (Xavier × scale) or sparse (Xavier, a share zeroed)."""
    w = xavier_normal(rng, shape, fan_in, fan_out)
    if cfg.init == "small":
        return w * cfg.init_scale
    keep = rng.random(shape) >= cfg.sparsity
    return w * keep / math.sqrt(1.0 - cfg.sparsity)  # survivors rescaled: same variance


def init_grok_member(cfg, rng):
    """One member's parameters (weights stored (in, out), so x @ W); cfg is that
    member's own config (see member_config).

    default = PyTorch's defaults: nn.Embedding N(0, 1); nn.Linear weight and bias
    U(±1/√fan_in); MultiheadAttention's fused Q/K/V weight Xavier-uniform over its
    (3D, D) shape with zero bias, its output projection a Linear with zero bias;
    LayerNorm weight 1, bias 0. small/sparse replace the Linear layers (attention
    output, MLP, read-out; scope "all" adds Q/K/V and the embeddings), biases 0.
    scaled multiplies PyTorch's init of those layers (weights and biases) by
    init_scale, as Omnigrok scales the initial weights (Liu et al. 2022).
    """
    if cfg.init == "scaled":
        out = init_grok_member(dataclasses.replace(cfg, init="default"), rng)
        return {name: w * cfg.init_scale if in_scope(name, cfg.init_scope) else w for name, w in out.items()}
    D, V, L = cfg.d_model, tasks.arithmetic_vocab_size(cfg.p), cfg.n_layers
    special = cfg.init != "default"
    everywhere = special and cfg.init_scope == "all"

    def linear(name, fan_in, fan_out, bias=True, zero_bias=False):
        if special:
            out[name] = constrained(rng, (fan_in, fan_out), fan_in, fan_out, cfg)
        else:
            out[name] = uniform(rng, (fan_in, fan_out), 1 / math.sqrt(fan_in))
        if bias:
            b = name.replace("W_", "b_")
            zero = special or zero_bias
            out[b] = np.zeros((1, fan_out)) if zero else uniform(rng, (1, fan_out), 1 / math.sqrt(fan_in))

    out = {}
    for name, rows in (("W_E", V), ("W_pos", 4)):
        out[name] = (constrained(rng, (rows, D), D, rows, cfg) if everywhere
                     else rng.normal(0.0, 1.0, (rows, D)))
    for layer in range(L):
        prefix = f"blocks.{layer}."
        qkv = (constrained(rng, (D, 3 * D), D, 3 * D, cfg) if everywhere
               else uniform(rng, (D, 3 * D), math.sqrt(6.0 / (D + 3 * D))))
        for i, name in enumerate(("W_Q", "W_K", "W_V")):
            out[prefix + name] = qkv[:, i * D:(i + 1) * D]
            out[prefix + "b" + name[1:]] = np.zeros((1, D))
        linear(prefix + "W_O", D, D, zero_bias=True)
        linear(prefix + "W_in", D, 4 * D)
        linear(prefix + "W_out", 4 * D, D)
        for norm in ("ln1", "ln2"):
            out[prefix + norm + ".w"], out[prefix + norm + ".b"] = np.ones((1, D)), np.zeros((1, D))
    if cfg.norm == "pre":
        out["ln_f.w"], out["ln_f.b"] = np.ones((1, D)), np.zeros((1, D))
    linear("W_U", D, V)
    return out


LINEAR_LAYERS = ("W_O", "b_O", "W_in", "b_in", "W_out", "b_out", "W_U", "b_U")


def in_scope(name, scope):
    """Whether an init scope covers parameter `name` (e.g. "blocks.0.W_in"): "linear" = the
    nn.Linear layers (attention output, MLP, read-out), "all" = every weight and bias but LayerNorm's."""
    last = name.split(".")[-1]
    return last in LINEAR_LAYERS or (scope == "all" and last not in ("w", "b"))


def init_sequence_member(cfg, rng):
    """Gopalani & Hu's init: N(0, 0.02) weights, zero biases, the two residual
    output projections N(0, 0.02/√(2L)) with L = 1 layer, LayerNorms 1 and 0."""
    D, V, T = cfg.d_model, tasks.sequence_vocab_size(cfg.p), 2 * cfg.n + 1
    std, residual_std = 0.02, 0.02 / math.sqrt(2 * 1)
    out = {"W_E": rng.normal(0, std, (V, D)), "W_pos": rng.normal(0, std, (T, D))}
    for name in ("W_Q", "W_K", "W_V"):
        out[name], out["b" + name[1:]] = rng.normal(0, std, (D, D)), np.zeros((1, D))
    out["W_O"], out["b_O"] = rng.normal(0, residual_std, (D, D)), np.zeros((1, D))
    out["W_in"], out["b_in"] = rng.normal(0, std, (D, 4 * D)), np.zeros((1, 4 * D))
    out["W_out"], out["b_out"] = rng.normal(0, residual_std, (4 * D, D)), np.zeros((1, D))
    for norm in ("ln1", "ln2", "ln_f"):
        out[norm + ".w"], out[norm + ".b"] = np.ones((1, D)), np.zeros((1, D))
    out["W_U"] = rng.normal(0, std, (D, V))
    return out


def stack_members(members):
    """E dicts of NumPy arrays -> one dict of Tensors with a leading E axis."""
    return {name: ag.Tensor(ag.from_numpy(np.stack([m[name] for m in members])), requires_grad=True)
            for name in members[0]}


# ---------------------------------------------------------------------------
# Layers shared by both models. p is the parameter dict; prefix starts the names
# of one block's parameters ("blocks.0.").

def layer_norm(p, x, name):
    """LayerNorm with each member's own weight and bias, shaped (E, 1, ..., 1, D) to broadcast."""
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)
    return ag.layer_norm(x, p[name + ".w"].reshape(shape), p[name + ".b"].reshape(shape))


def mlp(p, x, prefix, activation):
    h = activation(ag.linear(x, p[prefix + "W_in"], p[prefix + "b_in"]))    # (E, B, T, 4D)
    return ag.linear(h, p[prefix + "W_out"], p[prefix + "b_out"])           # (E, B, T, D)


def embed(p, tokens):
    """Token plus learned position embedding: tokens (E, B, T) -> (E, B, T, D)."""
    E, T = tokens.shape[0], tokens.shape[-1]
    x = ag.linear(ag.one_hot(tokens, p["W_E"].shape[1]), p["W_E"])    # (E, B, T, D)
    return x + p["W_pos"][:, :T].reshape(E, 1, T, -1)


def split_heads(x, H):
    E, B, T, D = x.shape
    return x.reshape(E, B, T, H, D // H).transpose(0, 1, 3, 2, 4)    # (E, B, H, T, D/H)


def merge_heads(x):
    E, B, H, T, Dh = x.shape
    return x.transpose(0, 1, 3, 2, 4).reshape(E, B, T, H * Dh)        # (E, B, T, D)


def future_mask(T_query, T):
    """True where key position j lies after query position i (queries are the last T_query).
    Made once per shape and backend, then reused: a GPU would otherwise receive it every step."""
    return _future_mask(T_query, T, ag.xp.__name__)


@functools.lru_cache(maxsize=32)
def _future_mask(T_query, T, backend):
    i = np.arange(T - T_query, T)[:, None]
    return ag.from_numpy(np.arange(T)[None, :] > i)


# ---------------------------------------------------------------------------
# Model 1, grokking: a decoder-only transformer (PyTorch's TransformerEncoderLayer
# with a causal mask, no dropout) that reads `a op b =` and predicts c.

def causal_self_attention(p, x, queries, prefix, H):
    """Multi-head softmax attention of `queries` (x itself, or its last positions) over x."""
    T = x.shape[2]
    q = split_heads(ag.linear(queries, p[prefix + "W_Q"], p[prefix + "b_Q"]), H)  # (E, B, H, Tq, Dh)
    k = split_heads(ag.linear(x, p[prefix + "W_K"], p[prefix + "b_K"]), H)        # (E, B, H, T, Dh)
    v = split_heads(ag.linear(x, p[prefix + "W_V"], p[prefix + "b_V"]), H)        # (E, B, H, T, Dh)
    scores = (q @ k.transpose(0, 1, 2, 4, 3)) * (1.0 / math.sqrt(q.shape[-1]))  # (E, B, H, Tq, T)
    scores = ag.masked_fill(scores, future_mask(q.shape[3], T), -math.inf)
    y = merge_heads(ag.softmax(scores, axis=-1) @ v)                   # (E, B, Tq, D)
    return ag.linear(y, p[prefix + "W_O"], p[prefix + "b_O"])


def grok_block(p, x, layer, cfg, last_only):
    """x + attention, x + MLP, each followed (post-LN) or preceded (pre-LN) by a LayerNorm.
    The read-out looks at the last position only, so the final block computes
    only that position (keys and values still come from every position)."""
    prefix = f"blocks.{layer}."
    keep = x[:, :, -1:] if last_only else x                            # (E, B, Tq, D)
    relu = ag.relu
    if cfg.norm == "post":
        x = layer_norm(p, keep + causal_self_attention(p, x, keep, prefix, cfg.n_heads), prefix + "ln1")
        return layer_norm(p, x + mlp(p, x, prefix, relu), prefix + "ln2")
    h = layer_norm(p, x, prefix + "ln1")
    x = keep + causal_self_attention(p, h, h[:, :, -1:] if last_only else h, prefix, cfg.n_heads)
    return x + mlp(p, layer_norm(p, x, prefix + "ln2"), prefix, relu)


def grok_forward(p, tokens, cfg):
    """tokens (E, B, 4) -> logits (E, B, V) for the token after `=`."""
    x = embed(p, tokens)                                               # (E, B, T, D)
    for layer in range(cfg.n_layers):
        x = grok_block(p, x, layer, cfg, last_only=layer == cfg.n_layers - 1)
    if cfg.norm == "pre":
        x = layer_norm(p, x, "ln_f")
    return ag.linear(x[:, :, -1], p["W_U"], p["b_U"])                 # (E, B, V)


# ---------------------------------------------------------------------------
# Model 2, loss plateau: one pre-LayerNorm block with single-head *linear*
# causal attention (Gopalani & Hu 2025): A = mask ⊙ (Q Kᵀ/√D), y = A V, no softmax.

def single_head_attention(p, h, attention, queries=None):
    """The output for the last `queries` positions (all by default), (E, B, Tq, D),
    and the attention map A of those queries over every position, (E, B, Tq, T)."""
    T = h.shape[2]
    hq = h if queries is None else h[:, :, T - queries:]              # (E, B, Tq, D)
    q = ag.linear(hq, p["W_Q"], p["b_Q"])                              # (E, B, Tq, D)
    k = ag.linear(h, p["W_K"], p["b_K"])                               # (E, B, T, D)
    v = ag.linear(h, p["W_V"], p["b_V"])                               # (E, B, T, D)
    scores = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(q.shape[-1]))  # (E, B, Tq, T)
    future = future_mask(q.shape[2], T)                                # (Tq, T)
    if attention == "linear":
        # EXERCISE linear-attention: keep the scores of positions j <= i, set the future to 0 (no softmax)
        weights = scores * ~future                                     # future positions set to 0
        # END EXERCISE
    else:
        weights = ag.softmax(ag.masked_fill(scores, future, -math.inf), axis=-1)
    return ag.linear(weights @ v, p["W_O"], p["b_O"]), weights


def sequence_forward(p, tokens, cfg, outputs_only=False):
    """tokens (E, B, T) -> logits (E, B, T', V), final hidden states (E, B, T', D), attention map
    (E, B, T', T), where T' = T, or the last n positions if outputs_only.

    Only the outputs y_1..y_n are scored, and after the attention every layer acts
    on each position alone, so a training step computes the queries, the MLP and
    the read-out for those n positions only (keys and values still come from all T):
    the same loss and gradients for about half the work."""
    x = embed(p, tokens)                                               # (E, B, T, D)
    queries = cfg.n if outputs_only else None
    y, weights = single_head_attention(p, layer_norm(p, x, "ln1"), cfg.attention, queries)
    x = (x[:, :, -cfg.n:] if outputs_only else x) + y                  # (E, B, T', D)
    x = x + mlp(p, layer_norm(p, x, "ln2"), "", ag.gelu)
    hidden = layer_norm(p, x, "ln_f")                                  # (E, B, T', D)
    return ag.linear(hidden, p["W_U"]), hidden, weights                # read-out has no bias


# ---------------------------------------------------------------------------
# Problems: data + model + metrics for one arm. The training loop below calls
# init_params, loss, evaluate and finished; nothing else. Summaries of a history: analysis.py.

def check_tokens(ids, vocab_size):
    """Raise if a token id (host array) lies outside [0, vocab_size)."""
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got {ids.min()}..{ids.max()}")


# Parameter groups for the squared norms logged at each evaluation (the delay law
# of issue 19 reads them): V = ||theta||^2 summed over a group's parameters.
NORM_GROUPS = ("embed", "attn", "mlp", "readout", "ln")


def norm_group(name):
    """Which NORM_GROUPS entry parameter `name` belongs to (e.g. "blocks.0.W_in" -> "mlp")."""
    last = name.split(".")[-1]
    if last in ("W_E", "W_pos"):
        return "embed"
    if last in ("W_in", "b_in", "W_out", "b_out"):
        return "mlp"
    if last in ("W_U", "b_U"):
        return "readout"
    if last in ("w", "b"):
        return "ln"
    return "attn"  # W_Q, W_K, W_V, W_O and their biases


def squared_norms(params):
    """Each member's squared parameter norm, total and per group: {"norm2": (E,), "norm2_mlp": (E,), ...}
    as NumPy arrays (one reduction per parameter on the device, one copy to the host)."""
    names = list(params)
    per_param = ag.to_numpy(ag.xp.stack([(params[n].data.reshape(params[n].shape[0], -1) ** 2).sum(axis=1)
                                         for n in names])).astype(np.float64)    # (parameters, E)
    parts = {g: sum(per_param[i] for i, n in enumerate(names) if norm_group(n) == g) for g in NORM_GROUPS}
    return {"norm2": per_param.sum(axis=0), **{f"norm2_{g}": v for g, v in parts.items()}}


class ArithmeticProblem:
    """Grokking: a op b = c (mod p), full-table train/val splits, one per member."""
    fields = ("step", "member", "seed", "task", "split", "loss", "acc", "gap", "norm2") + \
        tuple(f"norm2_{g}" for g in NORM_GROUPS)

    def __init__(self, cfg):
        self.cfg, self.tasks, self.splits = cfg, tuple(cfg.ops), SPLITS["grok"]
        members = [tasks.arithmetic_split(cfg.ops, cfg.p, cfg.frac_train, seed=[s, 1]) for s in cfg.seeds]
        # Per op and split: inputs (E, N, 4) and targets (E, N), one row per member.
        self.data = {(op, split): tuple(ag.from_numpy(np.stack([m[op][split][i] for m in members]))
                                        for i in (0, 1))
                     for op in cfg.ops for split in self.splits}
        for op in cfg.ops:  # ids checked here, once, on the host (one_hot on a GPU does not check)
            check_tokens(np.stack([m[op]["train"][0] for m in members]), tasks.arithmetic_vocab_size(cfg.p))
        # The training pool: every op's training half, concatenated.
        self.pool = tuple(ag.xp.concatenate([self.data[op, "train"][i] for op in cfg.ops], axis=1)
                          for i in (0, 1))

    def init_params(self):
        return stack_members([init_grok_member(member_config(self.cfg, e), np.random.default_rng([s, 0]))
                              for e, s in enumerate(self.cfg.seeds)])

    def loss(self, params, step):
        """Per-member mean cross-entropy on a fresh minibatch from each member's pool: (E,)."""
        picks = ag.from_numpy(np.stack([self._picks(np.random.default_rng([s, 2, step]))
                                        for s in self.cfg.seeds]))     # (E, B)
        inputs = ag.xp.take_along_axis(self.pool[0], picks[..., None], axis=1)  # (E, B, 4)
        targets = ag.xp.take_along_axis(self.pool[1], picks, axis=1)   # (E, B)
        return ag.cross_entropy(grok_forward(params, inputs, self.cfg), targets, per_member=True)

    def _picks(self, rng):
        """One member's batch: row numbers into its training pool. "pool": drawn from the whole
        pool; "balanced": an equal share from each op's stretch of it (the first ops get the rest)."""
        B = self.cfg.batch_size
        if self.cfg.batch_mix == "pool":
            size = self.pool[1].shape[1]
            return rng.choice(size, B, replace=B > size)
        picks, start = [], 0
        for op, count in tasks.split_batch(B, self.tasks).items():
            size = self.data[op, "train"][1].shape[1]
            picks.append(start + rng.choice(size, count, replace=count > size))
            start += size
        return np.concatenate(picks)

    def evaluate(self, params, step):
        """One row per member, op and split: loss, accuracy, the op's train-val accuracy gap
        and the member's squared parameter norms (the same in each of its rows)."""
        scores = {}
        with ag.no_grad():
            for (op, split), (inputs, targets) in self.data.items():
                scores[op, split] = self._score(params, inputs, targets)
            norms = squared_norms(params)
        rows = []
        for (op, split), (loss, acc) in scores.items():
            gap = scores[op, "train"][1] - scores[op, "val"][1]
            rows += [dict(step=step, member=e, seed=s, task=op, split=split, loss=float(loss[e]),
                          acc=float(acc[e]), gap=float(gap[e]), **{k: float(v[e]) for k, v in norms.items()})
                     for e, s in enumerate(self.cfg.seeds)]
        return rows

    def _score(self, params, inputs, targets, chunk=4096):
        """Per-member loss and accuracy over a whole split, in chunks."""
        loss, correct = 0.0, 0.0
        for start in range(0, targets.shape[1], chunk):
            x, y = inputs[:, start:start + chunk], targets[:, start:start + chunk]
            logits = grok_forward(params, x, self.cfg)
            loss = loss + ag.to_numpy(ag.cross_entropy(logits, y, per_member=True).data) * y.shape[1]
            correct = correct + ag.to_numpy((logits.data.argmax(axis=-1) == y).sum(axis=1))
        return loss / targets.shape[1], correct / targets.shape[1]

    def finished(self, history):
        """Every member has grokked every op and held it for `patience` evaluations."""
        return analysis.goal_held(history, self.cfg, self.tasks, "val")

class SequenceProblem:
    """Loss plateau: online sequence tasks, a fresh mixed batch every step."""
    fields = ("step", "member", "seed", "task", "split", "loss", "acc", "repetition", "collapse")

    def __init__(self, cfg):
        self.cfg, self.tasks = cfg, tuple(cfg.tasks)
        self.counts = tasks.split_batch(cfg.batch_size, cfg.tasks)   # sequences per task per step
        E = len(cfg.seeds)
        self.heldout = {}  # task -> (inputs, targets), the same fixed batch for every member
        for i, task in enumerate(cfg.tasks):
            rng = np.random.default_rng([10_000 + tasks.SEQUENCE_TASK_NAMES.index(task), 3])
            seqs = tasks.sequence_batch(task, cfg.eval_size, rng, cfg.n, cfg.k, cfg.p)
            inputs, targets = tasks.next_token_pairs(seqs, cfg.n)
            self.heldout[task] = (ag.from_numpy(np.broadcast_to(inputs, (E,) + inputs.shape).copy()),
                                  ag.from_numpy(np.broadcast_to(targets, (E,) + targets.shape).copy()))

    def init_params(self):
        return stack_members([init_sequence_member(self.cfg, np.random.default_rng([s, 0]))
                              for s in self.cfg.seeds])

    def batch(self, step):
        """Each member's fresh batch: its tasks' sequences stacked, (E, B, 2n+1)."""
        cfg = self.cfg
        batches = []
        for s in cfg.seeds:
            rng = np.random.default_rng([s, 2, step])
            batches.append(np.concatenate([tasks.sequence_batch(t, self.counts[t], rng, cfg.n, cfg.k, cfg.p)
                                           for t in self.tasks]))
        return np.stack(batches)

    def loss(self, params, step):
        inputs, targets = tasks.next_token_pairs(self.batch(step).reshape(-1, 2 * self.cfg.n + 1), self.cfg.n)
        check_tokens(inputs, tasks.sequence_vocab_size(self.cfg.p))  # on the host, before the upload
        E = len(self.cfg.seeds)
        n = self.cfg.n
        logits, _, _ = sequence_forward(params, ag.from_numpy(inputs.reshape(E, -1, 2 * n)), self.cfg,
                                        outputs_only=True)                           # (E, B, n, V)
        targets = targets.reshape(E, -1, 2 * n)[:, :, -n:]             # the outputs y_1..y_n
        return ag.cross_entropy(logits, ag.from_numpy(targets), per_member=True)

    def evaluate(self, params, step):
        rows = []
        with ag.no_grad():
            for task, (inputs, targets) in self.heldout.items():
                logits, hidden, _ = sequence_forward(params, inputs, self.cfg)
                metrics = output_metrics(logits, hidden, targets, self.cfg.n)
                rows += [dict(step=step, member=e, seed=s, task=task, split="heldout",
                              **{k: float(v[e]) for k, v in metrics.items()})
                         for e, s in enumerate(self.cfg.seeds)]
        return rows

    def finished(self, history):
        """Every member has converged on every task and held it for `patience` evaluations."""
        return analysis.goal_held(history, self.cfg, self.tasks, "heldout")

def output_metrics(logits, hidden, targets, n):
    """Per-member loss, token accuracy and the two plateau diagnostics on the n outputs.

    repetition: share of consecutive greedy outputs equal to the previous one.
    collapse: mean pairwise cosine similarity of the final hidden states of the
    output positions (1 = every position has the same representation).
    """
    xp = ag.xp
    loss = ag.to_numpy(ag.cross_entropy(logits, targets, per_member=True).data)
    out_logits, out_hidden, out_targets = logits.data[:, :, -n:], hidden.data[:, :, -n:], targets[:, :, -n:]
    guess = out_logits.argmax(axis=-1)                                 # (E, B, n)
    acc = (guess == out_targets).mean(axis=(1, 2))
    repetition = (guess[:, :, 1:] == guess[:, :, :-1]).mean(axis=(1, 2))
    unit = out_hidden / xp.linalg.norm(out_hidden, axis=-1, keepdims=True)
    cosine = unit @ unit.transpose(0, 1, 3, 2)                         # (E, B, n, n)
    collapse = (cosine.sum(axis=(2, 3)) - n) / (n * (n - 1))           # mean off the diagonal
    return {"loss": loss, "acc": ag.to_numpy(acc), "repetition": ag.to_numpy(repetition),
            "collapse": ag.to_numpy(collapse.mean(axis=1))}


def make_problem(cfg):
    return ArithmeticProblem(cfg) if isinstance(cfg, GrokConfig) else SequenceProblem(cfg)


# ---------------------------------------------------------------------------
# The training loop, shared by both arms. It does no I/O: whoever drives it
# (runs.train, for run folders, checkpoints and progress lines) passes hooks.

class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Result:
    params: dict        # name -> NumPy array (E, ...)
    history: list       # one dict per (step, member, task, split)
    summary: dict       # per task: per-member and median figures (analysis.summarize)
    steps: int          # optimizer updates done
    out: str = None     # the run folder, if any


@dataclass
class TrainState:
    """What the loop changes as it goes: a checkpoint saves it, a resume restores it."""
    params: dict        # name -> Tensor (E, ...)
    optimizer: object   # ag.AdamW or ag.SGD over those parameters
    history: list       # the evaluations so far
    watch: object       # NonFiniteWatch: the first step each member's loss went NaN
    step: int = 0       # the step about to be taken (updates done so far)


def make_optimizer(cfg, params):
    """AdamW or SGD over every parameter; a per-member setting becomes a per-member array."""
    per_member = lambda v: np.asarray(v, dtype=float) if isinstance(v, (list, tuple)) else v
    grokfast = {} if cfg.grokfast_lambda == 0 else dict(grokfast_lambda=per_member(cfg.grokfast_lambda),
                                                        grokfast_alpha=cfg.grokfast_alpha)
    lr, wd = per_member(cfg.lr), per_member(cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return ag.AdamW(params, lr=lr, betas=tuple(cfg.betas), weight_decay=wd, **grokfast)
    return ag.SGD(params, lr=lr, momentum=per_member(cfg.momentum), weight_decay=wd, **grokfast)


def start(cfg, problem, init_params=None):
    """A fresh TrainState at step 0: a new init (or `init_params`, NumPy arrays (E, ...), to
    fine-tune from), a new optimizer, an empty history."""
    params = problem.init_params()
    if init_params is not None:
        load_params(params, init_params)
    return TrainState(params, make_optimizer(cfg, list(params.values())), [], NonFiniteWatch(cfg))


def train(cfg, state=None, problem=None, init_params=None, before_step=None, after_eval=None):
    """Train E members in lockstep from `state` (default: a fresh start); evaluate every
    cfg.eval_every steps and at the last; stop once every member held its goal for
    cfg.patience evaluations, or at cfg.steps. Returns a Result.

    Hooks (both optional): before_step(state) runs before each step's evaluation and
    update, after_eval(state, rows) after each evaluation. runs.train uses them for
    checkpoints, signals, history.csv and the progress line.
    """
    check_config(cfg)
    fastops.set_backend(cfg.backend, cfg.dtype)
    problem = problem or make_problem(cfg)
    state = state or start(cfg, problem, init_params)
    for step in range(state.step, cfg.steps + 1):
        state.step = step
        if before_step:
            before_step(state)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            state.watch.check(step)
            rows = problem.evaluate(state.params, step)
            state.watch.check_rows(rows, step)
            state.history += rows
            if after_eval:
                after_eval(state, rows)
            if problem.finished(state.history):
                break
        if step == cfg.steps:
            break
        train_step(problem, state.params, state.optimizer, step, state.watch)
    return Result({k: ag.to_numpy(v.data) for k, v in state.params.items()}, state.history,
                  analysis.summarize(cfg, state.history), state.step)


def train_step(problem, params, optimizer, step, watch=None):
    """One optimizer update. Nothing here copies from a GPU to the host: the loss
    is checked for NaN on the device (watch) and read only at evaluations."""
    losses = problem.loss(params, step)                                # (E,)
    if watch is not None:
        watch.record(losses.data, step)
    optimizer.zero_grad()
    losses.sum().backward()  # a sum: each member gets exactly its own gradient
    optimizer.step()


class NonFiniteWatch:
    """The first step at which each member's loss was NaN or infinite (-1: never),
    kept on the device and read (one copy to the host) only by check()."""

    def __init__(self, cfg):
        self.seeds, self.stop = cfg.seeds, cfg.on_divergence == "stop"
        self.first_bad = ag.xp.full(len(cfg.seeds), -1, dtype=np.int64)
        self.last_bad_loss = ag.xp.zeros(len(cfg.seeds), dtype=ag.dtype)

    def record(self, losses, step):
        bad = ~ag.xp.isfinite(losses) & (self.first_bad < 0)
        self.first_bad = ag.xp.where(bad, step, self.first_bad)
        self.last_bad_loss = ag.xp.where(bad, losses, self.last_bad_loss)

    def check_rows(self, rows, step):
        """An evaluation's losses (on the host already): the last update may have diverged too."""
        bad = [r for r in rows if not math.isfinite(r["loss"])]
        if self.stop and bad:
            raise TrainingDiverged(f"loss became {bad[0]['loss']} by step {step} (member {bad[0]['member']}, "
                                   f"seed {bad[0]['seed']}); lower the learning rate or use float64")

    def check(self, step):
        if not self.stop:  # a sweep: a diverged member shows up in its history as a NaN loss
            return
        first_bad = ag.to_numpy(self.first_bad)
        if (first_bad >= 0).any():
            e = int(np.argmax(first_bad >= 0))
            raise TrainingDiverged(f"loss became {ag.to_numpy(self.last_bad_loss)[e]} at step {first_bad[e]} "
                                   f"(member {e}, seed {self.seeds[e]}); lower the learning rate or use float64")


class ParameterMismatch(ValueError):
    """Saved parameters that do not fit this model (another config's, or a damaged file)."""


def load_params(params, arrays):
    """Put NumPy arrays (E, ...) into the model's parameter Tensors, by name."""
    for name, tensor in params.items():
        if name not in arrays or arrays[name].shape != tensor.shape:
            raise ParameterMismatch(f"parameter {name}: cannot load shape "
                                    f"{getattr(arrays.get(name), 'shape', None)} into {tensor.shape}")
        tensor.data = ag.from_numpy(arrays[name])
