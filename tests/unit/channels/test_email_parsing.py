"""Reading inbound e-mail: a corpus of the shapes real mail programs send, written for these tests, and
generated messages. Whatever arrives, reading never raises and nothing is silently lost."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import random
import re
import struct
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportdesk.channels.email import headers, mime, parsing
from supportdesk.channels.email.bodies import _READ_REPLIES, _REPLIES, decode_text, html_to_text, split_reply
from supportdesk.channels.email.parsing import Address, Limits, parse

pytestmark = pytest.mark.unit


def message(
    body: str = "Hello",
    *,
    subject: str = "Printer on fire",
    sender: str = '"Ann Customer" <Ann@Example.com>',
    to: str = "help@acme.test",
    **headers: str,
) -> EmailMessage:
    built = EmailMessage()
    built["From"] = sender
    built["To"] = to
    built["Subject"] = subject
    built["Message-ID"] = "<m1@mail.example.com>"
    built["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    for name, value in headers.items():
        built[name.replace("_", "-")] = value
    built.set_content(body)
    return built


# --- the corpus ------------------------------------------------------------------------------------


def test_a_gmail_reply_is_read_with_its_thread_ids_and_its_quoted_history_set_apart() -> None:
    built = message(
        "Still burning.\n\nOn Mon, Mar 2, 2026 at 8:00 AM Acme Support <help@acme.test> wrote:\n"
        "> We are looking into it.\n",
        subject="Re: [#12] Printer on fire",
        In_Reply_To="<ticket-77.w3@acme.test>",
        References="<ticket-77.w3@acme.test> <a1b2.w3@acme.test>",
    )
    built.add_alternative(
        '<div dir="ltr">Still burning.</div><div class="gmail_quote"><blockquote>We are looking into it.'
        "</blockquote></div>",
        subtype="html",
    )

    parsed = parse(built.as_bytes())

    assert parsed.sender == Address("ann@example.com", "Ann Customer")
    assert parsed.subject == "Re: [#12] Printer on fire"
    assert parsed.message_id == "<m1@mail.example.com>"
    assert parsed.in_reply_to == ("<ticket-77.w3@acme.test>",)
    assert parsed.references == ("<ticket-77.w3@acme.test>", "<a1b2.w3@acme.test>")
    assert parsed.date == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert parsed.reply == "Still burning."
    assert parsed.quoted.startswith("On Mon, Mar 2, 2026 at 8:00 AM Acme Support")
    assert parsed.html is not None
    assert "<blockquote>We are looking into it.</blockquote>" in parsed.html
    assert parsed.defects == ()


def test_an_outlook_reply_keeps_the_headers_outlook_threads_by() -> None:
    built = message(
        "Thanks, that fixed it.\n\n"
        "From: Acme Support <help@acme.test>\nSent: Monday, March 2, 2026 8:00 AM\n"
        "To: Ann Customer <ann@example.com>\nSubject: [#12] Printer on fire\n\nWe are looking into it.\n",
        Thread_Index="AdSP8l2fW7xJd5Tbl0i8lE2vXyZ1Ag==",
        Thread_Topic="Printer on fire",
    )

    parsed = parse(built.as_bytes())

    assert parsed.headers["thread-index"] == "AdSP8l2fW7xJd5Tbl0i8lE2vXyZ1Ag=="
    assert parsed.headers["thread-topic"] == "Printer on fire"
    assert parsed.reply == "Thanks, that fixed it."
    assert "We are looking into it." in parsed.quoted


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        pytest.param(
            "Danke!\n\nAm 02.03.2026 um 09:00 schrieb Acme Support <help@acme.test>:\n> Wir prüfen das.\n",
            "Danke!",
            id="german",
        ),
        pytest.param(
            "Merci !\n\nLe lun. 2 mars 2026 à 09:00, Acme Support <help@acme.test> a écrit :\n"
            "> Nous regardons.\n",
            "Merci !",
            id="french",
        ),
        pytest.param(
            "Gracias.\n\nEl lun, 2 mar 2026 a las 9:00, Acme Support (<help@acme.test>) escribió:\n"
            "> Lo miramos.\n",
            "Gracias.",
            id="spanish",
        ),
        pytest.param(
            "Thanks!\n\nOn 2 Mar 2026, at 09:00, Acme Support <help@acme.test> wrote:\n\n"
            "> Looking into it.\n",
            "Thanks!",
            id="apple-mail",
        ),
    ],
)
def test_quoted_history_is_set_apart_in_several_languages(body: str, reply: str) -> None:
    parsed = parse(message(body).as_bytes())

    assert parsed.reply == reply
    assert parsed.quoted != ""
    assert parsed.text.startswith(reply)


def test_an_html_only_message_gets_a_text_version_and_loses_its_scripts() -> None:
    built = message(subject="Incident INC0012345 updated")
    built.set_content(
        "<html><body><p>Incident <b>INC0012345</b> was updated.</p><script>steal()</script>"
        '<a href="javascript:steal()" onclick="steal()">Open</a><div>State: In progress &amp; assigned</div>'
        '<img src="https://tracker.example/p.gif" onerror="steal()"></body></html>',
        subtype="html",
    )

    parsed = parse(built.as_bytes())

    assert parsed.html is not None
    for dangerous in ("script", "steal", "javascript"):
        assert dangerous not in parsed.html
    assert parsed.text == "Incident INC0012345 was updated.\nOpen\nState: In progress & assigned"


@pytest.mark.parametrize(
    ("declared", "body", "text", "defect"),
    [
        pytest.param(
            "iso-8859-1",
            "\x93Quoted\x94 \x96 caf\xe9".encode("latin-1"),
            "\u201cQuoted\u201d \u2013 caf\u00e9",
            "text declared as iso-8859-1 was read as windows-1252",
            id="windows-1252-labelled-latin-1",
        ),
        pytest.param(
            "utf-8",
            "Gr\xfc\xdfe aus K\xf6ln".encode("latin-1"),
            "Grüße aus Köln",
            "text declared as utf-8 was read as windows-1252",
            id="latin-1-labelled-utf-8",
        ),
        pytest.param(
            "x-unknown-charset",
            "naïve".encode(),
            "naïve",
            "text declared as x-unknown-charset was read as utf-8",
            id="unknown-charset",
        ),
        pytest.param("iso-8859-1", "Größe".encode("latin-1"), "Größe", None, id="honest-latin-1"),
    ],
)
def test_text_in_a_charset_it_does_not_declare_is_read_as_written(
    declared: str, body: bytes, text: str, defect: str | None
) -> None:
    raw = (
        b"From: ann@example.com\r\nTo: help@acme.test\r\nSubject: charset\r\nMIME-Version: 1.0\r\n"
        + f"Content-Type: text/plain; charset={declared}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".encode()
        + body
        + b"\r\n"
    )

    parsed = parse(raw)

    assert parsed.text.strip() == text
    assert parsed.defects == ((defect,) if defect else ())


def test_broken_mime_still_gives_the_customers_words() -> None:
    raw = (
        b"From: ann@example.com\r\nTo: help@acme.test\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy order never came.\r\n"
        b"--b1\r\nContent-Type: application/pdf; name=invoice.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQK!!not base64!!\r\n"
    )  # no closing boundary, and a body that is not valid base64

    parsed = parse(raw)

    assert parsed.text.strip() == "My order never came."
    assert [attachment.filename for attachment in parsed.attachments] == ["invoice.pdf"]
    assert any("CloseBoundaryNotFoundDefect" in defect for defect in parsed.defects)


def test_an_attachment_over_the_limit_is_dropped_and_said_so() -> None:
    built = message("See attached.")
    built.add_attachment(b"x" * 300_000, maintype="application", subtype="zip", filename="logs.zip")
    built.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="invoice.pdf")

    parsed = parse(built.as_bytes(), Limits(max_attachment_bytes=200 * 1024))

    assert [attachment.filename for attachment in parsed.attachments] == ["invoice.pdf"]
    [dropped] = parsed.dropped
    assert dropped.what == "attachment logs.zip (293 KB)"
    assert dropped.reason == "larger than 200 KB"


def test_attachments_beyond_the_count_limit_are_dropped_and_said_so() -> None:
    built = message("Photos.")
    for number in range(4):
        built.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename=f"photo{number}.png")

    parsed = parse(built.as_bytes(), Limits(max_attachments=3))

    assert [attachment.filename for attachment in parsed.attachments] == [
        "photo0.png",
        "photo1.png",
        "photo2.png",
    ]
    assert [dropped.reason for dropped in parsed.dropped] == ["more than 3 attachments"]


def test_text_beyond_the_length_limit_is_cut_and_said_so() -> None:
    parsed = parse(message("a" * 500).as_bytes(), Limits(max_text_chars=100))

    assert len(parsed.text) == 100
    assert [dropped.reason for dropped in parsed.dropped] == ["the body is too long"]


def test_an_inline_image_is_kept_with_its_content_id_for_the_html_body() -> None:
    built = message("See the screenshot.")
    built.add_alternative('<p>See the screenshot:</p><img src="cid:shot1@example.com">', subtype="html")
    html_part = next(part for part in built.iter_parts() if part.get_content_type() == "text/html")
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(b"\x89PNG\r\n", maintype="image", subtype="png", cid="<shot1@example.com>")

    parsed = parse(built.as_bytes())

    [image] = parsed.attachments
    assert (image.content_type, image.content_id, image.inline) == ("image/png", "shot1@example.com", True)
    assert parsed.html is not None
    assert 'src="cid:shot1@example.com"' in parsed.html


def test_a_file_name_cannot_name_a_folder() -> None:
    built = message("Here.")
    built.add_attachment(b"data", maintype="text", subtype="plain", filename="../../etc/passwd")
    built.add_attachment(
        b"data", maintype="application", subtype="octet-stream", filename="C:\\temp\\evil.exe"
    )

    parsed = parse(built.as_bytes())

    assert [attachment.filename for attachment in parsed.attachments] == ["passwd", "evil.exe"]


def test_a_forwarded_message_is_kept_whole_as_an_attachment() -> None:
    forwarded = message("The original complaint.", subject="Original")
    built = message("FYI, see below.")
    built.add_attachment(forwarded)

    parsed = parse(built.as_bytes())

    [attachment] = parsed.attachments
    assert attachment.filename == "forwarded-message.eml"
    assert b"The original complaint." in attachment.data
    assert parsed.reply == "FYI, see below."


def test_an_auto_reply_keeps_the_headers_that_say_so() -> None:
    built = message(
        "I am out of the office until Monday.",
        subject="Automatic reply: [#12] Printer on fire",
        Auto_Submitted="auto-replied",
        X_Autoreply="yes",
        Precedence="auto_reply",
    )

    parsed = parse(built.as_bytes())

    assert parsed.headers["auto-submitted"] == "auto-replied"
    assert parsed.headers["x-autoreply"] == "yes"
    assert parsed.headers["precedence"] == "auto_reply"


def test_a_delivery_status_notification_names_the_address_that_failed() -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: help@acme.test\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; Gone@Example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        b"--r\r\nContent-Type: message/rfc822\r\n\r\nFrom: help@acme.test\r\nTo: gone@example.com\r\n"
        b"Subject: [#12] Printer on fire\r\n\r\nWe are looking into it.\r\n--r--\r\n"
    )

    parsed = parse(raw)

    assert parsed.bounce is not None
    assert parsed.bounce.failed_recipients == ("gone@example.com",)
    assert parsed.bounce.status == "5.1.1"
    assert parsed.bounce.diagnostic == "smtp; 550 5.1.1 user unknown"


def test_everyone_on_copy_is_read_so_that_a_stranger_can_be_recognised() -> None:
    built = message("Adding my colleague.", Cc='boss@example.com, "Some Stranger" <stranger@elsewhere.test>')

    parsed = parse(built.as_bytes())

    assert parsed.cc == (
        Address("boss@example.com"),
        Address("stranger@elsewhere.test", "Some Stranger"),
    )
    assert parsed.recipients == (Address("help@acme.test"), *parsed.cc)


def test_the_receiving_servers_authentication_results_are_kept() -> None:
    built = message(
        "Please wire the money.",
        Authentication_Results="mx.acme.test; spf=fail smtp.mailfrom=example.com; dkim=none; dmarc=fail",
    )

    parsed = parse(built.as_bytes())

    assert parsed.headers["authentication-results"].endswith("dmarc=fail")


def tnef(*files: tuple[str, bytes]) -> bytes:
    """A minimal winmail.dat holding ``files``: the TNEF signature, then per file the attributes that
    start an attachment, name it and carry its data."""

    def attribute(level: int, kind: int, number: int, data: bytes) -> bytes:
        checksum = sum(data) & 0xFFFF
        return (
            struct.pack("<BI I", level, (kind << 16) | number, len(data)) + data + struct.pack("<H", checksum)
        )

    blob = struct.pack("<IH", 0x223E9F78, 1)
    blob += attribute(1, 0x0009, 0x9006, struct.pack("<I", 0x00010000))  # TNEF version
    for name, data in files:
        blob += attribute(2, 0x0006, 0x9002, b"\x00" * 14)  # attAttachRendData: a new attachment
        blob += attribute(2, 0x0001, 0x8010, name.encode() + b"\x00")  # attAttachTitle
        blob += attribute(2, 0x0006, 0x800F, data)  # attAttachData
    return blob


def test_the_files_inside_outlooks_winmail_dat_are_kept() -> None:
    built = message("Please see the attached report.")
    built.add_attachment(
        tnef(("report.txt", b"quarterly numbers")),
        maintype="application",
        subtype="ms-tnef",
        filename="winmail.dat",
    )

    parsed = parse(built.as_bytes())

    assert [(one.filename, one.data) for one in parsed.attachments] == [("report.txt", b"quarterly numbers")]


def test_a_winmail_dat_that_cannot_be_opened_is_kept_as_it_is() -> None:
    built = message("Attached.")
    built.add_attachment(
        b"not tnef at all", maintype="application", subtype="ms-tnef", filename="winmail.dat"
    )

    parsed = parse(built.as_bytes())

    assert [attachment.filename for attachment in parsed.attachments] == ["winmail.dat"]
    assert any(defect.startswith("winmail.dat could not be opened") for defect in parsed.defects)


def test_a_message_with_broken_headers_is_read_all_the_same() -> None:
    raw = (
        b"From: =?utf-8?q?broken <no-closing-bracket@example.com\r\nTo: ;;;@@@\r\n"
        b"Subject: =?unknown-8bit?b?////?=\r\nDate: yesterday\r\nMessage-ID: no-angle-brackets\r\n"
        b"\r\nHelp!\r\n"
    )

    parsed = parse(raw)

    assert parsed.text.strip() == "Help!"
    assert parsed.date is None
    assert parsed.message_id == "no-angle-brackets"
    assert "header date: not a date" in parsed.defects


# --- the pieces -------------------------------------------------------------------------------------


def test_html_becomes_text_with_a_line_per_block() -> None:
    assert (
        html_to_text("<p>One</p><div>Two &amp; <b>three</b></div>Four<br>Five")
        == "One\nTwo & three\nFour\nFive"
    )


def test_a_message_without_quoted_history_is_all_reply() -> None:
    assert split_reply("Just this.") == ("Just this.", "")


def test_answers_written_between_the_quoted_lines_stay_in_the_reply() -> None:
    text = "Hi,\nmy answers below:\n> Which printer?\nThe one on floor 2.\n> Since when?\nMonday."

    assert split_reply(text) == (text, "")


def test_decoding_says_which_charset_read_the_text() -> None:
    assert decode_text("ü".encode(), "utf-8") == ("ü", "utf-8")
    assert decode_text(b"\xfc", "utf-8") == ("ü", "windows-1252")


# --- generated messages -----------------------------------------------------------------------------

# Header values on one line: a line break in a value would make a different message, not a broken one.
header_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=60).map(
    lambda value: f"x{value}"
)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _texts(value: object) -> list[str]:
    """Every text in a parsed message, however deep."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (key, *_texts(item))]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [text for item in dataclasses.fields(value) for text in _texts(getattr(value, item.name))]
    return []


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=2000))
def test_any_bytes_are_read_without_raising_into_text_every_database_stores(raw: bytes) -> None:
    parsed = parse(raw)

    assert isinstance(parsed.text, str)
    assert [text for text in _texts(parsed) if _UNSTORABLE.search(text)] == []


def test_nul_and_undecodable_header_bytes_become_replacement_characters() -> None:
    raw = b"From: a\x00b@example.com\r\nSubject: caf\xe9 \x00 bar\r\n\r\nbody\x00end"

    parsed = parse(raw)

    assert "\x00" not in parsed.subject
    assert "\ufffd" in parsed.subject
    assert parsed.text == "body\ufffdend"


@settings(max_examples=150, deadline=None)
@given(
    subject=header_text,
    sender=header_text,
    body=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300),
    charset=st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "us-ascii", "bogus"]),
    transfer=st.sampled_from(["8bit", "quoted-printable", "base64"]),
)
def test_generated_messages_are_read_without_raising_and_keep_their_words(
    subject: str, sender: str, body: str, charset: str, transfer: str
) -> None:
    encoded = body.encode("utf-8")
    if transfer == "base64":
        import base64

        payload = base64.encodebytes(encoded)
    elif transfer == "quoted-printable":
        import quopri

        payload = quopri.encodestring(encoded)
    else:
        payload = encoded
    raw = (
        f"From: {sender}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: {transfer}\r\n\r\n"
    ).encode("utf-8", errors="replace") + payload

    parsed = parse(raw)

    assert isinstance(parsed.subject, str)
    if charset == "utf-8" or body.isascii():
        # Words in the charset the message declares come out as they went in (line ends aside).
        assert " ".join(parsed.text.split()) == " ".join(body.replace("\r", "\n").split())


def test_a_report_of_a_delayed_delivery_names_only_the_addresses_that_failed() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.com\r\nTo: help@acme.test\r\nSubject: Delivery status\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; slow@example.com\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n"
        b"Original-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--r--\r\n"
    )

    parsed = parse(raw)

    assert parsed.bounce is not None
    assert parsed.bounce.failed_recipients == ("gone@example.com",)
    assert parsed.bounce.status == "5.1.1"


def test_the_text_parts_of_a_mixed_message_are_read_in_order_around_its_files() -> None:
    built = message("First part.")
    built.add_attachment(b"data", maintype="application", subtype="octet-stream", filename="a.bin")
    built.add_attachment("Second part.", subtype="plain", disposition="inline")

    parsed = parse(built.as_bytes())

    assert parsed.text.split() == ["First", "part.", "Second", "part."]
    assert [attachment.filename for attachment in parsed.attachments] == ["a.bin"]


_REPLY_TEXTS = [
    "Just this.",
    "Thanks!\n\nOn Mon, 1 Dec 2026 at 10:00, Desk <desk@acme.example.com> wrote:\n> Your ticket\n> is open",
    "Danke.\n\nAm 01.12.2026 um 10:00 schrieb Desk <desk@acme.example.com>:\n> Ihr Ticket",
    "Merci\n\nLe lun. 1 déc. 2026 à 10:00, Desk <desk@acme.example.com> a écrit :\n> Bonjour",
    "It works now.\n\nBest regards,\nMaria Lopez\nACME Ltd.",
    "Yes\n\nSent from my iPhone",
    "See below\n-----Original Message-----\nFrom: Desk\nSent: Monday\nSubject: Hi\n\nHello",
    "Reply above\n________________________________\nFrom: Desk <desk@acme.example.com>\nSent: Monday\n\nOld",
    "Confidential: this e-mail and any attachment is meant for its addressee only.\nHello",
]


@pytest.mark.parametrize("text", _REPLY_TEXTS, ids=lambda text: text.split("\n", 1)[0][:20])
def test_the_reply_parser_with_its_patterns_built_once_reads_as_the_library_does(text: str) -> None:
    assert _READ_REPLIES.parse_reply(text) == _REPLIES.parse_reply(text)


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(["> quoted", "On Monday Maria wrote:", "Regards,", "-- ", "Sent from my phone"]),
        ),
        max_size=12,
    )
)
def test_any_text_is_split_by_the_prepared_reply_parser_as_by_the_librarys(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert _READ_REPLIES.parse_reply(text) == _REPLIES.parse_reply(text)


def _read_both_ways(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """``raw`` read with its base64 runs set aside and read whole: the same message, the same reading."""
    monkeypatch.setattr(mime, "HOLLOW_FROM", 0)
    hollowed, hollowed_tree = parse(raw), mime._message_from_bytes(raw)
    monkeypatch.setattr(mime, "HOLLOW_FROM", 10**12)
    whole, whole_tree = parse(raw), mime._message_from_bytes(raw)
    assert hollowed == whole
    assert hollowed_tree.as_bytes() == whole_tree.as_bytes()
    assert [type(defect) for defect in hollowed_tree.defects] == [type(d) for d in whole_tree.defects]


def _with_files(files: list[bytes], *, forwarded: bool, crlf: bool) -> bytes:
    built = message("See the files.")
    for number, data in enumerate(files):
        built.add_attachment(data, maintype="application", subtype="pdf", filename=f"file-{number}.pdf")
    if forwarded:
        outer = message("Forwarding this.")
        outer.add_attachment(built)
        built = outer
    raw = built.as_bytes()
    return raw.replace(b"\n", b"\r\n") if crlf else raw


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=12_000), max_size=3),
    forwarded=st.booleans(),
    crlf=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_large_message_is_read_the_same_with_its_base64_set_aside(
    sizes: list[int], forwarded: bool, crlf: bool, seed: int
) -> None:
    rng = random.Random(seed)
    raw = _with_files([rng.randbytes(size) for size in sizes], forwarded=forwarded, crlf=crlf)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _read_both_ways(raw, monkeypatch)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_with_files([bytes(range(256)) * 40], forwarded=False, crlf=True), id="one-file"),
        pytest.param(_with_files([b"\0" * 9000, b"x" * 9000], forwarded=True, crlf=False), id="forwarded"),
        pytest.param(
            b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            + (b"A" * 76 + b"\r\n") * 80
            + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n"
            + (b"B" * 76 + b"\r\n") * 80,
            id="runs-in-the-preamble-and-epilogue",
        ),
        pytest.param(
            b"From: a@example.com\r\nContent-Type: text/plain\r\n\r\n" + (b"C" * 76 + b"\n") * 100,
            id="base64-looking-text",
        ),
        pytest.param(
            b"From: a@example.com\r\nContent-Type: text/plain\r\n\r\n"
            + (b"E" * 76 + b"\n") * 70
            + b"0123456789abcdef0123456789abcdef00000000\n"
            + b"ticket 0123456789abcdef0123456789abcdef00000001 closed\n",
            id="text-that-looks-like-a-placeholder",
        ),
        pytest.param(
            b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + (b"D" * 76 + b"\r\n") * 70
            + b"not=base64\r\n",
            id="unterminated-multipart",
        ),
    ],
)
def test_odd_large_messages_are_read_the_same_with_their_base64_set_aside(
    raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert mime._BASE64_RUN.search(raw), "each of these messages has a run to set aside"
    _read_both_ways(raw, monkeypatch)


# --- headers read without the registry --------------------------------------------------------------
#
# Plain headers (printable ASCII, no encoded word) and plain mailboxes are read from their text, without
# the standard library's header registry. These check that what they give is what the registry gives.

_ATOMS = st.text(alphabet="abcXYZ09!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=4)
_DOT_ATOMS = st.lists(_ATOMS, min_size=1, max_size=3).map(".".join)
_ADDRESSES = st.builds("{}@{}".format, _DOT_ATOMS, _DOT_ATOMS)
_MAILBOXES = st.one_of(
    _ADDRESSES,
    st.builds("{} <{}>".format, st.lists(_ATOMS, max_size=3).map(" ".join), _ADDRESSES),
    st.builds('"{}" <{}>'.format, st.text(alphabet="ab ,.;:<>@()\t", max_size=8), _ADDRESSES),
)
# Header text of every shape, most of them not plain: comments, groups, quotes, broken brackets.
_ODD_TEXT = st.text(alphabet='abc@<>". ,;:()[]\\\t=?-', max_size=30)


def _registrys_reading(name: str, value: str) -> object:
    """What the standard library's registry reads from the header: its addresses, or its text."""
    read = email.message_from_bytes(f"{name}: {value}\n\nbody".encode(), policy=email.policy.default)
    header = read.get(name)
    assert header is not None
    if name in ("from", "to", "cc", "reply-to"):
        return tuple(
            Address(email=one.addr_spec.lower(), name=one.display_name or "")
            for one in header.addresses
            if one.addr_spec
        )
    return " ".join(str(header).split())


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["from", "to", "cc", "reply-to"]),
    value=st.one_of(st.lists(_MAILBOXES, min_size=1, max_size=3).map(", ".join), _ODD_TEXT),
)
def test_plain_mailboxes_are_read_as_the_standard_library_reads_them(name: str, value: str) -> None:
    plain = headers.plain_mailboxes(value)
    if plain is not None:
        assert tuple(Address(email=email, name=shown) for email, shown in plain) == _registrys_reading(
            name, value
        )


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["message-id", "in-reply-to", "references", "subject", "auto-submitted"]),
    value=st.one_of(_ODD_TEXT, _ADDRESSES.map("<{}>".format)),
)
def test_plain_header_text_is_read_as_the_standard_library_reads_it(name: str, value: str) -> None:
    read = parse(f"{name}: {value}\n\nbody".encode())
    kept = {
        "message-id": read.message_id,
        "in-reply-to": read.in_reply_to,
        "references": read.references,
        "subject": read.subject,
        "auto-submitted": read.headers.get("auto-submitted", ""),
    }[name]
    try:
        text = _registrys_reading(name, value)
    except Exception:  # noqa: BLE001  (the registry cannot read it: parse keeps the text as written)
        text = " ".join(value.split())
    assert isinstance(text, str)
    expected = {
        "message-id": parsing._first_id(text),
        "in-reply-to": parsing._ids(text),
        "references": parsing._ids(text),
    }.get(name, text)
    assert kept == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Ann Customer <Ann@Example.COM>", [("ann@example.com", "Ann Customer")], id="name-addr"),
        pytest.param(
            '"Customer, Ann" <ann@example.com>', [("ann@example.com", "Customer, Ann")], id="quoted"
        ),
        pytest.param(
            "a@example.com, B <b@example.org>", [("a@example.com", ""), ("b@example.org", "B")], id="list"
        ),
        pytest.param("Ann (work) <ann@example.com>", [("ann@example.com", "Ann")], id="comment"),
        pytest.param("=?utf-8?q?J=C3=B6rg?= <j@example.com>", [("j@example.com", "Jörg")], id="encoded-word"),
        pytest.param("undisclosed-recipients:;", [], id="empty-group"),
    ],
)
def test_the_senders_of_every_shape_are_read(value: str, expected: list[tuple[str, str]]) -> None:
    read = parse(f"From: {value}\nTo: {value}\n\nbody".encode())
    assert [(one.email, one.name) for one in read.to] == expected
    sender = (read.sender.email, read.sender.name) if read.sender else None
    assert sender == (expected[0] if expected else None)
