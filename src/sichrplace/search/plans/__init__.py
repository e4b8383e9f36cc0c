"""What one API process knows to pick Postgres's plans for a search: where the listings are
(the density grid and a sample of them) and how common words and cities are (ANALYZE's
statistics). Only ever advice: without it the default plans are used, which are always
correct, only slower. Measurements behind each choice: docs/performance.md "Plan choices"."""
