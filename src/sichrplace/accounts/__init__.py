"""Accounts: registration, login, token rotation, email verification, password reset, roles."""
