"""The LLM teacher: describe the observation, plan with an LLM (or its recorded table), act.

``PlanTeacher`` is what every domain's teacher shares; ``Teacher`` is MiniGrid's,
``habitat.SkillTeacher`` the Habitat domain's. ``TeacherTransform`` puts the teacher's
action distribution (``teacher_probs``) and whether it had an opinion (``teacher_mask``)
next to every observation of a TorchRL env.
"""

from llm4teach.teacher.config import TeacherConfig
from llm4teach.teacher.core import PlanTeacher
from llm4teach.teacher.describe import Describer, Scene
from llm4teach.teacher.grammar import MINIGRID, Grammar
from llm4teach.teacher.planners import TeacherStats, make_planner
from llm4teach.teacher.teacher import Teacher
from llm4teach.teacher.transform import TeacherTransform

__all__ = [
    "MINIGRID",
    "Describer",
    "Grammar",
    "PlanTeacher",
    "Scene",
    "Teacher",
    "TeacherConfig",
    "TeacherStats",
    "TeacherTransform",
    "make_planner",
]
