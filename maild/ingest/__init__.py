"""Incoming mail: spool, parse, classify, thread, apply; SMTP, IMAP and file transports."""
