"""Re-ranking of fused candidates: proximity (no model), cross-encoder, LLM."""
