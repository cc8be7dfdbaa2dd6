"""Adapters that let other RL trainers train against exprl's environments, one subpackage or module per library.

Each library is an optional extra pinned to the version its tests ran, and nothing in exprl's core imports an
adapter: importing ``agents`` never imports a trainer library.
"""
