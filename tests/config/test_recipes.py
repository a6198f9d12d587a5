"""Every training recipe validates against the recipe model; mistakes are named."""

from __future__ import annotations

import pytest

from config.recipes import TRAINING_DIR, TrainingRecipe, load_recipe


@pytest.mark.parametrize("path", sorted(TRAINING_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_recipe_validates(path):
    recipe = load_recipe(path.stem)
    assert isinstance(recipe, TrainingRecipe) and recipe.name == path.stem and recipe.lora.target_modules


def test_the_seed_test_run_defaults():
    r = load_recipe("tiny_cpu")
    assert (r.model, r.test_run.train_samples, r.test_run.val_samples, r.test_run.epochs) == ("tiny", 100, 20, 5)
    assert load_recipe("smolvlm_2b").lora.vision


def test_bad_recipes_are_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmodel: x\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"bad.yaml.*learning_rat"):
        load_recipe(bad)
    with pytest.raises(ValueError, match="unknown training recipe 'nope'.*tiny_cpu"):
        load_recipe("nope")
