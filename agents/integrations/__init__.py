"""Adapters to other training libraries, one module per library (each an optional extra of the package).

Nothing in the core imports these; import the one you use, e.g. ``agents.integrations.sb3``.
"""
