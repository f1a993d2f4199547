"""Typed configuration schemas, registered in Hydra's ConfigStore.

Every count names its unit in its key or its comment:
  * frames       -- raw ALE frames (the emulator's 60 Hz ticks),
  * agent steps  -- decisions of the agent; one agent step = ``action_repeat_frames`` frames,
  * updates      -- gradient steps of the learner,
  * transitions  -- entries of the replay (one per agent step).

The paper's Extended Data Table 1 says "frames" for several counts that DeepMind's
(DQN Zoo) and Google's (Dopamine) reimplementations count in agent steps; the keys
below follow the reimplementations and say so.

The YAML files under ``dqn_atari/conf/`` are merged on top of these dataclasses, so a
mistyped key or a value of the wrong type in an override is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# DeepMind's centered RMSProp epsilon: 0.01 ("min squared gradient") divided by
# 32^2 because the loss is averaged over a batch of 32 (DQN Zoo's run_atari.py).
NATURE_RMSPROP_EPS = 0.01 / 32**2


@dataclass
class EnvConfig:
    """The Atari environment and the Nature preprocessing."""

    game: str = "pong"  # snake_case ALE ROM id (ale_py.roms.get_all_rom_ids()), or "catch"
    action_repeat_frames: int = 4  # frames per agent step; reward summed over them
    max_pool_frames: int = 2  # observation = pixel-wise max over the last 2 raw frames
    frame_size: int = 84  # processed frames are frame_size x frame_size, grayscale
    resize_interpolation: str = "area"  # "area" (gymnasium, ale-py, Dopamine) | "pil_bilinear"
    # (PIL's antialiasing bilinear: DQN Zoo's resize) | "linear" (OpenCV INTER_LINEAR, no antialiasing)
    stack_frames: int = 4  # processed frames per agent state
    noop_max_frames: int = 30  # U{0..30} NOOP frames (not agent steps) at every reset
    terminal_on_life_loss: bool = True  # learning terminal; the game itself is NOT reset
    clip_rewards: bool = True  # clip to [-1, 1] for learning only; scores stay raw
    max_episode_frames_train: int = 108_000  # frames (30 minutes at 60 Hz)
    max_episode_frames_eval_phase: int = 108_000  # frames: games of the evaluation phase of
    # each iteration (30 min, as DQN Zoo's 108,000 frames and Dopamine's 27,000 agent steps)
    max_episode_frames_eval: int = 18_000  # frames (5 minutes: the final Nature protocol, `evaluate`)
    sticky_actions: bool = False  # True: repeat_action_probability 0.25 (Machado et al. 2018)
    full_action_space: bool = False  # Nature: the game's minimal action set
    num_envs: int = 1  # actors, each on its own NatureAtariEnv, stepped in turn by one loop
    # (not ale-py's AtariVectorEnv: loop.py says why); their states are acted on in one batch


@dataclass
class AgentConfig:
    """The DQN agent (agent.py): networks, target, loss, schedules, update periods."""

    gamma: float = 0.99  # discount per agent step
    double_dqn: bool = False  # van Hasselt et al. 2016 target
    dueling: bool = False  # Wang et al. 2016 head
    # Convolution padding: "valid" (Nature, DQN Zoo: 3,136 features) | "same" (TensorFlow's
    # 'SAME', Dopamine's network: sides 21, 11, 11, 7,744 features). networks.py
    conv_padding: str = "valid"
    # Initial parameters: "fan_in_uniform" (DQN Zoo: weights and biases U(+-1/sqrt(fan_in)))
    # | "glorot_uniform_zero_bias" (Dopamine's slim defaults: Glorot-uniform weights, zero biases)
    init: str = "fan_in_uniform"
    # The target network at agent step 0: "copy" of the online one (Nature, DQN Zoo) |
    # "independent" (Dopamine: its own random draw; no copy until learning has started, so
    # the first copy is at the first target period after learning_starts_agent_steps)
    target_init: str = "copy"
    huber_delta: float = 1.0  # the paper's "error clipping" to [-1, 1]
    batch_size: int = 32  # transitions per update
    update_period_agent_steps: int = 4  # one update every 4 agent steps
    target_update_period_agent_steps: int = 10_000  # hard copy (= 2,500 updates)
    learning_starts_agent_steps: int = 50_000  # transitions collected before the first update
    epsilon_start: float = 1.0
    epsilon_end: float = 0.1
    epsilon_decay_agent_steps: int = 1_000_000  # linear decay over this many agent steps ...
    # ... starting at this agent step; epsilon_start before it. All three references hold
    # epsilon at 1.0 until learning starts (Dopamine's warmup_steps=min_replay_history).
    epsilon_decay_start_agent_steps: int = "${agent.learning_starts_agent_steps}"  # type: ignore[assignment]
    epsilon_eval: float = 0.05
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
    precision: str = "fp32"  # "fp32" (TF32 off on CUDA) | "tf32" (CUDA) | "bf16" (autocast)
    compile: bool = False  # torch.compile the whole update (forward, loss, backward, optimizer)
    cuda_graph: bool = False  # CUDA only: replay the update as captured CUDA graphs
    channels_last: bool = True  # NHWC convolution weights and inputs (faster on CPU and GPU)
    overlap: bool = False  # learner in a background thread while the actors step (same schedule)


@dataclass
class OptimConfig:
    """Optimizer. ``rmsprop_centered`` is DeepMind's: epsilon inside the square root."""

    name: str = "rmsprop_centered"  # "rmsprop_centered" | "adam"
    lr: float = 2.5e-4
    decay: float = 0.95  # RMSProp squared- and mean-gradient decay
    eps: float = NATURE_RMSPROP_EPS  # inside sqrt for rmsprop_centered; Adam's eps otherwise
    max_grad_norm: float = 0.0  # 0 disables gradient clipping (the paper clips the TD error only)
    # rmsprop_centered: the mean square's value before the first update (0: optax, DQN Zoo;
    # 1: TF1's RMSPropOptimizer, Dopamine). Adam refuses any other value than 0.
    initial_mean_square: float = 0.0


@dataclass
class ReplayConfig:
    """Uniform experience replay storing one uint8 84x84 frame per transition."""

    capacity: int = 1_000_000  # transitions (= agent steps)
    compress: bool = False  # lz4-compress frames in memory
    check_memory: bool = True  # refuse to allocate a buffer that does not fit in RAM


@dataclass
class LoggerConfig:
    """Metric sinks: a CSV in the run directory always; wandb when enabled."""

    wandb_mode: str = "offline"  # "offline" | "online" | "disabled"
    wandb_project: str = "dqn-atari"
    wandb_entity: str | None = None
    wandb_group: str | None = None  # defaults to the experiment name
    wandb_tags: list[str] = field(default_factory=list)
    progress_bar: bool = True


@dataclass
class FinalEvalConfig:
    """The Nature-protocol evaluation at the end of a run (``dqn_atari/run/final_eval.py``).

    The protocol is ``python -m dqn_atari.evaluate``'s: games capped at 18,000 frames
    (5 minutes), U{0..30} no-op frames at each start, epsilon 0.05. The result goes to
    ``eval_nature.json`` in the run dir and to the wandb run summary (``eval_nature/*``).
    """

    enabled: bool = True  # false: the run ends after its last iteration
    episodes: int = 30  # games ("30 times for up to 5 min each", Methods)


@dataclass
class Config:
    """A whole run. ``experiment/*.yaml`` presets override any of it."""

    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    final_eval: FinalEvalConfig = field(default_factory=FinalEvalConfig)

    experiment_name: str = MISSING  # set by the experiment preset
    experiment_note: str = ""  # e.g. "NOT the Nature setting" for the fast preset
    seed: int = 0
    # Several seeds of this game as K runs in ONE process, e.g. [0,1,2,3,4]: each keeps its own
    # run dir (seed_<s>), envs, replay, random streams, checkpoints and metrics; one vmapped
    # learner updates all (dqn_atari/run/runner.py). Empty: the one run of `seed`.
    seeds: list[int] = field(default_factory=list)
    total_frames: int = 200_000_000  # training frames (= 50M agent steps: the paper's "50M frames")
    train_agent_steps_per_iteration: int = 250_000  # = 1M frames
    eval_agent_steps_per_iteration: int = 125_000  # at epsilon_eval; 0 disables
    run_dir: str = "runs/${experiment_name}/${env.game}/seed_${seed}"
    checkpoint_keep: int = 2  # checkpoints kept on disk
    checkpoint_replay: bool = True  # include the replay in checkpoints (needed for exact resume)
    # When checkpoints exist but none can be read: "stop" with an error (the default), or
    # "start_over" from agent step 0. Unreadable files are kept in checkpoints/corrupt/.
    on_unreadable_checkpoints: str = "stop"
    # Load a checkpoint written before 2026-12-06 (pickled tensors and classes: unpickling it
    # can run code that came with the file). Only for files you trust; never taken from a
    # run's recorded config (dqn_atari/run/checkpoint.py).
    allow_pickled_checkpoints: bool = False
    # Keys a resume may change on purpose (e.g. [optim.lr,total_frames]); any other change
    # of a key that is not safe to change on resume is refused (dqn_atari/run/resume_config.py).
    allow_config_change: list[str] = field(default_factory=list)
    # Run even though no update falls within the budget (agent.learning_starts_agent_steps at
    # or after total_frames' last agent step): collecting, or acting at random, on purpose.
    # Otherwise such a config is refused as the mistake it almost always is (runner.py).
    allow_no_learning: bool = False
    # torch intra-op threads; 0: torch's default (every core it sees). 2: updates 1.6x faster
    # than with 1 on 2 free cores (23.5 vs 37 ms), and the same as torch's default there. More
    # threads than FREE cores are ruinous with OpenMP's spin-waiting: an update took 649 ms
    # instead of 52 with 2 threads while another run held one of 2 cores (use 1, or
    # OMP_WAIT_POLICY=PASSIVE: 56 ms). A fixed count also keeps results independent of the
    # machine's core count. SLURM sweeps set it per task (slurm/sweep.sh).
    torch_threads: int = 2
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, for user extensions


def agent_steps_fraction(total_frames: int, action_repeat_frames: int, fraction: float) -> int:
    """``fraction`` of a budget of ``total_frames``, in agent steps (for presets)."""
    return int(total_frames // action_repeat_frames * fraction)


def packed_seeds_dir_name(seeds) -> str:
    """``packed_seeds_0-1-2``: Hydra's dir of a job of packed seeds (beside their run dirs)."""
    return "packed_seeds_" + "-".join(str(int(s)) for s in seeds)


def seed_subdir(seed: int, seeds) -> str:
    """Hydra's sweep subdir of a job: ``seed_<seed>``, or ``packed_seeds_...`` for ``seeds=[...]``."""
    return packed_seeds_dir_name(seeds) if seeds else f"seed_{seed}"


def hydra_job_dir(run_dir: str, seeds) -> str:
    """Hydra's dir of a single job: ``run_dir``, or ``packed_seeds_...`` beside it for ``seeds``."""
    if not seeds:
        return run_dir
    import os

    return os.path.join(os.path.dirname(run_dir.rstrip("/")), packed_seeds_dir_name(seeds))


def register_configs() -> None:
    """Register the schema and resolvers so ``dqn_atari/conf/config.yaml`` is type-checked."""
    from omegaconf import OmegaConf

    ConfigStore.instance().store(name="config_schema", node=Config)
    if not OmegaConf.has_resolver("agent_steps_fraction"):
        OmegaConf.register_new_resolver("agent_steps_fraction", agent_steps_fraction)
    if not OmegaConf.has_resolver("hydra_job_dir"):
        OmegaConf.register_new_resolver("hydra_job_dir", hydra_job_dir)
        OmegaConf.register_new_resolver("seed_subdir", seed_subdir)
