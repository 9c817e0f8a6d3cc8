"""Printed records: HTML from Jinja2 templates, PDF from that HTML with WeasyPrint."""
