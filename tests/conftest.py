"""Shared fixtures: run a test inside its own temporary folder."""

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
