"""The reviewers' inbox in the browser (`langgraph-hitl serve`): the web extra.

`app` builds the Starlette application on a ledger; `auth` holds what sign-in needs
(password hashes, the session secret, the login rate limit, CSRF tokens). Pages are
server-rendered Jinja2 templates with autoescaping, and every asset ships in the package.
"""
