"""Issue 13: mail as real clients write it, through `maild ingest`, `export` and `inspect`.

Display names with encoded-words inside quotes (Foxmail, Outlook), charsets labelled by the
standard their code page extends (gb2312, ks_c_5601-1987, ISO-2022-JP with NEC and IBM
characters, tis-620) or not labelled at all, web forms whose customer is in Reply-To, and
ticket tags whose brackets a person dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from maild.cli import main
from tests.ingest.test_flows import FLOWS
from tests.support import write_config

FIXTURES = FLOWS.parent


def _config(tmp_path: Path, url: str, department_lines: str = "") -> str:
    path = write_config(tmp_path, url)
    if department_lines:
        text = path.read_text()
        anchor = 'addresses = ["support@example.com"]\n'
        path.write_text(text.replace(anchor, anchor + department_lines + "\n", 1))
    return str(path)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _ingest(config: str, path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["--config", config, "ingest", str(path)]) == 0
    (line,) = _lines(capsys)
    return line


def _export(config: str, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    assert main(["--config", config, "export", "--json"]) == 0
    return {record["number"]: record for record in _lines(capsys)}


def _inspect(config: str, path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["--config", config, "inspect", "--json", "--no-db", str(path)]) == 0
    (report,) = _lines(capsys)
    return report


def _one_ticket(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], fixture: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`fixture` ingested into an empty desk: its `maild inspect` report and its export."""
    config = _config(tmp_path, db_url)
    assert _ingest(config, FIXTURES / fixture, capsys)["outcome"] == "new_ticket"
    (record,) = _export(config, capsys).values()
    return _inspect(config, FIXTURES / fixture, capsys), record


def _autoresponse_to(record: dict[str, Any]) -> list[str]:
    (out,) = [m for m in record["messages"] if m["direction"] == "out"]
    return list(out["to"])


# --- item 2: encoded-words inside a quoted display name ---------------------------------------


def test_foxmail_quoted_gb2312_name_keeps_the_sender_and_answers_them(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, record = _one_ticket(db_url, tmp_path, capsys, "foxmail-gb2312-name.eml")
    # Today the whole From was dropped: no requester, no autoresponse.
    assert (report["from"], report["from_name"]) == ("zhaozhe@example.cn", "赵喆")
    assert record["requester"] == "zhaozhe@example.cn"
    assert record["messages"][0]["from"] == "zhaozhe@example.cn"
    assert _autoresponse_to(record) == ["zhaozhe@example.cn"]


def test_outlook_quoted_utf8_q_name_keeps_the_sender(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, record = _one_ticket(db_url, tmp_path, capsys, "outlook-quoted-encoded-name.eml")
    assert report["from_name"] == "Jürgen Müller"
    assert record["requester"] == "juergen.mueller@example.de"
    assert _autoresponse_to(record) == ["juergen.mueller@example.de"]


# --- item 3: charsets as clients really write them --------------------------------------------


def test_foxmail_gb2312_label_on_gbk_text_reads_as_gb18030(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, record = _one_ticket(db_url, tmp_path, capsys, "foxmail-gb2312-name.eml")
    # 喆 and 镕 are GBK, not GB2312: a guess read the short subject as Korean and Big5.
    assert record["subject"] == "打印机卡纸 - 赵喆"
    assert "我是朱镕基路店的赵喆" in report["text"]
    assert not any("charset" in warning for warning in report["warnings"])


def test_becky_iso2022jp_with_nec_and_ibm_characters(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, record = _one_ticket(db_url, tmp_path, capsys, "becky-iso2022jp-nec.eml")
    # ① and ㈱ are NEC's row 13, 髙 an IBM extension: stored as `\x1b$B…` today.
    assert record["subject"] == "㈱髙橋商事：プリンタ故障①"
    assert report["from_name"] == "髙橋 一郎"
    assert "①電源が入らない\n②ランプが点滅する" in report["text"]
    assert "\x1b" not in report["text"] + report["subject"]


def test_form_mailer_iso2022jp_without_mime_headers(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, record = _one_ticket(db_url, tmp_path, capsys, "formmail-jis-no-mime.eml")
    assert record["subject"] == "お問い合わせ：納品書の再発行"
    assert report["text"].startswith("お名前：鈴木 花子\n")
    assert "\x1b" not in report["text"]


def test_korean_outlook_ks_c_5601_label_reads_as_windows_949(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, record = _one_ticket(db_url, tmp_path, capsys, "outlook-korean-cp949.eml")
    # 뷁 and 똠 are in Windows-949 only; the quoted name is item 2's Outlook form.
    assert record["subject"] == "프린터에서 뷁 소리가 납니다"
    assert (record["requester"], report["from_name"]) == ("minjun.kim@example.kr", "김민준")
    assert "똠방각하" in report["text"]
    assert not any("charset" in warning for warning in report["warnings"])


def test_thai_tis620_label_reads_as_windows_874(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, record = _one_ticket(db_url, tmp_path, capsys, "outlook-express-tis620.eml")
    # Curly quotes and the ellipsis are Windows-874's; TIS-620 reads them as C1 controls.
    assert record["subject"] == "เครื่องพิมพ์ขึ้น “กระดาษติด”"
    assert "“กระดาษติด” ตลอดเวลา…" in report["text"]


# --- item 4: who the customer is ----------------------------------------------------------------


def test_web_form_reply_to_is_the_requester_and_gets_the_autoresponse(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, record = _one_ticket(db_url, tmp_path, capsys, "contact-form-7-reply-to.eml")
    assert record["requester"] == "carol@customer.example"
    assert _autoresponse_to(record) == ["carol@customer.example"]
    assert record["messages"][0]["from"] == "wordpress@shop.example"  # the mail as it came


def test_a_department_can_keep_the_from_address_as_requester(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url, "reply_to_is_requester = false")
    _ingest(config, FIXTURES / "contact-form-7-reply-to.eml", capsys)
    (record,) = _export(config, capsys).values()
    assert record["requester"] == "wordpress@shop.example"


def test_list_mail_keeps_its_author_whatever_the_reply_to(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url)
    raw = (FIXTURES / "contact-form-7-reply-to.eml").read_bytes()
    listed = tmp_path / "listed.eml"
    listed.write_bytes(b"List-Id: <shop.lists.example>\r\n" + raw)
    _ingest(config, listed, capsys)
    (record,) = _export(config, capsys).values()
    assert record["requester"] == "wordpress@shop.example"  # a list's Reply-To is the list


def test_from_without_address_falls_back_to_sender(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, record = _one_ticket(db_url, tmp_path, capsys, "php-form-from-without-address.eml")
    assert record["requester"] == "formular@shop.example"
    assert _autoresponse_to(record) == ["formular@shop.example"]


def test_from_without_address_and_no_sender_falls_back_to_return_path(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url)
    raw = (FIXTURES / "php-form-from-without-address.eml").read_bytes()
    unsent = tmp_path / "no-sender.eml"
    unsent.write_bytes(raw.replace(b"Sender: formular@shop.example\r\n", b""))
    _ingest(config, unsent, capsys)
    (record,) = _export(config, capsys).values()
    assert record["requester"] == "www-data@web01.shop.example"


# --- item 6: ticket tags as people mangle them --------------------------------------------------


MANGLED = ["reply-tag-without-brackets.eml", "reply-tag-without-hash.eml"]


@pytest.mark.parametrize("fixture", MANGLED)
def test_reply_with_a_mangled_tag_joins_the_ticket(
    fixture: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url)
    assert _ingest(config, FLOWS / "new-request.eml", capsys)["ticket"] == "SUP-000001"
    line = _ingest(config, FIXTURES / fixture, capsys)
    assert (line["outcome"], line["ticket"]) == ("appended", "SUP-000001")
    records = _export(config, capsys)
    assert list(records) == ["SUP-000001"]
    incoming = [m for m in records["SUP-000001"]["messages"] if m["direction"] == "in"]
    assert len(incoming) == 2


def test_a_stranger_with_a_mangled_tag_gets_a_related_ticket(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url)
    _ingest(config, FLOWS / "new-request.eml", capsys)
    raw = (FIXTURES / "reply-tag-without-brackets.eml").read_bytes()
    stranger = tmp_path / "stranger.eml"
    stranger.write_bytes(raw.replace(b"Carol Customer <carol@", b"Mallory <mallory@"))
    line = _ingest(config, stranger, capsys)
    assert (line["outcome"], line["ticket"]) == ("new_ticket", "SUP-000002")
    assert "not a participant of SUP-000001" in line["reason"]
    records = _export(config, capsys)
    assert records["SUP-000002"]["related"] == ["SUP-000001"]
    assert len(records["SUP-000001"]["messages"]) == 2  # its request and its autoresponse


def test_a_form_sending_from_noreply_still_answers_the_customer_in_reply_to(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url)
    raw = (FIXTURES / "contact-form-7-reply-to.eml").read_bytes()
    noreply = tmp_path / "noreply.eml"
    noreply.write_bytes(raw.replace(b"Example <wordpress@", b"Example <noreply@"))
    _ingest(config, noreply, capsys)
    (record,) = _export(config, capsys).values()
    assert record["requester"] == "carol@customer.example"
    assert _autoresponse_to(record) == ["carol@customer.example"]
