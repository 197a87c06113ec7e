"""PII detection in German and English text (see ``detector.py``)."""

from leitstand.guard.pii.detector import LABELS, PiiDetector, Recognizer

__all__ = ["LABELS", "PiiDetector", "Recognizer"]
