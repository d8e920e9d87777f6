"""The functions of every framework face, generated from the registry's catalog.

Nothing here computes a loss or checks an argument's value: each function binds
its arguments by the reference's own signature (``_signatures.SIGNATURES``,
read from the references), converts them to NumPy arrays and Python values and
hands them to the registry (``_native.evaluate``), whose errors come back as
``ValueError`` / ``TypeError`` with its message.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from . import _native
from ._signatures import SIGNATURES

#: The faces in the order an unqualified name is resolved (the registry's).
FRAMEWORKS = tuple(_native.frameworks())

#: The module name of each framework's face (losslab's own losses: ``losslab.own``).
FACE = {fw: ("own" if fw == "losslab" else fw) for fw in FRAMEWORKS}

#: The registry's catalog: one dict per loss (see ``_native.catalog``).
CATALOG = tuple(_native.catalog())

_REDUCTIONS = ("none", "mean", "sum", "batchmean")
_LEGACY = ("size_average", "reduce")

_REQUIRED = inspect.Parameter.empty


def _literal(text):
    """A default as the reference writes it, as a Python value."""
    if text == "<required>":
        return _REQUIRED
    if text.startswith("<"):
        return None  # an object default (a function): shown as None, only None accepted
    try:
        return eval(text, {"__builtins__": {}}, {"inf": math.inf, "nan": math.nan})  # noqa: S307 -- our own generated literals
    except Exception:  # pragma: no cover - the generated table holds literals only
        return text


class _Param:
    """One parameter of a face function and what it maps to in the registry."""

    __slots__ = ("name", "default", "keyword_only", "role", "doc")

    def __init__(self, name, default, keyword_only, role, doc):
        self.name = name
        self.default = default
        self.keyword_only = keyword_only
        # 'tensor', 'option', 'tensor_or_option', 'reduction', 'legacy' (size_average/reduce),
        # 'ignored' (TF's name), 'unsupported' (the reference's, not computed by losslab: only its default)
        self.role = role
        self.doc = doc


def _params(spec):
    """The face's parameters: the reference's, in its order and kinds, with
    the registry's tensors and options it lacks appended keyword-only."""
    tensors = {t["name"]: t for t in spec["tensors"]}
    options = {o["key"]: o for o in spec["options"]}
    ref = SIGNATURES.get(spec["qualified"])
    params = []
    seen = set()

    def role_doc(name):
        t, o = tensors.get(name), options.get(name)
        if t and o:
            return "tensor_or_option", f"{t['doc']}; or a number ({o['doc']}, default {o['default_repr']})"
        if t:
            kind = t["kind"]
            return "tensor", f"{t['doc']} ({kind}{'' if t['required'] else ', optional'})"
        if o:
            choices = f": one of {', '.join(repr(c) for c in o['choices'])}" if o["choices"] else ""
            return "option", f"{o['doc']} ({o['type_name']}{choices}, default {o['default_repr']})"
        if name == "reduction":
            return "reduction", "'none', 'mean', 'sum' or 'batchmean'"
        return None, None

    if ref is not None:
        for name, default_text, kind in ref["params"]:
            default = _literal(default_text)
            role, doc = role_doc(name)
            if role is None:
                if name in _LEGACY and spec["framework"] == "torch":
                    role, doc = "legacy", "deprecated (PyTorch's legacy reduction flag); use reduction"
                elif name == "name" and spec["framework"] == "tf":
                    role, doc = "ignored", "the operation's name in TensorFlow's graph (ignored)"
                else:
                    role, doc = "unsupported", f"the reference's parameter, not supported by losslab: only its default ({default_text}) is accepted"
            elif role == "option":
                # The registry's default (the reference's, or, where the function requires the
                # option, its class's: Keras's q = 0.5).
                default = options[name]["default"]
            elif role == "tensor" and default is _REQUIRED and not tensors[name]["required"]:
                default = None
            params.append(_Param(name, default, kind == "kw", role, doc))
            seen.add(name)
    for t in spec["tensors"]:
        if t["name"] not in seen:
            role, doc = role_doc(t["name"])
            params.append(_Param(t["name"], _REQUIRED if t["required"] and ref is None else None, ref is not None and not t["required"], role, doc))
            seen.add(t["name"])
    for o in spec["options"]:
        if o["key"] not in seen:
            role, doc = role_doc(o["key"])
            params.append(_Param(o["key"], o["default"], ref is not None, role, doc))
            seen.add(o["key"])
    if "reduction" not in seen:
        default = spec["default_reduction"]
        doc = ("'none', 'mean', 'sum' or 'batchmean'; None: the function's own output"
               if default is None else "'none', 'mean', 'sum' or 'batchmean'")
        if ref is not None and default is None:
            doc += " (losslab's addition: the reference has no reduction argument)"
        params.append(_Param("reduction", default, True, "reduction", doc))
    # Python's rule: after a parameter with a default, positional ones need defaults too
    # (the references' own signatures respect it). losslab's own order (no reference) may
    # put a required tensor after an optional one (trl:grpo_loss's advantages after
    # old_per_token_logps): from there on every parameter is keyword-only.
    keyword_only = seen_default = False
    for p in params:
        if p.keyword_only:
            keyword_only = True
        elif keyword_only or (seen_default and p.default is _REQUIRED):
            p.keyword_only = keyword_only = True
        elif p.default is not _REQUIRED:
            seen_default = True
    return params


def _signature(params):
    out = []
    for p in params:
        kind = inspect.Parameter.KEYWORD_ONLY if p.keyword_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
        out.append(inspect.Parameter(p.name, kind, default=p.default))
    return inspect.Signature(out)


def _legacy_reduction(size_average, reduce):
    """PyTorch's ``_Reduction.legacy_get_string``."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _is_number(v):
    return isinstance(v, (bool, int, float, np.integer, np.floating))


def _array(v):
    """An argument as a NumPy array the extension reads: bfloat16 (ml_dtypes)
    widened to float32, exactly (the registry computes in float32 and float64)."""
    a = v if isinstance(v, np.ndarray) else np.asarray(v)
    if a.dtype.name == "bfloat16":
        a = a.astype(np.float32)
    return a


class _Call:
    """A call bound to a face function's parameters: the registry request."""

    __slots__ = ("tensors", "options", "reduction")

    def __init__(self, tensors, options, reduction):
        self.tensors = tensors
        self.options = options
        self.reduction = reduction


def _bind(fn_name, spec, params, sig, args, kwargs):
    bound = sig.bind(*args, **kwargs)
    values = bound.arguments
    tensors, options = {}, {}
    reduction = None
    legacy = {}
    for p in params:
        v = values.get(p.name, p.default)
        if p.role == "tensor":
            if v is not None:
                tensors[p.name] = v
        elif p.role == "option":
            if p.name in values:
                options[p.name] = v
        elif p.role == "tensor_or_option":
            if v is None and p.name not in values:
                continue
            if _is_number(v):
                options[p.name] = v
            elif v is not None:
                tensors[p.name] = v
        elif p.role == "reduction":
            reduction = v
        elif p.role == "legacy":
            legacy[p.name] = v
        elif p.role == "unsupported":
            if p.name in values and not _same(v, p.default):
                raise ValueError(f"{fn_name}: `{p.name}` = {v!r} is not supported by losslab (only the reference's default, {p.default!r})")
    if any(v is not None for v in legacy.values()):
        reduction = _legacy_reduction(legacy.get("size_average"), legacy.get("reduce"))
    if reduction is not None and not isinstance(reduction, str):
        raise TypeError(f"{fn_name}: reduction = {reduction!r}, expected one of {', '.join(map(repr, _REDUCTIONS))}")
    return _Call(tensors, options, reduction)


def _same(a, b):
    try:
        return a is b or bool(a == b)
    except Exception:
        return False


def _doc(spec, params, fn_qualname):
    ref = SIGNATURES.get(spec["qualified"])
    lines = [f"{spec['summary']}.", ""]
    if ref is not None:
        lines.append(f"Reference: ``{ref['reference']}`` (same arguments, defaults and semantics).")
    else:
        lines.append("losslab's own function (no reference framework defines it).")
    lines.append(f"Registry name: ``{spec['qualified']}`` (``losslab eval {spec['qualified']}``).")
    lines += ["", "Args:"]
    for p in params:
        d = "" if p.default is _REQUIRED else f" Default: {p.default!r}."
        lines.append(f"    {p.name}: {p.doc}.{d}")
    lines += ["", "Returns:"]
    red = spec["default_reduction"]
    if red is None:
        lines.append("    numpy.ndarray: the function's own output (one value per sample, or as the reference returns it);")
        lines.append("    with a reduction, a 0-d array.")
    else:
        lines.append(f"    numpy.ndarray: a 0-d array for a reduced loss (reduction {red!r} by default), or one value per")
        lines.append("    element/sample for reduction='none'. Its dtype is the inputs' float dtype (float16 and bfloat16")
        lines.append("    inputs are computed in float32).")
    if spec["grads"]:
        lines += ["", f"Gradients (``losslab.value_and_grad``): with respect to {', '.join(spec['grads'])} (the float tensors the reference differentiates)."]
    lines += ["", "Raises:", "    ValueError: shapes, class indices out of range, values outside the domain, bad options.",
              "    TypeError: dtypes (integers where floats are required, mixed float32/float64), unknown or missing arguments."]
    return "\n".join(lines)


def _make(spec):
    params = _params(spec)
    sig = _signature(params)
    face = FACE[spec["framework"]]
    fn_name = f"losslab.{face}.{spec['name']}"
    qname = spec["qualified"]

    def run(args, kwargs, want_grads=False, grad_output=None):
        call = _bind(fn_name, spec, params, sig, args, kwargs)
        from . import _fast  # the fused cross entropy on the caller's buffers

        fast = _fast.try_cross_entropy(qname, call, want_grads, grad_output)
        if fast is not None:
            return fast
        tensors = {k: _array(v) for k, v in call.tensors.items()}
        go = None if grad_output is None else _array(grad_output)
        if go is not None:
            floats = [a.dtype for a in tensors.values() if a.dtype.kind == "f"]
            if floats and go.dtype.kind in "fiu" and go.dtype != np.result_type(*floats):
                go = go.astype(np.result_type(*floats))
        return _native.evaluate(qname, tensors, call.options, call.reduction, go, want_grads)

    def fn(*args, **kwargs):
        return run(args, kwargs)[0]

    fn.__name__ = spec["name"]
    fn.__qualname__ = spec["name"]
    fn.__module__ = f"losslab.{face}"
    fn.__signature__ = sig
    fn.__doc__ = _doc(spec, params, fn_name)
    fn.__losslab_spec__ = spec
    fn.__losslab_run__ = run
    return fn


def build():
    """Every face's functions: ``{face: {name: function}}``, and the root names."""
    faces = {FACE[fw]: {} for fw in FRAMEWORKS}
    root = {}
    for spec in CATALOG:
        fn = _make(spec)
        faces[FACE[spec["framework"]]][spec["name"]] = fn
        if spec["root"]:
            root[spec["name"]] = fn
    return faces, root


def value_and_grad(fn, *args, wrt=None, grad_output=None, **kwargs):
    """The value of ``fn(*args, **kwargs)`` and its gradients.

    ``fn`` is any loss function of losslab's faces (``losslab.torch.cross_entropy``, ...).
    The gradients are those of ``Σ grad_output · value`` (``grad_output`` defaults to ones of
    the value's shape: the gradient of a reduced loss, or of the sum of an unreduced one) with
    respect to the float tensors the reference differentiates.

    Args:
        fn: a losslab loss function.
        *args, **kwargs: its arguments, as for ``fn`` itself.
        wrt: None (a dict of every gradient, by tensor name), a tensor name (that gradient,
            an array) or a sequence of names (a tuple of their gradients, in that order).
        grad_output: the upstream gradient, the value's shape (None: ones).

    Returns:
        ``(value, grads)``: the value as ``fn`` returns it, and the gradients as ``wrt`` asks.

    Raises:
        ValueError: ``wrt`` names a tensor without a gradient (not given, integer, or not
            differentiated by the reference), and every error of ``fn``.
    """
    run = getattr(fn, "__losslab_run__", None)
    if run is None:
        raise TypeError(f"value_and_grad: {fn!r} is not a losslab loss function (losslab.torch.cross_entropy, ...)")
    value, grads = run(args, kwargs, want_grads=True, grad_output=grad_output)
    if wrt is None:
        return value, dict(grads)
    names = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    missing = [n for n in names if n not in grads]
    if missing:
        spec = fn.__losslab_spec__
        raise ValueError(
            f"{spec['qualified']}: no gradient with respect to {', '.join(f'`{n}`' for n in missing)}; "
            f"gradients here: {', '.join(sorted(grads)) or 'none'} (of the float tensors given among {', '.join(spec['grads']) or 'none'})"
        )
    out = tuple(grads[n] for n in names)
    return value, (out[0] if isinstance(wrt, str) else out)


#: ``{face: {name: function}}`` and the unqualified names (``{name: function}``).
FACES, ROOT = build()
