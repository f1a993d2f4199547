"""Uniform random play under the `dopamine_dqn` preset's emulator settings, on a chosen
emulator and ROM file: does the game itself differ from the one Dopamine's baselines played?

Dopamine's legacy baselines (2018) ran gym's ``<Game>NoFrameskip-v0`` on atari-py 0.1.x, whose
ROM files differ from the ones ale-py 0.12 ships (Ms. Pac-Man in 45 of 8,192 bytes, Road Runner
in 113 of 16,384; atari-py 0.1.1, 0.1.7 and 0.2.6 ship the same files). This plays uniform random
actions from the minimal action set, 4 emulator frames per agent step, sticky actions drawn per
frame (p 0.25), no no-op starts, games capped at 108,000 frames: the environment of
``dopamine_dqn`` and of Dopamine's ``dqn.gin``, without the frame preprocessing, which a
random policy does not see. It prints one JSON line: mean, standard deviation and standard
error of the game returns, and the mean game length in frames.

    # ale-py 0.12 and its ROMs (the project's environment)
    .venv/bin/python results/dopamine_3seeds/random_play.py --emulator ale_py --game ms_pacman
    # atari-py 0.2.6 (ALE 0.6, built from its sdist in a separate venv), its own ROM, and
    # ale-py's ROM copied to a file named as the game (ALE 0.6 knows a game by the file's name)
    venv/bin/python random_play.py --emulator atari_py --game ms_pacman --rom atari_py
    venv/bin/python random_play.py --emulator atari_py --game ms_pacman --rom /tmp/x/ms_pacman.bin

    # the two ROM files on one emulator without sticky actions: the same RAM every 1,000
    # frames and the same game returns over a fixed random sequence of 20,000 frames?
    venv/bin/python random_play.py --emulator atari_py --game ms_pacman \
        --same-game-as /tmp/x/ms_pacman.bin

results/dopamine_3seeds/README.md gives the figures and how atari-py was built.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

import numpy as np

FRAMES_PER_AGENT_STEP = 4
STICKY_ACTION_PROBABILITY = 0.25
MAX_GAME_FRAMES = 108_000


def rom_path(emulator: str, rom: str, game: str) -> Path:
    """``--rom``: a file, or the name of the package whose shipped ROM to use."""
    if rom == "ale_py":
        from ale_py import roms

        return Path(roms.get_rom_path(game))
    if rom == "atari_py":
        import atari_py

        return Path(atari_py.get_game_path(game))
    return Path(rom)


def make_ale(emulator: str, rom: Path, seed: int,
             sticky_probability: float = STICKY_ACTION_PROBABILITY):
    if emulator == "ale_py":
        import ale_py

        ale = ale_py.ALEInterface()
        ale.setLoggerMode(ale_py.LoggerMode.Error)
    else:
        import atari_py

        ale = atari_py.ALEInterface()
    ale.setInt("random_seed", seed)
    ale.setInt("frame_skip", 1)
    ale.setFloat("repeat_action_probability", sticky_probability)
    ale.setInt("max_num_frames_per_episode", 0)
    ale.loadROM(str(rom))
    return ale


def play(ale, games: int, seed: int) -> tuple[list[float], list[int]]:
    rng = np.random.default_rng(seed)
    actions = list(ale.getMinimalActionSet())
    returns, lengths = [], []
    for _ in range(games):
        ale.reset_game()
        total, frames = 0.0, 0
        while not ale.game_over() and frames < MAX_GAME_FRAMES:
            action = actions[rng.integers(len(actions))]
            for _ in range(FRAMES_PER_AGENT_STEP):
                total += ale.act(action)
                frames += 1
                if ale.game_over() or frames >= MAX_GAME_FRAMES:
                    break
        returns.append(total)
        lengths.append(frames)
    return returns, lengths


def trace(ale, frames: int, seed: int) -> list:
    """RAM digests every 1,000 frames and game returns, over a fixed random action sequence."""
    rng = np.random.default_rng(seed)
    actions = list(ale.getMinimalActionSet())
    out, total = [], 0.0
    for frame in range(frames):
        total += ale.act(actions[rng.integers(len(actions))])
        if ale.game_over():
            out.append(total)
            total = 0.0
            ale.reset_game()
        if frame % 1000 == 0:
            out.append(hashlib.md5(np.asarray(ale.getRAM()).tobytes()).hexdigest())
    return out


def same_game(emulator: str, rom: Path, other: Path, seed: int) -> dict:
    traces = []
    for path in (rom, other):
        ale = make_ale(emulator, path, seed, sticky_probability=0.0)
        traces.append(trace(ale, 20_000, seed))
    return {"emulator": emulator, "roms": [str(rom), str(other)],
            "identical": traces[0] == traces[1], "points": len(traces[0]),
            "differing_points": sum(a != b for a, b in zip(*traces)),
            # equal across emulators too when they emulate the game alike
            "trace_md5": [hashlib.md5(json.dumps(t).encode()).hexdigest() for t in traces]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulator", choices=("ale_py", "atari_py"), required=True)
    parser.add_argument("--game", required=True, help="ROM name: ms_pacman, road_runner")
    parser.add_argument("--rom", default=None,
                        help="a ROM file, or ale_py / atari_py for that package's (default: the "
                             "emulator's own)")
    parser.add_argument("--games", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--same-game-as", type=Path, default=None,
                        help="another ROM file: compare RAM traces without sticky actions")
    args = parser.parse_args(argv)
    rom = rom_path(args.emulator, args.rom or args.emulator, args.game)
    if args.same_game_as is not None:
        print(json.dumps(same_game(args.emulator, rom, args.same_game_as, args.seed)))
        return
    ale = make_ale(args.emulator, rom, args.seed)
    returns, lengths = play(ale, args.games, args.seed)
    std = float(np.std(returns, ddof=1))
    print(json.dumps({
        "emulator": args.emulator, "game": args.game, "rom": str(rom),
        "rom_md5": hashlib.md5(rom.read_bytes()).hexdigest(), "seed": args.seed,
        "games": len(returns), "mean": float(np.mean(returns)), "std": std,
        "se": std / math.sqrt(len(returns)), "mean_game_frames": float(np.mean(lengths)),
    }))


if __name__ == "__main__":
    main()
