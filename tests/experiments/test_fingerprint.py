"""Task and evaluator fingerprints (no server): what changes them and what does not."""

from __future__ import annotations

import functools
from typing import Any

from phoenix.client.experiments import create_evaluator

from phoenix_upsert.experiments import task_fingerprint


def compile_task(source: str, **globals_: Any) -> Any:
    namespace: dict[str, Any] = {"__name__": "tasks", **globals_}
    exec(compile(source, "tasks.py", "exec"), namespace)
    return namespace["task"]


BASE = "def task(input):\n    return PROMPT.format(**input)\n"


def test_same_code_same_fingerprint_comments_and_lines_do_not_count() -> None:
    a = compile_task(BASE, PROMPT="Q: {q}")
    b = compile_task("\n\n# a comment\n" + BASE.replace("return", "return  "), PROMPT="Q: {q}")
    assert task_fingerprint(a) == task_fingerprint(b)
    assert task_fingerprint(a).startswith("py1:")


def test_code_constants_and_plain_data_globals_count() -> None:
    a = compile_task(BASE, PROMPT="Q: {q}")
    assert task_fingerprint(a) != task_fingerprint(compile_task(BASE, PROMPT="Question: {q}"))
    changed = BASE.replace("PROMPT.format(**input)", "PROMPT.format(**input).strip()")
    assert task_fingerprint(a) != task_fingerprint(compile_task(changed, PROMPT="Q: {q}"))


def test_same_module_helpers_count_objects_by_type() -> None:
    source = "def helper(x):\n    return x + 1\n\ndef task(input):\n    return helper(input['n'])\n"
    a = compile_task(source)
    b = compile_task(source.replace("x + 1", "x + 2"))
    assert task_fingerprint(a) != task_fingerprint(b)

    class Client:
        def __init__(self, calls: int) -> None:
            self.calls = calls

    uses = "def task(input):\n    return CLIENT.calls\n"
    assert task_fingerprint(compile_task(uses, CLIENT=Client(1))) == task_fingerprint(
        compile_task(uses, CLIENT=Client(2))
    )


def test_partials_closures_and_evaluators() -> None:
    def scale(input: dict[str, Any], factor: int) -> int:
        return int(input["n"]) * factor

    assert task_fingerprint(functools.partial(scale, factor=2)) != task_fingerprint(
        functools.partial(scale, factor=3)
    )

    def make(k: int) -> Any:
        def task(input: dict[str, Any]) -> int:
            return int(input["n"]) + k

        return task

    assert task_fingerprint(make(1)) == task_fingerprint(make(1))
    assert task_fingerprint(make(1)) != task_fingerprint(make(2))

    def exact(output: Any, expected: Any) -> bool:
        return bool(output == expected)

    def loose(output: Any, expected: Any) -> bool:
        return str(output) == str(expected)

    wrapped = create_evaluator(name="exact")(exact)
    assert task_fingerprint(wrapped) == task_fingerprint(create_evaluator(name="exact")(exact))
    assert task_fingerprint(wrapped) != task_fingerprint(create_evaluator(name="exact")(loose))
