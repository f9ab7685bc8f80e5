from crm.lib.mailtext import trimmed_body


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
