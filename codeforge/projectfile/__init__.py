"""codeforge.yaml: the model and its parser (`model`), and one plan module per section."""

from codeforge.projectfile.model import (
    PROJECT_FILE_NAMES,
    EnvEntry,
    EnvPlan,
    ProjectFile,
    ProjectFileError,
    find_project_file,
    load_project_file,
    parse_project_file,
    plan_env,
    project_file_problems,
)

__all__ = [
    "PROJECT_FILE_NAMES",
    "EnvEntry",
    "EnvPlan",
    "ProjectFile",
    "ProjectFileError",
    "find_project_file",
    "load_project_file",
    "parse_project_file",
    "plan_env",
    "project_file_problems",
]
