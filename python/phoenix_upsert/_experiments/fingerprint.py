"""Fingerprints of a task's and an evaluator's code: what decides whether an earlier run is
what the current code would have produced.

A fingerprint is ``"py1:"`` and the SHA-256 (hex) of a description of the callable:

- a function: its compiled code — bytecode, constants (nested code objects, e.g. of inner
  functions and comprehensions, described the same way), names, argument names — its
  default arguments, the values of its closure cells, and the module-level globals its code
  names: functions and classes of the same module (described the same way, recursively)
  and plain data (``dict``/``list``/``tuple``/``str``/``int``/``float``/``bool``/``None``,
  as canonical JSON); any other object counts by its type's name only. Line numbers, comments and
  formatting do not count (they are not in the bytecode); a Python minor version changes
  bytecode, so it changes fingerprints.
- a ``functools.partial``: its function and its arguments; a bound method: its function and
  its class's name; an object with ``__call__`` (an evaluator class): the functions of its
  class and its plain-data attributes; a phoenix-client evaluator made by
  ``create_evaluator``: the function it wraps, with its name and kind.

What a fingerprint cannot see — other modules, files (a prompt template), a remote model,
the state of objects — is what ``task_version`` is for.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import types
from typing import Any

from phoenix_upsert._native import canonicalize

PREFIX = "py1:"
_PLAIN = (dict, list, tuple, str, int, float, bool, type(None))


def fingerprint(obj: Any) -> str:
    """The fingerprint of a task or an evaluator (see the module docs)."""
    parts: list[str] = []
    _describe(obj, parts, set(), depth=0)
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return PREFIX + digest.hexdigest()


def _plain(value: Any) -> str | None:
    """Canonical JSON of plain data, or ``None`` for anything else."""
    if not isinstance(value, _PLAIN):
        return None
    try:
        return canonicalize(value).decode("utf-8")
    except (ValueError, TypeError):
        return None


def _value(value: Any, parts: list[str], seen: set[int], depth: int) -> None:
    if isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
        _describe(value, parts, seen, depth + 1)
        return
    text = _plain(value)
    if text is not None:
        parts.append("json:" + text)
    elif isinstance(value, types.ModuleType):
        parts.append("module:" + value.__name__)
    else:
        kind = type(value)
        parts.append(f"object:{kind.__module__}.{kind.__qualname__}")


def _code(code: types.CodeType, parts: list[str]) -> None:
    parts.append(f"code:{code.co_name}:{code.co_argcount}:{code.co_kwonlyargcount}")
    parts.append(code.co_code.hex())
    parts.append("names:" + ",".join(code.co_names))
    parts.append("vars:" + ",".join(code.co_varnames))
    parts.append("free:" + ",".join(code.co_freevars))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code(const, parts)
        else:
            parts.append(f"const:{type(const).__name__}:{const!r}")


def _code_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_code_names(const))
    return names


def _describe(obj: Any, parts: list[str], seen: set[int], depth: int) -> None:
    if id(obj) in seen or depth > 50:
        parts.append("seen")
        return
    seen.add(id(obj))
    if isinstance(obj, functools.partial):
        parts.append("partial")
        _describe(obj.func, parts, seen, depth + 1)
        for arg in obj.args:
            _value(arg, parts, seen, depth)
        for key in sorted(obj.keywords):
            parts.append("kw:" + key)
            _value(obj.keywords[key], parts, seen, depth)
        return
    if isinstance(obj, types.MethodType):
        owner = type(obj.__self__)
        parts.append(f"method:{owner.__qualname__}")
        _describe(obj.__func__, parts, seen, depth + 1)
        return
    if isinstance(obj, types.FunctionType):
        _function(obj, parts, seen, depth)
        return
    if isinstance(obj, (types.BuiltinFunctionType, type)):
        parts.append(f"builtin:{getattr(obj, '__module__', '')}.{obj.__qualname__}")
        return
    # An object: a phoenix-client evaluator wrapping a function, or a class of one's own.
    call = vars(type(obj)).get("__call__")
    wrapped = getattr(call, "__wrapped__", None)
    name, kind = getattr(obj, "name", None), getattr(obj, "kind", None)
    if isinstance(name, str):
        parts.append(f"evaluator:{name}:{kind}")
    if wrapped is not None:
        _describe(wrapped, parts, seen, depth + 1)
        return
    _class(type(obj), parts, seen, depth)
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict):
        for attr in sorted(state):
            parts.append("attr:" + attr)
            _value(state[attr], parts, seen, depth)


def _class(cls: type, parts: list[str], seen: set[int], depth: int) -> None:
    """A class by its own functions (and those of its bases outside the standard library
    and phoenix-client)."""
    parts.append(f"class:{cls.__qualname__}")
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] in ("builtins", "abc", "phoenix", "typing"):
            continue
        for attr, member in sorted(vars(klass).items()):
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, types.FunctionType) and id(member) not in seen:
                parts.append("def:" + attr)
                _describe(member, parts, seen, depth + 1)


def _function(fn: types.FunctionType, parts: list[str], seen: set[int], depth: int) -> None:
    fn = inspect.unwrap(fn)
    code = fn.__code__
    parts.append(f"function:{fn.__qualname__}:async={inspect.iscoroutinefunction(fn)}")
    _code(code, parts)
    for default in fn.__defaults__ or ():
        _value(default, parts, seen, depth)
    for key, default in sorted((fn.__kwdefaults__ or {}).items()):
        parts.append("kwdefault:" + key)
        _value(default, parts, seen, depth)
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        parts.append("cell:" + name)
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell
            parts.append("empty")
            continue
        _value(contents, parts, seen, depth)
    module = fn.__module__
    globals_ = fn.__globals__
    for name in sorted(set(_code_names(code))):
        if name not in globals_:
            continue
        value = globals_[name]
        if isinstance(value, types.FunctionType) and value.__module__ != module:
            parts.append(f"global:{name}:{value.__module__}.{value.__qualname__}")
            continue
        parts.append("global:" + name)
        if isinstance(value, type) and value.__module__ == module and id(value) not in seen:
            seen.add(id(value))
            _class(value, parts, seen, depth + 1)
            continue
        _value(value, parts, seen, depth)
