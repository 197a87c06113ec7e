"""Governance: who may use what (API keys now; registry, approvals and audit later)."""
