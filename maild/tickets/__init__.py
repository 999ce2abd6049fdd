"""The domain core: ticket lifecycle, merge, transfer, follow-up, views and search.

Imports no edge (SMTP, IMAP, HTTP, templates); its only I/O is the database session it is given.
Every service takes the caller's `Session` (the caller commits), an explicit `now` (aware UTC)
and, when it records an action, an `Actor`; services that can change who holds an active ticket
take a `Distributor` (ports.py). Errors are maild.errors: NotFound, InvalidRequest, Conflict.

Where to look:
    numbers.py       allocate_number
    lookup.py        resolve_number / get_ticket (merge forwarders), get_group, get_agent
    lifecycle.py     NewTicket, open_ticket, set_status, set_priority, set_pinned,
                     change_subject, change_email, record_agent_response, duration, idle
    incoming.py      incoming_transition (pure), apply_customer_reply, apply_bounce
    participants.py  add_participant, is_participant, relate, related_tickets
    items.py         add_comment (comments, resolutions), log_time
    fields.py        define_field, set_field, field_values
    followup.py      FollowUp, schedule_followup, remove_followup, followup_defaults,
                     fire_due_followups
    transfer.py      Transfer, transfer
    merge.py         merge
    housekeeping.py  delete_ticket, undelete_ticket, purge_deleted, auto_close
    views.py         TicketQuery, View, SortKey, list_tickets, count_tickets
    search.py        SearchCriteria, search_tickets, count_matches
    access.py        Viewer, visible, can_see, may_delete, may_transfer (who sees what)
    rows.py          TicketRow (what views and search return)
    audit.py         Action, note (history + the agent's recent list)
"""
