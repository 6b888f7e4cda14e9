"""An offer's email copy, and the email it renders to for one customer.

The copy is Jinja2 written by an admin; the variables (a customer's name, a plan's name) are
hostile text from the SaaS and its customers. So:

- rendering runs in Jinja2's immutable sandbox with no globals (no `range`, no `lipsum`):
  `{{ ''.__class__ }}` and its kin raise `SecurityError`, which `validate` reports and
  `render` turns into `ValidationFailed`;
- the HTML body is autoescaped, the subject and text body are not (they are not HTML);
- an undefined variable is an error (`StrictUndefined`), never an empty string in a sent email;
- the rendered subject is one line: every run of whitespace, CR and LF included, becomes one
  space, so a variable cannot add a header.

`validate` is the gate when copy is saved (it parses, checks the variables used against those
offered, and renders once with stand-in values to catch the sandbox's refusals); `render` is the
backstop at send time. Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from plugin.errors import ValidationFailed

SUBJECT_MAX = 200  # characters of template


@dataclass(frozen=True)
class EmailCopy:
    subject: str
    text: str
    html: str = ""  # empty: the email is text only


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


@functools.cache
def _environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=html, keep_trailing_newline=True
    )
    environment.globals.clear()  # the copy sees the variables it is given and nothing else
    return environment


def _fields(copy: EmailCopy) -> list[tuple[str, str]]:
    return [("subject", copy.subject), ("text", copy.text), ("html", copy.html)]


def validate(copy: EmailCopy, variables: Collection[str]) -> list[tuple[str, str]]:
    """(field, problem) for everything wrong with `copy`, given the variables it may use;
    empty if it will render for any values of them."""
    problems: list[tuple[str, str]] = []
    if not copy.subject.strip():
        problems.append(("subject", "The subject is empty."))
    if len(copy.subject) > SUBJECT_MAX:
        problems.append(
            ("subject", f"The subject is {len(copy.subject)} characters; at most {SUBJECT_MAX}.")
        )
    if not copy.text.strip():
        problems.append(("text", "The text body is empty; every email has one."))
    allowed = set(variables)
    stand_ins = {name: name for name in allowed}
    for name, source in _fields(copy):
        environment = _environment(html=name == "html")
        try:
            tree = environment.parse(source)
        except TemplateSyntaxError as exc:
            problems.append((name, f"Line {exc.lineno}: {exc.message}"))
            continue
        unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
        if unknown:
            offered = ", ".join(sorted(allowed)) or "none"
            problems.append((name, f"Unknown variable {', '.join(unknown)} (offered: {offered})."))
            continue
        try:
            environment.from_string(tree).render(stand_ins)
        except TemplateError as exc:
            problems.append((name, f"It does not render: {exc}"))
    return problems


def render(copy: EmailCopy, variables: Mapping[str, str]) -> RenderedEmail:
    """The email for these values. `ValidationFailed` (field: subject, text or html) if the
    copy does not render: copy that passed `validate` with these variable names always does."""
    subject = " ".join(_render("subject", copy.subject, variables).split())
    text = _render("text", copy.text, variables)
    html = _render("html", copy.html, variables) if copy.html.strip() else None
    return RenderedEmail(subject=subject, text=text, html=html)


def _render(name: str, source: str, variables: Mapping[str, str]) -> str:
    try:
        return _environment(html=name == "html").from_string(source).render(variables)
    except TemplateError as exc:
        raise ValidationFailed(f"The email's {name} does not render: {exc}", field=name) from exc
