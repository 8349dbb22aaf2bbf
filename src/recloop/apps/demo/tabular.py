"""The tabular stage of ``recloop demo``: maze, Q-trader, session recommender (~10-30 s on 2 cores)."""

from __future__ import annotations

from pathlib import Path

from recloop.experiment.section import Section


def demo_stage(out_dir: Path, seed: int) -> list[Section]:
    from recloop.apps.studies import maze_study, plot_equity, plot_maze, session_study, trade_study

    out_dir = Path(out_dir)
    maze = maze_study("labyrinth", seed=seed, steps=30_000)
    maze_png = plot_maze(maze, out_dir / "tabular-maze.png")
    maze_section = Section(
        title="Tabular RL: a slippery labyrinth",
        text=(f"Value iteration solves the {maze.env.height}x{maze.env.width} labyrinth (slip {maze.env.slip}) "
              f"exactly in {maze.planned.iterations} sweeps (Bellman residual {maze.planned.bellman_residual:.1e}). "
              f"Q-learning, from {maze.curve.steps} steps of experience and no model, picks an optimal action in "
              f"{100 * maze.optimal_action_share:.0f}% of the states."),
        rows=[{"method": "value iteration", "value of its policy at start (exact)":
               round(float(maze.planned.values[maze.env.start_state]), 4),
               "its own estimate": round(float(maze.planned.values[maze.env.start_state]), 4),
               "optimal actions": "100%", "experience (steps)": 0},
              {"method": "Q-learning", "value of its policy at start (exact)": round(maze.policy_value, 4),
               "its own estimate": round(float(maze.learned_values[maze.env.start_state]), 4),
               "optimal actions": f"{100 * maze.optimal_action_share:.0f}%", "experience (steps)": maze.curve.steps}],
        images=[maze_png],
    )
    trade = trade_study(seed=seed)
    trade_png = plot_equity(trade, out_dir / "tabular-trader.png")
    rows = []
    for name, bt in (("Q-trader (out of sample)", trade.trader), ("buy and hold (out of sample)", trade.hold),
                     ("Q-trader (in sample)", trade.trader_in_sample)):
        r = bt.report
        rows.append({"strategy": name, "Sharpe": round(r.sharpe, 2), "total return": f"{100 * r.total_return:+.1f}%",
                     "max drawdown": f"{100 * r.max_drawdown:.1f}%", "trades": r.trades})
    verdict = "beats" if trade.trader.report.sharpe > trade.hold.report.sharpe else "does not beat"
    trade_section = Section(
        title="Tabular RL: a Q-trader",
        text=(f"Q-learning over discretised momentum, Bollinger %B and RSI (past prices only) on a seeded "
              f"regime-switching series: trained on the first {trade.split} days, tested on the last "
              f"{len(trade.trader.returns)}. Out of sample it {verdict} buy-and-hold on Sharpe ratio; "
              f"compare with its in-sample figures to see how much of what it learned was noise."),
        rows=rows,
        images=[trade_png],
    )
    session = session_study(seed=seed)
    session_section = Section(
        title="Tabular RL: state-aware session recommendations",
        text=(f"Users of {session.env.n_segments} segments, {session.env.n_categories} item categories, clicks "
              f"with fatigue and follow-up effects. The best global bandit (one category for everyone: "
              f"category {session.bandit_action}) earns {session.bandit_value:.2f} clicks per session; tabular "
              f"Q-learning on (segment, last click) earns {session.learned_value:.2f} "
              f"({session.learned_value / session.bandit_value:.1f}x), against an optimum of "
              f"{session.optimal_value:.2f}. Exact values come from the simulator's model; the simulated "
              f"column is the mean over 2000 sessions."),
        rows=[{"policy": "best global bandit", "clicks/session (exact)": round(session.bandit_value, 3),
               "clicks/session (simulated)": round(session.simulated["best bandit"], 3)},
              {"policy": "Q-learning", "clicks/session (exact)": round(session.learned_value, 3),
               "clicks/session (simulated)": round(session.simulated["q-learning"], 3)},
              {"policy": "optimal (value iteration)", "clicks/session (exact)": round(session.optimal_value, 3),
               "clicks/session (simulated)": "-"}],
    )
    return [maze_section, trade_section, session_section]
