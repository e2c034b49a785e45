"""Training engines. `mmae.engine.loop` is the one training loop (global batches, schedule,
accumulation, checkpoints, preemption, resume); `mmae.engine.config` the configuration they
share and their command line. Each engine module (`pretrain`, `linprobe`, `finetune`,
`siamese`) has a dataclass config, a `Task` for the loop, `run(cfg, out_dir)` and a command line
(`python -m mmae.engine.<name>`); `mim` holds what the three masked-image-modeling engines share."""
