"""An injection classifier from a local folder: a transformers sequence-classification model
such as Meta's Prompt Guard or protectai's deberta-v3-base-prompt-injection-v2.

Needs the ``[local]`` extra (torch and transformers). The model is read from disk only, never
downloaded. Its score is the probability of every label that is not benign — Prompt Guard 1
names them BENIGN / INJECTION / JAILBREAK, Prompt Guard 2 LABEL_0 / LABEL_1, protectai's
model SAFE / INJECTION.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from leitstand.errors import ConfigError

BENIGN_LABELS = frozenset({"BENIGN", "SAFE", "LABEL_0", "NEGATIVE", "LEGIT"})
MAX_TOKENS = 512
"""Longer texts are scored in windows of this many tokens; the worst window counts."""


class TransformersClassifier:
    """``score(text)``: the probability that a text is an injection or jailbreak."""

    def __init__(self, path: Path) -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise ConfigError(
                "guard.injection_classifier needs torch and transformers",
                hint="pip install torch==2.13.0 first, then 'leitstand[local]'",
            ) from exc
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"guard.injection_classifier: {path} is not a model folder (no config.json)",
                hint="give the folder of a transformers sequence-classification model, e.g. "
                "a downloaded Prompt Guard",
            )
        self.name = path.name
        self._torch: Any = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True
        ).eval()
        labels = {int(i): str(label).upper() for i, label in self.model.config.id2label.items()}
        self.benign = [i for i, label in labels.items() if label in BENIGN_LABELS]
        if not self.benign or len(self.benign) == len(labels):
            raise ConfigError(
                f"guard.injection_classifier: cannot tell benign from malicious among the "
                f"labels of {path.name} ({', '.join(labels.values())})",
                hint=f"a benign label is one of {', '.join(sorted(BENIGN_LABELS))}",
            )
        self._lock = threading.Lock()  # one forward pass at a time; torch uses the cores

    def score(self, text: str) -> float:
        torch = self._torch
        encoded = self.tokenizer(
            text,
            truncation=True,
            max_length=MAX_TOKENS,
            stride=64,
            return_overflowing_tokens=True,
            padding=True,
            return_tensors="pt",
        )
        inputs = {
            key: value
            for key, value in encoded.items()
            if key in ("input_ids", "attention_mask", "token_type_ids")
        }
        with self._lock, torch.inference_mode():
            probabilities = self.model(**inputs).logits.softmax(dim=-1)
        malicious = 1.0 - probabilities[:, self.benign].sum(dim=-1)
        return float(malicious.max())
