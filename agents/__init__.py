"""Agents that train language-model policies against ExpRL environments (the trainer arrives with its issue)."""
