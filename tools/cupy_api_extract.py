"""Regenerate tools/cupy_api.json, the CuPy API list that tools/strict_cupy.py enforces.

The strict CuPy stand-in (tools/strict_cupy.py) may only expose names that real
CuPy has, with the parameter names real CuPy accepts. This script reads those
from a CuPy *source* checkout (no CuPy install, no GPU, no network needed):

    python tools/cupy_api_extract.py /path/to/cupy --ref v14.2.0 --out tools/cupy_api.json

`/path/to/cupy` is a git directory of https://github.com/cupy/cupy (a clone,
or a bare/mirror git directory); `--ref` is any git ref or commit (default:
HEAD). Without git, a plain source tree also works (then no --ref).
The file checked in was made with exactly:

    python tools/cupy_api_extract.py /work/.mirror/cupy+cupy/repo --ref v14.2.0 --out tools/cupy_api.json

What it parses (all automatically, from the files of that ref):
  * `cupy/__init__.py`, `cupy/linalg/__init__.py`, `cupy/cuda/__init__.py`,
    `cupyx/__init__.py`, `cupyx/profiler/__init__.py`: every public name, each
    followed through `from X import Y [as Z]`, `name = other` and
    `name = module.attr` to where it is defined;
  * Python modules with `ast`; Cython `.pyx` modules with a small line-based
    parser (`def`/`cpdef` signatures with C types stripped, module-level
    assignments, `cdef class` / `class` bodies, `readonly`/`public` attributes
    in the matching `.pxd`);
  * a name is a "ufunc" when it is assigned the result of `create_ufunc(...)`
    or of a function that returns such a call (`create_math_ufunc`,
    `create_arithmetic`, `create_comparison`, `_create_bit_op`, ...), found by
    following the call;
  * `ufunc.__call__` keywords: the `kwargs.pop('...')` calls in
    `cupy/_core/_kernel.pyx` (a leading underscore marks a private keyword);
  * `ndarray` methods/attributes: the bodies of `cdef class _ndarray_base` and
    `class ndarray` in `cupy/_core/core.pyx` plus `cupy/_core/core.pxd`.

  * a module-level instance of a class with `__call__` (cupy.matmul is a
    `_GUFunc`) is recorded with that `__call__`'s parameters;
  * which classes (cuda.Device, Event, Stream, MemoryPool, ndarray.flags,
    cupyx.profiler's result) and submodules are listed is fixed in main().

Hand-kept part (clearly marked as HAND_KEPT below; each entry cites its file):
Cython semantics that no line of source spells out: `__richcmp__` provides
`__lt__` ... `__ge__`, `__nonzero__` is `__bool__`, an extension type's
`__add__` also serves the reflected `__radd__` (c_api_binop_methods), and the
Python-2-era or buffer slots (`__div__`, `__oct__`, `__getbuffer__`, ...) are
not Python-visible methods. Nothing else is hand-written.

The output JSON keys: note, cupy_version, source{repository, commit, ref},
functions{name: [params] | "ufunc"}, defaults{function: {param: default as
source text}}, ufunc_keywords, ufunc_private_keywords, ufunc_class{methods,
attributes}, ndarray_methods{name: [params]}, ndarray_method_defaults,
ndarray_attributes, ndarray_special_methods, numpy_borrowed{name: numpy name},
classes_in_namespace, modules (names bound to submodules), objects (other
public values: constants, instances), classes{"cupy.cuda.Device", ...:
{methods, attributes, defaults}}, submodules{"cupy.linalg", "cupy.cuda",
"cupy.cuda.runtime", "cupyx", "cupyx.profiler": {functions, defaults, ...}},
origins{name: "file:line" where it is defined}.
A parameter list writes "*" for the start of keyword-only parameters, "/" for
the end of positional-only ones, "*args"/"**kwargs" for variadics; `self` is
dropped from methods.
"""
import argparse
import ast
import json
import os
import re
import subprocess
import sys

REPOSITORY = "cupy/cupy"

# Names whose call result is a ufunc, seeded with CuPy's core factory; others
# (create_math_ufunc, create_arithmetic, ...) are found by following calls.
UFUNC_FACTORY_SEED = {"create_ufunc"}

# HAND_KEPT: Cython special-method semantics (see the module docstring).
# Read from cupy/_core/core.pyx (`def __richcmp__`, `def __nonzero__`,
# `def __add__(x, y)` ...): Cython maps these onto the Python slots below;
# reflected operators come from `'c_api_binop_methods': True` in
# install/cupy_builder/_command.py (one `__add__(x, y)` serves both orders).
HAND_KEPT_RICHCMP = ["__lt__", "__le__", "__eq__", "__ne__", "__gt__", "__ge__"]
HAND_KEPT_RENAMED = {"__nonzero__": "__bool__"}
HAND_KEPT_PY2_ONLY = {"__div__", "__idiv__", "__oct__", "__hex__", "__getbuffer__",
                      "__releasebuffer__", "__cinit__", "__dealloc__"}
BINARY_OPS = ["add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "divmod",
              "pow", "lshift", "rshift", "and", "or", "xor"]


class Source:
    """Files of one CuPy ref, read through git (or from a plain tree)."""

    def __init__(self, path, ref=None):
        self.path = path
        self.git = self._git_ok()
        if self.git:
            self.ref = ref or "HEAD"
            self.commit = self._run("rev-parse", self.ref + "^{commit}").strip()
            listing = self._run("ls-tree", "-r", "--name-only", self.commit)
            self.files = set(listing.split("\n"))
        else:
            if ref:
                raise SystemExit(f"{path} is not a git directory, so --ref cannot be used")
            self.ref, self.commit = None, None
            self.files = None
        self._cache = {}

    def _git_ok(self):
        try:
            subprocess.run(["git", "-C", self.path, "rev-parse", "--git-dir"],
                           check=True, capture_output=True)
            return True
        except (OSError, subprocess.CalledProcessError):
            return False

    def _run(self, *args):
        return subprocess.run(["git", "-C", self.path, *args], check=True,
                              capture_output=True, text=True).stdout

    def exists(self, rel):
        if self.git:
            return rel in self.files
        return os.path.isfile(os.path.join(self.path, rel))

    def read(self, rel):
        if rel not in self._cache:
            if self.git:
                self._cache[rel] = self._run("show", f"{self.commit}:{rel}")
            else:
                with open(os.path.join(self.path, rel), encoding="utf-8") as f:
                    self._cache[rel] = f.read()
        return self._cache[rel]

    def module_file(self, module):
        base = module.replace(".", "/")
        for rel in (base + ".py", base + ".pyx", base + "/__init__.py"):
            if self.exists(rel):
                return rel
        return None


# ---------------------------------------------------------------------------
# Parameter lists


DEFAULTS = {}  # id(params list) -> {param: default source text}; see _with_defaults


def _defaults_from_ast(args):
    out = {}
    positional = list(getattr(args, "posonlyargs", [])) + list(args.args)
    for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
        out[arg.arg] = ast.unparse(default)
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        if default is not None:
            out[arg.arg] = ast.unparse(default)
    return out


def _params_from_ast(args, drop_first=False):
    params = _params_from_ast_names(args, drop_first)
    DEFAULTS[id(params)] = _defaults_from_ast(args)
    return params


def _params_from_ast_names(args, drop_first=False):
    out = []
    posonly = list(getattr(args, "posonlyargs", []))
    regular = list(args.args)
    names = [a.arg for a in posonly] + ["/"] * bool(posonly) + [a.arg for a in regular]
    if drop_first and names:
        names = names[1:]
        if names and names[0] == "/":
            names = names[1:]
    out.extend(names)
    if args.vararg:
        out.append("*" + args.vararg.arg)
    elif args.kwonlyargs:
        out.append("*")
    out.extend(a.arg for a in args.kwonlyargs)
    if args.kwarg:
        out.append("**" + args.kwarg.arg)
    return out


def _split_top(text):
    """Split at commas outside brackets and quotes."""
    parts, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _cython_params(text, drop_first=False):
    """Parameter names of a Cython signature, C types and defaults stripped."""
    names = []
    defaults = {}
    for part in _split_top(text):
        left = part.split("=", 1)[0].strip()
        if "=" in part:
            name = left.split()[-1].lstrip("&*")
            defaults[name] = part.split("=", 1)[1].strip()
        left = re.sub(r"\s*\*\s*$", "", left) if left.endswith("*") and left != "*" else left
        token = left.split()[-1] if left.split() else left
        token = token.lstrip("&")
        if token.startswith("**"):
            names.append("**" + token[2:])
        elif token.startswith("*"):
            names.append(token if token != "*" else "*")
        else:
            names.append(token)
    if drop_first and names:
        names = names[1:]
    DEFAULTS[id(names)] = defaults
    return names


def _paren_text(text, start):
    """Text between the parenthesis at text[start] and its match."""
    assert text[start] == "("
    depth = 0
    quote = None
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
    raise ValueError("unbalanced parenthesis")


# ---------------------------------------------------------------------------
# Module models: name -> binding


class Module:
    """Top-level bindings of one module: name -> (kind, data, line)."""

    def __init__(self, src, name):
        self.src = src
        self.name = name
        self.file = src.module_file(name)
        self.bindings = {}
        self.star_imports = []
        self.classes = {}
        if self.file is None:
            return
        text = src.read(self.file)
        if self.file.endswith(".pyx"):
            self._parse_pyx(text)
        else:
            self._parse_py(text)

    def _package(self):
        return self.name if self.file.endswith("__init__.py") else self.name.rsplit(".", 1)[0]

    def _abs(self, module, level):
        if not level:
            return module
        base = self._package().split(".")
        base = base[:len(base) - (level - 1)]
        return ".".join(base + ([module] if module else []))

    # -- Python --------------------------------------------------------------
    def _parse_py(self, text):
        tree = ast.parse(text)
        self._walk_py(tree.body)

    def _walk_py(self, body):
        for node in body:
            line = getattr(node, "lineno", 0)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.bindings[node.name] = ("def", node, line)
            elif isinstance(node, ast.ClassDef):
                self.bindings[node.name] = ("class", node, line)
                self.classes[node.name] = ("py", node)
            elif isinstance(node, ast.ImportFrom):
                mod = self._abs(node.module, node.level)
                for alias in node.names:
                    if alias.name == "*":
                        self.star_imports.append(mod)
                        continue
                    self.bindings[alias.asname or alias.name] = ("from", (mod, alias.name), line)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bindings[alias.asname] = ("module", alias.name, line)
                    else:
                        top = alias.name.split(".")[0]
                        self.bindings[top] = ("module", top, line)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.bindings[target.id] = ("expr", node.value, line)
            elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                  and node.value):
                self.bindings[node.target.id] = ("expr", node.value, line)
            elif isinstance(node, ast.If):
                # Both branches; the later (else: NumPy >= 2) one wins.
                self._walk_py(node.body)
                self._walk_py(node.orelse)
            elif isinstance(node, ast.Try):
                self._walk_py(node.body)

    # -- Cython --------------------------------------------------------------
    def _parse_pyx(self, text):
        self.text = text
        lines = text.split("\n")
        offsets = [0]
        for ln in lines:
            offsets.append(offsets[-1] + len(ln) + 1)
        for i, ln in enumerate(lines):
            lineno = i + 1
            m = re.match(r"(cpdef|def)\s+([^(]*?)(\w+)\s*\(", ln)
            if m:
                start = offsets[i] + ln.index("(", m.start(3))
                params = _cython_params(_paren_text(text, start))
                body = self._block(lines, i)
                self.bindings[m.group(3)] = ("cydef", (params, body), lineno)
                continue
            m = re.match(r"cdef\s+(?!class\b|extern\b|struct\b|enum\b)([^(=]*?)(\w+)\s*\(", ln)
            if m:  # a C-level function: invisible from Python, kept for factory detection
                self.bindings[m.group(2)] = ("cdeffunc", (None, self._block(lines, i)), lineno)
                continue
            m = re.match(r"(?:cdef\s+)?class\s+(\w+)", ln)
            if m:
                self.bindings[m.group(1)] = ("class", None, lineno)
                self.classes[m.group(1)] = ("pyx", (lines, i))
                continue
            m = re.match(r"from\s+([\w.]+)\s+import\s+(.+)$", ln)
            if m:
                names = m.group(2).split("#")[0].strip().strip("()")
                for item in names.split(","):
                    item = item.strip()
                    if not item:
                        continue
                    if item == "*":
                        self.star_imports.append(m.group(1))
                        continue
                    parts = item.split(" as ")
                    self.bindings[parts[-1].strip()] = (
                        "from", (m.group(1), parts[0].strip()), lineno)
                continue
            m = re.match(r"import\s+([\w.]+)(?:\s+as\s+(\w+))?\s*$", ln)
            if m:
                self.bindings[m.group(2) or m.group(1).split(".")[0]] = (
                    "module", m.group(1) if m.group(2) else m.group(1).split(".")[0], lineno)
                continue
            m = re.match(r"(?:cdef\s+(?:[\w.]+\s+)?)?((?:\w+\s*=\s*)+)(.*)$", ln)
            if m and not ln.startswith(("cdef extern", "cdef inline", "cdef struct")) \
                    and not re.match(r"cdef\s+\w+\s*$", ln):
                targets = [t.strip() for t in m.group(1).split("=") if t.strip()]
                value = m.group(2).strip()
                if value.startswith(("=",)):
                    continue
                for t in targets:
                    self.bindings[t] = ("cyexpr", value, lineno)

    @staticmethod
    def _block(lines, i):
        """The indented body following line i (a def header), as text."""
        out = []
        for ln in lines[i + 1:]:
            if ln.strip() and not ln.startswith((" ", "\t", "#")):
                break
            out.append(ln)
        return "\n".join(out)


# ---------------------------------------------------------------------------
# Resolution


class Resolver:
    def __init__(self, src):
        self.src = src
        self.modules = {}
        self.factories = set(UFUNC_FACTORY_SEED)
        self.not_factories = set()

    def module(self, name):
        if name not in self.modules:
            self.modules[name] = Module(self.src, name)
        return self.modules[name]

    def where(self, mod, line):
        return f"{mod.file}:{line}" if mod.file else mod.name

    def resolve(self, modname, name, depth=0):
        """What `name` in module `modname` is: a dict with 'kind'."""
        if depth > 30:
            return {"kind": "unresolved", "why": "too deep"}
        if modname == "numpy" or modname.startswith("numpy."):
            return {"kind": "numpy", "numpy_name": (modname + "." + name)[len("numpy."):]
                    if modname != "numpy" else name}
        mod = self.module(modname)
        if mod.file is None:
            sub = self.src.module_file(modname + "." + name)
            return {"kind": "unresolved", "why": f"no source for {modname}"} if sub is None \
                else {"kind": "module", "module": modname + "." + name}
        binding = mod.bindings.get(name)
        if binding is None:
            sub = modname + "." + name
            if self.src.module_file(sub):
                return {"kind": "module", "module": sub, "where": self.src.module_file(sub)}
            for star in mod.star_imports:
                r = self.resolve(star, name, depth + 1)
                if r["kind"] != "unresolved":
                    return r
            return {"kind": "unresolved", "why": f"{name} not found in {mod.file}"}
        kind, data, line = binding
        here = self.where(mod, line)
        if kind == "def":
            return {"kind": "function", "params": _params_from_ast(data.args), "where": here}
        if kind == "cydef":
            return {"kind": "function", "params": data[0], "where": here}
        if kind == "cdeffunc":
            return {"kind": "private", "where": here}
        if kind == "class":
            return {"kind": "class", "module": modname, "name": name, "where": here}
        if kind == "from":
            src_mod, src_name = data
            if src_mod == "__future__":
                return {"kind": "future"}
            sub = src_mod + "." + src_name
            if self.src.module_file(sub) and not src_mod.startswith("numpy"):
                # A submodule, unless the package binds that name to something else.
                other = self.module(src_mod).bindings.get(src_name)
                if other is None or other[0] == "module" or (
                        other[0] == "from" and other[1] == (src_mod, src_name)):
                    return {"kind": "module", "module": sub, "where": self.src.module_file(sub)}
            return self.resolve(src_mod, src_name, depth + 1)
        if kind == "module":
            if data.startswith("numpy"):
                return {"kind": "numpy", "numpy_name": data}
            return {"kind": "module", "module": data, "where": self.src.module_file(data)}
        if kind == "expr":
            return self._resolve_py_expr(mod, data, here, depth)
        if kind == "cyexpr":
            return self._resolve_cy_expr(mod, data, here, depth)
        return {"kind": "unresolved", "why": kind}

    # -- expressions -----------------------------------------------------------
    def _dotted(self, node):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
            return list(reversed(parts))
        return None

    def _resolve_path(self, mod, parts, depth):
        """Follow a dotted name like `_core.add` from module `mod`."""
        first = self.resolve(mod.name, parts[0], depth + 1)
        for attr in parts[1:]:
            if first["kind"] == "module":
                first = self.resolve(first["module"], attr, depth + 1)
            elif first["kind"] == "numpy":
                first = {"kind": "numpy", "numpy_name": first["numpy_name"] + "." + attr}
            else:
                return {"kind": "object", "why": "attribute of " + first["kind"]}
        return first

    def _resolve_py_expr(self, mod, node, here, depth):
        if isinstance(node, (ast.Name, ast.Attribute)):
            parts = self._dotted(node)
            if parts:
                r = self._resolve_path(mod, parts, depth)
                return r
        if isinstance(node, ast.Call):
            parts = self._dotted(node.func)
            if parts and self._is_factory(mod, parts, depth):
                return {"kind": "ufunc", "where": here}
            if parts:
                callee = self._resolve_path(mod, parts, depth)
                if callee["kind"] == "class":
                    members = self.class_members(callee["module"], callee["name"],
                                                 include_private=True)
                    if "__call__" in members["methods"]:
                        return {"kind": "function", "params": members["methods"]["__call__"],
                                "instance_of": f"{callee['module']}.{callee['name']}",
                                "where": here}
        if isinstance(node, ast.Constant):
            return {"kind": "constant", "value": repr(node.value), "where": here}
        return {"kind": "object", "where": here}

    def _resolve_cy_expr(self, mod, text, here, depth):
        m = re.match(r"([\w.]+)\s*(\(?)", text)
        if not m:
            return {"kind": "object", "where": here}
        parts = m.group(1).split(".")
        if m.group(2):
            if self._is_factory(mod, parts, depth):
                return {"kind": "ufunc", "where": here}
            return {"kind": "object", "where": here}
        if re.fullmatch(r"[\w.]+", text.split("#")[0].strip()) and not text[0].isdigit():
            return self._resolve_path(mod, parts, depth)
        return {"kind": "constant", "value": text.split("#")[0].strip(), "where": here}

    def _is_factory(self, mod, parts, depth):
        """Does calling `parts` (a dotted callee seen in `mod`) return a ufunc?"""
        key = (mod.name, ".".join(parts))
        if parts[-1] in self.factories:
            return True
        if key in self.not_factories or depth > 20:
            return False
        # Find the callee's definition and look at what it returns.
        target_mod, target_name = mod, parts[0]
        for attr in parts[1:]:
            r = self.resolve(target_mod.name, target_name, depth + 1)
            if r["kind"] != "module":
                self.not_factories.add(key)
                return False
            target_mod, target_name = self.module(r["module"]), attr
        binding = target_mod.bindings.get(target_name)
        while binding and binding[0] == "from":
            target_mod = self.module(binding[1][0])
            target_name = binding[1][1]
            binding = target_mod.bindings.get(target_name)
        if not binding:
            self.not_factories.add(key)
            return False
        returned = []
        if binding[0] == "def":
            for sub in ast.walk(binding[1]):
                if isinstance(sub, ast.Return) and isinstance(sub.value, ast.Call):
                    callee = self._dotted(sub.value.func)
                    if callee:
                        returned.append(callee)
        elif binding[0] in ("cydef", "cdeffunc"):
            for m in re.finditer(r"return\s+([\w.]+)\s*\(", binding[1][1]):
                returned.append(m.group(1).split("."))
        for callee in returned:
            if callee[-1] != target_name and self._is_factory(target_mod, callee, depth + 1):
                self.factories.add(target_name)
                return True
        self.not_factories.add(key)
        return False

    # -- classes ---------------------------------------------------------------
    def class_members(self, modname, clsname, include_private=False):
        """{'methods': {name: params}, 'attributes': [names]} of a class."""
        mod = self.module(modname)
        kind, data = mod.classes[clsname]
        methods, attributes = {}, set()
        if kind == "py":
            for node in data.body:
                if isinstance(node, ast.FunctionDef):
                    decos = [self._dotted(d) for d in node.decorator_list]
                    decos = [d[-1] for d in decos if d]
                    if "property" in decos:
                        attributes.add(node.name)
                    elif any(d in ("setter", "deleter") for d in decos):
                        continue
                    else:
                        static = "staticmethod" in decos
                        methods[node.name] = _params_from_ast(node.args, drop_first=not static)
                elif isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            attributes.add(t.id)
            # Attributes set in __init__ as self.x = ...
            for node in data.body:
                if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                    for sub in ast.walk(node):
                        if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store) \
                                and isinstance(sub.value, ast.Name) and sub.value.id == "self":
                            attributes.add(sub.attr)
        else:
            lines, i = data
            text = "\n".join(lines)
            offsets = [0]
            for ln in lines:
                offsets.append(offsets[-1] + len(ln) + 1)
            decorators = []
            j = i + 1
            while j < len(lines):
                ln = lines[j]
                if ln.strip() and not ln.startswith((" ", "\t", "#")):
                    break
                m = re.match(r"    @(\w+)", ln)
                if m:
                    decorators.append(m.group(1))
                    j += 1
                    continue
                m = re.match(r"    (cpdef|def)\s+([^(]*?)(\w+)\s*\(", ln)
                if m:
                    start = offsets[j] + ln.index("(", m.start(3))
                    static = "staticmethod" in decorators
                    params = _cython_params(_paren_text(text, start), drop_first=not static)
                    if "property" in decorators:
                        attributes.add(m.group(3))
                    elif not any(d.endswith(("setter", "deleter")) for d in decorators) \
                            and not re.match(r"    @\w+\.(setter|deleter)", lines[j - 1]):
                        methods[m.group(3)] = params
                    decorators = []
                    j += 1
                    continue
                m = re.match(r"    property\s+(\w+)\s*:", ln)
                if m:
                    attributes.add(m.group(1))
                m = re.match(r"    (\w+)\s*=", ln)
                if m:
                    attributes.add(m.group(1))
                m = re.match(r"    @(\w+)\.(setter|deleter)", ln)
                if m:
                    decorators = [m.group(2)]
                    j += 1
                    continue
                if ln.strip() and not ln.strip().startswith("@"):
                    decorators = []
                j += 1
            # Attributes assigned in __init__ (self.x = ...) of a Python class in a .pyx
            body = "\n".join(lines[i:j])
            for m in re.finditer(r"self\.(\w+)\s*=(?!=)", body):
                attributes.add(m.group(1))
            # readonly/public attributes declared in the .pxd
            pxd = mod.file[:-4] + ".pxd"
            if self.src.exists(pxd):
                attributes |= self._pxd_attributes(self.src.read(pxd), clsname)
        if not include_private:
            methods = {k: v for k, v in methods.items()
                       if not k.startswith("_") or (k.startswith("__") and k.endswith("__"))}
            attributes = {a for a in attributes
                          if not a.startswith("_") or (a.startswith("__") and a.endswith("__"))}
        defaults = {k: DEFAULTS[id(v)] for k, v in methods.items() if DEFAULTS.get(id(v))}
        return {"methods": dict(sorted(methods.items())), "attributes": sorted(attributes),
                "defaults": dict(sorted(defaults.items()))}

    @staticmethod
    def _pxd_attributes(text, clsname):
        out = set()
        lines = text.split("\n")
        for i, ln in enumerate(lines):
            if re.match(rf"cdef class {clsname}\b", ln):
                for body in lines[i + 1:]:
                    if body.strip() and not body.startswith((" ", "\t")):
                        break
                    m = re.match(r"\s+(readonly|public)\s+.*?(\w+)\s*$", body.split("#")[0])
                    if m:
                        out.add(m.group(2))
        return out


# ---------------------------------------------------------------------------
# Namespaces


def namespace(res, modname):
    """Every public top-level name of a package module, resolved."""
    mod = res.module(modname)
    out = {}
    names = [n for n in mod.bindings if not n.startswith("_")]
    for name in names:
        out[name] = res.resolve(modname, name)
    for star in mod.star_imports:
        smod = res.module(star)
        for name in smod.bindings:
            if not name.startswith("_") and name not in out and smod.bindings[name][0] != "module":
                out[name] = res.resolve(star, name)
    return out


def split_namespace(resolved):
    """Group resolved names into the JSON sections."""
    functions, numpy_borrowed, modules, objects, classes, origins = {}, {}, {}, [], {}, {}
    defaults = {}
    for name, r in sorted(resolved.items()):
        kind = r["kind"]
        if kind == "future":
            continue
        if r.get("where"):
            origins[name] = r["where"]
        if kind == "function":
            functions[name] = r["params"]
            if DEFAULTS.get(id(r["params"])):
                defaults[name] = DEFAULTS[id(r["params"])]
        elif kind == "ufunc":
            functions[name] = "ufunc"
        elif kind == "numpy":
            numpy_borrowed[name] = r["numpy_name"]
        elif kind == "module":
            if r.get("where") is None:
                continue  # a standard-library module imported for internal use
            modules[name] = r["module"]
        elif kind == "class":
            classes[name] = {"defined_in": f"{r['module']}.{r['name']}"}
        else:
            objects.append(name)
    return {"functions": functions, "defaults": defaults, "numpy_borrowed": numpy_borrowed,
            "modules": modules, "classes": classes, "objects": objects, "origins": origins}


def ufunc_call_keywords(src):
    text = src.read("cupy/_core/_kernel.pyx")
    start = text.index("cdef class ufunc")
    call = text.index("def __call__", start)
    end = text.index("\n    cdef ", call)
    keys = re.findall(r"kwargs\.pop\('(\w+)'", text[call:end])
    return [k for k in keys if not k.startswith("_")], [k for k in keys if k.startswith("_")]


def ndarray_api(res):
    base = res.class_members("cupy._core.core", "_ndarray_base")
    sub = res.class_members("cupy._core.core", "ndarray")
    methods = dict(base["methods"])
    methods.update({k: v for k, v in sub["methods"].items() if k not in ("__new__", "__init__")})
    defaults = dict(base["defaults"])
    defaults.update({k: v for k, v in sub["defaults"].items() if k in methods})
    attributes = set(base["attributes"]) | set(sub["attributes"])
    special = {}
    for name in list(methods):
        if name.startswith("__"):
            params = methods.pop(name)
            if name in HAND_KEPT_PY2_ONLY:
                continue
            if name == "__richcmp__":
                for op in HAND_KEPT_RICHCMP:
                    special[op] = ["other"]
                continue
            special[HAND_KEPT_RENAMED.get(name, name)] = params
    for op in BINARY_OPS:
        if f"__{op}__" in special:
            special[f"__r{op}__"] = special[f"__{op}__"]
    attributes = sorted(a for a in attributes if a not in ("__module__", "__slots__"))
    defaults = {k: v for k, v in defaults.items() if k in methods}
    return (dict(sorted(methods.items())), attributes, dict(sorted(special.items())),
            dict(sorted(defaults.items())))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cupy_dir", help="CuPy git directory (or plain source tree)")
    p.add_argument("--ref", default=None, help="git ref or commit (default HEAD)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "cupy_api.json"))
    args = p.parse_args(argv)
    src = Source(args.cupy_dir, args.ref)
    res = Resolver(src)

    version_text = src.read("cupy/_version.py")
    version = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", version_text).group(1)

    top = split_namespace(namespace(res, "cupy"))
    keywords, private_keywords = ufunc_call_keywords(src)
    ufunc_cls = res.class_members("cupy._core._kernel", "ufunc")
    methods, attributes, special, method_defaults = ndarray_api(res)

    classes = {
        "cupy.ndarray.flags (cupy._core.flags.Flags)":
            res.class_members("cupy._core.flags", "Flags"),
        "cupy.cuda.Device": res.class_members("cupy.cuda.device", "Device"),
        "cupy.cuda.Event": res.class_members("cupy.cuda.stream", "Event"),
        "cupy.cuda.Stream": _merge(res.class_members("cupy.cuda.stream", "_BaseStream"),
                                   res.class_members("cupy.cuda.stream", "Stream")),
        "cupy.cuda.MemoryPool": res.class_members("cupy.cuda.memory", "MemoryPool"),
        "cupyx.profiler._time._PerfCaseResult":
            res.class_members("cupyx.profiler._time", "_PerfCaseResult"),
    }
    submodules = {}
    for dotted in ("cupy.linalg", "cupy.cuda", "cupy.cuda.runtime", "cupyx", "cupyx.profiler"):
        sec = split_namespace(namespace(res, dotted))
        submodules[dotted] = sec

    cmd = ("python tools/cupy_api_extract.py " + args.cupy_dir
           + (f" --ref {src.ref}" if src.ref else "") + " --out tools/cupy_api.json")
    data = {
        "note": ("CuPy API list enforced by tools/strict_cupy.py (a NumPy-backed stand-in that "
                 "checks API use, host/device transfers and host syncs; not CUDA, not speed). "
                 "Generated by tools/cupy_api_extract.py from CuPy's source; do not edit by hand. "
                 f"Regenerate from the repository root with: {cmd}   (the directory is a git "
                 "clone or mirror of https://github.com/cupy/cupy; any ref or commit works). "
                 "Parsed automatically except a small hand-kept table of Cython special-method "
                 "semantics (__richcmp__ -> __lt__..__ge__, __nonzero__ -> __bool__, reflected "
                 "__rX__ from __X__ because install/cupy_builder/_command.py sets "
                 "c_api_binop_methods; read from cupy/_core/core.pyx), marked HAND_KEPT in the "
                 "extractor. Parameter lists: '*' starts keyword-only parameters, '/' ends "
                 "positional-only ones; self is dropped. 'defaults' hold default values as "
                 "source text."),
        "cupy_version": version,
        "source": {"repository": REPOSITORY, "commit": src.commit, "ref": src.ref},
        "functions": top["functions"],
        "defaults": top["defaults"],
        "ufunc_keywords": keywords,
        "ufunc_private_keywords": private_keywords,
        "ufunc_class": ufunc_cls,
        "ndarray_methods": methods,
        "ndarray_method_defaults": method_defaults,
        "ndarray_attributes": attributes,
        "ndarray_special_methods": special,
        "numpy_borrowed": top["numpy_borrowed"],
        "classes_in_namespace": top["classes"],
        "modules": top["modules"],
        "objects": top["objects"],
        "classes": classes,
        "submodules": submodules,
        "origins": top["origins"],
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
    n_ufunc = sum(v == "ufunc" for v in top["functions"].values())
    print(f"wrote {args.out}: CuPy {version} ({src.commit}), {len(top['functions'])} functions "
          f"({n_ufunc} ufuncs), {len(methods)} ndarray methods", file=sys.stderr)


def _merge(a, b):
    methods = dict(a["methods"])
    methods.update(b["methods"])
    defaults = dict(a["defaults"])
    defaults.update(b["defaults"])
    return {"methods": dict(sorted(methods.items())),
            "attributes": sorted(set(a["attributes"]) | set(b["attributes"])),
            "defaults": dict(sorted(defaults.items()))}


if __name__ == "__main__":
    main()
