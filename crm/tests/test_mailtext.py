from crm.lib.mailtext import parse_message, trimmed_body


def test_a_plain_message_keeps_all_its_text():
    assert trimmed_body("Hi Ana,\n\nSee you Tuesday.\n") == "Hi Ana,\n\nSee you Tuesday."


def test_a_reply_drops_the_attribution_and_the_quoted_text():
    body = "Works for me.\r\n\r\nOn Tue, 3 Dec 2026 at 10:00, Ana <ana@x.com> wrote:\r\n> Tuesday?\r\n"
    assert trimmed_body(body) == "Works for me."


def test_an_attribution_wrapped_over_two_lines_is_dropped():
    body = "Yes.\n\nOn Tue, 3 Dec 2026 at 10:00, Ana Long-Name\n<ana@example.com> wrote:\n> Tuesday?"
    assert trimmed_body(body) == "Yes."


def test_a_signature_after_the_delimiter_is_dropped():
    assert trimmed_body("Thanks!\n-- \nBen Partner\nVenture Fund") == "Thanks!"
    assert trimmed_body("Thanks!\n\nSent from my iPhone") == "Thanks!"


def test_an_outlook_style_forward_block_is_dropped():
    body = "FYI\n\n-----Original Message-----\nFrom: Ana\nSubject: deck"
    assert trimmed_body(body) == "FYI"
    assert trimmed_body("FYI\n\nFrom: Ana <ana@x.com>\nSent: Monday") == "FYI"


def test_words_that_only_look_like_markers_are_kept():
    body = "On Monday we met the founders.\nFrom: the notes, revenue doubled."
    assert trimmed_body(body) == body


def _raw(headers: str, body: str = "Hello") -> bytes:
    return (headers.strip() + "\r\n\r\n" + body).encode("latin-1")


HEADERS = "Message-ID: <a1@x.com>\r\nFrom: Ana <ANA@x.com>\r\nTo: ben@fund.com, Cy <cy@y.com>\r\nSubject: Deck"


def test_a_plain_message_gives_its_ids_addresses_and_trimmed_body():
    raw = _raw(
        HEADERS + "\r\nDate: Tue, 03 Dec 2026 10:00:00 +0000\r\nIn-Reply-To: <a0@fund.com>\r\n"
        "References: <root@fund.com> <a0@fund.com>",
        "Thanks\r\n> old",
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "<a1@x.com>"
    assert parsed.sender == "ana@x.com"
    assert parsed.recipients == ("ben@fund.com", "cy@y.com")
    assert parsed.references == ("<root@fund.com>", "<a0@fund.com>")
    assert parsed.in_reply_to == "<a0@fund.com>"
    assert parsed.sent_at.year == 2026
    assert parsed.body == "Thanks"


def test_an_html_only_message_becomes_plain_text():
    raw = _raw(HEADERS + "\r\nContent-Type: text/html", "<p>Hi &amp; <b>welcome</b></p><style>p{}</style>")
    assert parse_message(raw).body == "Hi & welcome"


def test_a_latin_1_message_and_an_encoded_subject_decode():
    raw = _raw(
        HEADERS.replace("Subject: Deck", "Subject: =?iso-8859-1?q?R=E9union?=")
        + "\r\nContent-Type: text/plain; charset=iso-8859-1",
        "Déjà vu",
    )
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.body) == ("Réunion", "Déjà vu")


def test_attachments_are_listed_by_name_and_not_kept_in_the_body():
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n"
        "--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=deck.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n"
    )
    parsed = parse_message(_raw(HEADERS + '\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"', body))
    assert parsed.attachment_names == ("deck.pdf",)
    assert parsed.body == "See attached"


def test_a_message_without_message_id_or_sender_or_with_a_bad_date_never_fails():
    assert parse_message(_raw("From: ana@x.com")) is None
    assert parse_message(_raw("Message-ID: <a@x>\r\nFrom: nobody")) is None
    assert parse_message(b"\xff\xfe garbage") is None
    assert parse_message(_raw(HEADERS + "\r\nDate: yesterday-ish")).sent_at is None


# --- forwarded messages (the shared BCC/forward mailbox) --------------------------------------


def test_a_message_that_forwards_nothing_has_no_forwarded_message():
    from crm.lib.mailtext import forwarded_message
    from crm.testing import mailseed

    assert forwarded_message(mailseed.SHARED[0]) is None
    assert forwarded_message(b"Subject: broken\r\n\r\nno headers\r\n") is None


def test_an_inline_forward_with_crlf_line_ends_is_read_as_the_original():
    from crm.lib.mailtext import forwarded_message
    from crm.testing import mailseed

    raw = mailseed.SHARED[1].replace(b"\n", b"\r\n")

    original = forwarded_message(raw)

    assert original is not None and original.sender == mailseed.ADA and original.subject == "Allocation question"
    assert original.recipients == (mailseed.BEN, mailseed.BO)


def test_a_forward_block_without_a_from_line_is_no_forward():
    from crm.lib.mailtext import forwarded_message
    from crm.testing import mailseed

    raw = mailseed.forwarded_inline(40, mailseed.ANA, "x", "---------- Forwarded message ---------\nSubject: x\n\nhi")

    assert forwarded_message(raw) is None
