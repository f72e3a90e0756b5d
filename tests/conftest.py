"""Shared fixtures: run a test inside its own temporary folder; the tiny LLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def in_tmp(tmp_path: Path):
    """Run in ``tmp_path`` so nothing lands in the repository."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(cwd)


@pytest.fixture(scope="session")
def tiny_llm(tmp_path_factory) -> Path:
    """A tiny random Llama saved as a Hugging Face folder (built once per session)."""
    from llm4teach.domains.minigrid.tiny_llm import build_tiny_llm

    return build_tiny_llm(tmp_path_factory.mktemp("tiny_llm"))
