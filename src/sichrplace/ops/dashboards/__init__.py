"""Grafana dashboards as code: `spec.py` says what they show, `build.py` writes them as
provisioning-ready JSON under deploy/grafana/dashboards/ (`sichrplace dashboards generate`)."""
