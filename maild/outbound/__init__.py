"""Outgoing mail: composing from templates, the outbox and its delivery, the autoresponder."""
