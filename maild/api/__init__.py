"""The management HTTP API (DESIGN §5): FastAPI, served by uvicorn inside `maild serve`.

One module per resource plus auth: `tickets` (views, search, detail, changes), `ticket_actions`
(comments, transfer, follow-up, take, merge, fields, time logs, bulk), `agents` (me, availability,
admin), `groups`, `departments`, `catalog` (brands, canned replies, custom fields), `audit`,
`health` (health and Prometheus metrics). `app.create_app` assembles them; `server.api_service`
is the daemon's service. The rules are the core's (maild.tickets, maild.routing, maild.org):
this package turns HTTP into calls and errors into `{"error": {"code", "message", "field"}}`.
"""
