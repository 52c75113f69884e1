"""Connectors: mail out and in, behind small interfaces. Imports nothing from Prefect or flows.

- ``settings``     ``MailSettings`` from ``config/mail.yaml`` (``load_mail_settings``, which also
                   checks the mail texts); passwords from the environment or the caller, never
                   from files
- ``outgoing``     ``OutgoingMail``, ``SendResult``, the ``MailSender`` protocol, ``SmtpSender``
                   (yagmail, one connection per batch) and ``RecordingSender`` (in memory)
- ``mailtext``     Chinese mail texts (``MailTexts``, one per ``campaign.kinds.MailKind``; package
                   data in ``templates/``, overridable one by one in ``config/mail/``),
                   ``subject_tag`` / ``parse_subject_tag``, ``report_filename``
- ``mailbox``      the ``Mailbox`` protocol, ``ImapMailbox``, ``MaildirMailbox``, ``DropFolder``,
                   ``IncomingMessage``, and ``receive`` (archive first, then parse)
- ``attachments``  ``parse_message`` → ``ParsedMessage`` with decoded ``Attachment`` objects
- ``archive``      ``MessageArchive``: raw messages and attachments by content hash
"""
