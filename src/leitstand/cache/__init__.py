"""Answer caches: exact and semantic, with a near-miss guard (see ``answers`` and ``facts``)."""

from leitstand.cache.answers import AnswerCache, CacheHit, Message, normalise
from leitstand.cache.facts import Facts, conflict, read_facts

__all__ = ["AnswerCache", "CacheHit", "Facts", "Message", "conflict", "normalise", "read_facts"]
