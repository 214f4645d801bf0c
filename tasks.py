"""The data of both arms of the poster, in pure NumPy (no autograd, no backend).

1. Modular arithmetic for grokking: `a op b = c (mod p)`, the whole table of
   each operation split into train and validation halves.
2. Sequence tasks for the loss plateau: moving-window sum, product and
   difference, and prefix sum, each a fresh random batch on every call.

Every task function's docstring works one small example by hand, as a doctest
that tests/test_tasks.py runs.
"""
import numpy as np

# ---------------------------------------------------------------------------
# 1. Modular arithmetic (grokking)
# Vocabulary: the numbers 0..p-1, then one token per operation, then "=".
# A sequence reads `a op b =` and the model predicts c at the last position.

OPERATIONS = ("add", "sub", "mul", "div")


def is_prime(n):
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def check_operations(ops, p, tables_for=None):
    """Raise one clear error for ops that are no list of names (a lone string is refused, as
    GrokConfig refuses ops='div'), an unknown operation or a modulus it cannot use. With
    tables_for (the caller's name), every op's table must also fit in memory: checked before
    the prime test, which takes long for a huge p."""
    if not isinstance(ops, (tuple, list)):
        raise TypeError(f"ops must be a list or tuple of operation names, e.g. [{ops!r}], got {ops!r}")
    for op in ops:
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; choose from {', '.join(OPERATIONS)}")
    if len(set(ops)) != len(ops):
        raise ValueError(f"ops names an operation twice: {list(ops)}; give each once")
    check_modulus(p)
    if tables_for:
        check_tables_fit(tables_for, ops, p)
    if "div" in ops and not is_prime(p):
        raise ValueError(f"division mod {p} needs a prime modulus (b must have an inverse); "
                         "try p=97")


def is_whole(value, low):
    """Whether value is a whole number (an int or a NumPy integer, never a bool) >= low."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low


def check_whole(name, value, low):
    """A whole number >= low (is_whole), else a ValueError naming it."""
    if not is_whole(value, low):
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")


def check_modulus(p):
    check_whole("the modulus p", p, 2)


def check_seed(seed):
    """A seed numpy.random.default_rng takes: a whole number >= 0, or a list or tuple of them."""
    seeds = seed if isinstance(seed, (tuple, list)) and seed else [seed]
    if not all(is_whole(s, 0) for s in seeds):
        raise ValueError(f"seed must be a whole number >= 0 or a list of them (as numpy.random.default_rng "
                         f"takes), got {seed!r}")


# Bytes per row of a table that arithmetic_split needs at its peak, per operation: measured with
# tracemalloc, 88 for one operation and 60 for each of four, rounded up. A library call may build
# at most MAX_TABLE_ROWS rows (about 2 GiB; a config's p <= 1000 needs at most 4 million).
TABLE_ROW_BYTES = 128
MAX_TABLE_ROWS = 2 ** 24


def check_tables_fit(what, ops, p):
    """Refuse, with the estimate, tables too large to build (before any allocation, and before the
    prime test, which takes long for a huge p)."""
    rows = len(ops) * p * p
    if rows > MAX_TABLE_ROWS:
        raise ValueError(f"{what}: the modulus p={p} needs {rows:,} table rows, about "
                         f"{rows * TABLE_ROW_BYTES / 2 ** 30:,.0f} GiB (at most {MAX_TABLE_ROWS:,} rows); "
                         "use a smaller p (a config allows at most 1000)")


def modular_table(op, p):
    """Every (a, b, c) with c = a op b mod p, as three integer arrays.

    div is a·b⁻¹ with b ≠ 0, b⁻¹ = b^(p-2) by Fermat's little theorem. For p=5:
    3 / 2 = 4, because 2·4 = 8 ≡ 3 (mod 5).
    >>> a, b, c = modular_table("div", 5)
    >>> int(c[(a == 3) & (b == 2)][0])
    4
    """
    check_operations([op], p, tables_for="modular_table")
    a, b = np.meshgrid(np.arange(p), np.arange(1 if op == "div" else 0, p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    if op == "add":
        c = (a + b) % p
    elif op == "sub":
        c = (a - b) % p
    elif op == "mul":
        c = (a * b) % p
    else:
        # EXERCISE modular-division: a / b mod p is a times b's inverse mod p; Fermat's little theorem (b^(p-1) = 1 mod p, p prime) gives it, and pow(x, e, p) computes powers mod p
        inverse = np.array([pow(int(x), p - 2, p) for x in range(p)])
        c = (a * inverse[b]) % p
        # END EXERCISE
    return a, b, c


def table_size(op, p):
    """How many rows modular_table(op, p) has: every (a, b), b != 0 for division."""
    check_operations([op], p)
    return p * (p - 1) if op == "div" else p * p


def arithmetic_vocab_size(p):
    check_modulus(p)
    return p + len(OPERATIONS) + 1


def arithmetic_sequences(op, p):
    """Inputs (N, 4) = [a, op_token, b, eq_token] and targets (N,) = c.

    For p=5 the tokens are 0..4, then add 5, sub 6, mul 7, div 8, then = 9:
    1 - 3 = 3 (mod 5) reads [1, 6, 3, 9] -> 3.
    >>> inputs, targets = arithmetic_sequences("sub", 5)
    >>> row = (inputs[:, 0] == 1) & (inputs[:, 2] == 3)
    >>> inputs[row][0].tolist(), int(targets[row][0])
    ([1, 6, 3, 9], 3)
    """
    a, b, c = modular_table(op, p)
    op_token = p + OPERATIONS.index(op)
    eq_token = p + len(OPERATIONS)
    inputs = np.stack([a, np.full_like(a, op_token), b, np.full_like(a, eq_token)], axis=1)
    return inputs, c


def arithmetic_split(ops, p, frac_train=0.5, seed=0):
    """Each op's table split on its own by a permutation drawn from a generator of its own,
    seeded by `seed` alone: an op's split depends on that op and the seed only, so division
    trained beside addition sees the very split it sees alone. (Ops whose tables have the same
    size, add, sub and mul, therefore hold out the same (a, b) pairs.)

    Returns {op: {"train": (inputs, targets), "val": (inputs, targets)}}.
    """
    check_operations(ops, p, tables_for="arithmetic_split")
    check_seed(seed)
    if not isinstance(frac_train, (int, float, np.integer, np.floating)) or not 0 < frac_train < 1:
        raise ValueError(f"frac_train must lie strictly between 0 and 1, got {frac_train!r}")
    out = {}
    for op in ops:
        inputs, targets = arithmetic_sequences(op, p)
        order = np.random.default_rng(seed).permutation(len(targets))
        cut = int(round(frac_train * len(targets)))
        if not 0 < cut < len(targets):
            raise ValueError(f"frac_train={frac_train} leaves an empty train or validation split "
                             f"of {op}'s {len(targets)} examples")
        out[op] = {"train": (inputs[order[:cut]], targets[order[:cut]]),
                   "val": (inputs[order[cut:]], targets[order[cut:]])}
    return out


# ---------------------------------------------------------------------------
# 2. Sequence tasks (loss plateau), as in Gopalani & Hu's code used by the poster.
# Inputs x_1..x_n are uniform on {1..p-1}; outputs y_1..y_n are mod p with a
# window of k. A sequence is `x_1..x_n, SEP_task, y_1..y_n`.

def check_sizes(n=2, k=1, p=2, batch_size=0):
    """A sequence needs n >= 1 inputs, a window 1 <= k <= n, a modulus p >= 2 (whole numbers)."""
    for name, value, low in (("n", n, 1), ("k", k, 1), ("p", p, 2), ("batch_size", batch_size, 0)):
        check_whole(name, value, low)
    if k > n:
        raise ValueError(f"a window k={k} does not fit n={n} inputs")


def check_integers(name, x, layout="(..., n)"):
    """x as an integer array of at least one axis (a host array: tasks.py is NumPy only)."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu" or x.ndim == 0:
        raise TypeError(f"{name} must be an integer array {layout}, got dtype {x.dtype} and shape {x.shape}")
    return x


def check_window(x, p, k=1):
    """x as an integer array (..., n) of numbers mod p, in [0, p), once p and k fit it
    (check_sizes); else a clear error."""
    x = check_integers("x", x)
    check_sizes(x.shape[-1], k, p)
    if x.size and (x.min() < 0 or x.max() >= p):
        raise ValueError(f"x must hold numbers mod p={p}, in [0, {p}), got {x.min()}..{x.max()}")
    return x


def moving_window_sum(x, p=17, k=2):
    """y_i = x_{i-k+1} + ... + x_i mod p (a shorter window at the start).

    k=2, p=17: x = [5, 9, 16] gives y = [5, 5 + 9 = 14, 9 + 16 = 25 mod 17 = 8].
    >>> moving_window_sum(np.array([5, 9, 16]), p=17, k=2).tolist()
    [5, 14, 8]
    """
    x = check_window(x, p, k)
    # EXERCISE moving-window-sum: y_i is the sum of the last k inputs (fewer at the start), mod p
    return _window(x, k, lambda w: w.sum(axis=-1)) % p
    # END EXERCISE


def moving_window_product(x, p=17, k=2):
    """y_i = x_{i-k+1} · ... · x_i mod p.

    k=2, p=17: x = [5, 9, 16] gives y = [5, 5·9 = 45 mod 17 = 11, 9·16 = 144 mod 17 = 8].
    >>> moving_window_product(np.array([5, 9, 16]), p=17, k=2).tolist()
    [5, 11, 8]
    """
    x = check_window(x, p, k)
    return _window(x, k, lambda w: _prod_mod(w, p)) % p


def moving_window_difference(x, p=17, k=2):
    """y_i = x_{i-k+1} - (x_{i-k+2} + ... + x_i) mod p; for k=2, x_{i-1} - x_i.

    k=2, p=17: x = [5, 9, 16] gives y = [5, 5 - 9 = -4 mod 17 = 13, 9 - 16 = -7 mod 17 = 10].
    >>> moving_window_difference(np.array([5, 9, 16]), p=17, k=2).tolist()
    [5, 13, 10]
    """
    x = check_window(x, p, k)
    return _window(x, k, lambda w: w[..., 0] - w[..., 1:].sum(axis=-1)) % p


def prefix_sum(x, p=17, k=None):
    """y_i = x_1 + ... + x_i mod p (k is ignored).

    p=17: x = [5, 9, 16] gives y = [5, 14, 5 + 9 + 16 = 30 mod 17 = 13].
    >>> prefix_sum(np.array([5, 9, 16]), p=17).tolist()
    [5, 14, 13]
    """
    x = check_window(x, p)
    return np.cumsum(x, axis=-1) % p


def _window(x, k, reduce):
    """Apply `reduce` to each window x_{max(1,i-k+1)..i}; windows padded on the left with
    the identity are avoided by reducing the partial windows at the start one by one."""
    x = np.asarray(x)
    n = x.shape[-1]
    out = np.empty_like(x)
    for i in range(min(k - 1, n)):  # the first k-1 windows are partial (k is tiny)
        out[..., i] = reduce(x[..., : i + 1])
    if n >= k:
        windows = np.lib.stride_tricks.sliding_window_view(x, k, axis=-1)  # (..., n-k+1, k)
        out[..., k - 1:] = reduce(windows)
    return out


def _prod_mod(w, p):
    out = w[..., 0] % p
    for j in range(1, w.shape[-1]):  # reduce mod p as we go: no overflow for any k
        out = (out * w[..., j]) % p
    return out


SEQUENCE_TASKS = {
    "mws": moving_window_sum,
    "mwd": moving_window_difference,
    "mwp": moving_window_product,
    "prefix": prefix_sum,
}
# Each task has its own separator token, p + its index: for p=17, sum 17,
# difference 18, product 19, prefix sum 20. (The poster's code reused 17 for
# prefix sum, so a model could not tell prefix sum from MWS; we avoid that.)
SEQUENCE_TASK_NAMES = tuple(SEQUENCE_TASKS)


def check_sequence_tasks(names):
    for name in names:
        if name not in SEQUENCE_TASKS:
            raise ValueError(f"unknown sequence task {name!r}; choose from "
                             f"{', '.join(SEQUENCE_TASK_NAMES)}")


def separator_token(task, p=17):
    check_sequence_tasks([task])
    check_sizes(p=p)
    return p + SEQUENCE_TASK_NAMES.index(task)


def sequence_vocab_size(p=17):
    check_sizes(p=p)
    return p + len(SEQUENCE_TASKS)


def sequence_batch(task, batch_size, rng, n=16, k=2, p=17):
    """A fresh batch of sequences `x_1..x_n, SEP, y_1..y_n`, shape (batch_size, 2n+1)."""
    check_sequence_tasks([task])
    check_sizes(n, k, p, batch_size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a NumPy Generator (np.random.default_rng(seed)), got {rng!r}")
    x = rng.integers(1, p, size=(batch_size, n))
    y = SEQUENCE_TASKS[task](x, p=p, k=k)
    sep = np.full((batch_size, 1), separator_token(task, p))
    return np.concatenate([x, sep, y], axis=1)


def next_token_pairs(sequences, n=16):
    """Inputs = all but the last token; targets = the next token, but only where the
    target is an output y_i (the n input positions get target -1: ignored by the loss)."""
    check_sizes(n=n)
    sequences = check_integers("sequences", sequences, f"(B, 2n+1) = (B, {2 * n + 1})")
    if np.ndim(sequences) != 2 or np.shape(sequences)[1] != 2 * n + 1:
        raise ValueError(f"sequences must have shape (B, 2n+1) = (B, {2 * n + 1}) for n={n}, "
                         f"got {np.shape(sequences)}")
    inputs = sequences[:, :-1]
    targets = sequences[:, 1:].copy()
    targets[:, :n] = -1
    return inputs, targets


def split_batch(batch_size, tasks):
    """How many sequences of each task go in one mixed batch (as even as possible)."""
    if not isinstance(tasks, (tuple, list)):  # a bare string is no list of names
        raise TypeError(f"tasks must be a tuple or list of task names, got {tasks!r}")
    check_sizes(batch_size=batch_size)
    if not tasks or batch_size < len(tasks):
        raise ValueError(f"a batch of {batch_size} cannot give each of {len(tasks)} task(s) a sequence")
    counts = [batch_size // len(tasks)] * len(tasks)
    for i in range(batch_size % len(tasks)):
        counts[i] += 1
    return dict(zip(tasks, counts))
