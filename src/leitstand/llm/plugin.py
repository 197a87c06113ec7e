"""Built-in chat model providers."""
