"""The domain core: ticket lifecycle, merge, transfer, follow-up, views and search.

Imports no edge (SMTP, IMAP, HTTP, templates); its only I/O is the database session it is given.
"""
