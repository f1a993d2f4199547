"""Analysis of finished (or running) runs: one module per job.

    tidy.py          runs -> one tidy table: local run directories and W&B downloads
    estimators.py    the statistics: aggregates over games (median, IQM, mean, optimality
                     gap), stratified-bootstrap intervals, performance profiles, P(X > Y),
                     Welch's t-test
    dopamine.py      Dopamine's published DQN: the one loader, game-name map and iteration
                     length (frames per iteration)
    tables.py        the numbers of the report and of the aggregates over training
    side_by_side.py  our seeds next to Dopamine's, iteration by iteration: the rows
    figures.py       every figure
    report.py        the commands that write files: report, aggregates, side-by-side
    download.py      W&B runs -> the tidy CSVs tidy.py reads (our runs and CleanRL's)
    __main__.py      ``python -m dqn_atari.analysis report|aggregates|side-by-side|download``

Human-normalised scores come from ``dqn_atari.scores``, the only other module of the
package this one imports; the training code never imports this package. The commands of
before stay as aliases: ``python -m dqn_atari.plot``, ``python -m dqn_atari.side_by_side``
and ``python -m dqn_atari.wandb_download``.
"""
