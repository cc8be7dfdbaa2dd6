"""Make ``gymnasium.make("ExpRL-Math-v0")`` work without importing exprl first.

Gymnasium 1.x no longer loads the ``gymnasium.envs`` entry-point group, so the installed
``exprl_autoregister.pth`` imports this module at interpreter start. It must stay cheap: it only
puts a finder on ``sys.meta_path`` that waits for ``gymnasium.envs`` (the module that fills
gymnasium's registry) to finish loading, then registers our ids. Nothing heavy is imported
unless and until the program imports gymnasium itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

_TARGET = "gymnasium.envs"


def _register() -> None:
    from exprl_env.registration import register_envs

    register_envs()


class _AfterGymnasiumEnvs(importlib.abc.MetaPathFinder):
    """Wraps the loader of ``gymnasium.envs`` so that our registration runs right after it."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        original_exec = spec.loader.exec_module

        def exec_then_register(module):
            original_exec(module)
            _register()

        spec.loader.exec_module = exec_then_register
        return spec


def install() -> None:
    """Register now if gymnasium is loaded, else once it is (idempotent)."""
    if _TARGET in sys.modules:
        _register()
    elif not any(isinstance(f, _AfterGymnasiumEnvs) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterGymnasiumEnvs())


install()
