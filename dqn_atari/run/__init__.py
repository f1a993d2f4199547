"""What a run keeps on disk and reports: the run of K seeds and each seed's run dir.

* ``runner.py``: a run of K >= 1 seeds in iterations (phases, signals, checkpoints, summary);
* ``seed_run.py``: one seed's run: its run dir, parts, counters, metric rows and records;
* ``checkpoint.py``: checkpoint files (plain data, atomic, the fallback to an older one);
* ``lock.py``: one writer per run dir;
* ``status_file.py``: ``status.json``, rewritten while the run goes (the status tool reads it);
* ``provenance.py``: the code, packages and device of every start;
* ``resume_config.py``: a resume's config: the recorded one, and which changes are allowed;
* ``metrics.py``: the metric sinks (CSV rows, wandb);
* ``eval_report.py``: the Nature-protocol evaluation report (``eval_nature.json``);
* ``final_eval.py``: that evaluation at the end of every run.

The learning parts (agent, update, learner, networks, losses, optim, schedules, replay,
envs, actor, loop) sit at the top of the package, where the training reads them.
"""
