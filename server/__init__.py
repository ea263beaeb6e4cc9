"""Aha: an OpenAI-compatible streaming server for reasoning models, on vLLM."""

__version__ = "0.1.0"
