"""The names of what a fit logs, in one place, for the code that logs them and the code that
reads them back (the summary, ``compare``, the benchmarks, the tests).

Plain strings: importable without torch or Lightning. The held-out loop
(``llm4teach.domains.held_out``) returns the unprefixed names; a fit logs them under
``eval/``.
"""

EVAL = "eval/"
TRAIN = "train/"
TEACHER = "teacher/"  # the teacher's counters (``TeacherStats``), one metric each

# held-out success, as the held-out loop returns it
GREEDY_SUCCESS = "student_greedy_success"
SAMPLED_SUCCESS = "student_sampled_success"
TEACHER_SUCCESS = "teacher_success"

# as a fit logs it: the greedy student's is what the best checkpoint is chosen by
EVAL_GREEDY = EVAL + GREEDY_SUCCESS
EVAL_SAMPLED = EVAL + SAMPLED_SUCCESS
EVAL_TEACHER = EVAL + TEACHER_SUCCESS
EVAL_STUDENT = {"greedy": EVAL_GREEDY, "sampled": EVAL_SAMPLED}  # by how the student acts

TRAIN_LAMBDA = TRAIN + "lambda"
TRAIN_LR = TRAIN + "lr"
TRAIN_UPDATES = TRAIN + "updates"
TRAIN_FRAMES_PER_S = TRAIN + "frames_per_s"
TRAIN_EPISODE_SUCCESS = TRAIN + "episode_success"
TRAIN_KL_TEACHER = TRAIN + "kl_teacher"

# this process's clock at each evaluation (``llm4teach.clock``)
TIME_CPU = "time/cpu_s"
TIME_WALL = "time/wall_s"
TIME_EVAL_CPU = "time/eval_cpu_s"
# this process's clock when its first update starts collecting (``StartupClock``)
TIME_STARTUP_CPU = "time/startup_cpu_s"
TIME_STARTUP_WALL = "time/startup_wall_s"
