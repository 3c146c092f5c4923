"""Deterministic, realistic benchmark data: questions and answers with non-ASCII text,
nested lists, floats and ints — the shape of a typical LLM evaluation dataset."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

WORDS = (
    "the a of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which she "
    "do how their if will up other about out many then them these so some her would make like "
    "him into time has look two more write go see number no way could people my than first water"
).split()
NON_ASCII = [
    "café",
    "naïve",
    "Zürich",
    "日本語",
    "Привет",
    "😀",
    "façade",
    "Ελληνικά",
    "العربية",
    "한국어",
]


def _sentence(rnd: random.Random, n: int) -> str:
    return " ".join(
        rnd.choice(WORDS) if rnd.random() > 0.1 else rnd.choice(NON_ASCII) for _ in range(n)
    )


def make_example(rnd: random.Random, i: int) -> dict[str, Any]:
    return {
        "id": f"q{i}",
        "input": {
            "question": _sentence(rnd, rnd.randint(8, 30)),
            "context": [_sentence(rnd, 12) for _ in range(rnd.randint(1, 4))],
            "turns": [
                {
                    "role": rnd.choice(["user", "assistant"]),
                    "content": _sentence(rnd, 10),
                    "score": rnd.random(),
                }
                for _ in range(rnd.randint(0, 3))
            ],
        },
        "output": {
            "answer": _sentence(rnd, rnd.randint(5, 40)),
            "confidence": round(rnd.random(), 4),
            "citations": [rnd.randint(0, 10**6) for _ in range(3)],
        },
        "metadata": {
            "source": rnd.choice(["web", "kb", "synthetic"]),
            "difficulty": rnd.randint(1, 5),
            "tags": ["t" + str(rnd.randint(0, 50))],
            "temperature": 0.7,
        },
    }


def make_examples(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    return [make_example(rnd, i) for i in range(n)]


def write_jsonl(path: Path, examples: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    return path
