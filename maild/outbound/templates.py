"""The Jinja2 templates of the mail maild writes: shipped defaults and department overrides.

The defaults are the files of `templates/` at the repository root, shipped inside the package
(`maild/templates`) so an installed wheel finds them. A department's config may override each
one (`[departments.templates]`); its autoresponder lives with the department (DESIGN §6).
Templates render in Jinja2's sandbox (admins edit them), with `StrictUndefined`: a misspelt
variable is an error, found at config load by rendering each template with sample values of
exactly the names the real mail provides (`SAMPLES`). HTML templates autoescape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from maild.errors import InvalidRequest

SHIPPED = resources.files("maild") / "templates"


class TemplateName(StrEnum):
    """A template maild ships, named like its file (`templates/<name>.j2`)."""

    AUTORESPONDER_SUBJECT = "autoresponder.subject"
    AUTORESPONDER_TEXT = "autoresponder.txt"
    AUTORESPONDER_HTML = "autoresponder.html"
    REPLY_TEXT = "reply.txt"
    REPLY_HTML = "reply.html"
    FORWARD_TEXT = "forward.txt"
    FORWARD_HTML = "forward.html"
    QUEUE_ALERT_SUBJECT = "queue_alert.subject"
    QUEUE_ALERT_TEXT = "queue_alert.txt"
    QUEUE_ALERT_HTML = "queue_alert.html"

    @property
    def html(self) -> bool:
        return self.value.endswith(".html")

    @property
    def family(self) -> str:
        return self.value.split(".", 1)[0]


def _br(text: object) -> Markup:
    """Plain text as HTML: escaped, line breaks kept."""
    return Markup("<br>\n").join(escape(str(text)).split("\n"))


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True
    )
    env.filters["br"] = _br
    return env


_TEXT = _environment(False)
_HTML = _environment(True)


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool) -> Template:
    return (_HTML if html else _TEXT).from_string(source)


def render_source(source: str, values: Mapping[str, Any], html: bool = False) -> str:
    """Render template text; a broken template is InvalidRequest naming the cause."""
    try:
        return _compiled(source, html).render(values)
    except TemplateError as exc:
        raise InvalidRequest(f"template cannot be rendered: {exc}") from exc


@cache
def shipped_source(name: TemplateName) -> str:
    return (SHIPPED / f"{name.value}.j2").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Templates:
    """The shipped templates with each department's overrides (department name -> template
    name -> source), as the config gives them."""

    overrides: Mapping[str, Mapping[TemplateName, str]] = field(default_factory=dict)

    def source(self, name: TemplateName, department: str = "") -> str:
        return self.overrides.get(department, {}).get(name) or shipped_source(name)

    def render(self, name: TemplateName, values: Mapping[str, Any], department: str = "") -> str:
        return render_source(self.source(name, department), values, name.html)


# --- sample values: the names each family of templates may use ------------------------------

_TICKET = {
    "number": "SUP-000123",
    "subject": "Printer does not print",
    "requester": "carol@customer.example",
    "status": "active",
    "priority": "normal",
}
_DEPARTMENT = {"name": "Support"}
_BRAND = {"name": "Example", "from_name": "Example Support"}
_AGENT = {"name": "alice", "display_name": "Alice Example", "email": "alice@example.com"}
_MESSAGE = {
    "sender": "carol@customer.example",
    "to": "support@example.com",
    "cc": "",
    "date": "Mon, 02 Mar 2026 09:00:00 +0000",
    "subject": "Printer does not print",
    "text": "It prints nothing.",
}
_QUEUE = {
    "count": 1,
    "after_minutes": 30,
    "oldest_minutes": 42,
    "tickets": [{**_TICKET, "waiting_minutes": 42}],
}
_COMMON = {"ticket": _TICKET, "department": _DEPARTMENT, "brand": _BRAND, "signature": "-- \nUs"}
SAMPLES: dict[str, dict[str, Any]] = {
    "autoresponder": _COMMON,
    "reply": {**_COMMON, "agent": _AGENT, "body": "Try this.", "canned": "", "answered": _MESSAGE},
    "forward": {**_COMMON, "agent": _AGENT, "note": "FYI", "forwarded": _MESSAGE},
    "queue_alert": {"group": {"name": "Tier 1"}, "department": _DEPARTMENT, "queue": _QUEUE},
    # A brand's signature and a canned reply render with what every agent mail has.
    "signature": {"ticket": _TICKET, "department": _DEPARTMENT, "brand": _BRAND, "agent": _AGENT},
}


def check_template(source: str, family: str, html: bool = False) -> None:
    """Raise InvalidRequest when `source` does not render with the names `family` provides
    (a syntax error, or a misspelt variable under StrictUndefined)."""
    render_source(source, SAMPLES[family], html)


def available_names(family: str) -> str:
    """The variables a template of `family` may use, dotted (`ticket.number, ...`)."""
    return ", ".join(_dotted(SAMPLES[family]))


def _dotted(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    names: list[str] = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            names += _dotted(value, f"{prefix}{key}.")
        else:
            names.append(f"{prefix}{key}")
    return names


def department_overrides(departments: Iterable[Any]) -> Templates:
    """The templates with each department's overrides, from the config's departments
    (`DepartmentConfig.templates`: field `reply_text` overrides `reply.txt`, ...)."""
    overrides: dict[str, dict[TemplateName, str]] = {}
    for department in departments:
        own = {
            name: getattr(department.templates, field_name(name))
            for name in TemplateName
            if name.family != "autoresponder" and getattr(department.templates, field_name(name))
        }
        if own:
            overrides[department.name] = own
    return Templates(overrides)


def field_name(name: TemplateName) -> str:
    """The config key of a template: `reply.txt` -> `reply_text`, `reply.html` -> `reply_html`."""
    family, kind = name.value.split(".", 1)
    return f"{family}_{'text' if kind == 'txt' else kind}"
