import typer
from typer.testing import CliRunner

from recloop.apps.commands import deep as commands
from recloop.apps.demo import deep as demo


def app() -> typer.Typer:
    a = typer.Typer()

    @a.command("noop")  # a second command keeps Typer in group mode, as in the real CLI
    def noop() -> None:
        pass

    commands.register(a)
    return a


def test_train_writes_checkpoint_curve_and_scalars(tmp_path):
    cfg = tmp_path / "ppo.yaml"
    cfg.write_text("n_envs: 2\nn_steps: 16\nbatch_size: 32\nn_epochs: 2\n")
    res = CliRunner().invoke(app(), ["train", "ppo", "--env", "CartPole-v1", "--steps", "128", "--config", str(cfg),
                                     "--out", str(tmp_path / "run"), "--eval-episodes", "2", "--tensorboard"])
    assert res.exit_code == 0, res.output
    assert "checkpoint:" in res.output and "mean return" in res.output
    for name in ("agent.npz", "learning_curve.png", "scalars.csv"):
        assert (tmp_path / "run" / name).exists()
    assert len(list((tmp_path / "run" / "scalars").glob("events.out.tfevents.*"))) == 1


def test_train_explains_bad_agent_and_space_mismatch(tmp_path):
    res = CliRunner().invoke(app(), ["train", "dqnn", "--steps", "10"])
    assert res.exit_code != 0 and "Did you mean dqn" in res.output
    res = CliRunner().invoke(app(), ["train", "dqn", "--env", "Pendulum-v1", "--steps", "10", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "SAC, TD3 or DDPG" in res.output


def test_demo_stage_small(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "STEPS", 512)
    sections = demo.demo_stage(tmp_path, seed=0)
    assert len(sections) == 1 and sections[0].images[0].exists()
    assert "PPO" in sections[0].title
    baseline = sections[0].rows[0]
    assert baseline["policy"] == "uniformly random" and 10 < baseline["eval mean return"] < 40  # CartPole's ~22


def test_random_policy_return_is_seeded():
    assert demo.random_policy_return("CartPole-v1", 3, 7) == demo.random_policy_return("CartPole-v1", 3, 7)
