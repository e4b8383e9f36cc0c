"""Messaging: conversations between a tenant and a listing's landlord, and their messages."""
