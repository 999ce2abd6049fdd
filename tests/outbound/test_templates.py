"""The shipped templates, department overrides, and mistakes caught at config load
(StrictUndefined: a misspelt variable stops maild at start, not at send)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maild.config import load_settings
from maild.errors import ConfigError
from maild.outbound.templates import SAMPLES, TemplateName, Templates, department_overrides

DESK = """
[[brands]]
name = "Example"
signature = "{signature}"

[[departments]]
name = "Support"
addresses = ["support@example.com"]
brand = "Example"
{department}
"""


def _load(tmp_path: Path, department: str = "", signature: str = "") -> object:
    path = tmp_path / "maild.toml"
    path.write_text(DESK.format(department=department, signature=signature))
    return load_settings(str(path), environ={})


@pytest.mark.parametrize("name", list(TemplateName))
def test_every_shipped_template_renders_with_its_documented_names(name: TemplateName) -> None:
    rendered = Templates().render(name, SAMPLES[name.family])
    assert rendered.strip()


def test_a_department_overrides_one_template_and_keeps_the_others(tmp_path: Path) -> None:
    settings = _load(tmp_path, '[departments.templates]\nreply_text = "Ours: {{ body }}"')
    templates = department_overrides(settings.departments)  # type: ignore[attr-defined]
    values = SAMPLES["reply"]
    assert templates.render(TemplateName.REPLY_TEXT, values, "Support") == "Ours: Try this."
    assert templates.render(TemplateName.REPLY_TEXT, values, "Sales") != "Ours: Try this."
    shipped = Templates().render(TemplateName.REPLY_HTML, values)
    assert templates.render(TemplateName.REPLY_HTML, values, "Support") == shipped


@pytest.mark.parametrize(
    ("department", "key"),
    [
        ('[departments.templates]\nreply_text = "{{ ticket.numbr }}"', "templates.reply_text"),
        ('autoresponder_body = "{{ tiket.number }}"', "autoresponder_body"),
        (
            '[departments.templates]\nqueue_alert_text = "{{ queue.cnt }}"',
            "templates.queue_alert_text",
        ),
    ],
)
def test_a_misspelt_variable_is_an_error_at_config_load(
    tmp_path: Path, department: str, key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, department)
    assert key in caught.value.key and "names available" in caught.value.reason


def test_a_signature_with_an_unknown_variable_is_an_error_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="signature"):
        _load(tmp_path, signature="{{ agent.nmae }}")


def test_the_shipped_autoresponder_is_on_with_autoresponder_true(tmp_path: Path) -> None:
    settings = _load(tmp_path, "autoresponder = true")
    (department,) = settings.departments  # type: ignore[attr-defined]
    assert department.autoresponder_enabled and department.autoresponder_body == ""
