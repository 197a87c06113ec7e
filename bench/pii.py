"""PII detection on labelled German and English text, side by side with Microsoft Presidio.

Sets (``../shared/datasets/pii/``):

- **en**: Presidio's own synthetic evaluation set (1,500 English sentences with character
  spans). Classes compared: PERSON, EMAIL, PHONE, IBAN, CREDIT_CARD, IP_ADDRESS, ADDRESS
  (``STREET_ADDRESS``) and SOCIAL_SECURITY (``US_SSN``). The set's other classes
  (organisations, places, dates, titles, ages, nationalities, ZIP codes, domain names,
  driving licences) are no PII classes of leitstand's; spans of those classes and
  predictions of classes outside the comparison are left out for both tools.
- **de**: GermEval 2014 NER, dev split (2,200 German sentences from news and Wikipedia):
  person names (outer ``B-PER``/``I-PER``). Sentences are the tokens joined by spaces.

Scores are per token (as presidio-research evaluates): a token carries a class when it lies
in a span of that class; precision, recall and F1 per class, and micro-averaged over the
compared classes. Exact span matches are reported as well.

Presidio runs as a user here would have to run it: presidio-analyzer from PyPI with its
predefined recognizers for English and its German recognizers enabled (Steuer-ID,
Steuernummer, Personalausweis, Reisepass, Sozialversicherungs- and Krankenversicherungsnummer,
USt-IdNr., ...), and spaCy *blank* pipelines for ``en`` and ``de`` as the NLP engine, because
no trained spaCy model can be downloaded: Presidio's spaCy recognizer then finds no names.
The exact configuration is written into the result.

Throughput: every text of both sets once through each tool (after a warm-up), characters
per second; leitstand's detector is configured the same for both languages.

    .venv/bin/python bench/pii.py [--quick]
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import DATASETS, parser, ratio, write_result
from leitstand.guard.pii import PiiDetector

PII = DATASETS / "pii"
EN_CLASSES = {
    "PERSON": "PERSON",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "CREDIT_CARD": "CREDIT_CARD",
    "IP_ADDRESS": "IP_ADDRESS",
    "STREET_ADDRESS": "ADDRESS",
    "US_SSN": "SOCIAL_SECURITY",
}
"""The English set's classes that leitstand detects, and leitstand's name for each."""
PRESIDIO_CLASSES = {
    "PERSON": "PERSON",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "CREDIT_CARD": "CREDIT_CARD",
    "IP_ADDRESS": "IP_ADDRESS",
    "LOCATION": "ADDRESS",
    "US_SSN": "SOCIAL_SECURITY",
    "DE_SOCIAL_SECURITY": "SOCIAL_SECURITY",
}
"""Presidio's classes mapped onto the compared ones (its LOCATION is the nearest to an
address; without a spaCy model it finds none)."""
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass
class Sample:
    text: str
    spans: list[tuple[int, int, str]]


def load_en() -> list[Sample]:
    rows = json.loads((PII / "presidio_synth_dataset_v2.json").read_text(encoding="utf-8"))
    samples = []
    for row in rows:
        spans = [
            (s["start_position"], s["end_position"], EN_CLASSES[s["entity_type"]])
            for s in row["spans"]
            if s["entity_type"] in EN_CLASSES
        ]
        samples.append(Sample(row["full_text"], spans))
    return samples


def load_de() -> list[Sample]:
    samples: list[Sample] = []
    tokens: list[tuple[str, str]] = []

    def close() -> None:
        if not tokens:
            return
        text, spans, offset = "", [], 0
        current: list[int] | None = None
        for word, tag in tokens:
            start = offset + (1 if text else 0)
            text += (" " if text else "") + word
            offset = len(text)
            if tag == "B-PER" or (tag == "I-PER" and current is None):
                if current is not None:
                    spans.append((current[0], current[1], "PERSON"))
                current = [start, offset]
            elif tag == "I-PER" and current is not None:
                current[1] = offset
            else:
                if current is not None:
                    spans.append((current[0], current[1], "PERSON"))
                current = None
        if current is not None:
            spans.append((current[0], current[1], "PERSON"))
        samples.append(Sample(text, spans))
        tokens.clear()

    for line in (PII / "germeval2014_dev.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            close()
            continue
        parts = line.split("\t")
        tokens.append((parts[1], parts[2]))
    close()
    return samples


# -- scoring ------------------------------------------------------------------------------


def _token_labels(text: str, spans: list[tuple[int, int, str]]) -> list[str | None]:
    """Each token's class: that of a span it overlaps, else None."""
    labels: list[str | None] = []
    for match in _TOKEN.finditer(text):
        label = None
        for start, end, name in spans:
            if start < match.end() and match.start() < end:
                label = name
                break
        labels.append(label)
    return labels


def score(
    samples: list[Sample], predictions: list[list[tuple[int, int, str]]], classes: set[str]
) -> dict[str, Any]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    exact_tp: Counter[str] = Counter()
    exact_pred: Counter[str] = Counter()
    exact_gold: Counter[str] = Counter()
    for sample, everything in zip(samples, predictions, strict=True):
        predicted = [p for p in everything if p[2] in classes]
        gold = _token_labels(sample.text, sample.spans)
        found = _token_labels(sample.text, predicted)
        for g, p in zip(gold, found, strict=True):
            if g is not None and g == p:
                tp[g] += 1
            else:
                if p is not None:
                    fp[p] += 1
                if g is not None:
                    fn[g] += 1
        strip = " \n\t.,;:!?\"'()"
        gold_spans = {_trim(sample.text, s, strip) for s in sample.spans}
        predicted_spans = {_trim(sample.text, s, strip) for s in predicted}
        for span in gold_spans:
            exact_gold[span[2]] += 1
        for span in predicted_spans:
            exact_pred[span[2]] += 1
            if span in gold_spans:
                exact_tp[span[2]] += 1
    per_class = {}
    for name in sorted(classes):
        per_class[name] = {
            **_prf(tp[name], fp[name], fn[name]),
            "support_tokens": tp[name] + fn[name],
            "exact_span_f1": _prf(
                exact_tp[name], exact_pred[name] - exact_tp[name], exact_gold[name] - exact_tp[name]
            )["f1"],
        }
    micro = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    exact = _prf(
        sum(exact_tp.values()),
        sum(exact_pred.values()) - sum(exact_tp.values()),
        sum(exact_gold.values()) - sum(exact_tp.values()),
    )
    return {"micro": micro, "exact_span_micro_f1": exact["f1"], "per_class": per_class}


def _trim(text: str, span: tuple[int, int, str], chars: str) -> tuple[int, int, str]:
    start, end, label = span
    while start < end and text[start] in chars:
        start += 1
    while end > start and text[end - 1] in chars:
        end -= 1
    return start, end, label


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


# -- the tools ----------------------------------------------------------------------------


class Presidio:
    """presidio-analyzer with spaCy blank pipelines and German recognizers enabled."""

    def __init__(self, folder: Path) -> None:
        import spacy
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            DeHealthInsuranceRecognizer,
            DeIdCardRecognizer,
            DePassportRecognizer,
            DeSocialSecurityRecognizer,
            DeTaxIdRecognizer,
            DeTaxNumberRecognizer,
            DeVatIdRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
        )

        models = []
        for language in ("en", "de"):
            path = folder / f"spacy-blank-{language}"
            spacy.blank(language).to_disk(path)
            models.append({"lang_code": language, "model_name": str(path)})
        engine = NlpEngineProvider(
            nlp_configuration={"nlp_engine_name": "spacy", "models": models}
        ).create_engine()
        registry = RecognizerRegistry(supported_languages=["en", "de"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
        german = [
            EmailRecognizer(supported_language="de"),
            IbanRecognizer(supported_language="de"),
            IpRecognizer(supported_language="de"),
            CreditCardRecognizer(supported_language="de"),
            PhoneRecognizer(supported_language="de", supported_regions=("DE", "AT", "CH")),
            DeTaxIdRecognizer(),
            DeTaxNumberRecognizer(),
            DeIdCardRecognizer(),
            DePassportRecognizer(),
            DeSocialSecurityRecognizer(),
            DeHealthInsuranceRecognizer(),
            DeVatIdRecognizer(),
        ]
        for recognizer in german:
            registry.add_recognizer(recognizer)
        self.engine = AnalyzerEngine(
            registry=registry, nlp_engine=engine, supported_languages=["en", "de"]
        )
        self.configuration = {
            "package": "presidio-analyzer " + _version("presidio-analyzer"),
            "spacy": _version("spacy"),
            "nlp_engine": "spacy blank pipelines for en and de (tokeniser only, no NER model)",
            "recognizers": {
                language: sorted(
                    {r.name for r in registry.get_recognizers(language, all_fields=True)}
                )
                for language in ("en", "de")
            },
            "score_threshold": 0.0,
        }

    def detect(self, text: str, language: str) -> list[tuple[int, int, str]]:
        results = self.engine.analyze(text=text, language=language)
        return [
            (r.start, r.end, PRESIDIO_CLASSES[r.entity_type])
            for r in results
            if r.entity_type in PRESIDIO_CLASSES
        ]


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def run_leitstand(detector: PiiDetector, samples: list[Sample]) -> list[list[tuple[int, int, str]]]:
    return [[(f.start, f.end, f.label) for f in detector.detect(s.text)] for s in samples]


def throughput(detect: Any, texts: list[tuple[str, str]], rounds: int) -> dict[str, float]:
    chars = sum(len(t) for t, _ in texts)
    for text, language in texts[:50]:
        detect(text, language)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text, language in texts:
            detect(text, language)
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    return {
        "texts": len(texts),
        "chars": chars,
        "seconds": round(seconds, 3),
        "chars_per_s": round(chars / seconds),
        "us_per_1000_chars": round(seconds / chars * 1e9, 1),
    }


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    options = args.parse_args()
    sets = {"en": load_en(), "de": load_de()}
    if options.quick:
        sets = {name: samples[:300] for name, samples in sets.items()}
    detector = PiiDetector(phone_regions=("DE", "US", "GB"))
    with tempfile.TemporaryDirectory(prefix="pii-bench-") as tmp:
        presidio = Presidio(Path(tmp))
        results: dict[str, Any] = {"sets": {}}
        for name, samples in sets.items():
            classes = set(EN_CLASSES.values()) if name == "en" else {"PERSON"}
            ours = run_leitstand(detector, samples)
            theirs = [presidio.detect(s.text, name) for s in samples]
            gold = Counter(label for s in samples for _, _, label in s.spans)
            results["sets"][name] = {
                "samples": len(samples),
                "gold_spans": dict(gold),
                "leitstand": score(samples, ours, classes),
                "presidio": score(samples, theirs, classes),
            }
            block = results["sets"][name]
            print(
                f"{name}: leitstand micro-F1 {block['leitstand']['micro']['f1']:.3f}, "
                f"presidio {block['presidio']['micro']['f1']:.3f}",
                flush=True,
            )
            for label, row in block["leitstand"]["per_class"].items():
                other = block["presidio"]["per_class"][label]
                print(f"  {label:16} leitstand {row}  presidio f1 {other['f1']}")
        texts = [(s.text, name) for name, samples in sets.items() for s in samples]
        rounds = 1 if options.quick else 3
        speed = {
            "leitstand": throughput(lambda t, _l: detector.detect(t), texts, rounds),
            "presidio": throughput(presidio.detect, texts, 1),
        }
        print(f"throughput: {speed}", flush=True)
        results["throughput"] = speed
        results["ratios"] = {
            "throughput_leitstand_vs_presidio": ratio(
                speed["leitstand"]["chars_per_s"], speed["presidio"]["chars_per_s"], 1
            )
        }
        results["presidio_configuration"] = presidio.configuration
    results["leitstand_configuration"] = {
        "labels": sorted(detector.labels),
        "threshold": detector.threshold,
        "phone_regions": ["DE", "US", "GB"],
    }
    results["acceptance"] = {
        name: {
            "micro_f1_above_presidio": block["leitstand"]["micro"]["f1"]
            > block["presidio"]["micro"]["f1"]
        }
        for name, block in results["sets"].items()
    }
    results["acceptance"]["throughput_at_least_10x"] = (
        results["ratios"]["throughput_leitstand_vs_presidio"] or 0
    ) >= 10
    results["quick"] = options.quick
    write_result("pii", results, options.out)


if __name__ == "__main__":
    main()
