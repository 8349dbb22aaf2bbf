"""Choice models: probabilities are distributions, match closed forms and sampled frequencies."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recloop.envs.slate.choice import Cascade, MultinomialLogit, MultinomialProportional, choice_model, sample_choices

MODELS = [MultinomialLogit(no_click_mass=1.0), MultinomialLogit(), MultinomialProportional(),
          Cascade(attention_prob=0.65, score_scaling=0.05), Cascade(kind="proportional", min_normalizer=-1.0,
                                                                     score_scaling=0.5, attention_prob=0.9)]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 4)), elements=st.floats(-1, 1)),
       st.sampled_from(range(len(MODELS))))
def test_probabilities_sum_to_one_including_no_click(aff, m):
    p = MODELS[m].probabilities(aff)
    assert p.shape == (aff.shape[0], aff.shape[1] + 1)
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)


def test_closed_forms():
    a = np.array([[0.5, -0.2]])
    # proportional: weights a + 1 and no-click 1 + 1
    np.testing.assert_allclose(MultinomialProportional().probabilities(a), [[1.5 / 4.3, 0.8 / 4.3, 2 / 4.3]])
    e = np.exp([0.5, -0.2, 1.0])
    np.testing.assert_allclose(MultinomialLogit(no_click_mass=1.0).probabilities(a), [e / e.sum()])
    np.testing.assert_allclose(MultinomialLogit().probabilities(a)[0, -1], 0.0)
    c = Cascade(attention_prob=0.65, score_scaling=0.05)
    p1, p2 = 0.65 * 0.05 * np.exp(0.5), 0.65 * 0.05 * np.exp(-0.2)
    np.testing.assert_allclose(c.probabilities(a), [[p1, (1 - p1) * p2, (1 - p1) * (1 - p2)]])
    # cascade depends on order, the others do not
    assert not np.allclose(c.probabilities(a[:, ::-1])[0, 0], p1)
    assert MultinomialProportional().item_utility(np.array(0.5)) == pytest.approx(1.5)


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_sampled_frequencies_match(model):
    rng = np.random.default_rng(0)
    aff = np.array([0.9, -0.3, 0.2])
    p = model.probabilities(aff[None])[0]
    n = 200_000
    draws = sample_choices(np.broadcast_to(p, (n, len(p))), rng.random(n))
    freq = np.bincount(draws, minlength=len(p)) / n
    np.testing.assert_allclose(freq, p, atol=4 * np.sqrt(0.25 / n))


def test_bad_parameters_and_scores_raise_clearly():
    with pytest.raises(ValueError, match="min_normalizer"):
        MultinomialProportional(min_normalizer=0.5)
    with pytest.raises(ValueError, match="below min_normalizer"):
        MultinomialProportional().probabilities(np.array([[-2.0, 0.0]]))
    with pytest.raises(ValueError, match="attention_prob"):
        Cascade(attention_prob=1.5)
    with pytest.raises(ValueError, match="click probability"):
        Cascade(score_scaling=1.0).probabilities(np.array([[1.0]]))
    with pytest.raises(ValueError, match="kind"):
        Cascade(kind="linear")
    with pytest.raises(ValueError, match="unknown choice model"):
        choice_model("softmax")
    assert isinstance(choice_model({"name": "multinomial-logit", "no_click_mass": 0.0}), MultinomialLogit)
