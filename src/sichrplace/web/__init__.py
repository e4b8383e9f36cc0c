"""The web pages: server-rendered HTML (Jinja2, htmx) for tenants and landlords, built on the
public API of this same process (docs/adr/0010-web-pages-call-the-api.md)."""
