"""The console: labgate's pages for people, server-rendered (Jinja2) with htmx, under /console."""
