"""Guards on the request path: PII, prompt injection, policies, output checks.

Every guard reports :class:`~leitstand.guard.findings.Finding` objects (a character span, a
class and a score); a use case's policy turns findings into an action.
"""

from leitstand.guard.findings import Finding

__all__ = ["Finding"]
