"""The teacher every domain shares: plan with an LLM (or its recorded table), act, annotate.

``PlanTeacher`` (``core.py``) turns a planner's plans into action distributions; each
domain subclasses it with its describer, grammar and skills
(``llm4teach.domains.<family>.teacher``). ``TeacherTransform`` puts the teacher's action
distribution (``teacher_probs``) and whether it had an opinion (``teacher_mask``) next to
every observation of a TorchRL env.
"""

from importlib import import_module
from typing import Any

# imported on first use, so that a domain's grammar (``teacher.grammar``) does not pull
# in the planners, which read the domains' files
_LAZY = {"TeacherConfig": "config", "PlanTeacher": "core", "Grammar": "grammar",
         "TeacherStats": "planners", "make_planner": "planners", "TeacherTransform": "transform"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"llm4teach.teacher.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
