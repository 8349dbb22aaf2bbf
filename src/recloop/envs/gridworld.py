"""Mazes from ASCII maps, with their full transition model exposed for planning.

Map characters: ``#`` wall, ``.`` (or space) floor, ``S`` start (exactly one),
``G`` goal (at least one, terminal), ``T`` trap. Lines starting with ``;`` are
comments; ``; key = value`` lines set defaults for the keyword arguments
(``slip``, ``step_reward``, ``goal_reward``, ``trap_reward``, ``trap_terminates``),
which explicit arguments override. Named maps ship in ``recloop/envs/maps/``.

Actions: 0 up, 1 right, 2 down, 3 left. With probability ``slip`` the walker
moves in one of the two perpendicular directions instead (half each), as in
Russell & Norvig's 4x3 world. Bumping into a wall or the edge means staying.
Entering a goal ends the episode with ``goal_reward``; entering a trap gives
``trap_reward`` and ends the episode, or — with ``trap_terminates = false``, as
in Sutton & Barto's cliff walk — sends the walker back to the start.

Examples
--------
>>> from recloop.envs.gridworld import Maze
>>> env = Maze("S..G")
>>> obs, info = env.reset(seed=0)
>>> env.step(1)[:3]        # one step right: state 1, no reward, not done
(1, 0.0, False)
>>> env.P.shape, env.R.shape
((4, 4, 4), (4, 4))
"""

from __future__ import annotations

import os
import re
from collections import deque
from importlib import resources
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recloop.core.registry import register
from recloop.planning import value_iteration

MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left
ARROWS = "↑→↓←"
_CELLS = set("#. SGT")
_OPTIONS = {"slip": float, "step_reward": float, "goal_reward": float, "trap_reward": float,
            "trap_terminates": lambda v: {"true": True, "false": False}[v.lower()]}
_DEFAULTS = {"slip": 0.0, "step_reward": 0.0, "goal_reward": 1.0, "trap_reward": -1.0, "trap_terminates": True}


def map_names() -> list[str]:
    """Names of the maps shipped with recloop."""
    folder = resources.files("recloop.envs") / "maps"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))


def read_map(spec: str | os.PathLike) -> str:
    """The text of a map given by name (``"cliff"``), by path, or as the ASCII map itself."""
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and spec.endswith(".txt") and "\n" not in spec):
        path = Path(spec)
        if not path.exists():
            raise FileNotFoundError(f"maze map file {path} does not exist")
        return path.read_text()
    if not isinstance(spec, str):
        raise TypeError(f"a maze map is a name, a path or an ASCII string, got {type(spec).__name__}")
    if re.fullmatch(r"[a-z0-9_-]+", spec) and "S" not in spec:
        known = map_names()
        if spec not in known:
            raise KeyError(f"unknown maze map {spec!r}; shipped maps: {', '.join(known)}")
        return (resources.files("recloop.envs") / "maps" / f"{spec}.txt").read_text()
    return spec


def parse_map(text: str) -> tuple[list[str], dict[str, Any]]:
    """Split a map into its grid rows and ``; key = value`` options, validating both."""
    rows, options = [], {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(";"):
            m = re.fullmatch(r"\s*;\s*(\w+)\s*=\s*(\S+)\s*", line)
            if m and m.group(1) in _OPTIONS:
                try:
                    options[m.group(1)] = _OPTIONS[m.group(1)](m.group(2))
                except (ValueError, KeyError):
                    raise ValueError(f"maze map line {lineno}: bad value {m.group(2)!r} for {m.group(1)}") from None
            continue
        if line.strip():
            rows.append(line.rstrip("\n"))
    if not rows:
        raise ValueError("maze map is empty")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        bad = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
        raise ValueError(f"maze map rows are ragged: row 0 has {len(rows[0])} cells, row {bad} has {len(rows[bad])}")
    for i, row in enumerate(rows):
        for j, ch in enumerate(row):
            if ch not in _CELLS:
                raise ValueError(f"maze map has unknown character {ch!r} at row {i}, column {j}; use one of '#.SGT'")
    starts = sum(r.count("S") for r in rows)
    if starts != 1:
        raise ValueError(f"maze map needs exactly one start 'S', found {starts}")
    if not any("G" in r for r in rows):
        raise ValueError("maze map has no goal 'G'")
    return rows, options


@register("env", "maze", "gridworld")
class Maze(gym.Env):
    """A grid maze with walls, goals, traps and optional slip; ``P`` and ``R`` are exact.

    Observations are state indices (``Discrete``): floor cells numbered row by row.
    ``P[s, a, s']`` is the transition probability and ``R[s, a]`` the expected
    reward; terminal states are absorbing with zero reward, so
    :func:`recloop.planning.value_iteration` solves the maze directly.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, map: str | os.PathLike = "classic", *, slip: float | None = None,
                 step_reward: float | None = None, goal_reward: float | None = None,
                 trap_reward: float | None = None, trap_terminates: bool | None = None,
                 max_steps: int | None = None, render_mode: str | None = None):
        rows, options = parse_map(read_map(map))
        given = {"slip": slip, "step_reward": step_reward, "goal_reward": goal_reward,
                 "trap_reward": trap_reward, "trap_terminates": trap_terminates}
        cfg = {k: given[k] if given[k] is not None else options.get(k, _DEFAULTS[k]) for k in _DEFAULTS}
        if not 0.0 <= cfg["slip"] < 1.0:
            raise ValueError(f"slip must be in [0, 1), got {cfg['slip']}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.map = map
        self.rows = rows
        self.slip = float(cfg["slip"])
        self.step_reward = float(cfg["step_reward"])
        self.goal_reward = float(cfg["goal_reward"])
        self.trap_reward = float(cfg["trap_reward"])
        self.trap_terminates = bool(cfg["trap_terminates"])
        self.render_mode = render_mode
        self.height, self.width = len(rows), len(rows[0])
        self.cells = [(i, j) for i in range(self.height) for j in range(self.width) if rows[i][j] != "#"]
        self._index = {cell: s for s, cell in enumerate(self.cells)}
        self.n_states, self.n_actions = len(self.cells), 4
        kinds = [rows[i][j] for i, j in self.cells]
        self.start_state = kinds.index("S")
        self.goal_states = np.array([s for s, k in enumerate(kinds) if k == "G"])
        self.trap_states = np.array([s for s, k in enumerate(kinds) if k == "T"], dtype=np.int64)
        self.terminal = np.array([k == "G" or (k == "T" and self.trap_terminates) for k in kinds])
        self._check_reachable()
        self.max_steps = int(max_steps) if max_steps is not None else 10 * self.n_states
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {max_steps}")
        self.P, self.R, self._R_next = self._model()
        self._cum = np.cumsum(self.P, axis=2)
        self.observation_space = spaces.Discrete(self.n_states)
        self.action_space = spaces.Discrete(4)
        self._s = self.start_state
        self._t = 0

    # ------------------------------------------------------------ model
    def _check_reachable(self) -> None:
        """Breadth-first search from S through floor cells (not through traps) to a goal."""
        seen, todo = {self.cells[self.start_state]}, deque([self.cells[self.start_state]])
        while todo:
            i, j = todo.popleft()
            if self.rows[i][j] == "G":
                return
            for di, dj in MOVES:
                nxt = (i + di, j + dj)
                if nxt in self._index and nxt not in seen and self.rows[nxt[0]][nxt[1]] != "T":
                    seen.add(nxt)
                    todo.append(nxt)
        raise ValueError("maze map: no goal 'G' is reachable from the start 'S' (walls and traps block every path)")

    def _move(self, s: int, direction: int) -> int:
        i, j = self.cells[s]
        nxt = (i + MOVES[direction][0], j + MOVES[direction][1])
        return self._index.get(nxt, s)  # walls and the edge are not in the index: stay

    def _model(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        S = self.n_states
        P = np.zeros((S, 4, S))
        R_next = np.zeros((S, 4, S))  # reward for landing in s' (after a trap reset: at the start)
        for s in range(S):
            if self.terminal[s]:
                P[s, :, s] = 1.0
                continue
            for a in range(4):
                outcomes = [(a, 1.0 - self.slip), ((a + 1) % 4, self.slip / 2), ((a + 3) % 4, self.slip / 2)]
                for direction, p in outcomes:
                    if p == 0.0:
                        continue
                    s2 = self._move(s, direction)
                    kind = self.rows[self.cells[s2][0]][self.cells[s2][1]]
                    r = {"G": self.goal_reward, "T": self.trap_reward}.get(kind, self.step_reward)
                    if kind == "T" and not self.trap_terminates:
                        s2 = self.start_state
                    P[s, a, s2] += p
                    R_next[s, a, s2] += p * r
        R = R_next.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            R_next = np.where(P > 0, R_next / np.where(P > 0, P, 1.0), 0.0)
        return P, R, R_next

    def solve(self, gamma: float = 0.99):
        """Optimal values and policy by value iteration (the truth learners are measured against)."""
        return value_iteration(self.P, self.R, gamma=gamma)

    # ------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._s, self._t = self.start_state, 0
        return self._s, {}

    def step(self, action: Any):
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(f"action must be 0 (up), 1 (right), 2 (down) or 3 (left), got {action!r}")
        s = self._s
        s2 = min(int(np.searchsorted(self._cum[s, a], self.np_random.random(), side="right")), self.n_states - 1)
        reward = float(self._R_next[s, a, s2])
        self._s, self._t = s2, self._t + 1
        terminated = bool(self.terminal[s2])
        truncated = not terminated and self._t >= self.max_steps
        return s2, reward, terminated, truncated, {}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        grid = [list(r) for r in self.rows]
        i, j = self.cells[self._s]
        grid[i][j] = "@"
        return "\n".join("".join(r) for r in grid)

    # ------------------------------------------------------------ display helpers
    def state_of(self, row: int, col: int) -> int:
        if (row, col) not in self._index:
            raise ValueError(f"cell ({row}, {col}) is a wall or outside the {self.height}x{self.width} maze")
        return self._index[(row, col)]

    def value_grid(self, values: np.ndarray) -> np.ndarray:
        """State values laid out on the grid (NaN on walls), for heat maps."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n_states,):
            raise ValueError(f"values must have shape ({self.n_states},), got {values.shape}")
        grid = np.full((self.height, self.width), np.nan)
        for s, (i, j) in enumerate(self.cells):
            grid[i, j] = values[s]
        return grid

    def arrow_grid(self, policy: np.ndarray) -> list[str]:
        """The policy as arrows; walls ``#``, goals ``G`` and traps ``T`` stay as they are."""
        policy = np.asarray(policy)
        grid = [list(r) for r in self.rows]
        for s, (i, j) in enumerate(self.cells):
            if grid[i][j] not in "GT":
                grid[i][j] = ARROWS[int(policy[s])]
        return ["".join(r) for r in grid]
