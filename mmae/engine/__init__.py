"""Training engines. :mod:`mmae.engine.common` holds what they share; each engine module has a
dataclass config, ``run(cfg, out_dir)`` and a command line (``python -m mmae.engine.<name>``)."""
