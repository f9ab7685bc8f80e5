"""Email capture (issue 17): each user's mailbox, read over IMAP, becomes communications with contacts.

The models (Mailbox, CaptureExclusion, Contact.never_capture) live in contacts/; the sync is
here, in the shell, because it links a communication to an open opportunity (pipeline/).
"""
