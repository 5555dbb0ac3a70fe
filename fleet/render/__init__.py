"""Rendering: the JSON interface, terminal text, the HTML report, charts and the email body."""
