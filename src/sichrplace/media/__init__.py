"""Listing images: validated uploads, WebP variants made by a job, content-hashed files."""
