"""Every recommender: beats popularity on a planted sequential pattern, serves, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recloop.agents.reco import MODELS, evaluate, load_recommender, make_recommender
from recloop.agents.reco.topk_reinforce import discounted_returns, topk_correction_weight

torch.set_num_threads(1)

FAST = {
    "pop": {},
    "itemknn": {"neighbours": 10},
    "bpr": {"dim": 16, "epochs": 40, "lr": 0.02, "batch_size": 256, "window": 10},
    "gru4rec": {"dim": 16, "epochs": 30, "lr": 0.01, "max_len": 10, "dropout": 0.0, "batch_size": 16, "patience": 30},
    "sasrec": {"dim": 16, "epochs": 30, "lr": 0.01, "max_len": 10, "dropout": 0.0, "batch_size": 16, "patience": 30},
    "sqn": {"dim": 16, "epochs": 30, "lr": 0.01, "max_len": 10, "dropout": 0.0, "batch_size": 16, "patience": 30},
    "topk-reinforce": {"dim": 16, "epochs": 30, "lr": 0.01, "max_len": 10, "dropout": 0.0, "batch_size": 16, "patience": 30},
    "ddpg": {"dim": 16, "frame": 3, "hidden": 64, "epochs": 30, "batch_size": 32, "patience": 30},
    "td3": {"dim": 16, "frame": 3, "hidden": 64, "epochs": 30, "batch_size": 32, "patience": 30},
}


@pytest.fixture(scope="module")
def fitted(planted):
    return {name: make_recommender(name, **FAST[name]).fit(planted) for name in MODELS}


def test_every_model_has_fast_settings():
    assert set(FAST) == set(MODELS)


@pytest.mark.parametrize("name", [m for m in MODELS if m != "pop"])
def test_beats_popularity_on_planted_pattern(fitted, planted, name):
    # Seen items filtered for both: non-sequential models (kNN, MF) cannot tell the items a
    # user just watched from the next one, and nobody in the planted world re-watches.
    pop = evaluate(fitted["pop"], planted, "test", k=5, exclude_history=True)["ndcg@5"]
    got = evaluate(fitted[name], planted, "test", k=5, exclude_history=True)["ndcg@5"]
    assert got > pop + 0.2, f"{name}: NDCG@5 {got:.3f} vs popularity {pop:.3f}"


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip(fitted, tmp_path, name):
    model = fitted[name]
    path = model.save(tmp_path / name)
    again = load_recommender(path)
    hist = [np.array([1, 2, 3]), np.array([7])]
    np.testing.assert_allclose(again.score(hist), model.score(hist), rtol=1e-5, atol=1e-6)
    assert again.get_params() == model.get_params()


def test_recommend_serving_face(fitted, planted):
    model = fitted["gru4rec"]
    rec = model.recommend(np.array([3, 4, 5]), k=3)
    assert len(rec.items) == 3 and rec.items[0] == 6  # the planted next item (group 0..9)
    assert np.all(np.diff(rec.scores) <= 0) and 0 < rec.propensity <= 1
    # greedy: the logged propensity says the choice was certain (it was), not a softmax
    assert rec.propensity == 1.0 and rec.propensities[1:].tolist() == [0.0, 0.0]
    sub = model.recommend(np.array([3, 4, 5]), candidates=[0, 1, 2], k=2, explore=True, seed=0)
    assert set(sub.items) <= {0, 1, 2}
    # exploring: the first item is drawn from the softmax the propensities report
    draws = [model.recommend(np.array([3, 4, 5]), candidates=[0, 1, 2], k=3, explore=True, temperature=5.0,
                             seed=s) for s in range(400)]
    p = {r.items[i]: r.propensities[i] for r in draws[:1] for i in range(3)}
    assert sum(p.values()) == pytest.approx(1.0)
    freq = {i: np.mean([r.items[0] == i for r in draws]) for i in (0, 1, 2)}
    assert all(abs(freq[i] - p[i]) < 0.08 for i in (0, 1, 2)), (freq, p)
    with pytest.raises(ValueError, match="k=4 must be between 1"):
        model.recommend(np.array([3]), candidates=[0, 1, 2], k=4)
    with pytest.raises(KeyError, match="outside the catalogue"):
        model.recommend(np.array([99]))
    with pytest.raises(KeyError, match="outside the catalogue"):
        model.recommend(np.array([3]), candidates=[31])
    with pytest.raises(ValueError, match="exceeds the catalogue"):
        evaluate(model, planted, "test", k=31)


def test_unfitted_and_unknown_names():
    with pytest.raises(RuntimeError, match="not fitted"):
        make_recommender("pop").score([[1]])
    with pytest.raises(KeyError, match="unknown recommender 'gru5rec'"):
        make_recommender("gru5rec")
    with pytest.raises(ValueError, match="rank_with"):
        make_recommender("sqn", rank_with="v")
    with pytest.raises(TypeError, match=r"recommender 'sqn' has no hyper-parameter 'negative' \(did you mean 'negatives'\?\); it takes: .*negatives"):
        make_recommender("sqn", negative=50)


def test_topk_weight_equals_formula():
    pi = torch.tensor([0.001, 0.05, 0.3, 0.9])
    beta = torch.tensor([0.01, 0.01, 0.2, 0.01])
    k, cap = 10, 3.0
    got = topk_correction_weight(pi, beta, k, cap)
    for j in range(4):
        ratio = min(float(pi[j] / beta[j]), cap)
        expected = ratio * k * (1 - float(pi[j])) ** (k - 1)
        assert got[j].item() == pytest.approx(expected, rel=1e-5)
    # K = 1 is plain capped importance sampling
    assert topk_correction_weight(pi, beta, 1, cap).tolist() == pytest.approx(torch.clamp(pi / beta, max=cap).tolist())
    # lambda_K -> K when pi -> 0 (the item is surely not yet in the top K) and -> 0 when pi -> 1
    assert topk_correction_weight(torch.tensor([1e-9]), torch.tensor([1e-9]), 5, 10.0).item() == pytest.approx(5.0)
    assert topk_correction_weight(torch.tensor([1.0]), torch.tensor([1.0]), 5, 10.0).item() == pytest.approx(0.0)
    with pytest.raises(ValueError):
        topk_correction_weight(pi, beta, 0, cap)


def test_discounted_returns_restart_at_invalid_steps():
    r = torch.tensor([[1.0, 1.0, 1.0, 5.0]])
    valid = torch.tensor([[True, True, False, True]])
    g = discounted_returns(r, valid, 0.5)
    assert g.tolist() == [[1.5, 1.0, 0.0, 5.0]]


def test_registry_builds_recommenders_and_lists_them_without_torch():
    import subprocess
    import sys

    from recloop.core.registry import make, names

    assert set(MODELS) <= set(names("recommender"))
    model = make("recommender", "sqn", head="sac", dim=8)
    assert type(model).__name__ == "SQN" and model.head == "sac"
    with pytest.raises(KeyError, match="unknown recommender 'gru5rec'"):
        make("recommender", "gru5rec")
    # Listing must stay cheap: naming the recommenders imports no torch.
    code = ("import sys; from recloop.core.registry import names, target, summary; "
            "assert 'sasrec' in names('recommender') and target('recommender', 'sasrec').endswith(':SASRec'); "
            "assert summary('recommender', 'sasrec').startswith('SASRec'); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def _naive_sqn_loss(model, tokens, ratings, last, negatives_seed=0):
    """SQN's loss written the slow, obvious way: full Q heads everywhere, then gather."""
    import torch.nn.functional as F

    from recloop.agents.reco.nets import item_logits
    from recloop.agents.reco.neural import next_item_pairs
    from recloop.agents.reco.neural import rating_reward

    states_all = model.net_.encoder(tokens)
    states, actions, valid = next_item_pairs(states_all, tokens)
    s, a, s2 = states[valid], actions[valid], states_all[:, 1:][valid]
    r = rating_reward(ratings[:, 1:], like_threshold=model.like_threshold)[valid]
    d = last[:, 1:].float()[valid]
    ce = F.cross_entropy(item_logits(model.net_.encoder, s), a, reduction="none")
    q = model.net_.q_head(s).gather(1, a[:, None]).squeeze(1)
    with torch.no_grad():
        picker = model.net_.q_head(s2) if model.next_action == "q" else item_logits(model.net_.encoder, s2)
        q_next = model.target_(s2).gather(1, picker.argmax(1, keepdim=True)).squeeze(1)
        target = r + model.gamma * (1 - d) * q_next
    td = F.smooth_l1_loss(q, target)
    if model.negatives:  # SNQN: sampled items, reward 0, the user stays at s
        torch.manual_seed(negatives_seed)
        neg = torch.randint(0, model.n_items_, (model.negatives,))
        with torch.no_grad():
            picker = model.net_.q_head(s) if model.next_action == "q" else item_logits(model.net_.encoder, s)
            stay = model.gamma * model.target_(s).gather(1, picker.argmax(1, keepdim=True))
        q_neg = model.net_.q_head(s)[:, neg]
        td = td + F.smooth_l1_loss(q_neg, stay.expand_as(q_neg))
    if model.head == "sac" and model.steps_ >= model.sac_warmup:
        w = q.detach().clamp_min(0.0)
        ce = ce * w / w.mean()
    if model.head == "sa2c" and model.steps_ >= model.sac_warmup:  # advantage over logged + sampled
        q_neg = model.net_.q_head(s).detach()[:, neg]
        w = (q.detach() - (q.detach() + q_neg.sum(1)) / (1 + model.negatives)).clamp_min(0.0)
        ce = ce * w / w.mean()
    return ce.mean() + model.q_weight * td


@pytest.mark.parametrize("head,next_action,negatives", [("sqn", "q", 0), ("sac", "q", 0), ("sqn", "ce", 0),
                                                        ("sac", "ce", 0), ("sqn", "q", 7), ("sac", "ce", 7),
                                                        ("sa2c", "ce", 7), ("sa2c", "q", 3)])
def test_sqn_fast_loss_equals_the_naive_one(planted, head, next_action, negatives):
    from recloop.agents.reco.training import make_windows

    model = make_recommender("sqn", head=head, next_action=next_action, negatives=negatives, dim=8, dropout=0.0,
                             max_len=6, epochs=1, sac_warmup=0, seed=1)
    model.fit(planted)
    with torch.no_grad():  # a target head different from the online one, as after training
        for p in model.target_.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    w = make_windows(planted, 6, np.random.default_rng(0))
    # also with no terminal flags, so the window's last state (whose CE logits the fast path
    # computes separately for next_action="ce") enters the target
    for last in (w.last[:32], torch.zeros_like(w.last[:32])):
        batch = (w.tokens[:32], w.ratings[:32], last)
        torch.manual_seed(5)  # the same negatives for both
        got = model._loss(*batch)
        want = _naive_sqn_loss(model, *batch, negatives_seed=5)
        assert got.item() == pytest.approx(want.item(), rel=1e-5)


def test_sac_beats_popularity_on_planted_pattern(fitted, planted):
    sac = make_recommender("sqn", head="sac", sac_warmup=20, **FAST["sqn"]).fit(planted)
    pop = evaluate(fitted["pop"], planted, "test", k=5, exclude_history=True)["ndcg@5"]
    got = evaluate(sac, planted, "test", k=5, exclude_history=True)["ndcg@5"]
    assert got > pop + 0.2, f"SAC: NDCG@5 {got:.3f} vs popularity {pop:.3f}"
    with pytest.raises(ValueError, match="head must be"):
        make_recommender("sqn", head="ac")
    with pytest.raises(ValueError, match="next_action must be"):
        make_recommender("sqn", next_action="max")
    with pytest.raises(ValueError, match="set negatives >= 1"):
        make_recommender("sqn", head="sa2c")


def test_linear_lr_schedule_decays_to_zero_over_the_epochs(planted):
    lr, epochs = 0.01, 4
    model = make_recommender("gru4rec", **(FAST["gru4rec"] | {"epochs": epochs, "lr_schedule": "linear"})).fit(planted)
    # the step size of each epoch's last batch: between the schedule's values at the epoch's ends
    for e, entry in enumerate(model.log_):
        assert lr * (1 - (e + 1) / epochs) <= entry["lr"] <= lr * (1 - e / epochs)
    assert model.log_[-1]["lr"] < lr / epochs
    assert make_recommender("gru4rec", **FAST["gru4rec"]).fit(planted).log_[-1]["lr"] == lr  # constant by default
    for name in ("gru4rec", "sasrec", "sqn"):  # at construction, before any data is read
        with pytest.raises(ValueError, match="lr_schedule must be 'constant' or 'linear', got 'cosine'"):
            make_recommender(name, lr_schedule="cosine")
    with pytest.raises(ValueError, match="negatives must be"):
        make_recommender("sqn", negatives=-1)


def test_gru4rec_rating_weight_is_the_reward_weighted_cross_entropy(planted):
    import torch.nn.functional as F

    from recloop.agents.reco.training import make_windows

    model = make_recommender("gru4rec", rating_weight=True, dim=8, dropout=0.0, max_len=6, epochs=1, seed=1)
    model.fit(planted)
    w = make_windows(planted, 6, np.random.default_rng(0))
    tokens, last = w.tokens[:32], w.last[:32]
    valid = (tokens[:, :-1] > 0) & (tokens[:, 1:] > 0)
    with torch.no_grad():
        logits = model.net_.encoder(tokens)[:, :-1][valid] @ model.net_.encoder.item_emb.weight[1:].T
        ce = F.cross_entropy(logits, tokens[:, 1:][valid] - 1, reduction="none")
        ratings = torch.full(tokens.shape, 3.0)  # nothing liked: every weight equal -> the plain loss
        assert model._loss(tokens, ratings, last).item() == pytest.approx(ce.mean().item(), rel=1e-6)
        ratings[:, ::2] = 5.0  # liked films weigh 1.0 against 0.2
        weight = torch.where(ratings[:, 1:][valid] >= 4.0, 1.0, 0.2)
        want = (ce * weight).sum() / weight.sum()
        assert model._loss(tokens, ratings, last).item() == pytest.approx(want.item(), rel=1e-6)


class _FixedScores:
    """Scores every history the same: item 0 best, then 1, 2, ..."""

    def __init__(self, n_items):
        self.n_items = n_items

    def score(self, histories):
        return np.tile(-np.arange(self.n_items, dtype=float), (len(histories), 1))


def test_seen_share_counts_top_k_slots_from_the_users_history():
    from recloop.data.splits import sequences_split

    # user 0 rated 0..4 (test target 4), user 1 rated 5..9: the top 3 is always [0, 1, 2]
    split = sequences_split([0] * 5 + [1] * 5, list(range(10)))
    ranked = evaluate(_FixedScores(10), split, "test", k=3)
    assert ranked["seen@3"] == pytest.approx(0.5)  # all 3 slots seen for user 0, none for user 1
    assert evaluate(_FixedScores(10), split, "test", k=3, exclude_history=True)["seen@3"] == 0.0
