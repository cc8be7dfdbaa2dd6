"""Registers exprl's estimators and reward manager with verl; verl imports this in every process that imports it.

exprl declares it under the ``verl.plugins`` entry-point group (pyproject.toml), which ``import verl`` loads unless
``VERL_USE_EXTERNAL_PLUGINS=none``. That matters because verl computes advantages and rewards in Ray actors, not in
the driver: a registration made only in the driver would be missing there. verl logs a plugin that fails to load
at debug level only, so a broken install shows up as "Unknown advantage estimator: exprl_delta"; ``python -c
"import agents.integrations.verl.plugin"`` in the same environment shows the real error.
"""

from agents.integrations.verl import estimators, manager  # noqa: F401  (importing them registers them)
