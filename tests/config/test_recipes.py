"""Every training recipe validates against the recipe model (model family, mode, image budget);
mistakes are named."""

from __future__ import annotations

import pytest

from config.recipes import TINY, TRAINING_DIR, TrainingRecipe, load_recipe

QWEN = ("qwen2_vl", "qwen2_5_vl")


@pytest.mark.parametrize("path", sorted(TRAINING_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_recipe_validates(path):
    recipe = load_recipe(path.stem)
    assert isinstance(recipe, TrainingRecipe) and recipe.name == path.stem and recipe.lora.target_modules
    assert recipe.family in ("idefics3", "smolvlm", *QWEN) and recipe.mode in ("full", "lora", "freeze_vision")
    if recipe.model == TINY:
        assert recipe.mode == "full" and recipe.tiny is not None  # random weights train in full
    else:
        assert "/" in recipe.model and (recipe.mode == "full") == recipe.name.endswith("_full")
    budget = recipe.image
    if recipe.family in QWEN:  # tiled views: a 28 px token grid between the two pixel counts
        assert budget.min_pixels and budget.max_pixels and budget.min_pixels <= budget.max_pixels
        assert budget.min_pixels % (28 * 28) == 0 and budget.max_pixels % (28 * 28) == 0
    else:  # one block, no tiling, for a 2x2 tile of small views
        assert budget.longest_edge and budget.splitting is False


def test_the_bases_peers_use_have_lora_and_full_recipes():
    models = {(r.model, r.mode) for r in map(load_recipe, (p.stem for p in TRAINING_DIR.glob("*.yaml")))}
    for hub in ("Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct", "HuggingFaceTB/SmolVLM2-2.2B-Instruct",
                "HuggingFaceTB/SmolVLM2-500M-Video-Instruct", "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"):
        assert {(hub, "lora"), (hub, "full")} <= models, hub


def test_the_seed_test_run_defaults():
    r = load_recipe("tiny_cpu")
    assert (r.model, r.test_run.train_samples, r.test_run.val_samples, r.test_run.epochs) == ("tiny", 100, 20, 8)
    assert load_recipe("smolvlm_2b").lora.vision


def test_bad_recipes_are_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmodel: x\nfamily: idefics3\nmode: lora\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"bad.yaml.*learning_rat"):
        load_recipe(bad)
    with pytest.raises(ValueError, match="unknown training recipe 'nope'.*tiny_cpu"):
        load_recipe("nope")
    with pytest.raises(ValueError, match=r"mode 'lora' for the model built from config.*use mode 'full'"):
        load_recipe("tiny_cpu", {"mode": "lora"})
    with pytest.raises(ValueError, match="sizes images by min_pixels/max_pixels, not longest_edge"):
        load_recipe("qwen2_vl_2b_lora", {"image": {"longest_edge": 512}})
    with pytest.raises(ValueError, match="min_pixels 900000 is above max_pixels"):
        load_recipe("qwen2_vl_2b_lora", {"image": {"min_pixels": 900000}})
    with pytest.raises(ValueError, match="family"):
        load_recipe("qwen2_vl_2b_lora", {"family": "llava"})
