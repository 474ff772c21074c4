"""The operations console: a small ASGI app (Starlette, served by uvicorn) with one module per view.

Every number it shows comes from the SDK clients the CLI uses (millchain.leasing, quality, settlement) or from
the event index (millchain.index.queries): the console formats, it never computes a figure of its own twice.
Assets (CSS, the live-update script) ship in the package; nothing is fetched from elsewhere at run time.
"""
