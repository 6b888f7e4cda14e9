"""Email copy: validated against the variables an offer provides, rendered in Jinja2's sandbox,
HTML autoescaped, text and subject left as written, the subject kept to one line."""

from __future__ import annotations

import pytest

from plugin.email.templates import SUBJECT_MAX, EmailCopy, RenderedEmail, render, validate
from plugin.errors import ValidationFailed

VARIABLES = ("customer_name", "plan_name")
COPY = EmailCopy(
    subject="{{ customer_name }}, try {{ plan_name }}",
    text="Hi {{ customer_name }},\n\n{{ plan_name }} is waiting.\n",
    html="<p>Hi {{ customer_name }},</p><p><b>{{ plan_name }}</b> is waiting.</p>",
)
HOSTILE = {"customer_name": "<script>alert('x')</script> & Co", "plan_name": "Pro"}


def test_sound_copy_has_no_problems() -> None:
    assert validate(COPY, VARIABLES) == []
    assert validate(EmailCopy(subject="Hello", text="Just text."), []) == []


def test_hostile_variables_are_escaped_in_html_only() -> None:
    """A customer name is untrusted text: in HTML it is escaped; the text body and the subject
    are not HTML and show it as typed."""
    rendered = render(COPY, HOSTILE)
    assert rendered.html is not None
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co" in rendered.html
    assert "<script>" not in rendered.html
    assert rendered.text.startswith("Hi <script>alert('x')</script> & Co,\n")
    assert rendered.subject == "<script>alert('x')</script> & Co, try Pro"


def test_the_subject_is_one_line_whatever_the_variables_hold() -> None:
    """CR, LF and other line breaks in a value become single spaces, and the ends are stripped,
    so a variable cannot start a header of its own."""
    rendered = render(
        COPY, {"customer_name": "  Ann\r\nBcc: victim@example.com\n\u2028", "plan_name": "Pro\r"}
    )
    assert rendered.subject == "Ann Bcc: victim@example.com , try Pro"


def test_empty_html_makes_a_text_only_email() -> None:
    rendered = render(EmailCopy(subject="Hi", text="Hello {{ plan_name }}", html="  "), HOSTILE)
    assert rendered == RenderedEmail(subject="Hi", text="Hello Pro", html=None)


def test_an_undeclared_variable_is_reported_on_its_field() -> None:
    copy = EmailCopy(subject="Hi {{ first_name }}", text="x", html="{{ plan_name }} {{ card }}")
    assert [field for field, _ in validate(copy, VARIABLES)] == ["subject", "html"]
    problems = dict(validate(copy, VARIABLES))
    assert "first_name" in problems["subject"]
    assert "card" in problems["html"]
    assert "plan_name" not in problems["html"].split("(")[0]


def test_a_syntax_error_is_reported_with_its_field_and_line() -> None:
    copy = EmailCopy(subject="Hi", text="line one\n{% if customer_name %}no end", html="{{ }")
    problems = validate(copy, VARIABLES)
    assert [field for field, _ in problems] == ["text", "html"]
    assert problems[0][1].startswith("Line 2:")


@pytest.mark.parametrize(
    "trick",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer_name.__class__ }}",
        "{{ customer_name|attr('__class__') }}",
        "{{ plan_name.format.__globals__ }}",
        "{{ cycler }}{{ range(3) }}",
    ],
)
def test_the_sandbox_refuses_attribute_tricks(trick: str) -> None:
    """Reaching Python internals is a problem `validate` reports; `render`, the backstop, raises
    ValidationFailed on the field instead of running it. Jinja's globals are gone too."""
    copy = EmailCopy(subject="Hi", text=trick)
    problems = validate(copy, VARIABLES)
    assert [field for field, _ in problems] == ["text"]
    with pytest.raises(ValidationFailed) as refused:
        render(copy, HOSTILE)
    assert refused.value.field == "text"


def test_a_missing_value_fails_the_render_instead_of_sending_a_blank() -> None:
    """StrictUndefined: a variable without a value is an error, never an empty string."""
    with pytest.raises(ValidationFailed) as refused:
        render(COPY, {"plan_name": "Pro"})
    assert refused.value.field == "subject"
    assert "customer_name" in refused.value.message


def test_the_subject_is_limited_and_neither_it_nor_the_text_may_be_empty() -> None:
    long = EmailCopy(subject="x" * (SUBJECT_MAX + 1), text="body")
    assert [field for field, _ in validate(long, [])] == ["subject"]
    assert validate(EmailCopy(subject="x" * SUBJECT_MAX, text="body"), []) == []
    empty = EmailCopy(subject=" ", text="\n", html="<p>html alone is not enough</p>")
    assert [field for field, _ in validate(empty, [])] == ["subject", "text"]
