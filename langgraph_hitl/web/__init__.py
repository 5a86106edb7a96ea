"""The reviewers' inbox in the browser (`langgraph-hitl serve`): the web extra.

`app` builds the Starlette application on a ledger from the route modules (`signin`,
`queue`, `deciding`, ...), each a `ROUTES` list; `inbox` holds what they share (the
ledger, the templates, the guard that every route but sign-in goes through); `auth`
holds what sign-in needs (password hashes, the session secret, the login rate limit,
CSRF tokens). Pages are server-rendered Jinja2 templates with autoescaping, and every
asset ships in the package.
"""
