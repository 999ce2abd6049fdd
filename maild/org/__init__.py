"""The organisation as admins change it at run time: brands, departments (addresses,
autoresponder, auto-close), groups (distribution settings, memberships), agents, canned replies
and custom field definitions. Every change is checked here, takes effect at once (everything
reads the database), and is written to the audit history (`audit.py`: who, when, before and
after). `maild config apply` (maild.provision) remains the file-driven path and never deletes.

Specs are frozen dataclasses whose fields default to `KEEP` (leave as it is), so one type
serves create (missing = default) and update (missing = unchanged).
"""
