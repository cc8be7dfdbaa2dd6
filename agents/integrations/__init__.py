"""Adapters that let other RL trainers train against exprl's environments, one module or subpackage per library
(``agents.integrations.trl``, ``.sb3``, ``.verl``).

Each library is an optional extra pinned to the version its tests ran, and nothing in exprl's core imports an
adapter: importing ``agents`` never imports a trainer library. Import the one you use.
"""
