"""The one problem type every stage returns: lint, render, validate, sign, verify, commit."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Finding(NamedTuple):
    """A problem at a place: a rule id, how bad it is, where it is, what is wrong and how to fix it.

    ``line`` and ``column`` are 1-based; 0 means the place is the whole file.
    ``resource`` names a rendered object (``Kind namespace/name``) and ``path`` the JSON path inside
    the spec or the object, when the problem has one.
    """

    rule: str
    severity: Severity
    file: str
    line: int
    column: int
    message: str
    hint: str = ""
    path: str = ""
    resource: str = ""

    @property
    def location(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.rule, self.message)


def error(rule: str, file: str, line: int, column: int, message: str, hint: str = "", path: str = "") -> Finding:
    return Finding(rule, Severity.ERROR, file, line, column, message, hint, path)


def warning(rule: str, file: str, line: int, column: int, message: str, hint: str = "", path: str = "") -> Finding:
    return Finding(rule, Severity.WARNING, file, line, column, message, hint, path)


def exit_code(findings: list[Finding], strict: bool = False) -> int:
    """0 clean, 1 any error, 2 warnings only under --strict."""
    if any(f.severity is Severity.ERROR for f in findings):
        return 1
    if strict and any(f.severity is Severity.WARNING for f in findings):
        return 2
    return 0
