"""One module per view; each exposes ``render(data, params) -> (title, html)``."""
